"""Fixtures for the management console's browser tests (scripts/test-browser.sh).

* ``server`` (module-scoped): ``paymux init --json`` on a fresh temporary data dir, an admin
  operator ``admin`` created with the CLI, then ``paymux serve --listen 127.0.0.1:0
  --test-refund-delay-ms 200``. Its log is attached to the report of every failing test.
* ``browser`` (session-scoped): Debian's chromium (``$PAYMUX_CHROMIUM``, default
  /usr/bin/chromium) driven by Playwright, headless.
* ``new_page(...)``: a page in a fresh browser context (locale en-US, so the console speaks
  English); ``page_for(role)``: such a page, logged in as a new operator of that role (as
  ``admin`` for role "admin"); ``login(page, name, password)``.
* ``screenshot(page, name)``: ``target/browser-screenshots/<test>-<name>.png`` (full page).
  Every page of a failing test is also saved as ``<test>-FAILED-<n>.png``.
* ``receiver``: a webhook receiver on 127.0.0.1 that records POSTs and answers 200 (and can
  serve an HTML page from its own origin, for the cross-site tests).
* ``sdk(server, mode="test", private_key_pem=None, api_key=None)``: the official ``pingpp``
  SDK configured for the server; ``make_charge(...)`` creates (and pays) a test charge.
* ``console``: the console actions the scenarios share (add an operator, an endpoint,
  refund through the confirmation page, roll a key, ...), written against the contract.
"""

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pingpp
import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from playwright.sync_api import expect, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = Path(os.environ.get("PAYMUX_BROWSER_SCREENSHOTS")
                      or REPO_ROOT / "target" / "browser-screenshots")
CHROMIUM = os.environ.get("PAYMUX_CHROMIUM", "/usr/bin/chromium")
# The machine's network is closed: without these chromium keeps trying to reach Google.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

ADMIN_NAME = "admin"
ADMIN_PASSWORD = "admin-password-0001"
OPERATOR_PASSWORD = "operator-password-0001"   # >= 12 characters
REFUND_DELAY_MS = 200
LISTEN_RE = re.compile(r"paymux listening on http://127\.0\.0\.1:(\d+)")
STARTUP_TIMEOUT_S = 30
ACTION_TIMEOUT_MS = 10_000
NAVIGATION_TIMEOUT_MS = 15_000
POLL_TIMEOUT_S = 10.0

# /dashboard/ (the overview), with or without a query
HOME_URL_RE = re.compile(r"/dashboard/?(\?.*)?$")
LOGIN_URL_RE = re.compile(r"/dashboard/login(\?.*)?$")

expect.set_options(timeout=ACTION_TIMEOUT_MS)


# --- the paymux server ------------------------------------------------------------------

