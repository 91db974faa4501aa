'use strict';
// Live mode through the official Node SDK, against the channel simulators.
//
// This file runs its own gateway (LiveGateway): `paymux simulate wechat`,
// `paymux simulate alipay` and `paymux simulate unionpay` on loopback, and a server whose app
// has all three configured in live mode. Every charge, refund, retrieve and list goes through the SDK with the live key; the
// simulators' control routes play the payer, and their notifications come back to the gateway.

const { describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { CHANNEL_EXTRAS, chargeParams, startLiveGateway, test, rejectsWith, waitFor, mentionsAmount } = require('./helpers');

// How long a merchant may have to wait for what the channel says (notifications over
// loopback take milliseconds; the scan poll runs every 5 s).
const SETTLE_TIMEOUT_MS = 10_000;

// What the channels hand out as the payment URL.
const CREDENTIAL_RE = {
  wx_pub_qr: /^weixin:\/\/wxpay\/bizpayurl\?pr=\w+$/,
  alipay_qr: /^https:\/\/qr\.alipay\.com\/\w+$/,
  upacp_qr: /^https:\/\/qr\.95516\.com\/[\w/]+$/,
};
const provider = (channel) => {
  if (channel.startsWith('wx')) return 'wx';
  return channel.startsWith('upacp') ? 'unionpay' : 'alipay';
};
const isWechat = (channel) => provider(channel) === 'wx';
// The simulators' field names for the same things (UnionPay's: its /_sim/ snapshot's names
// for qrCode and queryId).
const SIM_CREDENTIAL = { wx_pub_qr: 'code_url', alipay_qr: 'qr_code', upacp_qr: 'qr_code' };
const SIM_TRANSACTION = { wx: 'transaction_id', alipay: 'trade_no', unionpay: 'query_id' };
const simTransaction = (channel) => SIM_TRANSACTION[provider(channel)];
// A notification sent twice (WeChat's knob is a switch, the others' a count).
const DUPLICATE_KNOB = { wx: [true, false], alipay: [1, 0], unionpay: [1, 0] };
// A payment code that pays at once, as [prefix, length]: WeChat's and Alipay's with no script
// prefix (1300… and 2899… are their simulators' scripts), UnionPay's 19 digits with the
// simulator's "pays at once" script 629900 (629901…629905 are the others). Only WeChat refuses
// a code it has seen; each test gets a fresh one anyway.
const SCAN_CODE = { wx: ['134', 18], alipay: ['286', 18], unionpay: ['629900', 19] };

const QR = ['wx_pub_qr', 'alipay_qr', 'upacp_qr'];
const SCAN = ['wx_pub_scan', 'alipay_scan', 'upacp_scan'];

let scanCodes = 0;
/** The channel's `extra` with a payment code of its own (see SCAN_CODE). */
function scanExtra(channel, scanCode) {
  scanCodes += 1;
  const [prefix, length] = SCAN_CODE[provider(channel)];
  const serial = String((Date.now() * 1000 + scanCodes) % 1e15).padStart(15, '0');
  return { ...CHANNEL_EXTRAS[channel], scan_code: scanCode ?? prefix + serial.slice(-(length - prefix.length)) };
}

let server;
let pingpp;
before(async () => {
  server = await startLiveGateway();
  pingpp = server.client({ key: server.liveKey });
});
after(async () => { if (server) await server.stop(); });

const create = (channel, amount = 1000, overrides = {}) =>
  pingpp.charges.create(chargeParams(server.appId, channel, amount, overrides));

const waitPaid = (chargeId) => waitFor(
  () => pingpp.charges.retrieve(chargeId), (c) => c.paid === true,
  { timeout: SETTLE_TIMEOUT_MS, interval: 100, what: `charge ${chargeId} to be paid` },
);

const waitRefundSettled = (chargeId, refundId) => waitFor(
  () => pingpp.charges.retrieveRefund(chargeId, refundId), (r) => r.status !== 'pending',
  { timeout: SETTLE_TIMEOUT_MS, interval: 100, what: `refund ${refundId} to settle` },
);

/** Events of `type` about `objectId` in the live event list (raw: no SDK method). */
async function liveEvents(type, objectId) {
  return (await server.recentEvents(100, server.liveKey))
    .filter((e) => e.type === type && e.data.object.id === objectId);
}

/** Waits for the one `type` event about `objectId`; retrieves it through the SDK. */
async function theEvent(type, objectId) {
  const events = await waitFor(() => liveEvents(type, objectId), (evs) => evs.length > 0,
    { timeout: SETTLE_TIMEOUT_MS, what: `a ${type} event for ${objectId}` });
  assert.equal(events.length, 1, JSON.stringify(events));
  const evt = await pingpp.events.retrieve(events[0].id);
  assert.equal(evt.object, 'event');
  assert.equal(evt.type, type);
  assert.equal(evt.livemode, true);
  assert.equal(evt.data.object.id, objectId);
  return evt;
}

/** A live QR charge the payer paid at the channel's simulator. */
async function paidAtChannel(channel, amount = 1000) {
  const ch = await create(channel, amount);
  await server.payAtChannel(channel, ch.order_no);
  return waitPaid(ch.id);
}

async function listedWithOrderNo(orderNo) {
  const list = await pingpp.charges.list({ app: { id: server.appId }, limit: 100 });
  return list.data.filter((c) => c.order_no === orderNo);
}

describe('live QR charges paid at the channel', () => {
  for (const channel of QR) {
    test(`${channel}: the channel's payment URL, paid by its notification, one charge.succeeded`, async () => {
      const ch = await create(channel);
      assert.equal(ch.object, 'charge');
      assert.equal(ch.livemode, true);
      assert.equal(ch.paid, false);
      assert.ok(!ch.transaction_no, ch.transaction_no);
      const credential = ch.credential[channel];
      assert.match(credential, CREDENTIAL_RE[channel]);
      assert.ok(!credential.startsWith(server.baseUrl), "the gateway's own test page");
      const atChannel = await server.channelOrder(channel, ch.order_no);
      assert.equal(atChannel[SIM_CREDENTIAL[channel]], credential);
      assert.equal((await pingpp.charges.retrieve(ch.id)).paid, false);

      // the channel sends its notification twice; the merchant sees one payment
      const [twice, once] = DUPLICATE_KNOB[provider(channel)];
      await server.setKnobs(channel, { duplicate_notifications: twice });
      let paid;
      let got;
      try {
        paid = await server.payAtChannel(channel, ch.order_no);
        got = await waitPaid(ch.id);
        await waitFor(() => server.acknowledgedPosts(channel, ch.order_no), (n) => n >= 2,
          { timeout: SETTLE_TIMEOUT_MS, what: 'both copies of the notification answered' });
      } finally {
        await server.setKnobs(channel, { duplicate_notifications: once });
      }

      assert.equal(got.id, ch.id);
      assert.equal(got.livemode, true);
      assert.equal(got.paid, true);
      assert.equal(typeof got.time_paid, 'number');
      assert.ok(got.transaction_no);
      assert.equal(got.transaction_no, paid[simTransaction(channel)]);

      const evt = await theEvent('charge.succeeded', ch.id);
      assert.equal(evt.data.object.paid, true);
      assert.equal(evt.data.object.transaction_no, got.transaction_no);

      const listed = await listedWithOrderNo(ch.order_no);
      assert.deepEqual(listed.map((c) => [c.id, c.paid, c.livemode]), [[ch.id, true, true]]);
    });
  }
});

describe('live scan charges', () => {
  for (const channel of SCAN) {
    test(`${channel}: a payment code that pays at once is paid in the create answer`, async () => {
      const ch = await create(channel, 888, { extra: scanExtra(channel) });
      assert.equal(ch.livemode, true);
      assert.equal(ch.paid, true);
      assert.equal(typeof ch.time_paid, 'number');
      const atChannel = await server.channelOrder(channel, ch.order_no);
      assert.ok(ch.transaction_no);
      assert.equal(ch.transaction_no, atChannel[simTransaction(channel)]);
      const got = await pingpp.charges.retrieve(ch.id);
      assert.equal(got.paid, true);
      assert.equal(got.transaction_no, ch.transaction_no);
      await theEvent('charge.succeeded', ch.id);
    });
  }

  // WeChat answers USERPAYING; the gateway asks again 5 s later and finds it paid.
  // (Scripted payment code 1300 01 00 + 10 free digits: USERPAYING, then SUCCESS on the first query.)
  test('wx_pub_scan: a payer still confirming is found paid by the 5 s poll', async () => {
    const started = Date.now();
    const ch = await create('wx_pub_scan', 1000, {
      extra: scanExtra('wx_pub_scan', `13000100${String(Date.now() % 1e10).padStart(10, '0')}`),
    });
    assert.equal(ch.livemode, true);
    assert.equal(ch.paid, false, 'the payer is still confirming');
    const got = await waitFor(() => pingpp.charges.retrieve(ch.id), (c) => c.paid === true,
      { timeout: 12_000, interval: 250, what: `the 5 s poll to find ${ch.id} paid` });
    assert.ok(Date.now() - started >= 4000, 'paid before the gateway asked again');
    const atChannel = await server.channelOrder('wx_pub_scan', ch.order_no);
    assert.equal(atChannel.trade_state, 'SUCCESS');
    assert.equal(got.transaction_no, atChannel.transaction_id);
    await theEvent('charge.succeeded', ch.id);
  });
});

describe('live refunds', () => {
  for (const channel of QR) {
    test(`${channel}: partial, over-refund refused, the rest; settled by the channel`, async () => {
      const ch = await paidAtChannel(channel, 1000);

      let r1 = await pingpp.charges.createRefund(ch.id, { amount: 300, description: 'partial' });
      assert.equal(r1.object, 'refund');
      assert.equal(r1.amount, 300);
      assert.equal(r1.charge, ch.id);
      assert.equal(r1.status, 'pending');
      assert.equal(r1.succeed, false);
      r1 = await waitRefundSettled(ch.id, r1.id);
      assert.equal(r1.status, 'succeeded', JSON.stringify(r1));
      assert.equal(r1.succeed, true);
      assert.equal(typeof r1.time_succeed, 'number');
      assert.ok(r1.transaction_no);
      let got = await pingpp.charges.retrieve(ch.id);
      assert.equal(got.amount_refunded, 300);
      assert.equal(got.refunded, true);

      // more than the 700 left: refused by the gateway, nothing reaches the channel
      let err = await rejectsWith(
        pingpp.charges.createRefund(ch.id, { amount: 800, description: 'too much' }), 'PingppInvalidRequest');
      assert.equal(err.rawType, 'invalid_request_error');
      assert.ok(mentionsAmount(err.message, 700), err.message);

      let r2 = await pingpp.charges.createRefund(ch.id, { description: 'rest' });
      assert.equal(r2.amount, 700);
      assert.equal(r2.status, 'pending');
      r2 = await waitRefundSettled(ch.id, r2.id);
      assert.equal(r2.status, 'succeeded', JSON.stringify(r2));

      got = await pingpp.charges.retrieve(ch.id);
      assert.equal(got.amount_refunded, 1000);
      assert.deepEqual(
        Object.fromEntries(got.refunds.data.map((r) => [r.id, r.status])),
        { [r1.id]: 'succeeded', [r2.id]: 'succeeded' },
      );
      err = await rejectsWith(
        pingpp.charges.createRefund(ch.id, { amount: 1, description: 'one more' }), 'PingppInvalidRequest');
      assert.equal(err.rawType, 'invalid_request_error');

      // the channel refunded exactly these two
      const atChannel = await server.channelOrder(channel, ch.order_no);
      const byId = (a, b) => (a[0] < b[0] ? -1 : 1);
      if (provider(channel) === 'unionpay') {
        // each refund is a 04/00 of its own (orderId = the refund id without re_), numbered by
        // UnionPay's queryId, against the payment's queryId
        assert.equal(atChannel.refunded, 1000, JSON.stringify(atChannel));
        for (const refund of [r1, r2]) {
          const atUp = await server.channelOrder(channel, refund.id.slice('re_'.length));
          assert.deepEqual([atUp.txn_type, atUp.txn_amt, atUp.status], ['04', refund.amount, 'succeeded']);
          assert.equal(atUp.orig_qry_id, ch.transaction_no);
          assert.equal(refund.transaction_no, atUp.query_id);
        }
      } else if (isWechat(channel)) {
        assert.deepEqual(
          atChannel.refunds.map((r) => [r.out_refund_no, r.refund_fee, r.refund_status]).sort(byId),
          [[r1.id, 300, 'SUCCESS'], [r2.id, 700, 'SUCCESS']].sort(byId),
        );
      } else {
        assert.deepEqual(
          atChannel.refunds.map((r) => [r.out_request_no, r.refund_amount]).sort(byId),
          [[r1.id, '3.00'], [r2.id, '7.00']].sort(byId),
        );
      }

      for (const refund of [r1, r2]) {
        const evt = await theEvent('refund.succeeded', refund.id);
        assert.equal(evt.data.object.amount, refund.amount);
      }
    });
  }
});

describe('live create', () => {
  for (const channel of QR) {
    test(`${channel}: the same order_no again returns the same charge`, async () => {
      const params = chargeParams(server.appId, channel);
      const first = await pingpp.charges.create(params);
      const again = await pingpp.charges.create(params);
      assert.equal(again.id, first.id);
      assert.equal(again.livemode, true);
      assert.equal(again.credential[channel], first.credential[channel]);
      assert.deepEqual((await listedWithOrderNo(params.order_no)).map((c) => c.id), [first.id]);
    });
  }

  test('a channel the app has not configured in live mode is a channel error', async () => {
    const params = chargeParams(server.appId, 'ccb_qr');
    const err = await rejectsWith(pingpp.charges.create(params), 'PingppChannelError');
    assert.equal(err.rawType, 'channel_error');
    assert.equal(err.code, 'channel_not_configured');
    assert.deepEqual(await listedWithOrderNo(params.order_no), []);
  });
});

describe('live reverse', () => {
  for (const channel of SCAN) {
    test(`${channel}: reversing a paid charge refunds it in full at the channel`, async () => {
      const ch = await create(channel, 500, { extra: scanExtra(channel) });
      assert.equal(ch.paid, true);
      const rev = await pingpp.charges.reverse(ch.id);
      assert.equal(rev.reversed, true);
      assert.equal(rev.refunded, true);
      assert.equal(rev.refunds.data.length, 1);
      const refund = await waitRefundSettled(ch.id, rev.refunds.data[0].id);
      assert.equal(refund.status, 'succeeded', JSON.stringify(refund));
      assert.equal(refund.amount, 500);
      assert.ok(refund.transaction_no);
      const atChannel = await server.channelOrder(channel, ch.order_no);
      if (provider(channel) === 'unionpay') {
        // refunded in full with a 04/00, not also reversed with a 99/01: undone once
        assert.deepEqual([atChannel.refunded, atChannel.status], [500, 'succeeded']);
        const atUp = await server.channelOrder(channel, refund.id.slice('re_'.length));
        assert.deepEqual([atUp.txn_type, atUp.txn_amt, atUp.status], ['04', 500, 'succeeded']);
        assert.equal(refund.transaction_no, atUp.query_id);
      } else {
        assert.equal(atChannel.refunds.length, 1);
      }
      await theEvent('charge.reversed', ch.id);
      await theEvent('refund.succeeded', refund.id);
    });
  }

  for (const payChannel of ['wx', 'alipay']) {
    test(`isv_qr with ${payChannel}: reversing an unpaid charge closes it at the channel`, async () => {
      const ch = await create('isv_qr', 1000, { extra: { ...CHANNEL_EXTRAS.isv_qr, pay_channel: payChannel } });
      assert.equal(ch.paid, false);
      const rev = await pingpp.charges.reverse(ch.id);
      assert.equal(rev.reversed, true);
      assert.equal(rev.paid, false);
      await theEvent('charge.reversed', ch.id);
      const sim = server.simulator(payChannel === 'wx' ? 'wx_pub_qr' : 'alipay_qr');
      const paid = await sim.control('POST', `/_sim/orders/${ch.order_no}/pay`, {});
      assert.notEqual(paid.status, 200, 'the payer can no longer pay it');
      assert.equal((await pingpp.charges.retrieve(ch.id)).paid, false);
    });
  }
});
