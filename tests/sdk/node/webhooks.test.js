'use strict';
// Webhooks: a receiver using the official Node example's verification code
// (webhook_receiver.js, after pingpp-nodejs example/webhooks_verify.js) accepts
// paymux's deliveries and rejects a tampered body or a foreign signature.

const crypto = require('node:crypto');
const { describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { chargeParams, startServer, test, waitFor } = require('./helpers');
const { SIGNATURE_HEADER, WebhookReceiver, verifySignature } = require('./webhook_receiver');

const DELIVERY_TIMEOUT_MS = 10_000; // first attempts are immediate; a failed one is retried after 5 s

let server;
let pingpp;
let receiver;
before(async () => {
  server = await startServer();
  pingpp = server.client();
  receiver = await new WebhookReceiver(server.info.platform_public_key_pem).start();
});
after(async () => {
  if (server) await server.stop();
  if (receiver) await receiver.stop();
});

const waitDelivery = (type, objectId) => receiver.waitFor(
  (r) => r.event?.type === type && r.event?.data?.object?.id === objectId,
  { timeout: DELIVERY_TIMEOUT_MS, what: `${type} delivery for ${objectId}` },
);

const postToReceiver = (body, signature) => fetch(receiver.url, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json', ...(signature === undefined ? {} : { [SIGNATURE_HEADER]: signature }) },
  body,
});

/** Change one byte: the first digit after `field` (so still valid JSON and UTF-8). */
function tamper(body, field = '"amount":') {
  const i = body.indexOf(field) + field.length;
  assert.ok(i >= field.length && body[i] >= 0x30 && body[i] <= 0x39, body.toString());
  const copy = Buffer.from(body);
  copy[i] = body[i] === 0x39 ? 0x38 : 0x39;
  return copy;
}

async function assertDeliveryLogSucceeded(eventId) {
  const log = await waitFor(
    async () => {
      const resp = await server.raw('GET', `/v1/events/${eventId}/webhook_deliveries`);
      assert.equal(resp.status, 200, resp.text);
      return resp.json;
    },
    (b) => b.data.length > 0 && b.data[0].status === 'succeeded',
    { timeout: DELIVERY_TIMEOUT_MS, what: `delivery of ${eventId} to succeed` },
  );
  const delivery = log.data[0];
  assert.equal(delivery.event, eventId);
  assert.equal(delivery.attempts[0].url, receiver.url);
  assert.equal(delivery.attempts[0].status_code, 200);
  assert.equal(delivery.attempts[0].succeeded, true);
  await waitFor(() => pingpp.events.retrieve(eventId), (e) => e.pending_webhooks === 0,
    { what: `${eventId} to have no pending webhooks` });
}

function assertVerified(got) {
  assert.equal(got.verified, true, JSON.stringify({ error: got.error, signature: got.signature }));
  assert.equal(got.status, 200);
  assert.equal(got.error, null);
  assert.equal(got.path, '/hook');
  assert.equal(got.headers['content-type'], 'application/json');
}

describe('webhooks verified with the example code', () => {
  let endpoint;
  let charge;
  let chargeEvt;
  let refundEvt;

  before(async () => {
    const resp = await server.raw('POST', '/v1/webhook_endpoints', { url: receiver.url });
    assert.equal(resp.status, 200, resp.text);
    endpoint = resp.json;
  });

  test('the endpoint is registered and its secret shown', async () => {
    assert.equal(endpoint.object, 'webhook_endpoint');
    assert.equal(endpoint.url, receiver.url);
    assert.match(endpoint.secret, /^whsec_/);
  });

  test('charge.succeeded is delivered and verifies', async () => {
    charge = await pingpp.charges.create(chargeParams(server.appId, 'alipay_qr', 1000));
    await server.testPay(charge.id);
    chargeEvt = await waitDelivery('charge.succeeded', charge.id);
    assertVerified(chargeEvt);
    assert.equal(chargeEvt.event.data.object.paid, true);
    const evt = await pingpp.events.retrieve(chargeEvt.event.id);
    assert.equal(evt.type, 'charge.succeeded');
    assert.equal(evt.data.object.id, charge.id);
    await assertDeliveryLogSucceeded(chargeEvt.event.id);
  });

  test('refund.succeeded is delivered and verifies', async () => {
    assert.ok(charge, 'needs the paid charge of the previous test');
    const re = await pingpp.charges.createRefund(charge.id, { amount: 300, description: 'webhook' });
    assert.equal(re.status, 'pending');
    refundEvt = await waitDelivery('refund.succeeded', re.id);
    assertVerified(refundEvt);
    assert.equal(refundEvt.event.data.object.status, 'succeeded');
    assert.equal(refundEvt.event.data.object.charge, charge.id);
    const evt = await pingpp.events.retrieve(refundEvt.event.id);
    assert.equal(evt.type, 'refund.succeeded');
    assert.equal(evt.data.object.id, re.id);
    await assertDeliveryLogSucceeded(refundEvt.event.id);
  });

  test('every delivery from paymux verified', async () => {
    const fromPaymux = receiver.received.filter((r) => (r.headers['user-agent'] || '').startsWith('paymux'));
    assert.ok(fromPaymux.length >= 2, `${fromPaymux.length} deliveries`);
    for (const r of fromPaymux) assertVerified(r);
  });

  test('a tampered body with the original signature is rejected', async () => {
    assert.ok(chargeEvt, 'needs the delivery of an earlier test');
    // control: the same bytes and signature, replayed by us, still verify
    let resp = await postToReceiver(chargeEvt.body, chargeEvt.signature);
    assert.equal(resp.status, 200, await resp.text());

    const tampered = tamper(chargeEvt.body);
    assert.equal(tampered.length, chargeEvt.body.length);
    assert.equal([...tampered].filter((b, i) => b !== chargeEvt.body[i]).length, 1);
    resp = await postToReceiver(tampered, chargeEvt.signature);
    assert.equal(resp.status, 400, await resp.text());
    const got = receiver.received.filter((r) => r.body.equals(tampered));
    assert.equal(got.length, 1);
    assert.equal(got[0].verified, false);
    assert.equal(got[0].error, null);
  });

  test('an intact body signed with another key is rejected', async () => {
    assert.ok(refundEvt, 'needs the delivery of an earlier test');
    const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const foreign = crypto.sign('RSA-SHA256', refundEvt.body, other.privateKey).toString('base64');
    // well-formed: it verifies under the other key's public half
    assert.equal(verifySignature(refundEvt.rawData, foreign,
      other.publicKey.export({ type: 'spki', format: 'pem' })), true);

    const resp = await postToReceiver(refundEvt.body, foreign);
    assert.equal(resp.status, 400, await resp.text());
    const got = receiver.received.filter((r) => r.signature === foreign);
    assert.equal(got.length, 1);
    assert.ok(got[0].body.equals(refundEvt.body));
    assert.equal(got[0].verified, false);
    assert.equal(got[0].error, null);
  });

  test('a body without signature is rejected', async () => {
    assert.ok(chargeEvt, 'needs the delivery of an earlier test');
    const resp = await postToReceiver(chargeEvt.body, undefined);
    assert.equal(resp.status, 400, await resp.text());
    const got = receiver.received.filter((r) => r.signature === undefined);
    assert.equal(got.length, 1);
    assert.equal(got[0].verified, false);
  });
});

