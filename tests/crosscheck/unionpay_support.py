"""UnionPay online payments (upacp, acp 5.1.0 with ``signMethod=01``) for test_unionpay.py.

No independent acp SDK can be installed from the registries the suite uses, so this module is
one: an acp 5.1.0 client written for the suite from the protocol (docs/channels/unionpay.md,
"Signing", and the acp SDK's behaviour it describes), on the ``cryptography`` package alone. It
shares no code with paymux's Rust implementation.

* ``sign`` / ``parse_answer`` / ``Validator``: request signing, the synchronous ``k=v&…``
  answers (not URL-encoded), and the acp way of trusting an answer or a notification: the
  signing certificate it carries (``signPubKeyCert``) must chain to the configured root and
  intermediate ("middle") certificates and be UnionPay's own, then its key must verify the
  signature.
* ``AcpClient``: a merchant's client of ``paymux simulate unionpay``.
* ``NotifyReceiver``: a merchant's backUrl, keeping what UnionPay POSTs to it.
* ``Authority`` / ``Signer``: a certificate authority like UnionPay's (root, middle, signing
  certificates), for ``FakeUnionpay`` and for the validator's own negative checks.
* ``FakeUnionpay``: ``/gateway/api/backTransReq.do`` and ``/gateway/api/queryTrans.do`` for
  paymux's adapter, verifying every request and signing every answer with the code above.

``NotifyReceiver`` and ``FakeUnionpay`` are ``loopback`` servers.
"""

import base64
import contextlib
import hashlib
import itertools
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from loopback import LoopbackServer, Receiver

VERSION = "5.1.0"
SIGN_METHOD_RSA = "01"
# The owner UnionPay's production signing certificates name (the third `@` part of the CN),
# and the one its test environment's certificates name.
OWNER = "中国银联股份有限公司"
TEST_OWNER = "00040000:SIGN"
BACK_TRANS = "/gateway/api/backTransReq.do"
QUERY_TRANS = "/gateway/api/queryTrans.do"
BEIJING = timezone(timedelta(hours=8))
FORM_TYPE = "application/x-www-form-urlencoded;charset=UTF-8"


def beijing_compact(unix=None):
    """`yyyyMMddHHmmss` in Beijing time (UnionPay's txnTime), now or at `unix`."""
    at = time.time() if unix is None else unix
    return datetime.fromtimestamp(at, BEIJING).strftime("%Y%m%d%H%M%S")


# --- signing (acp 5.1.0, signMethod=01) ------------------------------------------------------

def java_trim(text):
    """The SDK trims with Java's String.trim: every character up to U+0020 at either end, and
    nothing else (not U+3000, not U+00A0)."""
    start, end = 0, len(text)
    while start < end and text[start] <= " ":
        start += 1
    while end > start and text[end - 1] <= " ":
        end -= 1
    return text[start:end]


def filter_blank(fields):
    """What the SDK sends and signs: values trimmed, blank ones dropped."""
    kept = {}
    for name, value in fields.items():
        if value is None:
            continue
        value = java_trim(str(value))
        if value:
            kept[name] = value
    return kept


def sign_content(fields):
    """`k=v&…` of every field but `signature`, sorted by name, values as they are."""
    return "&".join("%s=%s" % (name, fields[name])
                    for name in sorted(fields) if name != "signature")


def sign_digest(fields):
    """The 64 ASCII characters the RSA signature covers: lower-case hex SHA-256 of the
    content (a double hash: the signature's own SHA-256 runs over this text)."""
    return hashlib.sha256(sign_content(fields).encode("utf-8")).hexdigest().encode("ascii")


def sign(fields, cert_id, private_key):
    """The fields to send: blanks filtered, `certId` set, `signature` (base64 of RSA PKCS#1
    v1.5 SHA-256 over the digest text)."""
    signed = filter_blank(fields)
    signed.pop("signature", None)
    signed["certId"] = cert_id
    raw = private_key.sign(sign_digest(signed), padding.PKCS1v15(), hashes.SHA256())
    signed["signature"] = base64.b64encode(raw).decode("ascii")
    return signed


