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
const net = require('node:net');
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

/**
 * Start `binary args...`, copy its stdout to `stdoutLog` and its stderr to `stderrLog`, and
 * wait until a stdout line matches `listenRe` (group 1: the port). Resolves with
 * { proc, port }; rejects (after killing the process) when it exits first or no such line
 * comes within STARTUP_TIMEOUT_MS. The process is killed when the test process exits.
 */
async function spawnUntilListening(binary, args, listenRe, stdoutLog, stderrLog, env = process.env) {
  const stderrFd = fs.openSync(stderrLog, 'w');
  const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', stderrFd], env });
  fs.closeSync(stderrFd);
  // never leave a process behind, even if the test process ends abruptly
  process.once('exit', () => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
  const log = fs.createWriteStream(stdoutLog);
  const lines = readline.createInterface({ input: proc.stdout });
  try {
    const port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(
        `did not print a line matching ${listenRe} within ${STARTUP_TIMEOUT_MS} ms`)), STARTUP_TIMEOUT_MS);
      lines.on('line', (line) => {
        log.write(line + '\n');
        const m = listenRe.exec(line);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
      proc.on('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`exited early (code ${code}, signal ${signal})`));
      });
    });
    return { proc, port };
  } catch (e) {
    await stopProcess(proc);
    throw e;
  }
}

