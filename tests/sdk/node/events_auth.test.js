'use strict';
// Events (retrieve through the SDK) and API-key authentication (the Node SDK
// sends `Authorization: Basic base64(key + ":")`).

const { describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { chargeParams, startServer, test, rejectsWith, waitFor } = require('./helpers');

let server;
let pingpp;
before(async () => {
  server = await startServer();
  pingpp = server.client();
});
after(async () => { if (server) await server.stop(); });

async function findEvent(type, objectId) {
  const matching = (events) => events.filter((e) => e.type === type && e.data.object.id === objectId);
  const events = await waitFor(() => server.recentEvents(100), (evs) => matching(evs).length > 0,
    { what: `a ${type} event for ${objectId}` });
  const createds = events.map((e) => e.created);
  assert.deepEqual(createds, [...createds].sort((a, b) => b - a), 'event list is not newest first');
  return matching(events)[0];
}

describe('events', () => {
  test('charge.succeeded event can be retrieved', async () => {
    const ch = await pingpp.charges.create(chargeParams(server.appId, 'wx_pub_qr'));
    await server.testPay(ch.id);
    const listed = await findEvent('charge.succeeded', ch.id);

    const evt = await pingpp.events.retrieve(listed.id);
    assert.equal(evt.object, 'event');
    assert.equal(evt.id, listed.id);
    assert.equal(evt.type, 'charge.succeeded');
    assert.equal(evt.livemode, false);
    assert.equal(typeof evt.created, 'number');
    assert.equal(typeof evt.pending_webhooks, 'number');
    assert.equal(evt.data.object.object, 'charge');
    assert.equal(evt.data.object.id, ch.id);
    assert.equal(evt.data.object.paid, true);
    assert.equal(evt.data.object.amount, ch.amount);
  });

  test('refund.succeeded event can be retrieved', async () => {
    const ch = await pingpp.charges.create(chargeParams(server.appId, 'alipay_scan', 500));
    const re = await pingpp.charges.createRefund(ch.id, { amount: 200, description: 'evt' });
    const listed = await findEvent('refund.succeeded', re.id);

    const evt = await pingpp.events.retrieve(listed.id);
    assert.equal(evt.type, 'refund.succeeded');
    assert.equal(evt.data.object.object, 'refund');
    assert.equal(evt.data.object.id, re.id);
    assert.equal(evt.data.object.charge, ch.id);
    assert.equal(evt.data.object.amount, 200);
    assert.equal(evt.data.object.status, 'succeeded');
  });

  test('the event list is newest first, also within the same second', async () => {
    const charges = [];
    for (let i = 0; i < 5; i++) charges.push(await pingpp.charges.create(chargeParams(server.appId, 'alipay_qr')));
    await new Promise((resolve) => setTimeout(resolve, 300)); // let pending refunds of other tests settle
    for (const ch of charges) await server.testPay(ch.id);
    const events = await server.recentEvents(5);
    assert.deepEqual(events.map((e) => [e.type, e.data.object.id]),
      [...charges].reverse().map((ch) => ['charge.succeeded', ch.id]));
  });

  test('unknown event is an invalid request error', async () => {
    await rejectsWith(pingpp.events.retrieve('evt_000000000000000000000000'), 'PingppInvalidRequest');
  });
});

describe('API key', () => {
  const BAD_KEY = 'sk_test_' + 'Zz9'.repeat(8);

  test('wrong key on retrieve is an authentication error', async () => {
    const ch = await pingpp.charges.create(chargeParams(server.appId, 'alipay_qr'));
    const bad = server.client({ key: BAD_KEY });
    const err = await rejectsWith(bad.charges.retrieve(ch.id), 'PingppAuthenticationError');
    assert.equal(typeof err.message, 'string');
    assert.ok(err.message.length > 0);
  });

  test('wrong key on create is refused and creates nothing', async () => {
    const bad = server.client({ key: BAD_KEY });
    const params = chargeParams(server.appId, 'alipay_qr');
    await rejectsWith(bad.charges.create(params), 'PingppAuthenticationError');
    const recent = await pingpp.charges.list({ app: { id: server.appId }, limit: 100 });
    assert.ok(!recent.data.some((c) => c.order_no === params.order_no));
  });
});