def signature_holds(fields, public_key):
    """Whether `signature` verifies over the other fields (values as received) under
    `public_key`."""
    try:
        raw = base64.b64decode(fields.get("signature") or "", validate=True)
        public_key.verify(raw, sign_digest(fields), padding.PKCS1v15(), hashes.SHA256())
        return bool(raw)
    except (InvalidSignature, ValueError):
        return False


def load_private_key(pem):
    return serialization.load_pem_private_key(pem.encode("ascii"), password=None)


def load_public_key(pem):
    return serialization.load_pem_public_key(pem.encode("ascii"))


# --- the synchronous answer ------------------------------------------------------------------

def parse_answer(text):
    """A synchronous answer, `k=v&…` NOT URL-encoded. As the SDK reads it: the first `=` of a
    pair ends its name; inside a value, an `&` between `{` and the next `}` (or `[` and `]`)
    belongs to the value (one level, as the SDK tracks). A repeated name is an error here
    (the SDK would keep the last one silently)."""
    text = text.rstrip("\r\n")
    fields = {}
    pairs = []
    current = []
    in_value = False
    closer = None
    for char in text:
        if char == "&" and closer is None:
            pairs.append("".join(current))
            current, in_value = [], False
            continue
        current.append(char)
        if not in_value:
            in_value = char == "="
        elif closer is not None:
            if char == closer:
                closer = None
        elif char in "{[":
            closer = "}" if char == "{" else "]"
    pairs.append("".join(current))
    for pair in pairs:
        if not pair:
            continue
        name, sep, value = pair.partition("=")
        if not name or not sep:
            raise ValueError("not a k=v pair: %r" % pair[:40])
        if name in fields:
            raise ValueError("%s appears twice" % name)
        fields[name] = value
    return fields


# --- trusting UnionPay's answers and notifications -------------------------------------------

class AcpValidationError(Exception):
    """An answer or notification the acp rules do not trust."""


def common_name(cert):
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return names[0].value if names else ""


def owner_of(cert):
    """The owner as the SDK reads it: the third `@`-separated part of the subject's CN."""
    parts = common_name(cert).split("@")
    return parts[2] if len(parts) > 2 else None