def paymux_bin():
    path = os.environ.get("PAYMUX_BIN") or str(REPO_ROOT / "target" / "debug" / "paymux")
    if not os.path.isabs(path):
        path = str(REPO_ROOT / path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.exit("paymux binary not found or not executable: %s "
                    "(build it with `cargo build -p paymux` or set PAYMUX_BIN)" % path,
                    returncode=2)
    return path


def child_env():
    """The environment without PAYMUX_* settings (a PAYMUX_DATABASE_URL or PAYMUX_LISTEN of
    the caller must not redirect the test server)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PAYMUX_")}


class PaymuxServer:
    """`paymux serve` on its own temporary data directory, with an admin operator."""

    def __init__(self, binary):
        self.binary = binary
        self.workdir = tempfile.mkdtemp(prefix="paymux-browser-")
        self.data_dir = os.path.join(self.workdir, "data")
        os.mkdir(self.data_dir, 0o700)   # it holds the platform private key
        self.log_path = os.path.join(self.workdir, "serve.log")
        self.proc = None
        self.port = None
        self.credentials = None
        self.admin_name = ADMIN_NAME
        self.admin_password = ADMIN_PASSWORD

    # -- lifecycle -------------------------------------------------------------------------
    def start(self):
        out = self.cli("init", "--json")
        try:
            self.credentials = json.loads(out)
        except ValueError:
            raise RuntimeError("`paymux init --json` did not print one JSON object:\n%s" % out)
        for key in ("account", "app_id", "test_secret_key", "live_secret_key",
                    "platform_public_key_pem"):
            if key not in self.credentials:
                raise RuntimeError("`paymux init --json` output lacks %r: %s" % (key, out))
        self.add_operator(self.admin_name, "admin", self.admin_password)
        self._serve()
        return self

    def _serve(self):
        cmd = [self.binary, "serve", "--data-dir", self.data_dir,
               "--listen", "127.0.0.1:0",
               "--test-refund-delay-ms", str(REFUND_DELAY_MS)]
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1,
                                     env=child_env())
        ready = threading.Event()
        found = []

        def pump():
            with log:
                for line in self.proc.stdout:
                    log.write(line)
                    log.flush()
                    m = LISTEN_RE.search(line)
                    if m and not ready.is_set():
                        found.append(int(m.group(1)))
                        ready.set()
            ready.set()  # stdout closed: the process exited

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(STARTUP_TIMEOUT_S) or not found:
            self.stop()
            raise RuntimeError("paymux serve did not print %r within %ds (exit code %r)\n%s"
                               % (LISTEN_RE.pattern, STARTUP_TIMEOUT_S, self.proc.returncode,
                                  self.logs()))
        self.port = found[0]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def cleanup(self):
        if os.environ.get("PAYMUX_BROWSER_KEEP_DATA"):
            print("paymux data kept in", self.workdir)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def logs(self, tail=150):
        try:
            with open(self.log_path, errors="replace") as f:
                lines = f.readlines()
        except OSError:
            lines = []
        return "--- %s (last %d of %d lines) ---\n%s" % (self.log_path, min(tail, len(lines)),
                                                        len(lines), "".join(lines[-tail:]))

    # -- CLI -------------------------------------------------------------------------------
    def cli(self, *args, stdin_text=None):
        """`paymux ARGS... --data-dir DATA_DIR`; returns stdout, raises on a non-zero exit."""
        cmd = [self.binary, *args, "--data-dir", self.data_dir]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                             input=stdin_text if stdin_text is not None else "",
                             env=child_env())
        if res.returncode != 0:
            raise RuntimeError("%s failed (exit %d):\nstdout: %s\nstderr: %s"
                               % (" ".join(cmd), res.returncode, res.stdout, res.stderr))
        return res.stdout

    def add_operator(self, name, role, password=OPERATOR_PASSWORD):
        """`paymux operators add NAME --role ROLE --password-stdin`."""
        self.cli("operators", "add", name, "--role", role, "--password-stdin",
                 stdin_text=password + "\n")

    def operators(self):
        """`paymux operators list --json`: [{name, role, created, password_changed}]."""
        return json.loads(self.cli("operators", "list", "--json"))

    def audit(self, limit=10_000):
        """`paymux audit --json`: entries {id, created_ms, actor, action, target, detail,
        request_id}, newest first."""
        out = self.cli("audit", "--json", "--limit", str(limit))
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    # -- convenience -----------------------------------------------------------------------
    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def url(self, path):
        return self.base_url + path

    @property
    def app_id(self):
        return self.credentials["app_id"]

    @property
    def test_key(self):
        return self.credentials["test_secret_key"]

    @test_key.setter
    def test_key(self, key):
        """After a key roll, the tests that follow on this server use the new key."""
        self.credentials["test_secret_key"] = key

    @property
    def live_key(self):
        return self.credentials["live_secret_key"]

    @property
    def platform_public_key_pem(self):
        return self.credentials["platform_public_key_pem"]

    def raw(self, method, path, json_body=None, key=None, **kwargs):
        """A plain API request with Bearer auth (for what the SDK has no method for)."""
        return requests.request(method, self.url(path), json=json_body, timeout=15,
                                headers={"Authorization": "Bearer %s" % (key or self.test_key)},
                                **kwargs)

    def test_pay(self, charge_id, fail=False):
        """POST /v1/test_helpers/charges/{id}/pay with {} (or {"result": "fail"})."""
        resp = self.raw("POST", "/v1/test_helpers/charges/%s/pay" % charge_id,
                        {"result": "fail"} if fail else {})
        assert resp.status_code == 200, (resp.status_code, resp.text)
        return resp.json()

    def events(self, event_type=None, limit=50, key=None):
        params = {"limit": limit}
        if event_type:
            params["type"] = event_type
        resp = self.raw("GET", "/v1/events", params=params, key=key)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        return resp.json()["data"]


@pytest.fixture(scope="module")
def server():
    """A paymux server per test module (tests of one module share it)."""
    srv = PaymuxServer(paymux_bin())
    try:
        srv.start()
    except BaseException:
        srv.stop()
        srv.cleanup()
        raise
    yield srv
    srv.stop()
    srv.cleanup()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's report on the item (for the failure screenshots), and attach
    the server's log to a failing test's report."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)
    if report.failed:
        srv = getattr(item, "funcargs", {}).get("server")
        if isinstance(srv, PaymuxServer):
            report.sections.append(("paymux serve log", srv.logs()))


def _test_failed(request):
    rep = getattr(request.node, "rep_call", None)
    setup = getattr(request.node, "rep_setup", None)
    return bool((rep and rep.failed) or (setup and setup.failed))


# --- the browser ------------------------------------------------------------------------

@pytest.fixture(scope="session")
def playwright_driver():
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_driver):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.exit("chromium not found at %s (scripts/test-browser.sh installs Debian's "
                    "chromium; or set PAYMUX_CHROMIUM)" % CHROMIUM, returncode=2)
    b = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                          headless=True)
    yield b
    b.close()


def _safe(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


@pytest.fixture
def screenshot(request):
    """screenshot(page, name) -> path of target/browser-screenshots/<test>-<name>.png."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    test = _safe(request.node.name)

    def shoot(page, name):
        path = SCREENSHOT_DIR / ("%s-%s.png" % (test, _safe(name)))
        page.screenshot(path=str(path), full_page=True)
        return path

    return shoot


@pytest.fixture
def new_page(browser, server, request, screenshot):
    """new_page(viewport=None, **context_options) -> a page in a fresh context (en-US,
    base_url = the server). Pages of a failing test are screenshot as <test>-FAILED-<n>."""
    contexts, pages = [], []

    def make(viewport=None, **options):
        ctx = browser.new_context(base_url=server.base_url, locale="en-US",
                                  viewport=viewport or {"width": 1280, "height": 900},
                                  **options)
        ctx.set_default_timeout(ACTION_TIMEOUT_MS)
        ctx.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        page = ctx.new_page()
        contexts.append(ctx)
        pages.append(page)
        return page

    yield make
    if _test_failed(request):
        for i, page in enumerate(pages, 1):
            try:
                if not page.is_closed():
                    screenshot(page, "FAILED-%d" % i)
            except Exception as e:  # a broken page must not hide the test's own failure
                print("could not screenshot page %d: %s" % (i, e))
    for ctx in contexts:
        ctx.close()


def do_login(page, name, password):
    """Sign in on /dashboard/login and land on the overview."""
    resp = page.goto("/dashboard/login")
    assert resp is not None and resp.status == 200, \
        "GET /dashboard/login answered %s" % (resp and resp.status)
    page.locator('input[name="name"]').fill(name)
    page.locator('input[name="password"]').fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(HOME_URL_RE)
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    return page


@pytest.fixture
def login():
    """login(page, name, password): sign in and wait for the overview."""
    return do_login


_operator_numbers = itertools.count(1)


@pytest.fixture
def page_for(server, new_page):
    """page_for(role, name=None, password=None, viewport=None) -> a page logged in as an
    operator of `role`. role "admin" without a name is the server's CLI-created admin; any
    other call creates the operator with the CLI first (name: <role><n> unless given)."""

    def make(role, name=None, password=None, viewport=None):
        if role == "admin" and name is None:
            name, password = server.admin_name, server.admin_password
        else:
            name = name or "%s%d" % (role, next(_operator_numbers))
            password = password or OPERATOR_PASSWORD
            server.add_operator(name, role, password)
        page = new_page(viewport=viewport)
        return do_login(page, name, password)

    return make


def reload_until(page, check, timeout=POLL_TIMEOUT_S, interval=0.3, what="the page to change"):
    """Reload `page` until check(page) is true (check must not wait: count(), inner_text())."""
    deadline = time.monotonic() + timeout
    while True:
        if check(page):
            return
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s on %s"
                                 % (timeout, what, page.url))
        time.sleep(interval)
        page.reload()


