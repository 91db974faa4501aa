"""Shared helpers for the Python SDK conformance tests.

Starts a throw-away paymux server (``paymux init`` + ``paymux serve``) on
SQLite or -- when ``$PAYMUX_SDK_DATABASE_URL`` is set -- on a fresh PostgreSQL
database of its own, and provides raw-HTTP helpers for the few things no SDK
method exists for (test-mode payment, the event list), order-number
generation, per-channel ``extra`` parameters and a polling helper.

Only the official ``pingpp`` package is used as the client under test; raw
HTTP (``requests``) is used solely where the SDK has no method.
"""

import atexit
import base64
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pingpp
import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[3]
LISTEN_RE = re.compile(r"paymux listening on http://127\.0\.0\.1:(\d+)")
STARTUP_TIMEOUT_S = 30
REFUND_DELAY_MS = 50

# Required `extra` per channel (paymux contract / docs/pingpp-wire.md).
GOODS_LIST = [{"goods_name": "Apple", "goods_num": 1}]
CHANNEL_EXTRAS = {
    "alipay_qr": {},
    "wx_pub_qr": {"product_id": "prod0001"},
    "cb_alipay_qr": {},
    "cb_wx_pub_qr": {"product_id": "prod0001", "goods_list": GOODS_LIST},
    "upacp_qr": {},
    "ccb_qr": {},
    "isv_qr": {"terminal_id": "T0000001", "pay_channel": "alipay"},
    "isv_wap": {
        "terminal_id": "T0000001",
        "pay_channel": "wx",
        "result_url": "https://merchant.example.com/result",
    },
    "alipay_scan": {"scan_code": "286801346868493272", "terminal_id": "T0000001"},
    "wx_pub_scan": {"scan_code": "134628839776154706"},
    "cb_alipay_scan": {"scan_code": "286801346868493272"},
    "cb_wx_pub_scan": {"scan_code": "134628839776154706", "goods_list": GOODS_LIST},
    "upacp_scan": {"scan_code": "6223194990234588"},
    "isv_scan": {"terminal_id": "T0000001", "scan_code": "286801346868493272"},
}
# Channels whose charge is unpaid after creation and carries a payment URL.
QR_CHANNELS = [
    "alipay_qr", "wx_pub_qr", "cb_alipay_qr", "cb_wx_pub_qr",
    "upacp_qr", "ccb_qr", "isv_qr", "isv_wap",
]
# Channels whose charge is already paid after creation in test mode.
SCAN_CHANNELS = [
    "alipay_scan", "wx_pub_scan", "cb_alipay_scan", "cb_wx_pub_scan",
    "upacp_scan", "isv_scan",
]
assert sorted(QR_CHANNELS + SCAN_CHANNELS) == sorted(CHANNEL_EXTRAS)

# Currency used per channel. The contract says "cny" everywhere; if the
# server insists on something else for a cross-border (cb_*) channel, that is
# recorded here and reported.
CHANNEL_CURRENCY = {ch: "cny" for ch in CHANNEL_EXTRAS}

_order_counter = itertools.count(1)


def new_order_no(prefix="py"):
    """8-20 alphanumeric characters, unique within a run."""
    return "%s%013d%04d" % (prefix, int(time.time() * 1000) % 10**13,
                            next(_order_counter) % 10000)


def charge_params(app_id, channel, amount=1000, **overrides):
    params = {
        "order_no": new_order_no(),
        "app": {"id": app_id},
        "channel": channel,
        "amount": amount,
        "client_ip": "127.0.0.1",
        "currency": CHANNEL_CURRENCY[channel],
        "subject": "SDK test",
        "body": "paymux SDK conformance",
        "extra": json.loads(json.dumps(CHANNEL_EXTRAS[channel])),
    }
    params.update(overrides)
    return params


def point_sdk(server, api_key):
    """The official SDK aimed at `server` with `api_key`, its requests unsigned (both
    private_key and private_key_path cleared: the SDK reads the path lazily into the key)."""
    pingpp.api_base = server.base_url
    pingpp.api_key = api_key
    pingpp.private_key = None
    pingpp.private_key_path = None


def wait_for(fetch, done, timeout=5.0, interval=0.05, what="condition"):
    """Call fetch() until done(result) is true; return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s; last value: %r"
                                 % (timeout, what, result))
        time.sleep(interval)


def make_rsa_keypair(directory, name):
    """PKCS#1 private key (BEGIN RSA PRIVATE KEY) + SPKI public key."""
    priv = os.path.join(directory, name + "_private.pem")
    pub = os.path.join(directory, name + "_public.pem")
    subprocess.run(["openssl", "genrsa", "-traditional", "-out", priv, "2048"],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL)
    subprocess.run(["openssl", "rsa", "-in", priv, "-pubout", "-out", pub],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL)
    with open(priv) as f:
        assert f.read().startswith("-----BEGIN RSA PRIVATE KEY-----")
    return priv, pub


