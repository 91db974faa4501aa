'use strict';
// The request-signature switch (Pingplusplus-Signature), with the official
// Node SDK signing via setPrivateKeyPath / setPrivateKey. The Node SDK signs
// `body + path(+?query, a bare "?" on GETs) + timestamp`.

const fs = require('node:fs');
const { describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  CHANNEL_EXTRAS, chargeParams, makeRsaKeypair, newOrderNo, startServer, test, rejectsWith,
} = require('./helpers');

let server;
let keys;
let other;
before(async () => {
  server = await startServer();
  keys = makeRsaKeypair(server.workdir, 'merchant');
  other = makeRsaKeypair(server.workdir, 'other');
});
after(async () => { if (server) await server.stop(); });

const orderNos = async (pingpp) =>
  (await pingpp.charges.list({ app: { id: server.appId }, limit: 100 })).data.map((c) => c.order_no);

test('unsigned calls work while signing is off', async () => {
  const ch = await server.client().charges.create(chargeParams(server.appId, 'alipay_qr'));
  assert.equal(ch.object, 'charge');
});

describe('signature required', () => {
  before(() => server.setMerchantPublicKey(keys.pub, 'test'));
  after(() => server.clearMerchantPublicKey());

  test('signed SDK calls succeed', async () => {
    const signed = server.client({ privateKeyPath: keys.priv });
    const params = chargeParams(server.appId, 'isv_qr');
    const ch = await signed.charges.create(params); // POST with body
    assert.equal(ch.object, 'charge');
    assert.equal(ch.order_no, params.order_no);
    assert.equal((await signed.charges.retrieve(ch.id)).id, ch.id); // GET ".../id?"
    const page = await signed.charges.list({ app: { id: server.appId }, limit: 5, paid: false }); // GET with query
    assert.ok(page.data.some((c) => c.id === ch.id));
    assert.equal((await signed.charges.reverse(ch.id)).reversed, true); // POST {}

    const inline = server.client({ privateKey: fs.readFileSync(keys.priv, 'utf8') });
    const paid = await inline.charges.create(chargeParams(server.appId, 'alipay_scan'));
    const re = await inline.charges.createRefund(paid.id, { amount: 10, description: 'signed refund' });
    assert.equal(re.amount, 10);
    assert.equal((await inline.charges.listRefunds(paid.id)).data[0].id, re.id);
  });

  test('signed recharge succeeds', async () => {
    const signed = server.client({ privateKeyPath: keys.priv });
    const user = 'u' + newOrderNo();
    const rc = await signed.recharge.create(server.appId, {
      user,
      charge: {
        amount: 300, channel: 'alipay_scan', order_no: newOrderNo(), subject: 'Top-up', body: 'signed recharge',
        extra: { ...CHANNEL_EXTRAS.alipay_scan },
      },
    });
    assert.equal(rc.object, 'recharge');
    assert.equal(rc.succeeded, true);
    assert.equal((await signed.users.retrieve(server.appId, user)).available_balance, 300);
  });

  test('an unsigned call gets 401 and creates nothing', async () => {
    const unsigned = server.client();
    const params = chargeParams(server.appId, 'alipay_qr');
    const err = await rejectsWith(unsigned.charges.create(params), 'PingppAuthenticationError');
    assert.ok(err.message);
    await rejectsWith(unsigned.charges.list({ app: { id: server.appId }, limit: 1 }), 'PingppAuthenticationError');

    const signed = server.client({ privateKeyPath: keys.priv });
    assert.ok(!(await orderNos(signed)).includes(params.order_no));
  });

  test('a signature made with another key gets 401', async () => {
    const wrong = server.client({ privateKeyPath: other.priv });
    const params = chargeParams(server.appId, 'alipay_qr');
    await rejectsWith(wrong.charges.create(params), 'PingppAuthenticationError');

    const signed = server.client({ privateKeyPath: keys.priv });
    assert.ok(!(await orderNos(signed)).includes(params.order_no));
  });
});

test('--require-signature none and clear-merchant-public-key make signing optional', async () => {
  const unsigned = server.client();
  const signed = server.client({ privateKeyPath: keys.priv });
  let ch;
  server.setMerchantPublicKey(keys.pub, 'test');
  try {
    await rejectsWith(unsigned.charges.create(chargeParams(server.appId, 'alipay_qr')), 'PingppAuthenticationError');

    server.setMerchantPublicKey(keys.pub, 'none');
    ch = await unsigned.charges.create(chargeParams(server.appId, 'alipay_qr'));
    assert.equal(ch.object, 'charge');
    assert.equal((await signed.charges.retrieve(ch.id)).id, ch.id); // a valid signature is still fine

    server.setMerchantPublicKey(keys.pub, 'test');
    await rejectsWith(unsigned.charges.retrieve(ch.id), 'PingppAuthenticationError');
  } finally {
    server.clearMerchantPublicKey();
  }
  assert.equal((await unsigned.charges.retrieve(ch.id)).id, ch.id);
});