def _valid_at(cert, now):
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _issued_by(cert, issuer):
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _is_ca(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


class Validator:
    """The acp SDK's validation of a 5.1.0 answer or notification, under the root and middle
    certificates UnionPay hands merchants (acp_prod_root.cer, acp_prod_middle.cer).

    `validate` returns the signing certificate, or raises AcpValidationError saying why."""

    def __init__(self, root_pem, middle_pem, accept_test_owner=False):
        self.root = x509.load_pem_x509_certificate(root_pem.encode("ascii"))
        self.middle = x509.load_pem_x509_certificate(middle_pem.encode("ascii"))
        self.accept_test_owner = accept_test_owner
        if not _issued_by(self.middle, self.root):
            raise AcpValidationError("the root did not issue the middle certificate")
        if not _is_ca(self.middle):
            raise AcpValidationError("the middle certificate is not a CA")

    def signing_certificate(self, pem, now=None):
        """The certificate in `pem` (an answer's signPubKeyCert), once shown to be
        UnionPay's."""
        now = now or datetime.now(timezone.utc)
        try:
            cert = x509.load_pem_x509_certificate(pem.encode("latin-1"))
        except ValueError as e:
            raise AcpValidationError("signPubKeyCert is not a certificate: %s" % e)
        for role, each in (("signing", cert), ("middle", self.middle)):
            if not _valid_at(each, now):
                raise AcpValidationError("the %s certificate is not valid now" % role)
        if not _issued_by(cert, self.middle):
            raise AcpValidationError("the middle certificate did not issue %r"
                                     % common_name(cert))
        owner = owner_of(cert)
        if owner != OWNER and not (self.accept_test_owner and owner == TEST_OWNER):
            raise AcpValidationError("not UnionPay's certificate: %r" % common_name(cert))
        return cert

    def validate(self, fields, now=None):
        if fields.get("version") != VERSION or fields.get("signMethod") != SIGN_METHOD_RSA:
            raise AcpValidationError("not a 5.1.0 RSA message: version=%r signMethod=%r"
                                     % (fields.get("version"), fields.get("signMethod")))
        if not fields.get("signature"):
            raise AcpValidationError("no signature")
        pem = fields.get("signPubKeyCert")
        if not pem:
            raise AcpValidationError("no signPubKeyCert")
        cert = self.signing_certificate(pem, now)
        if not signature_holds(fields, cert.public_key()):
            raise AcpValidationError("the signature does not verify under %r"
                                     % common_name(cert))
        return cert


class PinnedKeyValidator:
    """What a client pinned to one UnionPay public key does (no certificate looked at): the
    rotation tests show it stops working when UnionPay replaces its signing certificate."""

    def __init__(self, public_key):
        self.public_key = public_key

    def accepts(self, fields):
        return signature_holds(fields, self.public_key)


# --- the merchant's client -------------------------------------------------------------------

class AcpClient:
    """A merchant's acp 5.1.0 client: every call signed with the merchant's key under its
    `certId`, every answer parsed and validated (AcpValidationError when it does not hold).
    `common` overrides the fields every request carries (for the refusal tests)."""

    def __init__(self, base_url, mer_id, cert_id, private_key, validator):
        self.base_url = base_url
        self.mer_id = mer_id
        self.cert_id = cert_id
        self.private_key = private_key
        self.validator = validator
        self.last_text = None

    def call(self, path, txn_type, txn_sub_type, common=None, **fields):
        request = {"version": VERSION, "encoding": "UTF-8", "signMethod": SIGN_METHOD_RSA,
                   "txnType": txn_type, "txnSubType": txn_sub_type, "bizType": "000000",
                   "accessType": "0", "merId": self.mer_id}
        # channelType (08: a phone) goes with the transactions (payments, refunds, cancels),
        # which require it, not with the query or the reversal.
        if txn_type in ("01", "04", "31"):
            request["channelType"] = "08"
        request.update(common or {})
        request.update(fields)
        signed = sign(request, self.cert_id, self.private_key)
        resp = requests.post(self.base_url + path, data=signed, timeout=10,
                             headers={"Content-Type": FORM_TYPE})
        assert resp.status_code == 200, (resp.status_code, resp.text)
        self.last_text = resp.content.decode("utf-8")
        answer = parse_answer(self.last_text)
        self.validator.validate(answer)
        return answer

    def apply_qr(self, order_id, txn_amt, back_url, txn_time=None, **extra):
        return self.call(BACK_TRANS, "01", "07", orderId=order_id,
                         txnTime=txn_time or beijing_compact(), txnAmt=txn_amt,
                         currencyCode="156", backUrl=back_url, **extra)

    def consume(self, order_id, qr_no, txn_amt, back_url, txn_time=None, **extra):
        return self.call(BACK_TRANS, "01", "06", orderId=order_id,
                         txnTime=txn_time or beijing_compact(), txnAmt=txn_amt,
                         currencyCode="156", backUrl=back_url, qrNo=qr_no, **extra)

    def query(self, order_id, txn_time, **extra):
        return self.call(QUERY_TRANS, "00", "00", orderId=order_id, txnTime=txn_time, **extra)

    def refund(self, order_id, orig_qry_id, txn_amt, back_url=None, txn_time=None):
        return self.call(BACK_TRANS, "04", "00", orderId=order_id,
                         txnTime=txn_time or beijing_compact(), txnAmt=txn_amt,
                         currencyCode="156", origQryId=orig_qry_id, backUrl=back_url)

    def cancel(self, order_id, orig_qry_id, txn_amt, back_url=None, txn_time=None):
        return self.call(BACK_TRANS, "31", "00", orderId=order_id,
                         txnTime=txn_time or beijing_compact(), txnAmt=txn_amt,
                         currencyCode="156", origQryId=orig_qry_id, backUrl=back_url)

    def reverse(self, order_id, txn_time):
        """99/01 names the payment by its own orderId and txnTime."""
        return self.call(BACK_TRANS, "99", "01", orderId=order_id, txnTime=txn_time)


# --- the merchant's backUrl ------------------------------------------------------------------

def parse_form(body):
    """A notification body: URL-encoded UTF-8, every field once."""
    pairs = urllib.parse.parse_qsl(body.decode("ascii"), keep_blank_values=True,
                                   strict_parsing=True, encoding="utf-8", errors="strict")
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise ValueError("a field appears twice")
    return fields


class NotifyReceiver(Receiver):
    """The merchant's backUrl: keeps every POST and answers HTTP 200, which is all UnionPay
    needs to stop sending it."""

    @property
    def url(self):
        return self.base_url + "/unionpay/back"

    def forms(self, order_id):
        """The notifications about `order_id`, parsed, oldest first (their Content-Type under
        `_content_type`)."""
        forms = [dict(parse_form(r["body"]), _content_type=r["content_type"])
                 for r in self.received()]
        return [f for f in forms if f.get("orderId") == order_id]


# --- a certificate authority like UnionPay's -------------------------------------------------

def new_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _name(common):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "China UnionPay (fake)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key_usage(authority):
    return x509.KeyUsage(digital_signature=not authority, content_commitment=not authority,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=authority, crl_sign=authority, encipher_only=False,
                         decipher_only=False)


_serials = itertools.count(1)


class Signer:
    """A signing key and its certificate: what UnionPay signs answers and notifications with,
    carrying the certificate as signPubKeyCert and its serial number as certId."""

    def __init__(self, key, cert):
        self.key = key
        self.cert = cert
        # The SDK's filter trims every value before signing; so does this signer, so the PEM
        # is kept trimmed to send the text that was signed.
        self.cert_pem = _pem(cert).strip()
        self.cert_id = str(cert.serial_number)

    def sign(self, fields):
        return sign(dict(fields, signPubKeyCert=self.cert_pem), self.cert_id, self.key)


class Authority:
    """A root and a middle certificate (each with a key of its own), issuing signing
    certificates. `middle_is_ca=False` builds a broken chain for the validator's tests."""

    def __init__(self, label, middle_is_ca=True):
        now = datetime.now(timezone.utc)
        self.root_key = new_rsa_key()
        root_name = _name("%s Root" % label)
        self.root = self._build(root_name, root_name, self.root_key.public_key(),
                                self.root_key, now - timedelta(days=1),
                                now + timedelta(days=20 * 365), ca=True)
        self.middle_key = new_rsa_key()
        self.middle_name = _name("%s OCA" % label)
        self.middle = self._build(self.middle_name, root_name, self.middle_key.public_key(),
                                  self.root_key, now - timedelta(days=1),
                                  now + timedelta(days=10 * 365), ca=middle_is_ca)
        self.root_pem = _pem(self.root)
        self.middle_pem = _pem(self.middle)

    @staticmethod
    def _build(subject, issuer, public_key, issuer_key, not_before, not_after, ca,
               serial=None):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(public_key)
                   .serial_number(serial or x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_after)
                   .add_extension(_key_usage(ca), critical=True))
        if ca:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                            critical=True)
        return builder.sign(issuer_key, hashes.SHA256())

    def issue(self, serial=None, owner=OWNER, valid_from=None, valid_until=None):
        """A signing certificate for a fresh key, its CN `…@…@owner@…` as UnionPay's are."""
        now = datetime.now(timezone.utc)
        serial = serial or 73_000_000_000 + next(_serials)
        key = new_rsa_key()
        cert = self._build(_name("041@Z%d@%s@00000001" % (serial, owner)), self.middle_name,
                           key.public_key(), self.middle_key,
                           valid_from or now - timedelta(days=1),
                           valid_until or now + timedelta(days=5 * 365), ca=False,
                           serial=serial)
        return Signer(key, cert)


