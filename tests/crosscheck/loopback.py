"""The suite's own HTTP servers: merchants' notify URLs and the fake channels paymux's adapters
talk to, each a ``LoopbackServer``.

A server is used as a context manager (``with FakeX(...) as fake:``), which starts it on a free
port of 127.0.0.1 and stops it afterwards; ``base_url`` is where it listens.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        owner = self.server.owner
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, text = owner.on_post(self.path, body, self.headers.get("Content-Type"))
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", owner.reply_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


class LoopbackServer:
    """A ThreadingHTTPServer on 127.0.0.1 that hands every POST to
    ``on_post(path, body, content_type)`` (``body`` in bytes) and sends the ``(status, text)``
    it returns, in UTF-8, as ``reply_type``."""

    reply_type = "text/plain;charset=utf-8"

    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        if self.thread.is_alive():  # shutdown() waits for a serve_forever() that never ran
            self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def on_post(self, path, body, content_type):
        raise NotImplementedError


class Receiver(LoopbackServer):
    """A merchant's notify URL: keeps every POST as it came and answers it ``ack``, the
    channel's word for "received, stop sending"."""

    ack = "ok"

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
        self._received = []

    def on_post(self, path, body, content_type):
        with self.lock:
            self._received.append({"path": path, "body": body, "content_type": content_type})
        return 200, self.ack

    def received(self):
        """Every POST so far, oldest first: ``path``, ``body`` (bytes), ``content_type``."""
        with self.lock:
            return list(self._received)
