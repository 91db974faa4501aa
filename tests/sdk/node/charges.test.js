'use strict';
// Charges through the official Node SDK: create (every channel), retrieve,
// list (app[id], limit, paid filter, starting_after) and test-mode payment.

const { describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  CHANNEL_EXTRAS, QR_CHANNELS, SCAN_CHANNELS, chargeParams, startServer, test, rejectsWith,
} = require('./helpers');

let server;
let pingpp;
before(async () => {
  server = await startServer();
  pingpp = server.client();
});
after(async () => { if (server) await server.stop(); });

const create = (channel, amount = 1000, overrides = {}) =>
  pingpp.charges.create(chargeParams(server.appId, channel, amount, overrides));

function assertCommonChargeFields(ch, params) {
  assert.equal(ch.object, 'charge');
  assert.match(ch.id, /^ch_/);
  assert.equal(ch.livemode, false);
  assert.equal(ch.app, server.appId);
  assert.equal(ch.channel, params.channel);
  assert.equal(ch.order_no, params.order_no);
  assert.equal(ch.amount, params.amount);
  assert.equal(ch.currency, params.currency);
  assert.equal(ch.client_ip, '127.0.0.1');
  assert.equal(ch.subject, params.subject);
  assert.equal(ch.body, params.body);
  assert.equal(typeof ch.created, 'number');
  assert.equal(ch.refunded, false);
  assert.equal(ch.reversed, false);
  assert.equal(ch.amount_refunded, 0);
  for (const [key, value] of Object.entries(params.extra)) assert.deepEqual(ch.extra[key], value, key);
  assert.equal(ch.refunds.object, 'list');
  assert.equal(ch.refunds.url, `/v1/charges/${ch.id}/refunds`);
  assert.deepEqual(ch.refunds.data, []);
}