# --- a fake UnionPay for paymux's adapter ----------------------------------------------------

_ids = itertools.count(1)

# Answers (respCode, respMsg), worded as the simulator words them
# (crates/paymux-simulators/src/unionpay/txn.rs).
SUCCESS = ("00", "成功[0000000]")
TIMEOUT = ("03", "交易通讯超时，请发起查询交易")
ACCEPTED = ("05", "交易已受理，请稍后查询交易结果")
FORMAT = ("10", "报文格式错误")
BAD_SIGNATURE = ("11", "验证签名失败")
DUPLICATE = ("12", "重复交易")
MISSING = ("13", "报文交易要素缺失")
BAD_MERCHANT = ("31", "商户状态不正确")
NOT_PERMITTED = ("32", "无此交易权限")
OVER_AMOUNT = ("33", "交易金额超限")
NOT_FOUND = ("34", "查无此交易")
ORIG_STATE = ("35", "原交易不存在或状态不正确")

COMMON = ("version", "encoding", "signMethod", "certId", "signature", "txnType", "txnSubType",
          "bizType", "accessType", "merId", "orderId", "txnTime")
REQUIRED = {("01", "07"): ("txnAmt", "currencyCode", "backUrl", "channelType"),
            ("01", "06"): ("txnAmt", "currencyCode", "backUrl", "channelType", "qrNo"),
            ("00", "00"): (),
            ("04", "00"): ("txnAmt", "currencyCode", "origQryId", "channelType"),
            ("99", "01"): ()}
