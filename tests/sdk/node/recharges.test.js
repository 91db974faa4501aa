'use strict';
// Recharges (balance top-ups) through the official Node SDK: create with a
// scan channel (paid at once), retrieve, list, refund, and the user's balance.

const { before, after } = require('node:test');
const assert = require('node:assert/strict');
const { CHANNEL_EXTRAS, newOrderNo, startServer, test, rejectsWith, waitFor } = require('./helpers');

let server;
let pingpp;
before(async () => {
  server = await startServer();
  pingpp = server.client();
});
after(async () => { if (server) await server.stop(); });

const rechargeCharge = (amount) => ({
  amount,
  channel: 'alipay_scan',
  order_no: newOrderNo(),
  subject: 'Top-up',
  body: 'paymux SDK recharge',
  client_ip: '127.0.0.1',
  extra: { ...CHANNEL_EXTRAS.alipay_scan },
});

async function balance(user) {
  const u = await pingpp.users.retrieve(server.appId, user);
  assert.equal(u.object, 'user');
  assert.equal(u.id, user);
  return u.available_balance;
}

test('recharge credits the balance, its refund debits it', async () => {
  const app = server.appId;
  const user = 'u' + newOrderNo();
  const charge = rechargeCharge(1000);
  const rc = await pingpp.recharge.create(app, {
    user, charge, description: 'first top-up', metadata: { k: 'v' },
  });

  assert.equal(rc.object, 'recharge');
  assert.equal(rc.livemode, false);
  assert.equal(rc.app, app);
  assert.equal(rc.user, user);
  assert.equal(rc.amount, 1000);
  assert.equal(rc.succeeded, true);
  assert.equal(typeof rc.time_succeeded, 'number');
  assert.equal(rc.refunded, false);
  assert.equal(rc.description, 'first top-up');
  assert.deepEqual(rc.metadata, { k: 'v' });
  assert.equal(rc.charge.object, 'charge');
  assert.match(rc.charge.id, /^ch_/);
  assert.equal(rc.charge.channel, 'alipay_scan');
  assert.equal(rc.charge.order_no, charge.order_no);
  assert.equal(rc.charge.amount, 1000);
  assert.equal(rc.charge.paid, true);
  assert.equal(rc.charge.livemode, false);

  assert.equal(await balance(user), 1000);

  const rc2 = await pingpp.recharge.create(app, { user, charge: rechargeCharge(500) });
  assert.equal(rc2.succeeded, true);
  assert.equal(rc2.amount, 500);
  assert.equal(await balance(user), 1500);

  const got = await pingpp.recharge.retrieve(app, rc.id);
  assert.equal(got.id, rc.id);
  assert.equal(got.object, 'recharge');
  assert.equal(got.amount, 1000);
  assert.equal(got.charge.id, rc.charge.id);

  const list = await pingpp.recharge.list(app, { page: 1, per_page: 100 });
  assert.equal(list.object, 'list');
  assert.equal(list.url, `/v1/apps/${app}/recharges`);
  const ids = list.data.map((r) => r.id);
  assert.ok(ids.includes(rc.id) && ids.includes(rc2.id), JSON.stringify(ids));
  const one = await pingpp.recharge.list(app, { page: 1, per_page: 1 });
  assert.equal(one.data.length, 1);
  assert.equal(one.has_more, true);

  const re = await pingpp.recharge.createRefund(app, rc.id, { description: 'give it back' });
  assert.equal(re.object, 'refund');
  assert.match(re.id, /^re_/);
  assert.equal(re.amount, 1000);
  assert.equal(re.charge, rc.charge.id);
  assert.ok(['pending', 'succeeded'].includes(re.status), re.status);

  const done = await waitFor(() => pingpp.recharge.retrieveRefund(app, rc.id, re.id),
    (r) => r.status === 'succeeded', { what: 'recharge refund to succeed' });
  assert.equal(done.id, re.id);
  assert.equal(done.amount, 1000);
  await waitFor(() => balance(user), (b) => b === 500, { what: 'balance to be debited' });

  const refunds = await pingpp.recharge.listRefunds(app, rc.id);
  assert.equal(refunds.object, 'list');
  assert.deepEqual(refunds.data.map((r) => r.id), [re.id]);

  await rejectsWith(pingpp.recharge.createRefund(app, rc.id, { description: 'again' }), 'PingppInvalidRequest');
  assert.equal(await balance(user), 500);

  assert.equal((await pingpp.recharge.retrieve(app, rc.id)).refunded, true);
  assert.equal((await pingpp.recharge.retrieve(app, rc2.id)).refunded, false);
});

test('unknown recharge is an invalid request error', async () => {
  await rejectsWith(pingpp.recharge.retrieve(server.appId, '999999999999999999999999'), 'PingppInvalidRequest');
});