describe('create', () => {
  for (const channel of QR_CHANNELS) {
    test(`${channel}: unpaid charge with a payment URL credential`, async () => {
      const params = chargeParams(server.appId, channel);
      const ch = await pingpp.charges.create(params);
      assertCommonChargeFields(ch, params);
      assert.equal(ch.paid, false);
      assert.equal(ch.time_paid, null);
      assert.equal(ch.credential.object, 'credential');
      assert.equal(typeof ch.credential[channel], 'string', JSON.stringify(ch.credential));
      assert.match(ch.credential[channel], /^https?:\/\//);
    });
  }

  for (const channel of SCAN_CHANNELS) {
    test(`${channel}: charge is paid at once in test mode`, async () => {
      const params = chargeParams(server.appId, channel);
      const ch = await pingpp.charges.create(params);
      assertCommonChargeFields(ch, params);
      assert.equal(ch.paid, true);
      assert.equal(typeof ch.time_paid, 'number');
      assert.ok(ch.time_paid >= ch.created);
      assert.equal(typeof ch.transaction_no, 'string');
      assert.ok(ch.transaction_no.length > 0);
    });
  }

  const invalid = [
    ['wx_pub_qr', {}, 'no product_id'],
    ['cb_wx_pub_qr', { product_id: 'prod0001' }, 'no goods_list'],
    ['isv_qr', { terminal_id: 'T000000012', pay_channel: 'alipay' }, 'terminal_id longer than 8'],
    ['isv_qr', { terminal_id: 'T0000001', pay_channel: 'paypal' }, 'bad pay_channel'],
    ['isv_wap', { terminal_id: 'T0000001', pay_channel: 'wx' }, 'no result_url'],
    ['alipay_scan', { terminal_id: 'T0000001' }, 'no scan_code'],
    ['isv_scan', { scan_code: '286801346868493272' }, 'no terminal_id'],
  ];
  for (const [channel, extra, why] of invalid) {
    test(`${channel} with ${why} is rejected`, async () => {
      const err = await rejectsWith(create(channel, 1000, { extra }), 'PingppInvalidRequest');
      assert.equal(err.rawType, 'invalid_request_error');
      assert.ok(err.message);
    });
  }
});

describe('retrieve', () => {
  for (const channel of Object.keys(CHANNEL_EXTRAS)) {
    test(`${channel}: retrieve returns the created charge`, async () => {
      const created = await create(channel, 1234);
      const got = await pingpp.charges.retrieve(created.id);
      for (const field of ['id', 'object', 'livemode', 'app', 'channel', 'order_no', 'amount', 'currency',
        'paid', 'refunded', 'amount_refunded', 'created', 'time_paid', 'transaction_no']) {
        assert.deepEqual(got[field], created[field], field);
      }
      assert.equal(got.amount, 1234);
    });
  }

  test('unknown charge is an invalid request error', async () => {
    const err = await rejectsWith(pingpp.charges.retrieve('ch_000000000000000000000000'), 'PingppInvalidRequest');
    assert.equal(err.rawType, 'invalid_request_error');
  });
});

describe('list', () => {
  const list = (params) => pingpp.charges.list({ app: { id: server.appId }, ...params });

  test('the SDK refuses to list without app[id]', async () => {
    await rejectsWith(pingpp.charges.list({ limit: 3 }), 'PingppInvalidRequest');
  });

  test('limit and has_more', async () => {
    for (let i = 0; i < 4; i++) await create('alipay_qr');
    const page = await list({ limit: 3 });
    assert.equal(page.object, 'list');
    assert.equal(page.url, '/v1/charges');
    assert.equal(page.has_more, true);
    assert.equal(page.data.length, 3);
    assert.ok(page.data.every((c) => c.object === 'charge' && c.app === server.appId));
  });

  test('starting_after continues right after the cursor', async () => {
    for (let i = 0; i < 6; i++) await create('alipay_qr');
    const everything = (await list({ limit: 20 })).data.map((c) => c.id);
    const page = await list({ limit: 2, starting_after: everything[2] });
    assert.deepEqual(page.data.map((c) => c.id), everything.slice(3, 5));
    assert.equal(page.has_more, true);
  });

  test('newest first, also within the same second', async () => {
    const created = [];
    for (let i = 0; i < 5; i++) created.push((await create('alipay_qr')).id);
    const page = await list({ limit: 5 });
    assert.deepEqual(page.data.map((c) => c.id), [...created].reverse());
    const createds = page.data.map((c) => c.created);
    assert.deepEqual(createds, [...createds].sort((a, b) => b - a));
  });

  test('walking every page yields each charge once', async () => {
    const created = new Set();
    for (let i = 0; i < 3; i++) created.add((await create('wx_pub_qr')).id);
    const seen = [];
    let cursor = null;
    for (;;) {
      const page = await list({ limit: 2, ...(cursor ? { starting_after: cursor } : {}) });
      assert.ok(page.data.length <= 2);
      seen.push(...page.data.map((c) => c.id));
      if (!page.has_more) break;
      cursor = page.data.at(-1).id;
      assert.ok(seen.length < 1000, 'pagination does not terminate');
    }
    assert.equal(new Set(seen).size, seen.length, 'a charge appeared on two pages');
    for (const id of created) assert.ok(seen.includes(id), id);
  });

  test('paid filter', async () => {
    const unpaid = [(await create('alipay_qr')).id, (await create('upacp_qr')).id];
    const paid = [(await create('alipay_scan')).id, (await create('wx_pub_scan')).id];

    const gotPaid = await list({ limit: 100, paid: true });
    assert.ok(gotPaid.data.length > 0);
    assert.ok(gotPaid.data.every((c) => c.paid === true));
    const paidIds = gotPaid.data.map((c) => c.id);
    for (const id of paid) assert.ok(paidIds.includes(id), id);
    for (const id of unpaid) assert.ok(!paidIds.includes(id), id);

    const gotUnpaid = await list({ limit: 100, paid: false });
    assert.ok(gotUnpaid.data.every((c) => c.paid === false));
    const unpaidIds = gotUnpaid.data.map((c) => c.id);
    for (const id of unpaid) assert.ok(unpaidIds.includes(id), id);
    for (const id of paid) assert.ok(!unpaidIds.includes(id), id);
  });
});

describe('test-mode payment', () => {
  for (const channel of ['alipay_qr', 'wx_pub_qr', 'isv_wap']) {
    test(`${channel}: pay marks the charge paid`, async () => {
      const ch = await create(channel);
      assert.equal(ch.paid, false);
      const body = await server.testPay(ch.id);
      assert.equal(body.object, 'charge');
      assert.equal(body.id, ch.id);
      assert.equal(body.paid, true);

      const got = await pingpp.charges.retrieve(ch.id);
      assert.equal(got.paid, true);
      assert.equal(typeof got.time_paid, 'number');
      assert.ok(got.time_paid >= got.created);
      assert.ok(typeof got.transaction_no === 'string' && got.transaction_no.length > 0);
      assert.equal(got.amount_refunded, 0);
      assert.equal(got.refunded, false);
    });
  }

  test('a failed payment leaves the charge unpaid', async () => {
    const ch = await create('alipay_qr');
    const body = await server.testPay(ch.id, 'fail');
    assert.equal(body.id, ch.id);
    assert.equal(body.paid, false);
    const got = await pingpp.charges.retrieve(ch.id);
    assert.equal(got.paid, false);
    assert.equal(got.time_paid, null);
  });
});