ECHOED = ("txnType", "txnSubType", "bizType", "accessType", "merId", "orderId", "txnTime",
          "txnAmt", "currencyCode", "reqReserved")
# A consumer code starting so: the payer confirms on the phone (`05`) until `pay`.
QR_NO_CONFIRMING = "629902"


def new_query_id():
    return "%s%07d" % (beijing_compact(), next(_ids) % 10**7)


class FakeUnionpay(LoopbackServer):
    """UnionPay's two back-end endpoints as far as paymux's adapter uses them.

    Every request is checked as UnionPay checks it: the common fields, the merchant, its
    `certId`, and the signature under the merchant's public key over the fields exactly as
    received (`respCode=11` when it fails); then the permission (bizType, accessType,
    channelType). Each is recorded in `seen` with `verified` and the answer's `respCode`.
    Answers are `k=v&…` (not URL-encoded) signed by `self.signer`, which carries its
    certificate; `rotate` replaces it with a new one of the same authority.

    The payer and UnionPay's back office are played by the test: `pay` (a QR paid, then its
    notification), `settle_refund` (a refund completes, notified), `notify`; consumer codes
    starting 629902 stay processing, any other pays at once. `lose_next(txn_type)` answers
    the next call of that txnType `03` (timeout) after carrying it out, as when the answer is
    lost on the way back."""

    reply_type = "text/plain;charset=UTF-8"

    def __init__(self, mer_id, cert_id, merchant_public_key_pem):
        super().__init__()
        self.mer_id = mer_id
        self.cert_id = cert_id
        self.merchant_key = load_public_key(merchant_public_key_pem)
        self.authority = Authority("Fake UnionPay")
        self.signer = self.authority.issue()
        self.lock = threading.Lock()
        self.seen = []
        self.txns = {}
        self.by_query_id = {}
        self.lost = {}
        # Refunds complete when the test settles them, or at once when this is set.
        self.instant_refunds = False

    # -- the gateway --------------------------------------------------------------------------
    def on_post(self, path, body, content_type):
        record = {"path": path, "params": {}, "verified": False, "resp_code": None,
                  "cert_id": None}
        with self.lock:
            self.seen.append(record)
            try:
                params = parse_form(body)
            except (UnicodeDecodeError, ValueError):
                params = {}
            record["params"] = params
            code, fields = self._answer(path, params, record)
            record["resp_code"] = code[0]
            record["cert_id"] = self.signer.cert_id
            answer = {"version": VERSION, "encoding": "UTF-8", "signMethod": SIGN_METHOD_RSA,
                      "respCode": code[0], "respMsg": code[1]}
            answer.update((k, params[k]) for k in ECHOED if params.get(k))
            answer.update(fields)
            signed = self.signer.sign(answer)
        return 200, "&".join("%s=%s" % kv for kv in signed.items())

    def _answer(self, path, p, record):
        if not all(p.get(name) for name in COMMON):
            return MISSING, {}
        if p["version"] != VERSION or p["signMethod"] != SIGN_METHOD_RSA \
                or p["encoding"].upper() != "UTF-8":
            return FORMAT, {}
        if p["merId"] != self.mer_id:
            return BAD_MERCHANT, {}
        if p["certId"] != self.cert_id or not signature_holds(p, self.merchant_key):
            return BAD_SIGNATURE, {}
        record["verified"] = True
        kind = (p["txnType"], p["txnSubType"])
        if kind not in REQUIRED or (kind == ("00", "00")) != (path == QUERY_TRANS) \
                or path not in (BACK_TRANS, QUERY_TRANS):
            return NOT_PERMITTED, {}
        if not all(p.get(name) for name in REQUIRED[kind]):
            return MISSING, {}
        if p["accessType"] != "0" or ("channelType" in REQUIRED[kind]
                                      and p["channelType"] not in ("07", "08")):
            return FORMAT, {}
        if p["bizType"] != "000000":
            return NOT_PERMITTED, {}
        if "txnAmt" in p and not (p["txnAmt"].isdigit() and not p["txnAmt"].startswith("0")):
            return FORMAT, {}
        if p.get("currencyCode", "156") != "156":
            return FORMAT, {}
        handler = {"01": self._pay, "00": self._query, "04": self._refund,
                   "99": self._reverse}[kind[0]]
        code, fields = handler(p)
        if self.lost.get(kind[0]):
            self.lost[kind[0]] -= 1
            return TIMEOUT, {}
        return code, fields

    def _new_txn(self, p, status):
        txn = {"orderId": p["orderId"], "txnTime": p["txnTime"], "txnType": p["txnType"],
               "txnSubType": p["txnSubType"], "txnAmt": int(p.get("txnAmt") or 0),
               "backUrl": p.get("backUrl"), "status": status, "queryId": None,
               "origQryId": p.get("origQryId"), "refunded": 0, "qrCode": None,
               "traceNo": "%06d" % (next(_ids) % 10**6), "settled": None}
        self.txns[p["orderId"]] = txn
        return txn

    def _give_query_id(self, txn):
        txn["queryId"] = new_query_id()
        self.by_query_id[txn["queryId"]] = txn

    def _pay(self, p):
        if p["orderId"] in self.txns:
            return DUPLICATE, {}
        if p["txnSubType"] == "07":
            txn = self._new_txn(p, "awaiting_payer")
            txn["qrCode"] = "https://qr.95516.com/00010000/62%017d" % next(_ids)
            return SUCCESS, {"qrCode": txn["qrCode"]}
        txn = self._new_txn(p, "processing")
        self._give_query_id(txn)
        if p["qrNo"].startswith(QR_NO_CONFIRMING):
            return ACCEPTED, {"queryId": txn["queryId"]}
        self._settle(txn)
        return SUCCESS, {"queryId": txn["queryId"]}

    def _query(self, p):
        txn = self.txns.get(p["orderId"])
        if not txn or txn["txnTime"] != p["txnTime"] or txn["status"] == "awaiting_payer":
            return NOT_FOUND, {}
        orig = {"succeeded": SUCCESS, "processing": ACCEPTED,
                "reversed": ("01", "交易失败[原交易已冲正]")}[txn["status"]]
        fields = {"origRespCode": orig[0], "origRespMsg": orig[1], "queryId": txn["queryId"],
                  "txnAmt": str(txn["txnAmt"]), "traceNo": txn["traceNo"]}
        if txn["origQryId"]:
            fields["origQryId"] = txn["origQryId"]
        return SUCCESS, fields

    def _refund(self, p):
        if p["orderId"] in self.txns:
            return DUPLICATE, {}
        payment = self.by_query_id.get(p["origQryId"])
        if not payment or payment["txnType"] != "01" or payment["status"] != "succeeded":
            return ORIG_STATE, {}
        amount = int(p["txnAmt"])
        if amount > payment["txnAmt"] - payment["refunded"]:
            return OVER_AMOUNT, {}
        payment["refunded"] += amount
        txn = self._new_txn(p, "processing")
        self._give_query_id(txn)
        if self.instant_refunds:
            self._settle(txn)
        return SUCCESS, {"queryId": txn["queryId"], "origQryId": p["origQryId"]}

    def _reverse(self, p):
        txn = self.txns.get(p["orderId"])
        if not txn or txn["txnTime"] != p["txnTime"] or txn["txnSubType"] != "06":
            return ORIG_STATE, {}
        if txn["status"] in ("processing", "succeeded") and not txn["refunded"]:
            txn["status"] = "reversed"
            return SUCCESS, {}
        return (SUCCESS, {}) if txn["status"] == "reversed" else (ORIG_STATE, {})

    def _settle(self, txn):
        txn["status"] = "succeeded"
        txn["settled"] = beijing_compact()

    # -- the test's side ----------------------------------------------------------------------
    @staticmethod
    def refusal(record):
        """A refused request, as AdapterTests names it: (txnType, respCode)."""
        return record["params"].get("txnType"), record["resp_code"]

    def calls(self, order_id, txn_type=None):
        """The verified calls about `order_id` (of `txn_type`), oldest first: `params` as
        received, the answer's `resp_code` and the `cert_id` it was signed under."""
        with self.lock:
            return [dict(s) for s in self.seen
                    if s["verified"] and s["params"].get("orderId") == order_id
                    and (txn_type is None or s["params"].get("txnType") == txn_type)]

    @contextlib.contextmanager
    def signing_with(self, signer):
        """Answers signed by `signer` meanwhile (one paymux must not trust, say)."""
        with self.lock:
            saved, self.signer = self.signer, signer
        try:
            yield
        finally:
            with self.lock:
                self.signer = saved

    def lose_next(self, txn_type):
        with self.lock:
            self.lost[txn_type] = self.lost.get(txn_type, 0) + 1

    def rotate(self):
        """A new signing key and certificate, the next serial, the same authority."""
        with self.lock:
            self.signer = self.authority.issue(int(self.signer.cert_id) + 1)
            return self.signer

    def pay(self, order_id, signer=None, tamper=None):
        """The payer pays a QR order (or confirms a processing consumer-code payment); then
        UnionPay notifies (see `notify`). Returns paymux's HTTP answer."""
        with self.lock:
            txn = self.txns[order_id]
            if txn["status"] in ("awaiting_payer", "processing"):
                if not txn["queryId"]:
                    self._give_query_id(txn)
                self._settle(txn)
        return self.notify(order_id, signer, tamper)

    def settle_refund(self, order_id, notify=True):
        with self.lock:
            self._settle(self.txns[order_id])
        return self.notify(order_id) if notify else None

    def notification(self, order_id, signer=None):
        """The signed form UnionPay POSTs about the transaction as it stands, signed by
        `signer` (another one forges it)."""
        with self.lock:
            txn = self.txns[order_id]
            code = {"succeeded": SUCCESS, "processing": ACCEPTED}.get(
                txn["status"], ("01", "交易失败"))
            settled = txn["settled"] or beijing_compact()
            fields = {"version": VERSION, "encoding": "UTF-8", "signMethod": SIGN_METHOD_RSA,
                      "txnType": txn["txnType"], "txnSubType": txn["txnSubType"],
                      "bizType": "000000", "accessType": "0", "merId": self.mer_id,
                      "orderId": order_id, "txnTime": txn["txnTime"],
                      "txnAmt": str(txn["txnAmt"]), "currencyCode": "156",
                      "settleAmt": str(txn["txnAmt"]), "settleCurrencyCode": "156",
                      "queryId": txn["queryId"], "respCode": code[0], "respMsg": code[1],
                      "traceNo": txn["traceNo"], "traceTime": settled[4:],
                      "settleDate": settled[4:8], "origQryId": txn["origQryId"]}
            return txn["backUrl"], (signer or self.signer).sign(fields)

    def notify(self, order_id, signer=None, tamper=None):
        """POSTs the notification (URL-encoded) to the transaction's backUrl; `tamper`
        changes fields after signing. Returns paymux's HTTP answer."""
        url, form = self.notification(order_id, signer)
        form.update(tamper or {})
        return requests.post(url, data=form, timeout=10, headers={"Content-Type": FORM_TYPE})
