'use strict';
// Shared helpers for the Node SDK conformance tests (run with `node --test`).
//
// Each test file starts its own paymux server (`paymux init` + `paymux serve`)
// on SQLite or, when $PAYMUX_SDK_DATABASE_URL is set, on a fresh PostgreSQL
// database of its own, and drives it with the official `pingpp` npm package.
// Raw HTTP (fetch) is used only where the SDK has no method: test-mode payment
// and the event list.

const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { it } = require('node:test');
const createPingpp = require('pingpp');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const LISTEN_RE = /paymux listening on http:\/\/127\.0\.0\.1:(\d+)/;
const STARTUP_TIMEOUT_MS = 30_000;
const REFUND_DELAY_MS = 50;
const TEST_TIMEOUT_MS = 15_000;

const GOODS_LIST = [{ goods_name: 'Apple', goods_num: 1 }];
const CHANNEL_EXTRAS = {
  alipay_qr: {},
  wx_pub_qr: { product_id: 'prod0001' },
  cb_alipay_qr: {},
  cb_wx_pub_qr: { product_id: 'prod0001', goods_list: GOODS_LIST },
  upacp_qr: {},
  ccb_qr: {},
  isv_qr: { terminal_id: 'T0000001', pay_channel: 'alipay' },
  isv_wap: { terminal_id: 'T0000001', pay_channel: 'wx', result_url: 'https://merchant.example.com/result' },
  alipay_scan: { scan_code: '286801346868493272', terminal_id: 'T0000001' },
  wx_pub_scan: { scan_code: '134628839776154706' },
  cb_alipay_scan: { scan_code: '286801346868493272' },
  cb_wx_pub_scan: { scan_code: '134628839776154706', goods_list: GOODS_LIST },
  upacp_scan: { scan_code: '6223194990234588' },
  isv_scan: { terminal_id: 'T0000001', scan_code: '286801346868493272' },
};
const QR_CHANNELS = ['alipay_qr', 'wx_pub_qr', 'cb_alipay_qr', 'cb_wx_pub_qr', 'upacp_qr', 'ccb_qr', 'isv_qr', 'isv_wap'];
const SCAN_CHANNELS = ['alipay_scan', 'wx_pub_scan', 'cb_alipay_scan', 'cb_wx_pub_scan', 'upacp_scan', 'isv_scan'];
// The contract says "cny" for every channel (see the report for cb_*).
const CHANNEL_CURRENCY = Object.fromEntries(Object.keys(CHANNEL_EXTRAS).map((ch) => [ch, 'cny']));

let orderCounter = 0;
/** 8-20 alphanumeric characters, unique within a process. */
function newOrderNo(prefix = 'nd') {
  orderCounter = (orderCounter + 1) % 10000;
  return prefix + String(Date.now() % 1e13).padStart(13, '0') + String(orderCounter).padStart(4, '0');
}