def paymux_bin():
    path = os.environ.get("PAYMUX_BIN") or str(REPO_ROOT / "target" / "debug" / "paymux")
    if not os.path.isabs(path):
        path = str(REPO_ROOT / path)
    return path


def redact(text):
    """Hide the password of any postgres://user:password@ URL in `text`."""
    return re.sub(r"(postgres(?:ql)?://[^:/@\s]*):[^/\s]*@", r"\1:***@", text)


def spawn_until_listening(cmd, listen_re, stdout_log, stderr_log, env=None,
                          timeout=STARTUP_TIMEOUT_S):
    """Start `cmd`, copy its stdout to `stdout_log` and its stderr to `stderr_log`, and wait
    until a stdout line matches `listen_re` (group 1: the port). Returns (process, port);
    raises RuntimeError (after killing the process) when no such line comes in `timeout`."""
    stderr = open(stderr_log, "w")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=stderr, text=True, bufsize=1, env=env)
    stderr.close()
    ready = threading.Event()
    found = []

    def pump():
        with open(stdout_log, "w") as log:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                m = listen_re.search(line)
                if m and not ready.is_set():
                    found.append(int(m.group(1)))
                    ready.set()
        ready.set()  # stdout closed: process exited

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(timeout) or not found:
        stop_process(proc)
        raise RuntimeError("did not print a line matching %r on stdout within %ds (exit code %r)"
                           % (listen_re.pattern, timeout, proc.returncode))
    return proc, found[0]