/** SIGTERM, then SIGKILL after 5 s; no-op for null or an exited process. */
async function stopProcess(proc) {
  if (proc && proc.exitCode === null && proc.signalCode === null) {
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
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

    await this.serve();
    return this;
  }

  serveCommand() {
    return ['serve', ...this.storageArgs(), '--listen', '127.0.0.1:0',
      '--test-refund-delay-ms', String(REFUND_DELAY_MS)];
  }

  serveEnv() { return process.env; }

  /** Start `paymux serve` and wait for its listening line (stops everything on failure). */
  async serve() {
    try {
      const { proc, port } = await spawnUntilListening(
        this.binary, this.serveCommand(), LISTEN_RE, this.stdoutLog, this.stderrLog, this.serveEnv());
      this.proc = proc;
      this.port = port;
    } catch (e) {
      await this.stop();
      throw new Error(`paymux serve: ${e.message}\n${this.logs()}`);
    }
    startedServers.push(this);
  }

  async stop() {
    await stopProcess(this.proc);
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
  get liveKey() { return this.info.live_secret_key; }
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

  async recentEvents(limit = 10, key = this.testKey) {
    const resp = await this.raw('GET', `/v1/events?limit=${limit}`, undefined, key);
    if (resp.status !== 200 || resp.json?.object !== 'list') {
      throw new Error(`GET /v1/events failed: ${resp.status} ${resp.text}`);
    }
    return resp.json.data;
  }
}

function checkedBinary() {
  const binary = paymuxBin();
  try {
    fs.accessSync(binary, fs.constants.X_OK);
  } catch {
    throw new Error(`paymux binary not found or not executable: ${binary} (build it with \`cargo build -p paymux\` or set PAYMUX_BIN)`);
  }
  return binary;
}

async function startServer() {
  return new PaymuxServer(checkedBinary()).start();
}

// --- live mode against the channel simulators ---------------------------------

const SIM_LISTEN_RE = /paymux simulate (?:wechat|alipay|unionpay) listening on http:\/\/127\.0\.0\.1:(\d+)/;
// A self-signed certificate standing in for WeChat's apiclient_cert.pem (protects nothing):
// the gateway needs one to call /secapi (refunds); the simulator speaks plain HTTP and does
// not check it.
const FIXTURES = path.join(REPO_ROOT, 'crates', 'paymux-server', 'tests', 'fixtures');
const WECHAT_APPID = 'wx2421b1c4370ec43b';
const WECHAT_MCH_ID = '10000100';
const ALIPAY_APP_ID = '2021000000000001';
// UnionPay's test merchant (acp SDK examples) and the certId of its signing certificate.
const UNIONPAY_MER_ID = '777290058110048';
const UNIONPAY_CERT_ID = '68759663125';
// WeChat settles a refund 5 s after accepting it; the simulator is told to take this long.
const WECHAT_REFUND_SETTLE_MS = 300;

/** `paymux simulate wechat|alipay|unionpay --listen 127.0.0.1:0 ARGS...` as a child process. */
class Simulator {
  constructor(binary, name, workdir, args) {
    this.binary = binary;
    this.name = name;
    this.args = ['simulate', name, '--listen', '127.0.0.1:0', ...args];
    this.stdoutLog = path.join(workdir, `sim-${name}.stdout.log`);
    this.stderrLog = path.join(workdir, `sim-${name}.stderr.log`);
    this.proc = null;
    this.port = null;
  }

  async start() {
    const { proc, port } = await spawnUntilListening(this.binary, this.args, SIM_LISTEN_RE, this.stdoutLog, this.stderrLog);
    this.proc = proc;
    this.port = port;
    return this;
  }

  async stop() { await stopProcess(this.proc); }

  get url() { return `http://127.0.0.1:${this.port}`; }

  /** A call to the simulator's /_sim/... control routes: { status, json, text }. */
  async control(method, urlPath, body) {
    const resp = await fetch(this.url + urlPath, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await resp.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* keep text */ }
    return { status: resp.status, json, text };
  }

  async controlOk(method, urlPath, body) {
    const resp = await this.control(method, urlPath, body);
    if (resp.status !== 200) throw new Error(`${this.name} simulator ${method} ${urlPath}: ${resp.status} ${resp.text}`);
    return resp;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A paymux server whose app has WeChat, Alipay and UnionPay configured in live mode, pointing
 * at `paymux simulate wechat`, `paymux simulate alipay` and `paymux simulate unionpay` on
 * loopback. The server gets
 * PAYMUX_SECRETS_KEY (a fresh random one) and --public-url of its own address, so that the
 * simulators' notifications come back to it.
 */
class LiveGateway extends PaymuxServer {
  constructor(binary) {
    super(binary);
    this.secretsKey = crypto.randomBytes(32).toString('base64');
    this.wechatApiKey = crypto.randomBytes(16).toString('hex'); // 32 alphanumerics, like WeChat's
    this.wechat = null;
    this.alipay = null;
    this.unionpay = null;
    this.listenPort = null;
  }

  async start() {
    const app = makeRsaKeypair(this.workdir, 'alipay_app');
    const merchant = makeRsaKeypair(this.workdir, 'unionpay_merchant');
    let alipayPublicKey;
    let unionpayChain;
    try {
      this.wechat = await new Simulator(this.binary, 'wechat', this.workdir,
        ['--merchant', `${WECHAT_APPID}:${WECHAT_MCH_ID}:${this.wechatApiKey}`]).start();
      this.alipay = await new Simulator(this.binary, 'alipay', this.workdir,
        ['--app', `${ALIPAY_APP_ID}=${app.pub}`]).start();
      this.unionpay = await new Simulator(this.binary, 'unionpay', this.workdir,
        ['--merchant', `${UNIONPAY_MER_ID}=${merchant.pub}:${UNIONPAY_CERT_ID}`]).start();
      await this.wechat.controlOk('POST', '/_sim/knobs', { refund_settle_ms: WECHAT_REFUND_SETTLE_MS });
      alipayPublicKey = (await this.alipay.controlOk('GET', '/_sim/public_key')).text;
      // UnionPay is trusted by its certificate chain, as the acp SDK trusts it.
      unionpayChain = JSON.parse((await this.unionpay.controlOk('GET', '/_sim/certificates')).text);
    } catch (e) {
      await this.stop();
      throw new Error(`simulators did not start: ${e.message}\n${this.logs()}`);
    }

    await super.start();

    await this.configure('wechat', {
      appid: WECHAT_APPID,
      mch_id: WECHAT_MCH_ID,
      api_key: this.wechatApiKey,
      sign_type: 'MD5',
      gateway_url: this.wechat.url,
      client_cert_pem: fs.readFileSync(path.join(FIXTURES, 'apiclient_cert.pem'), 'utf8'),
      client_key_pem: fs.readFileSync(path.join(FIXTURES, 'apiclient_key.pem'), 'utf8'),
    });
    await this.configure('alipay', {
      app_id: ALIPAY_APP_ID,
      alipay_public_key: alipayPublicKey,
      gateway_url: `${this.alipay.url}/gateway.do`,
      app_private_key: fs.readFileSync(app.priv, 'utf8'),
    });
    // gateway_url is UnionPay's host; the gateway appends /gateway/api/….do itself.
    await this.configure('unionpay', {
      mer_id: UNIONPAY_MER_ID,
      cert_id: UNIONPAY_CERT_ID,
      unionpay_root_cert: unionpayChain.root,
      unionpay_middle_cert: unionpayChain.middle,
      gateway_url: this.unionpay.url,
      private_key: fs.readFileSync(merchant.priv, 'utf8'),
    });
    return this;
  }

  /** POST /v1/apps/{app}/channels/{provider} with the live key (no SDK method exists). */
  async configure(provider, fields) {
    const resp = await this.raw('POST', `/v1/apps/${this.appId}/channels/${provider}`, fields, this.liveKey);
    if (resp.status !== 200 || resp.json?.livemode !== true) {
      await this.stop();
      // the answer never echoes secret values
      throw new Error(`configuring ${provider} failed: ${resp.status} ${resp.text}`);
    }
  }

  serveCommand() {
    return ['serve', ...this.storageArgs(), '--listen', `127.0.0.1:${this.listenPort}`,
      '--public-url', `http://127.0.0.1:${this.listenPort}`];
  }

  serveEnv() { return { ...process.env, PAYMUX_SECRETS_KEY: this.secretsKey }; }

  async serve() {
    // --public-url needs the port before the server starts: take a free one, and try again
    // with another if something else took it in between.
    for (let attempt = 0; ; attempt += 1) {
      this.listenPort = await freePort();
      try {
        const { proc, port } = await spawnUntilListening(
          this.binary, this.serveCommand(), LISTEN_RE, this.stdoutLog, this.stderrLog, this.serveEnv());
        this.proc = proc;
        this.port = port;
        startedServers.push(this);
        return;
      } catch (e) {
        let stderr = '';
        try { stderr = fs.readFileSync(this.stderrLog, 'utf8'); } catch { /* none */ }
        if (stderr.includes('in use') && attempt < 2) continue;
        await this.stop();
        throw new Error(`paymux serve: ${e.message}\n${this.logs()}`);
      }
    }
  }

  async stop() {
    await super.stop();
    for (const sim of [this.wechat, this.alipay, this.unionpay]) if (sim) await sim.stop();
  }

  logs(tail = 40) {
    const parts = [super.logs(tail)];
    for (const sim of [this.wechat, this.alipay, this.unionpay]) {
      if (!sim) continue;
      for (const file of [sim.stdoutLog, sim.stderrLog]) {
        let lines = [];
        try { lines = fs.readFileSync(file, 'utf8').split('\n').slice(-tail); } catch { /* not written */ }
        parts.push(`--- ${path.basename(file)} (last ${tail} lines) ---\n${lines.join('\n')}`);
      }
    }
    return parts.join('\n');
  }


  simulator(channel) {
    if (channel.startsWith('wx')) return this.wechat;
    return channel.startsWith('upacp') ? this.unionpay : this.alipay;
  }

  /** The payer pays the order at the channel's simulator (which then notifies). */
  async payAtChannel(channel, orderNo) {
    return (await this.simulator(channel).controlOk('POST', `/_sim/orders/${orderNo}/pay`, {})).json;
  }

  /**
   * The order as the channel's simulator has it (GET /_sim/orders/{out_trade_no}; for UnionPay
   * {orderId}, which is also how its refunds are found: the refund id without `re_`).
   */
  async channelOrder(channel, orderNo) {
    return (await this.simulator(channel).controlOk('GET', `/_sim/orders/${orderNo}`)).json;
  }

  async setKnobs(channel, knobs) {
    await this.simulator(channel).controlOk('POST', '/_sim/knobs', knobs);
  }

  /** How many notification POSTs about `orderNo` the gateway acknowledged. */
  async acknowledgedPosts(channel, orderNo) {
    const sim = this.simulator(channel);
    const key = sim === this.unionpay ? 'orderId' : 'out_trade_no';
    const list = (await sim.controlOk('GET', `/_sim/notifications?${key}=${orderNo}`)).json;
    const posts = sim === this.wechat ? 'deliveries' : 'attempts';
    return list.reduce((n, note) => n + note[posts].filter((p) => p.acknowledged).length, 0);
  }
}

async function startLiveGateway() {
  return new LiveGateway(checkedBinary()).start();
}

/** `it` with a timeout, printing the servers' output once when a test fails. */
function test(name, fn) {
  return it(name, { timeout: TEST_TIMEOUT_MS + 5000 }, async (t) => {
    let timer;
    const stuck = new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(
        `no result within ${TEST_TIMEOUT_MS} ms. A request got no response. Note: pingpp-nodejs 2.1.6 on ` +
        'Node >= 19 hangs when it reuses a kept-alive socket, so the server must answer with ' +
        '`Connection: close` (docs/pingpp-wire.md).')), TEST_TIMEOUT_MS);
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
  chargeParams, newOrderNo, waitFor, mentionsAmount, makeRsaKeypair, startServer, startLiveGateway, test, rejectsWith,
};