def wait_for(fetch, done, timeout=POLL_TIMEOUT_S, interval=0.1, what="condition"):
    """Call fetch() until done(result); return that result."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s; last value: %r"
                                 % (timeout, what, result))
        time.sleep(interval)


@pytest.fixture
def poll():
    """poll.reload_until(page, check, ...), poll.wait_for(fetch, done, ...)."""
    class Poll:
        pass
    p = Poll()
    p.reload_until = reload_until
    p.wait_for = wait_for
    return p


# --- webhook receiver -------------------------------------------------------------------

class Received:
    def __init__(self, path, headers, body):
        self.path = path
        self.headers = headers        # names lower-cased
        self.body = body              # the exact bytes
        try:
            self.json = json.loads(body)
        except ValueError:
            self.json = None

    @property
    def event_type(self):
        return (self.json or {}).get("type") if isinstance(self.json, dict) else None

    @property
    def object_id(self):
        try:
            return self.json["data"]["object"]["id"]
        except (KeyError, TypeError):
            return None

    def __repr__(self):
        return "Received(%s %s %s)" % (self.path, self.event_type, self.object_id)


class Receiver:
    """HTTP on 127.0.0.1:<free port>: records every POST and answers 200; GET serves the
    pages given to serve_html() (404 otherwise). ``url`` is http://127.0.0.1:PORT/hook."""

    def __init__(self):
        self._lock = threading.Lock()
        self._received = []
        self._pages = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with receiver._lock:
                    receiver._received.append(Received(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self._answer(200, b"OK", "text/plain")

            def do_GET(self):
                with receiver._lock:
                    page = receiver._pages.get(self.path.split("?")[0])
                if page is None:
                    self._answer(404, b"not found", "text/plain")
                else:
                    self._answer(200, page.encode(), "text/html; charset=utf-8")

            def _answer(self, status, body, content_type):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.origin = "http://127.0.0.1:%d" % self.port
        self.url = self.origin + "/hook"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()

    def serve_html(self, path, html):
        """Serve `html` at GET `path` (from this receiver's own origin); returns its URL."""
        with self._lock:
            self._pages[path] = html
        return self.origin + path

    @property
    def received(self):
        with self._lock:
            return list(self._received)

    def wait_for(self, match, timeout=POLL_TIMEOUT_S, what="a matching request"):
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.received if match(r)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError("receiver: no %s within %.0fs; got %r"
                                     % (what, timeout, self.received))
            time.sleep(0.05)


@pytest.fixture
def receiver():
    rcv = Receiver()
    yield rcv
    rcv.stop()


# --- the official SDK -------------------------------------------------------------------

def configure_sdk(server, mode="test", private_key_pem=None, api_key=None):
    """Point the official pingpp SDK at `server`: api_base, the mode's secret key (or
    `api_key`), and the merchant private key for request signing (None: unsigned)."""
    pingpp.api_base = server.base_url
    pingpp.api_key = api_key or (server.test_key if mode == "test" else server.live_key)
    pingpp.private_key_path = None
    pingpp.private_key = private_key_pem
    return pingpp


@pytest.fixture
def sdk():
    return configure_sdk


@pytest.fixture(autouse=True)
def _reset_sdk():
    yield
    pingpp.private_key = None
    pingpp.private_key_path = None


_order_counter = itertools.count(1)


def new_order_no(prefix="br"):
    """8-20 alphanumerics, unique within a run."""
    return "%s%013d%04d" % (prefix, int(time.time() * 1000) % 10**13,
                            next(_order_counter) % 10000)


@pytest.fixture
def make_charge(server):
    """make_charge(amount=100, paid=False, channel="alipay_qr", private_key_pem=None) -> a
    test-mode pingpp Charge created through the SDK (the test key; signed when a private key
    is given), paid with the test helper (unsigned) if asked."""

    def make(amount=100, paid=False, channel="alipay_qr", private_key_pem=None):
        configure_sdk(server, private_key_pem=private_key_pem)
        ch = pingpp.Charge.create(order_no=new_order_no(), app={"id": server.app_id},
                                  channel=channel, amount=amount, client_ip="127.0.0.1",
                                  currency="cny", subject="Browser test",
                                  body="paymux console browser test", extra={})
        if paid:
            server.test_pay(ch.id)
            ch = pingpp.Charge.retrieve(ch.id)
            assert ch.paid is True, ch
        return ch

    return make


# --- keys and signatures ----------------------------------------------------------------

def make_rsa_keypair():
    """(private PEM "BEGIN RSA PRIVATE KEY", public PEM "BEGIN PUBLIC KEY")."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption()).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private_pem, public_pem


@pytest.fixture
def rsa_keypair():
    return make_rsa_keypair()


def verify_platform_signature(public_pem, body, signature_b64):
    """X-Pingplusplus-Signature: RSA-SHA256 PKCS#1 v1.5 of the body (raises if wrong)."""
    key = serialization.load_pem_public_key(public_pem.encode())
    key.verify(base64.b64decode(signature_b64), body, padding.PKCS1v15(), hashes.SHA256())


@pytest.fixture
def verify_signature():
    return verify_platform_signature


# --- console actions (the contract in one place) ----------------------------------------

class Console:
    """Console steps the scenarios share. Every step uses the UI like an operator would
    and screenshots what it sees."""

    def __init__(self, server, shoot):
        self.server = server
        self.shoot = shoot

    # -- locating --------------------------------------------------------------------------
    @staticmethod
    def button(scope, name):
        return scope.get_by_role("button", name=name, exact=True)

    @staticmethod
    def form_with_button(page, name):
        return page.locator("form").filter(
            has=page.get_by_role("button", name=name, exact=True))

    @staticmethod
    def section(page, title):
        """The <section> whose heading is `title` (the whole page when there is none)."""
        sections = page.locator("section").filter(
            has=page.get_by_role("heading", name=title, exact=True))
        return sections.first if sections.count() else page.locator("body")

    @staticmethod
    def row(scope, text):
        return scope.get_by_role("row").filter(has_text=text)

    @staticmethod
    def submit(page, button):
        """Click a submit button and wait for the page it leads to (after any redirect).
        (Waiting for a URL is not enough: many forms lead back to the page they are on.)"""
        with page.expect_navigation():
            button.click()

    @staticmethod
    def csrf(page):
        token = page.locator('input[name="csrf"]').first.get_attribute("value")
        assert token, "no hidden csrf input on %s" % page.url
        return token

    @staticmethod
    def text(page):
        return page.locator("body").inner_text()

    # -- steps -----------------------------------------------------------------------------
    def goto(self, page, path, shot=None):
        resp = page.goto(path)
        assert resp is not None and resp.status == 200, \
            "GET %s answered %s" % (path, resp and resp.status)
        if shot:
            self.shoot(page, shot)
        return resp

    def add_operator(self, page, name, role, password=OPERATOR_PASSWORD):
        self.goto(page, "/dashboard/operators")
        form = self.form_with_button(page, "Add operator")
        form.locator('input[name="name"]').fill(name)
        form.locator('select[name="role"]').select_option(role)
        form.locator('input[name="password"]').fill(password)
        self.submit(page, self.button(form, "Add operator"))
        row = self.row(page, name)
        expect(row.first).to_be_visible()
        expect(row.first).to_contain_text(role)
        self.shoot(page, "operator-%s-added" % name)

    def search_charge(self, page, order_no, charge_id):
        """Search the charges list by order_no and open the charge."""
        self.goto(page, "/dashboard/charges")
        page.locator('input[name="q"]').fill(order_no)
        self.submit(page, self.button(page, "Search"))
        expect(self.row(page, order_no).first).to_be_visible()
        self.shoot(page, "charges-search")
        page.get_by_role("link", name=charge_id, exact=True).click()
        page.wait_for_url(re.compile(r"/dashboard/charges/%s$" % re.escape(charge_id)))
        expect(page.locator("body")).to_contain_text(order_no)

    def refund(self, page, charge_id, amount_yuan, description="browser test refund"):
        """Refund from the charge page, through the confirmation page, back to the charge."""
        if not re.search(r"/dashboard/charges/%s$" % re.escape(charge_id), page.url):
            self.goto(page, "/dashboard/charges/%s" % charge_id)
        form = self.form_with_button(page, "Refund")
        form.locator('input[name="amount"]').fill(amount_yuan)
        form.locator('input[name="description"]').fill(description)
        self.shoot(page, "refund-form")
        self.submit(page, self.button(form, "Refund"))
        confirm = self.button(page, "Confirm refund")
        expect(confirm).to_be_visible()
        self.shoot(page, "refund-confirm")
        self.submit(page, confirm)
        expect(page).to_have_url(
            re.compile(r"/dashboard/charges/%s(\?.*)?$" % re.escape(charge_id)))
        self.shoot(page, "refund-submitted")

    def add_endpoint(self, page, url, events=()):
        """Add a webhook endpoint; returns the signing secret shown once."""
        self.goto(page, "/dashboard/webhooks")
        form = self.form_with_button(page, "Add endpoint")
        form.locator('input[name="url"]').fill(url)
        for event in events:
            form.locator('input[name="events"][value="%s"]' % event).check()
        self.submit(page, self.button(form, "Add endpoint"))
        secret = page.locator("#new-secret")
        expect(secret).to_be_visible()
        value = secret.inner_text().strip()
        assert value, "the new endpoint's secret is empty"
        expect(self.row(page, url).first).to_be_visible()
        self.shoot(page, "endpoint-added")
        return value

    def send_test_event(self, page, url):
        self.goto(page, "/dashboard/webhooks")
        self.submit(page, self.button(self.row(page, url).first, "Send test event"))
        self.shoot(page, "test-event-sent")

    def set_merchant_key(self, page, public_pem):
        self.goto(page, "/dashboard/developers")
        page.locator('textarea[name="merchant_public_key"]').fill(public_pem)
        self.submit(page, self.button(page, "Save public key"))
        self.shoot(page, "merchant-key-saved")

    def set_signatures(self, page, mode, require):
        """Click "Require signatures (Test|Live)" (or "Stop requiring ..."), confirming when
        the console asks (it does for Live)."""
        label = "%s signatures (%s)" % ("Require" if require else "Stop requiring",
                                        mode.capitalize())
        self.goto(page, "/dashboard/developers")
        self.submit(page, self.button(page, label))
        if self.button(page, "Confirm").count():
            self.shoot(page, "signatures-%s-%s-confirm" % (mode, require))
            self.submit(page, self.button(page, "Confirm"))
        other = "%s signatures (%s)" % ("Stop requiring" if require else "Require",
                                        mode.capitalize())
        if not re.search(r"/dashboard/developers(\?.*)?$", page.url):
            self.goto(page, "/dashboard/developers")
        expect(self.button(page, other)).to_be_visible()
        self.shoot(page, "signatures-%s-%s" % (mode, "on" if require else "off"))

    def roll_key(self, page, mode, grace_minutes):
        """Roll the mode's secret key; returns the new key shown once."""
        label = "Roll key (%s)" % mode.capitalize()
        self.goto(page, "/dashboard/developers")
        form = self.form_with_button(page, label)
        grace = form.locator('input[name="grace_minutes"]')
        expect(grace).to_have_value("60")  # the contract's default
        grace.fill(str(grace_minutes))
        self.submit(page, self.button(form, label))
        if self.button(page, "Confirm").count():  # not in the contract; tolerated
            self.submit(page, self.button(page, "Confirm"))
        secret = page.locator("#new-secret")
        expect(secret).to_be_visible()
        key = secret.inner_text().strip()
        assert key.startswith("sk_%s_" % mode), "new %s key looks wrong: %r" % (mode, key)
        self.shoot(page, "key-rolled-%s-grace%s" % (mode, grace_minutes))
        return key


@pytest.fixture
def console(server, screenshot):
    return Console(server, screenshot)
