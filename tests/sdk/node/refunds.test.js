'use strict';
// Charge refunds (create / retrieve / list, over-refund) and reverse, through
// the official Node SDK.

const { describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { chargeParams, startServer, test, rejectsWith, waitFor, mentionsAmount } = require('./helpers');

let server;
let pingpp;
before(async () => {
  server = await startServer();
  pingpp = server.client();
});
after(async () => { if (server) await server.stop(); });

const create = (channel, amount = 1000) => pingpp.charges.create(chargeParams(server.appId, channel, amount));

async function paidCharge() {
  const ch = await create('alipay_qr', 1000);
  await server.testPay(ch.id);
  const got = await pingpp.charges.retrieve(ch.id);
  assert.equal(got.paid, true);
  return got;
}

const waitRefundSucceeded = (chargeId, refundId) => waitFor(
  () => pingpp.charges.retrieveRefund(chargeId, refundId),
  (r) => r.status === 'succeeded',
  { what: `refund ${refundId} to succeed` },
);

function assertRefund(re, charge, amount, description) {
  assert.equal(re.object, 'refund');
  assert.match(re.id, /^re_/);
  assert.equal(re.amount, amount);
  assert.equal(re.charge, charge.id);
  assert.equal(re.charge_order_no, charge.order_no);
  assert.equal(re.description, description);
  assert.equal(typeof re.created, 'number');
  assert.equal(typeof re.extra, 'object');
  assert.notEqual(re.extra, null);
}

describe('refunds', () => {
  test('partial, then the full rest, then over-refunds are refused', async () => {
    const ch = await paidCharge();

    let r1 = await pingpp.charges.createRefund(ch.id, { amount: 300, description: 'partial' });
    assertRefund(r1, ch, 300, 'partial');
    assert.equal(r1.status, 'pending');
    assert.equal(r1.succeed, false);
    r1 = await waitRefundSucceeded(ch.id, r1.id);
    assert.equal(r1.succeed, true);
    assert.equal(typeof r1.time_succeed, 'number');

    let got = await pingpp.charges.retrieve(ch.id);
    assert.equal(got.amount_refunded, 300);
    assert.equal(got.refunded, true);
    assert.deepEqual(got.refunds.data.map((r) => r.id), [r1.id]);

    let err = await rejectsWith(
      pingpp.charges.createRefund(ch.id, { amount: 800, description: 'too much' }), 'PingppInvalidRequest');
    assert.equal(err.rawType, 'invalid_request_error');
    assert.ok(mentionsAmount(err.message, 700), err.message);

    const r2 = await pingpp.charges.createRefund(ch.id, { description: 'rest' });
    assertRefund(r2, ch, 700, 'rest');
    await waitRefundSucceeded(ch.id, r2.id);

    got = await pingpp.charges.retrieve(ch.id);
    assert.equal(got.amount_refunded, 1000);
    assert.equal(got.refunded, true);
    assert.deepEqual(new Set(got.refunds.data.map((r) => r.id)), new Set([r1.id, r2.id]));

    err = await rejectsWith(
      pingpp.charges.createRefund(ch.id, { amount: 1, description: 'one more' }), 'PingppInvalidRequest');
    assert.ok(mentionsAmount(err.message, 0), err.message);
    assert.equal((await pingpp.charges.retrieve(ch.id)).amount_refunded, 1000);
  });

  test('refunding an unpaid charge is refused', async () => {
    const ch = await create('alipay_qr');
    await rejectsWith(
      pingpp.charges.createRefund(ch.id, { amount: 100, description: 'nothing was paid' }), 'PingppInvalidRequest');
    assert.deepEqual((await pingpp.charges.retrieve(ch.id)).refunds.data, []);
  });

  test('list and retrieve refunds', async () => {
    const ch = await paidCharge();
    const r1 = await pingpp.charges.createRefund(ch.id, { amount: 100, description: 'first' });
    const r2 = await pingpp.charges.createRefund(ch.id, { amount: 200, description: 'second' });

    const refunds = await pingpp.charges.listRefunds(ch.id);
    assert.equal(refunds.object, 'list');
    assert.equal(refunds.url, `/v1/charges/${ch.id}/refunds`);
    assert.equal(refunds.has_more, false);
    assert.deepEqual(new Set(refunds.data.map((r) => r.id)), new Set([r1.id, r2.id]));

    const page = await pingpp.charges.listRefunds(ch.id, { limit: 1 });
    assert.equal(page.data.length, 1);
    assert.equal(page.has_more, true);

    const got = await pingpp.charges.retrieveRefund(ch.id, r2.id);
    assertRefund(got, ch, 200, 'second');
    assert.equal(got.id, r2.id);
    assert.ok(['pending', 'succeeded'].includes(got.status), got.status);

    await rejectsWith(pingpp.charges.retrieveRefund(ch.id, 're_000000000000000000000000'), 'PingppInvalidRequest');
  });
});

describe('reverse', () => {
  test('reversing an unpaid isv_qr charge closes it', async () => {
    const ch = await create('isv_qr');
    assert.equal(ch.paid, false);
    const rev = await pingpp.charges.reverse(ch.id);
    assert.equal(rev.object, 'charge');
    assert.equal(rev.id, ch.id);
    assert.equal(rev.reversed, true);
    assert.equal(rev.paid, false);

    const got = await pingpp.charges.retrieve(ch.id);
    assert.equal(got.reversed, true);
    assert.equal(got.paid, false);
    assert.equal(got.amount_refunded, 0);
  });

  test('reversing a paid isv_scan charge refunds it', async () => {
    const ch = await create('isv_scan', 888);
    assert.equal(ch.paid, true);
    const rev = await pingpp.charges.reverse(ch.id);
    assert.equal(rev.id, ch.id);
    assert.equal(rev.reversed, true);
    assert.equal(rev.paid, true);

    const got = await waitFor(
      () => pingpp.charges.retrieve(ch.id),
      (c) => c.amount_refunded === 888 && c.refunds.data.length === 1 && c.refunds.data[0].status === 'succeeded',
      { what: 'the reversed charge to be refunded' },
    );
    assert.equal(got.reversed, true);
    assert.equal(got.refunded, true);
    assert.equal(got.refunds.data[0].amount, 888);
  });

  for (const channel of ['alipay_qr', 'wx_pub_qr']) {
    test(`reverse is refused for ${channel}`, async () => {
      const ch = await create(channel);
      const err = await rejectsWith(pingpp.charges.reverse(ch.id), 'PingppInvalidRequest');
      assert.equal(err.rawType, 'invalid_request_error');
      assert.equal((await pingpp.charges.retrieve(ch.id)).reversed, false);
    });
  }
});
