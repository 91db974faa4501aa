'use strict';
// A merchant's webhook receiver whose signature check is the official Ping++
// Node example's verification code.
//
// verifySignature() is `verify_signature` of example/webhooks_verify.js in
// PingPlusPlus/pingpp-nodejs (commit 794b4ba, = npm pingpp 2.1.6 here):
// crypto.createVerify('RSA-SHA256').update(raw_data, 'utf8') and
// verifier.verify(pub_key, signature, 'base64'). What had to change: its third
// argument is the Ping++ public key PEM itself (`platform_public_key_pem` of
// `paymux init --json`) instead of a path read with fs.readFileSync(path, 'utf8').
//
// The HTTP part follows example/webhooks_server.js (node:http, the body
// collected as a utf8 string) except that the chunks are kept as Buffers and
// decoded once with toString('utf8') -- the same string as the example's
// req.setEncoding('utf8') + `postData += chunk`, but the exact bytes are kept
// for the record. The signature is read from req.headers['x-pingplusplus-signature']
// (Node lower-cases header names; webhooks_verify.js says to normalize the
// X-Pingplusplus-Signature name per framework). The receiver answers 200 when
// the signature verifies and 400 when it does not (also when the header is
// missing or the example's code throws), and records every request.

const crypto = require('node:crypto');
const http = require('node:http');

const SIGNATURE_HEADER = 'x-pingplusplus-signature';

// --- verification code of example/webhooks_verify.js ------------------------
// raw_data: the raw POST body (string); signature: the x-pingplusplus-signature value;
// pub_key: the Ping++ (here: paymux platform) public key PEM.
const verifySignature = function (raw_data, signature, pub_key) {
  const verifier = crypto.createVerify('RSA-SHA256').update(raw_data, 'utf8');
  // example: var pub_key = fs.readFileSync(pub_key_path, "utf8");
  return verifier.verify(pub_key, signature, 'base64');
};

// --- the receiver around it --------------------------------------------------
class WebhookReceiver {
  constructor(publicKeyPem) {
    this.publicKeyPem = publicKeyPem;
    this.received = []; // { path, headers, body (Buffer), rawData, signature, verified, status, error, event }
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (chunk) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const rawData = body.toString('utf8');
        const signature = req.headers[SIGNATURE_HEADER];
        let verified = false;
        let error = null;
        try {
          verified = signature !== undefined && verifySignature(rawData, signature, this.publicKeyPem);
        } catch (err) { // the example's code throwing = not verified
          error = `${err.name}: ${err.message}`;
        }
        const status = verified ? 200 : 400;
        let event = null;
        try { event = JSON.parse(rawData); } catch { /* not JSON */ }
        this.received.push({
          path: req.url, headers: req.headers, body, rawData, signature, verified, status, error, event,
        });
        res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(verified ? 'OK' : 'signature verification failed');
      });
    });
  }

  /** Listen on 127.0.0.1:<free port>; `url` is http://127.0.0.1:PORT/hook. */
  async start() {
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', resolve);
    });
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}/hook`;
    return this;
  }

  async stop() {
    const closed = new Promise((resolve) => this.server.close(resolve));
    this.server.closeAllConnections();
    await closed;
  }

  /** Poll until a received request satisfies `match`; resolve with the first one. */
  async waitFor(match, { timeout = 10_000, what = 'a matching request' } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const found = this.received.find(match);
      if (found) return found;
      if (Date.now() > deadline) {
        const seen = this.received.map((r) => ({
          type: r.event?.type, id: r.event?.data?.object?.id, verified: r.verified, status: r.status, error: r.error,
        }));
        throw new Error(`receiver: no ${what} within ${timeout} ms; got ${JSON.stringify(seen)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

module.exports = { SIGNATURE_HEADER, WebhookReceiver, verifySignature };
