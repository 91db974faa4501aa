"""A merchant's webhook receiver whose signature check is the official Ping++
Python example's verification code.

``verify()`` follows ``example/verify_demo.py`` of PingPlusPlus/pingpp-python
(commit f38e99d) call for call -- pycryptodome ``RSA.importKey`` ->
``SHA256.new(data.encode('utf-8'))`` -> ``PKCS1_v1_5.new(pubkey).verify(digest,
signs)``, with the example's ``decode_base64`` that re-pads the base64 before
decoding. What had to change:

* ``base64.decodestring`` (removed in Python 3.9) -> ``base64.decodebytes``,
  its documented replacement (same decoder);
* the Ping++ public key is passed in as a PEM string (``platform_public_key_pem``
  of ``paymux init --json``) instead of being read from
  ``pingpp_public_key.pem`` next to the script.

The example has no HTTP part; around ``verify()`` this module puts a small
``http.server`` receiver that hands it the raw body and the
``x-pingplusplus-signature`` header (the name the example's docstring gives;
``http.server`` header lookup is case-insensitive). It answers 200 when the
signature verifies and 400 when it does not (also when the header is missing
or the example's code raises, e.g. on malformed base64), and records every
request it got.
"""

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA
from Crypto.Signature import PKCS1_v1_5

SIGNATURE_HEADER = "x-pingplusplus-signature"


# --- verification code of example/verify_demo.py -----------------------------

def decode_base64(data):
    remainder = len(data) % 4
    if remainder:
        data += '=' * (4 - remainder)
    # example: base64.decodestring(...), removed in Python 3.9
    return base64.decodebytes(data.encode('utf-8'))


def verify(data, sig, pubkeystr):
    """data: raw request body; sig: the x-pingplusplus-signature value;
    pubkeystr: the Ping++ (here: paymux platform) public key PEM."""
    signs = decode_base64(sig)
    data = data.decode('utf-8') if hasattr(data, "decode") else data
    # example: pubkeystr = open(os.path.join(os.path.dirname(__file__), 'pingpp_public_key.pem')).read()
    pubkey = RSA.importKey(pubkeystr)
    digest = SHA256.new(data.encode('utf-8'))
    pkcs = PKCS1_v1_5.new(pubkey)
    return pkcs.verify(digest, signs)


# --- the receiver around it ---------------------------------------------------

class Received:
    """One POST as the receiver saw it and what it answered."""

    def __init__(self, path, headers, body, signature, verified, status, error):
        self.path = path
        self.headers = headers        # dict, names lower-cased
        self.body = body              # the exact bytes received
        self.signature = signature    # x-pingplusplus-signature, or None
        self.verified = verified      # what verify() returned
        self.status = status          # what the receiver answered
        self.error = error            # exception raised by verify(), if any
        try:
            self.event = json.loads(body)
        except ValueError:
            self.event = None

    @property
    def event_type(self):
        return (self.event or {}).get("type")

    @property
    def object_id(self):
        try:
            return self.event["data"]["object"]["id"]
        except (KeyError, TypeError):
            return None

    def __repr__(self):
        return ("Received(%s %s %s, verified=%r, answered %d%s)"
                % (self.path, self.event_type, self.object_id, self.verified, self.status,
                   ", error=%r" % self.error if self.error else ""))


class WebhookReceiver:
    """Listens on 127.0.0.1:<free port>; ``url`` is ``http://127.0.0.1:PORT/hook``."""

    def __init__(self, public_key_pem):
        self.public_key_pem = public_key_pem
        self._lock = threading.Lock()
        self._received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self._read_body()
                sig = self.headers.get(SIGNATURE_HEADER)
                error = None
                try:
                    verified = sig is not None and verify(body, sig, receiver.public_key_pem)
                except Exception as exc:  # the example's code raising = not verified
                    verified, error = False, "%s: %s" % (type(exc).__name__, exc)
                status = 200 if verified else 400
                receiver._record(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                          body, sig, verified, status, error))
                reply = b"OK" if verified else b"signature verification failed"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def _read_body(self):
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()  # CRLF after each chunk
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def log_message(self, *args):  # keep pytest output clean
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = "http://127.0.0.1:%d/hook" % self.port
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()

    def _record(self, received):
        with self._lock:
            self._received.append(received)

    @property
    def received(self):
        with self._lock:
            return list(self._received)

    def wait_for(self, match, timeout=10.0, what="a matching request"):
        """Poll until a received request satisfies ``match``; return the first one."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.received if match(r)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError("receiver: no %s within %.0fs; got %r"
                                     % (what, timeout, self.received))
            time.sleep(0.02)