function chargeParams(appId, channel, amount = 1000, overrides = {}) {
  return {
    order_no: newOrderNo(),
    app: { id: appId },
    channel,
    amount,
    client_ip: '127.0.0.1',
    currency: CHANNEL_CURRENCY[channel],
    subject: 'SDK test',
    body: 'paymux SDK conformance',
    extra: structuredClone(CHANNEL_EXTRAS[channel]),
    ...overrides,
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Call fetch() until done(result); resolve with the last result. */
async function waitFor(fetch, done, { timeout = 5000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const result = await fetch();
    if (done(result)) return result;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last value: ${JSON.stringify(result)}`);
    }
    await sleep(interval);
  }
}

/** True if `message` states `fen` (as fen, e.g. 700, or yuan, e.g. 7.00). */
function mentionsAmount(message, fen) {
  const forms = new Set([String(fen), (fen / 100).toFixed(2)]);
  return [...forms].some((form) =>
    new RegExp(`(?<![A-Za-z0-9_.])${form.replace('.', '\\.')}(?![A-Za-z0-9_])`).test(message));
}

/** PKCS#1 private key (BEGIN RSA PRIVATE KEY) + SPKI public key, via openssl. */
function makeRsaKeypair(dir, name) {
  const priv = path.join(dir, `${name}_private.pem`);
  const pub = path.join(dir, `${name}_public.pem`);
  execFileSync('openssl', ['genrsa', '-traditional', '-out', priv, '2048'], { stdio: 'ignore' });
  execFileSync('openssl', ['rsa', '-in', priv, '-pubout', '-out', pub], { stdio: 'ignore' });
  if (!fs.readFileSync(priv, 'utf8').startsWith('-----BEGIN RSA PRIVATE KEY-----')) {
    throw new Error('openssl did not write a PKCS#1 private key');
  }
  return { priv, pub };
}

function paymuxBin() {
  const bin = process.env.PAYMUX_BIN || path.join(REPO_ROOT, 'target', 'debug', 'paymux');
  return path.isAbsolute(bin) ? bin : path.join(REPO_ROOT, bin);
}

/** Hide the password of any postgres://user:password@ URL in `text`. */
const redact = (text) => text.replace(/(postgres(?:ql)?:\/\/[^:/@\s]*):[^/\s]*@/g, '$1:***@');

/** A fresh database on the PostgreSQL server of $PAYMUX_SDK_DATABASE_URL. */
class PostgresDatabase {
  constructor(adminUrl) {
    // scheme://[user[:password]@]host[:port] [/database] [?query]
    const m = /^(postgres(?:ql)?:\/\/[^/?#]*)(?:\/[^?#]*)?(.*)$/.exec(adminUrl);
    if (!m) throw new Error('PAYMUX_SDK_DATABASE_URL must be a postgres:// URL');
    this.adminUrl = adminUrl;
    this.name = `paymux_sdk_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
    this.url = `${m[1]}/${this.name}${m[2]}`; // same user/host/port/query
    this.dropped = false;
    this.psql(`CREATE DATABASE "${this.name}"`);
  }

  psql(sql) {
    try {
      execFileSync('psql', [this.adminUrl, '-X', '-v', 'ON_ERROR_STOP=1', '-qc', sql],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    } catch (e) {
      throw new Error(`psql ${redact(this.adminUrl)} -c '${sql}' failed (exit ${e.status}): ${e.stderr ?? e.message}`);
    }
  }

  /** DROP DATABASE ... WITH (FORCE); errors are ignored. Idempotent. */
  drop() {
    if (this.dropped) return;
    this.dropped = true;
    try { this.psql(`DROP DATABASE IF EXISTS "${this.name}" WITH (FORCE)`); } catch { /* ignored */ }
  }
}

const startedServers = [];

class PaymuxServer {
  constructor(binary) {
    this.binary = binary;
    this.workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'paymux-sdk-node-'));
    this.dataDir = path.join(this.workdir, 'data');
    fs.mkdirSync(this.dataDir);
    this.stdoutLog = path.join(this.workdir, 'serve.stdout.log');
    this.stderrLog = path.join(this.workdir, 'serve.stderr.log');
    this.proc = null;
    this.port = null;
    this.info = null;
    this.logsShown = false;
    const adminUrl = process.env.PAYMUX_SDK_DATABASE_URL;
    this.database = adminUrl ? new PostgresDatabase(adminUrl) : null;
    // never leave a database behind, even if the test process ends abruptly
    process.once('exit', () => this.dropDatabase());
  }

  /** --data-dir (always) and --database-url (PostgreSQL mode) for every paymux command. */
  storageArgs() {
    return ['--data-dir', this.dataDir, ...(this.database ? ['--database-url', this.database.url] : [])];
  }

  dropDatabase() {
    if (this.database && !process.env.PAYMUX_SDK_KEEP_DATA) this.database.drop();
  }

  cli(...args) {
    try {
      return execFileSync(this.binary, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    } catch (e) {
      throw new Error(`${redact(`${this.binary} ${args.join(' ')}`)} failed (exit ${e.status}):\nstdout: ${e.stdout}\nstderr: ${e.stderr}`);
    }
  }

  async start() {
    const out = this.cli('init', ...this.storageArgs(), '--json');
    try {
      this.info = JSON.parse(out);
    } catch (e) {
      throw new Error(`\`paymux init --json\` did not print one JSON object:\n${out}`);
    }
    for (const key of ['account', 'app_id', 'test_secret_key', 'live_secret_key', 'platform_public_key_pem']) {
      if (!(key in this.info)) throw new Error(`\`paymux init --json\` output lacks ${key}: ${out}`);
    }

    const stderrFd = fs.openSync(this.stderrLog, 'w');
    this.proc = spawn(this.binary, [
      'serve', ...this.storageArgs(), '--listen', '127.0.0.1:0',
      '--test-refund-delay-ms', String(REFUND_DELAY_MS),
    ], { stdio: ['ignore', 'pipe', stderrFd] });
    fs.closeSync(stderrFd);
    startedServers.push(this);
    // never leave a server behind, even if the test process ends abruptly
    const proc = this.proc;
    process.once('exit', () => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });

    const stdoutLog = fs.createWriteStream(this.stdoutLog);
    const lines = readline.createInterface({ input: this.proc.stdout });
    this.port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(
        `paymux serve did not print 'paymux listening on http://127.0.0.1:PORT' within ${STARTUP_TIMEOUT_MS} ms\n${this.logs()}`)),
      STARTUP_TIMEOUT_MS);
      lines.on('line', (line) => {
        stdoutLog.write(line + '\n');
        const m = LISTEN_RE.exec(line);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
      this.proc.on('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`paymux serve exited early (code ${code}, signal ${signal})\n${this.logs()}`));
      });
    }).catch(async (e) => { await this.stop(); throw e; });
    return this;
  }

  async stop() {
    const proc = this.proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    this.dropDatabase();
    if (process.env.PAYMUX_SDK_KEEP_DATA) {
      console.log(`paymux data kept in ${this.workdir}`);
      if (this.database) console.log(`paymux PostgreSQL database kept: ${redact(this.database.url)}`);
    } else {
      fs.rmSync(this.workdir, { recursive: true, force: true });
    }
  }

  logs(tail = 40) {
    return [this.stdoutLog, this.stderrLog].map((file) => {
      let lines = [];
      try { lines = fs.readFileSync(file, 'utf8').split('\n').slice(-tail); } catch { /* not written yet */ }
      return `--- ${path.basename(file)} (last ${tail} lines) ---\n${lines.join('\n')}`;
    }).join('\n');
  }

  setMerchantPublicKey(pubPath, requireSignature = 'test') {
    this.cli('keys', 'set-merchant-public-key', ...this.storageArgs(), '--require-signature', requireSignature, pubPath);
  }

  clearMerchantPublicKey() {
    this.cli('keys', 'clear-merchant-public-key', ...this.storageArgs());
  }

  get appId() { return this.info.app_id; }
  get testKey() { return this.info.test_secret_key; }
  get baseUrl() { return `http://127.0.0.1:${this.port}`; }

  /** A fresh official SDK instance pointed at this server. */
  client({ key = this.testKey, privateKeyPath = null, privateKey = null } = {}) {
    const pingpp = createPingpp(key);
    pingpp.setHost('127.0.0.1', this.port, 'http');
    if (privateKeyPath) pingpp.setPrivateKeyPath(privateKeyPath);
    if (privateKey) pingpp.setPrivateKey(privateKey);
    return pingpp;
  }

  /** Plain HTTP with Bearer auth (for endpoints the SDK does not wrap). */
  async raw(method, urlPath, body, key = this.testKey) {
    const resp = await fetch(this.baseUrl + urlPath, {
      method,
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await resp.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* keep text */ }
    return { status: resp.status, json, text };
  }

  async testPay(chargeId, result) {
    const resp = await this.raw('POST', `/v1/test_helpers/charges/${chargeId}/pay`, result ? { result } : {});
    if (resp.status !== 200) throw new Error(`test-mode pay of ${chargeId} failed: ${resp.status} ${resp.text}`);
    return resp.json;
  }

  async recentEvents(limit = 10) {
    const resp = await this.raw('GET', `/v1/events?limit=${limit}`);
    if (resp.status !== 200 || resp.json?.object !== 'list') {
      throw new Error(`GET /v1/events failed: ${resp.status} ${resp.text}`);
    }
    return resp.json.data;
  }
}