// The example's own sample (raw_data and signature of pingpp-nodejs
// example/webhooks_verify.js, key example/pingpp_rsa_public_key.pem): shows that
// the adapted verifySignature() still accepts what the original accepted.
const EXAMPLE_RAW_DATA = '{"id":"evt_eYa58Wd44Glerl8AgfYfd1sL","created":1434368075,"livemode":true,"type":"charge.succeeded","data":{"object":{"id":"ch_bq9IHKnn6GnLzsS0swOujr4x","object":"charge","created":1434368069,"livemode":true,"paid":true,"refunded":false,"app":"app_vcPcqDeS88ixrPlu","channel":"wx","order_no":"2015d019f7cf6c0d","client_ip":"140.227.22.72","amount":100,"amount_settle":0,"currency":"cny","subject":"An Apple","body":"A Big Red Apple","extra":{},"time_paid":1434368074,"time_expire":1434455469,"time_settle":null,"transaction_no":"1014400031201506150354653857","refunds":{"object":"list","url":"/v1/charges/ch_bq9IHKnn6GnLzsS0swOujr4x/refunds","has_more":false,"data":[]},"amount_refunded":0,"failure_code":null,"failure_msg":null,"metadata":{},"credential":{},"description":null}},"object":"event","pending_webhooks":0,"request":"iar_Xc2SGjrbdmT0eeKWeCsvLhbL"}';
const EXAMPLE_SIGNATURE = 'BX5sToHUzPSJvAfXqhtJicsuPjt3yvq804PguzLnMruCSvZ4C7xYS4trdg1blJPh26eeK/P2QfCCHpWKedsRS3bPKkjAvugnMKs+3Zs1k+PshAiZsET4sWPGNnf1E89Kh7/2XMa1mgbXtHt7zPNC4kamTqUL/QmEVI8LJNq7C9P3LR03kK2szJDhPzkWPgRyY2YpD2eq1aCJm0bkX9mBWTZdSYFhKt3vuM1Qjp5PWXk0tN5h9dNFqpisihK7XboB81poER2SmnZ8PIslzWu2iULM7VWxmEDA70JKBJFweqLCFBHRszA8Nt3AXF0z5qe61oH1oSUmtPwNhdQQ2G5X3g==';
const EXAMPLE_PUBLIC_KEY = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAy0d0QxZFYeHXGeWWneib
4Q0jUFjj4ro7bMnIJ8DjZ4w2NtLJi8p1mcFMbrIS5g95U5FUBCfAZXFb2QIaJfft
BByCQRbon7Jb97XoTP6kfk65tLz8Q9Cank1Ah/qivPIY0aNwvq8stedq9rcuJ6OQ
ncbfQ1217/Za50vKotYa+MEcFo9Y65biEmzq7BZeNYzuU4dGrPaCi917cfwNa8ey
ZSpoIOBe8e5JGOtZKCfgsgfecbXxdh6jq8Qn6mmrJILapEdxlj4xfzBzAuM3snqt
5XnDzzFWlI5Z+4lhyZr7eFVmnQSqn1HWt4VPzz/EWvxP8Rkvy89XuRXBAiO3/7Ur
8wIDAQAB
-----END PUBLIC KEY-----`;

test('verifySignature accepts the example\'s own sample', async () => {
  assert.equal(Buffer.byteLength(EXAMPLE_RAW_DATA), 859);
  assert.equal(verifySignature(EXAMPLE_RAW_DATA, EXAMPLE_SIGNATURE, EXAMPLE_PUBLIC_KEY), true);
  const tampered = tamper(Buffer.from(EXAMPLE_RAW_DATA)).toString('utf8');
  assert.equal(verifySignature(tampered, EXAMPLE_SIGNATURE, EXAMPLE_PUBLIC_KEY), false);
});