def stop_process(proc):
    """SIGTERM, then SIGKILL after 5 s; no-op for None or an exited process."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class PostgresDatabase:
    """A fresh database on the PostgreSQL server of $PAYMUX_SDK_DATABASE_URL."""

    def __init__(self, admin_url):
        parts = urllib.parse.urlsplit(admin_url)
        if parts.scheme not in ("postgres", "postgresql"):
            raise RuntimeError("PAYMUX_SDK_DATABASE_URL must be a postgres:// URL")
        self.admin_url = admin_url
        self.name = "paymux_sdk_%d_%s" % (os.getpid(), secrets.token_hex(4))
        # same user/host/port/query, database path replaced
        self.url = urllib.parse.urlunsplit(parts._replace(path="/" + self.name))
        self.dropped = False
        self._psql('CREATE DATABASE "%s"' % self.name)

    def _psql(self, sql):
        res = subprocess.run(["psql", self.admin_url, "-X", "-v", "ON_ERROR_STOP=1", "-qc", sql],
                             capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
        if res.returncode != 0:
            raise RuntimeError("psql %s -c '%s' failed (exit %d): %s"
                               % (redact(self.admin_url), sql, res.returncode, res.stderr))

    def drop(self):
        """DROP DATABASE ... WITH (FORCE); errors are ignored. Idempotent."""
        if not self.dropped:
            self.dropped = True
            try:
                self._psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % self.name)
            except (RuntimeError, OSError, subprocess.SubprocessError):
                pass


class PaymuxServer:
    """One paymux server process with its own temporary data directory (and,
    with $PAYMUX_SDK_DATABASE_URL, its own PostgreSQL database)."""

    def __init__(self, binary):
        self.binary = binary
        self.workdir = tempfile.mkdtemp(prefix="paymux-sdk-py-")
        self.data_dir = os.path.join(self.workdir, "data")
        os.mkdir(self.data_dir)
        self.stdout_log = os.path.join(self.workdir, "serve.stdout.log")
        self.stderr_log = os.path.join(self.workdir, "serve.stderr.log")
        self.proc = None
        self.port = None
        self.info = None
        admin_url = os.environ.get("PAYMUX_SDK_DATABASE_URL")
        self.database = PostgresDatabase(admin_url) if admin_url else None
        atexit.register(self.stop)  # never leave a server (or database) behind

    def storage_args(self):
        """--data-dir (always) and --database-url (PostgreSQL mode) for every paymux command."""
        args = ["--data-dir", self.data_dir]
        if self.database:
            args += ["--database-url", self.database.url]
        return args

    # -- lifecycle -------------------------------------------------------
    def start(self):
        out = self.cli("init", *self.storage_args(), "--json")
        try:
            self.info = json.loads(out)
        except ValueError:
            raise RuntimeError("`paymux init --json` did not print one JSON object:\n%s" % out)
        for key in ("account", "app_id", "test_secret_key", "live_secret_key",
                    "platform_public_key_pem"):
            if key not in self.info:
                raise RuntimeError("`paymux init --json` output lacks %r: %s" % (key, out))

        self._serve()
        return self

    def serve_command(self):
        return [self.binary, "serve", *self.storage_args(),
                "--listen", "127.0.0.1:0",
                "--test-refund-delay-ms", str(REFUND_DELAY_MS)]

    def serve_env(self):
        return None

    def _serve(self):
        """Start `paymux serve` and wait for its listening line (stops everything on failure)."""
        try:
            self.proc, self.port = spawn_until_listening(
                self.serve_command(), LISTEN_RE, self.stdout_log, self.stderr_log,
                env=self.serve_env())
        except RuntimeError as e:
            self.stop()
            raise RuntimeError("paymux serve: %s\n%s" % (e, self.logs()))

    def stop(self):
        stop_process(self.proc)
        if self.database and not os.environ.get("PAYMUX_SDK_KEEP_DATA"):
            self.database.drop()

    def cleanup(self):
        if os.environ.get("PAYMUX_SDK_KEEP_DATA"):
            print("paymux data kept in", self.workdir)
            if self.database:
                print("paymux PostgreSQL database kept:", redact(self.database.url))
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def logs(self, tail=40):
        text = []
        for path in (self.stdout_log, self.stderr_log):
            try:
                with open(path, errors="replace") as f:
                    lines = f.readlines()[-tail:]
            except OSError:
                lines = []
            text.append("--- %s (last %d lines) ---\n%s" % (os.path.basename(path), tail,
                                                            "".join(lines)))
        return "\n".join(text)

    # -- CLI -------------------------------------------------------------
    def cli(self, *args):
        """Run `paymux ARGS...` (callers pass storage_args() themselves); return stdout."""
        cmd = [self.binary] + list(args)
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
        if res.returncode != 0:
            raise RuntimeError("%s failed (exit %d):\nstdout: %s\nstderr: %s"
                               % (redact(" ".join(cmd)), res.returncode, res.stdout, res.stderr))
        return res.stdout

    def set_merchant_public_key(self, public_key_path, require_signature="test"):
        """`keys set-merchant-public-key --require-signature test|none PUBKEY`."""
        self.cli("keys", "set-merchant-public-key", *self.storage_args(),
                 "--require-signature", require_signature, public_key_path)

    def clear_merchant_public_key(self):
        self.cli("keys", "clear-merchant-public-key", *self.storage_args())

    # -- convenience -----------------------------------------------------
    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def app_id(self):
        return self.info["app_id"]

    @property
    def test_key(self):
        return self.info["test_secret_key"]

    @property
    def live_key(self):
        return self.info["live_secret_key"]

    def raw(self, method, path, json_body=None, key=None, params=None):
        """Plain HTTP request with Bearer auth (for endpoints no SDK wraps)."""
        return requests.request(
            method, self.base_url + path, json=json_body, params=params,
            headers={"Authorization": "Bearer %s" % (key or self.test_key)},
            timeout=15)

    def test_pay(self, charge_id, result=None):
        body = {} if result is None else {"result": result}
        resp = self.raw("POST", "/v1/test_helpers/charges/%s/pay" % charge_id, body)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        return resp.json()

    def recent_events(self, limit=10, key=None):
        resp = self.raw("GET", "/v1/events", params={"limit": limit}, key=key)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        body = resp.json()
        assert body.get("object") == "list", body
        return body["data"]


def checked_binary():
    """$PAYMUX_BIN (or target/debug/paymux); abort the session if it is missing."""
    binary = paymux_bin()
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.exit("paymux binary not found or not executable: %s "
                    "(build it with `cargo build -p paymux` or set PAYMUX_BIN)" % binary,
                    returncode=2)
    return binary


def start_server():
    """Start a PaymuxServer from $PAYMUX_BIN; abort the session if it is missing."""
    return PaymuxServer(checked_binary()).start()


def start_live_gateway():
    """Start a LiveGateway (three simulators and a server) from $PAYMUX_BIN."""
    return LiveGateway(checked_binary()).start()


def finish_server(request, server):
    """Stop the server; show its output if any test failed; remove its data."""
    server.stop()
    if request.session.testsfailed:
        reporter = request.config.pluginmanager.getplugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("-", "paymux server output (%s)" % server.workdir)
            reporter.write_line(server.logs())
    server.cleanup()


# --- live mode against the channel simulators ---------------------------------

SIM_LISTEN_RE = re.compile(
    r"paymux simulate (?:wechat|alipay|unionpay) listening on http://127\.0\.0\.1:(\d+)")
# A self-signed certificate standing in for WeChat's apiclient_cert.pem (protects nothing):
# the gateway needs one to call /secapi (refunds); the simulator speaks plain HTTP and does
# not check it.
FIXTURES = REPO_ROOT / "crates" / "paymux-server" / "tests" / "fixtures"
WECHAT_APPID = "wx2421b1c4370ec43b"
WECHAT_MCH_ID = "10000100"
ALIPAY_APP_ID = "2021000000000001"
# UnionPay's test merchant (acp SDK examples) and the certId of its signing certificate.
UNIONPAY_MER_ID = "777290058110048"
UNIONPAY_CERT_ID = "68759663125"
# WeChat settles a refund 5 s after accepting it; the simulator is told to take this long.
WECHAT_REFUND_SETTLE_MS = 300


class Simulator:
    """`paymux simulate wechat|alipay|unionpay --listen 127.0.0.1:0 ARGS...` as a subprocess."""

    def __init__(self, binary, name, workdir, args):
        self.name = name
        self.cmd = [binary, "simulate", name, "--listen", "127.0.0.1:0", *args]
        self.stdout_log = os.path.join(workdir, "sim-%s.stdout.log" % name)
        self.stderr_log = os.path.join(workdir, "sim-%s.stderr.log" % name)
        self.proc = None
        self.port = None

    def start(self):
        self.proc, self.port = spawn_until_listening(self.cmd, SIM_LISTEN_RE,
                                                     self.stdout_log, self.stderr_log)
        return self

    def stop(self):
        stop_process(self.proc)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def control(self, method, path, json_body=None):
        """A call to the simulator's /_sim/... control routes; returns the response."""
        return requests.request(method, self.url + path, json=json_body, timeout=15)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveGateway(PaymuxServer):
    """A paymux server whose app has WeChat, Alipay and UnionPay configured in live mode,
    pointing at `paymux simulate wechat`, `paymux simulate alipay` and `paymux simulate
    unionpay` on loopback. The server gets
    PAYMUX_SECRETS_KEY (a fresh random one) and --public-url of its own address, so that the
    simulators' notifications come back to it."""

    def __init__(self, binary):
        super().__init__(binary)
        self.secrets_key = base64.b64encode(secrets.token_bytes(32)).decode()
        self.wechat_api_key = secrets.token_hex(16)  # 32 alphanumerics, like WeChat's
        self.wechat = None
        self.alipay = None
        self.unionpay = None
        self.listen_port = None

    def start(self):
        try:
            app_priv, app_pub = make_rsa_keypair(self.workdir, "alipay_app")
            mer_priv, mer_pub = make_rsa_keypair(self.workdir, "unionpay_merchant")
            self.wechat = Simulator(self.binary, "wechat", self.workdir, [
                "--merchant", "%s:%s:%s" % (WECHAT_APPID, WECHAT_MCH_ID, self.wechat_api_key),
            ]).start()
            self.alipay = Simulator(self.binary, "alipay", self.workdir, [
                "--app", "%s=%s" % (ALIPAY_APP_ID, app_pub),
            ]).start()
            self.unionpay = Simulator(self.binary, "unionpay", self.workdir, [
                "--merchant", "%s=%s:%s" % (UNIONPAY_MER_ID, mer_pub, UNIONPAY_CERT_ID),
            ]).start()
            resp = self.wechat.control("POST", "/_sim/knobs",
                                       {"refund_settle_ms": WECHAT_REFUND_SETTLE_MS})
            assert resp.status_code == 200, (resp.status_code, resp.text)
            resp = self.alipay.control("GET", "/_sim/public_key")
            assert resp.status_code == 200, (resp.status_code, resp.text)
            alipay_public_key = resp.text
            # UnionPay is trusted by its certificate chain, as the acp SDK trusts it.
            resp = self.unionpay.control("GET", "/_sim/certificates")
            assert resp.status_code == 200, (resp.status_code, resp.text)
            unionpay_chain = resp.json()
        except (RuntimeError, OSError, subprocess.SubprocessError, AssertionError,
                requests.RequestException) as e:
            self.stop()
            raise RuntimeError("simulators did not start: %s\n%s" % (e, self.logs()))

        super().start()

        with open(FIXTURES / "apiclient_cert.pem") as f:
            cert = f.read()
        with open(FIXTURES / "apiclient_key.pem") as f:
            key = f.read()
        with open(app_priv) as f:
            app_private_key = f.read()
        with open(mer_priv) as f:
            merchant_private_key = f.read()
        self.configure("wechat", {
            "appid": WECHAT_APPID, "mch_id": WECHAT_MCH_ID, "api_key": self.wechat_api_key,
            "sign_type": "MD5", "gateway_url": self.wechat.url,
            "client_cert_pem": cert, "client_key_pem": key,
        })
        self.configure("alipay", {
            "app_id": ALIPAY_APP_ID, "alipay_public_key": alipay_public_key,
            "gateway_url": self.alipay.url + "/gateway.do", "app_private_key": app_private_key,
        })
        # gateway_url is UnionPay's host; the gateway appends /gateway/api/….do itself.
        self.configure("unionpay", {
            "mer_id": UNIONPAY_MER_ID, "cert_id": UNIONPAY_CERT_ID,
            "unionpay_root_cert": unionpay_chain["root"],
            "unionpay_middle_cert": unionpay_chain["middle"], "gateway_url": self.unionpay.url,
            "private_key": merchant_private_key,
        })
        return self

    def configure(self, provider, fields):
        """POST /v1/apps/{app}/channels/{provider} with the live key (no SDK method exists)."""
        resp = self.raw("POST", "/v1/apps/%s/channels/%s" % (self.app_id, provider), fields,
                        key=self.live_key)
        if resp.status_code != 200:
            self.stop()
            # the answer never echoes secret values
            raise RuntimeError("configuring %s failed: %d %s" % (provider, resp.status_code,
                                                                 resp.text))
        body = resp.json()
        assert body.get("livemode") is True, body

    def serve_command(self):
        return [self.binary, "serve", *self.storage_args(),
                "--listen", "127.0.0.1:%d" % self.listen_port,
                "--public-url", "http://127.0.0.1:%d" % self.listen_port]

    def serve_env(self):
        return dict(os.environ, PAYMUX_SECRETS_KEY=self.secrets_key)

    def _serve(self):
        # --public-url needs the port before the server starts: take a free one, and try
        # again with another if something else took it in between.
        for attempt in range(3):
            self.listen_port = free_port()
            try:
                self.proc, self.port = spawn_until_listening(
                    self.serve_command(), LISTEN_RE, self.stdout_log, self.stderr_log,
                    env=self.serve_env())
                return
            except RuntimeError as e:
                with open(self.stderr_log, errors="replace") as f:
                    port_taken = "in use" in f.read()
                if port_taken and attempt < 2:
                    continue
                self.stop()
                raise RuntimeError("paymux serve: %s\n%s" % (e, self.logs()))

    def stop(self):
        super().stop()
        for sim in (self.wechat, self.alipay, self.unionpay):
            if sim:
                sim.stop()

    def logs(self, tail=40):
        text = [super().logs(tail)]
        for sim in (self.wechat, self.alipay, self.unionpay):
            if sim is None:
                continue
            for path in (sim.stdout_log, sim.stderr_log):
                try:
                    with open(path, errors="replace") as f:
                        lines = f.readlines()[-tail:]
                except OSError:
                    lines = []
                text.append("--- %s (last %d lines) ---\n%s" % (os.path.basename(path), tail,
                                                                "".join(lines)))
        return "\n".join(text)

    def pay_at_channel(self, channel, order_no):
        """The payer pays the order at the channel's simulator (which then notifies)."""
        resp = self.simulator(channel).control("POST", "/_sim/orders/%s/pay" % order_no, {})
        assert resp.status_code == 200, (resp.status_code, resp.text)
        return resp.json()

    def simulator(self, channel):
        if channel.startswith("wx"):
            return self.wechat
        if channel.startswith("upacp"):
            return self.unionpay
        return self.alipay

    def channel_order(self, channel, order_no):
        """The order as the channel's simulator has it (GET /_sim/orders/{out_trade_no}; for
        UnionPay {orderId}, which is also how its refunds are found: the refund id without
        `re_`)."""
        resp = self.simulator(channel).control("GET", "/_sim/orders/%s" % order_no)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        return resp.json()

    def set_knobs(self, channel, **knobs):
        resp = self.simulator(channel).control("POST", "/_sim/knobs", knobs)
        assert resp.status_code == 200, (resp.status_code, resp.text)

    def acknowledged_posts(self, channel, order_no):
        """How many notification POSTs about `order_no` the gateway acknowledged."""
        sim = self.simulator(channel)
        key = "orderId" if sim is self.unionpay else "out_trade_no"
        resp = sim.control("GET", "/_sim/notifications?%s=%s" % (key, order_no))
        assert resp.status_code == 200, (resp.status_code, resp.text)
        posts = "deliveries" if sim is self.wechat else "attempts"
        return sum(1 for n in resp.json() for p in n[posts] if p["acknowledged"])