async function startServer() {
  const binary = paymuxBin();
  try {
    fs.accessSync(binary, fs.constants.X_OK);
  } catch {
    throw new Error(`paymux binary not found or not executable: ${binary} (build it with \`cargo build -p paymux\` or set PAYMUX_BIN)`);
  }
  return new PaymuxServer(binary).start();
}

/** `it` with a timeout, printing the servers' output once when a test fails. */
function test(name, fn) {
  return it(name, { timeout: TEST_TIMEOUT_MS + 5000 }, async (t) => {
    let timer;
    const stuck = new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(
        `no result within ${TEST_TIMEOUT_MS} ms. A request got no response. Note: pingpp-nodejs 2.1.6 on ` +
        'Node >= 19 hangs when it reuses a kept-alive socket, so the server must answer with ' +
        '`Connection: close` (pingpp-api.md §11).')), TEST_TIMEOUT_MS);
    });
    try {
      await Promise.race([fn(t), stuck]);
    } catch (e) {
      for (const srv of startedServers) {
        if (!srv.logsShown) {
          srv.logsShown = true;
          console.error(`paymux server output (${srv.workdir}):\n${srv.logs()}`);
        }
      }
      throw e;
    } finally {
      clearTimeout(timer);
    }
  });
}

/** Assert that `promise` rejects with a pingpp SDK error of `type`; return the error. */
async function rejectsWith(promise, type) {
  try {
    await promise;
  } catch (err) {
    if (err.type !== type) {
      throw new Error(`expected ${type}, got ${err.type}: ${err.message} (raw: ${JSON.stringify(err.raw)})`);
    }
    return err;
  }
  throw new Error(`expected ${type}, but the call succeeded`);
}

module.exports = {
  CHANNEL_EXTRAS, QR_CHANNELS, SCAN_CHANNELS,
  chargeParams, newOrderNo, waitFor, mentionsAmount, makeRsaKeypair, startServer, test, rejectsWith,
};
