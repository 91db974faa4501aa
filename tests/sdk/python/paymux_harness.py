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
import itertools
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[3]
LISTEN_RE = re.compile(r"paymux listening on http://127\.0\.0\.1:(\d+)")
STARTUP_TIMEOUT_S = 30
REFUND_DELAY_MS = 50

# Required `extra` per channel (paymux contract / pingpp-api.md §9).
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

        stderr = open(self.stderr_log, "w")
        self.proc = subprocess.Popen(
            [self.binary, "serve", *self.storage_args(),
             "--listen", "127.0.0.1:0",
             "--test-refund-delay-ms", str(REFUND_DELAY_MS)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
            text=True, bufsize=1)
        stderr.close()
        ready = threading.Event()

        def pump():
            with open(self.stdout_log, "w") as log:
                for line in self.proc.stdout:
                    log.write(line)
                    log.flush()
                    m = LISTEN_RE.search(line)
                    if m and not ready.is_set():
                        self.port = int(m.group(1))
                        ready.set()
            ready.set()  # stdout closed: process exited

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(STARTUP_TIMEOUT_S) or self.port is None:
            self.stop()
            raise RuntimeError(
                "paymux serve did not print 'paymux listening on http://127.0.0.1:PORT' "
                "on stdout within %ds (exit code %r).\n%s"
                % (STARTUP_TIMEOUT_S, self.proc.returncode, self.logs()))
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
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

    def recent_events(self, limit=10):
        resp = self.raw("GET", "/v1/events", params={"limit": limit})
        assert resp.status_code == 200, (resp.status_code, resp.text)
        body = resp.json()
        assert body.get("object") == "list", body
        return body["data"]


def start_server():
    """Start a PaymuxServer from $PAYMUX_BIN; abort the session if it is missing."""
    binary = paymux_bin()
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.exit("paymux binary not found or not executable: %s "
                    "(build it with `cargo build -p paymux` or set PAYMUX_BIN)" % binary,
                    returncode=2)
    return PaymuxServer(binary).start()


def finish_server(request, server):
    """Stop the server; show its output if any test failed; remove its data."""
    server.stop()
    if request.session.testsfailed:
        reporter = request.config.pluginmanager.getplugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("-", "paymux server output (%s)" % server.workdir)
            reporter.write_line(server.logs())
    server.cleanup()
