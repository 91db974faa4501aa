"""WeChat Pay v2 pieces for test_wechat.py, all built on wechatpy's own code.

* ``simulator_client``: wechatpy's ``WeChatPay`` aimed at ``paymux simulate wechat``.
* ``signed_by``: checks an answer's ``sign`` with wechatpy's signing functions. wechatpy 1.8.18
  returns answers without looking at their ``sign`` (``WeChatPay._handle_result`` reads only
  ``return_code`` and ``result_code``), so the tests do what it leaves out, with its code.
* ``NotifyReceiver``: a merchant's notify URL, keeping what WeChat POSTs to it.
* ``FakeWechat``: a WeChat Pay v2 server that checks every request with wechatpy's signature
  functions and answers with XML signed by them, for paymux's adapter to talk to.

Both are ``loopback`` servers.
"""

import base64
import itertools
import threading
from datetime import datetime, timedelta, timezone

import requests
import xmltodict
from wechatpy.crypto import RefundCrypto, WeChatRefundCrypto
from wechatpy.pay import WeChatPay
from wechatpy.pay.utils import calculate_signature, calculate_signature_hmac, dict_to_xml
from wechatpy.utils import random_string

from loopback import LoopbackServer, Receiver
from paymux_harness import wait_for

MD5 = "MD5"
HMAC_SHA256 = "HMAC-SHA256"
SIGNERS = {MD5: calculate_signature, HMAC_SHA256: calculate_signature_hmac}
# What a merchant answers a notification with so that WeChat stops sending it.
ACK_FIELDS = {"return_code": "SUCCESS", "return_msg": "OK"}
BEIJING = timezone(timedelta(hours=8))
XML_TYPE = "text/xml; charset=utf-8"


def simulator_client(base_url, appid, mch_id, api_key, cert, key):
    """wechatpy's client with only its base URL changed. ``cert``/``key``: the files of the
    client certificate pair wechatpy wants for /secapi (the simulator speaks plain HTTP)."""
    client_class = type("SimulatorWeChatPay", (WeChatPay,), {"API_BASE_URL": base_url + "/"})
    return client_class(appid=appid, api_key=api_key, mch_id=mch_id, mch_cert=str(cert),
                        mch_key=str(key), timeout=10)


def signed_by(owner, fields, sign_type=MD5):
    """Whether ``fields`` (a parsed message, ``sign`` included) carries the sign wechatpy
    computes for it under ``owner.api_key``. (The key's holder is passed, not the key, so that
    a failing assertion shows no key.)"""
    sign = fields.get("sign")
    rest = {name: value for name, value in fields.items() if name != "sign"}
    return bool(sign) and sign == SIGNERS[sign_type](rest, owner.api_key)


def parse_xml(text, strip=True):
    """A flat ``<xml>`` document as a dict. ``strip=True`` reads it as wechatpy does
    (xmltodict's defaults trim every value); ``strip=False`` keeps values exactly as sent."""
    doc = xmltodict.parse(text, strip_whitespace=strip)["xml"]
    return {name: value for name, value in doc.items() if name != "#text"}


def beijing_now(fmt="%Y%m%d%H%M%S"):
    return datetime.now(BEIJING).strftime(fmt)


class NotifyReceiver(Receiver):
    """Keeps every POST and acknowledges it as WeChat expects."""

    ack = dict_to_xml(ACK_FIELDS)
    reply_type = XML_TYPE

    def wait_for_post(self, path, timeout=10.0):
        """The body (text) of the first POST to ``path``, once it came."""
        def find():
            return next((r["body"].decode("utf-8") for r in self.received()
                         if r["path"] == path), None)
        return wait_for(find, bool, timeout=timeout, what="a notification to %s" % path)


class FakeWechat(LoopbackServer):
    """WeChat Pay v2 as far as paymux's adapter uses it, in wechatpy's terms.

    Every request is parsed with its values exactly as sent and its ``sign`` recomputed with
    wechatpy's ``calculate_signature`` (or ``calculate_signature_hmac`` when ``sign_type``
    says so); one that does not match is answered ``return_code=FAIL`` 签名错误, as WeChat
    does. Each is recorded in ``seen`` with ``verified`` and, when refused, the ``refusal``
    (its ``return_msg``). Answers are built with ``dict_to_xml`` and signed the same way, in
    the request's algorithm.

    The payer is played by the test: ``pay`` (a NATIVE order, then the pay notification),
    micropay codes starting ``1300`` wait for the payer (``USERPAYING``) until ``complete``,
    and ``settle_refund`` sends the refund notification.
    """

    reply_type = XML_TYPE

    def __init__(self, appid, mch_id, api_key):
        super().__init__()
        self.appid = appid
        self.mch_id = mch_id
        self.api_key = api_key
        self.lock = threading.Lock()
        self.seen = []
        self.orders = {}
        self.refunds = {}
        self.serial = itertools.count(1)

    # -- what the test reads ------------------------------------------------------------------
    def calls_to(self, path, **match):
        """Calls to ``path`` whose parameters include ``match``."""
        with self.lock:
            return [c for c in self.seen if c["path"] == path
                    and all(c["params"].get(k) == v for k, v in match.items())]

    @staticmethod
    def refusal(record):
        """A refused request, as AdapterTests names it: (path, return_msg)."""
        return record["path"], record["refusal"]

    # -- the HTTP side ------------------------------------------------------------------------
    def on_post(self, path, body, content_type):
        try:
            params = parse_xml(body.decode("utf-8"), strip=False)
        except Exception:  # anything unparsable is WeChat's XML error
            return self._refuse(path, {}, None, "XML格式错误")
        params = {name: value or "" for name, value in params.items()}
        sign_type = params.get("sign_type") or MD5
        if params.get("mch_id") != self.mch_id or params.get("appid") != self.appid:
            return self._refuse(path, params, sign_type, "appid和mch_id不匹配")
        if sign_type not in SIGNERS or not signed_by(self, params, sign_type):
            return self._refuse(path, params, sign_type, "签名错误")
        self._record(path, params, sign_type, None)
        handler = {
            "/pay/unifiedorder": self._unifiedorder,
            "/pay/micropay": self._micropay,
            "/pay/orderquery": self._orderquery,
            "/pay/closeorder": self._closeorder,
            "/secapi/pay/reverse": self._reverse,
            "/secapi/pay/refund": self._refund,
            "/pay/refundquery": self._refundquery,
        }.get(path)
        if handler is None:
            return 404, dict_to_xml({"return_code": "FAIL", "return_msg": "not found"})
        with self.lock:
            fields = handler(params)
        return 200, self._signed_xml(dict(fields, return_code="SUCCESS", return_msg="OK",
                                          appid=self.appid, mch_id=self.mch_id,
                                          nonce_str=random_string(32)), sign_type)

    def _record(self, path, params, sign_type, refusal):
        with self.lock:
            self.seen.append({"path": path, "params": params, "sign_type": sign_type,
                              "verified": refusal is None, "refusal": refusal})

    def _refuse(self, path, params, sign_type, return_msg):
        self._record(path, params, sign_type, return_msg)
        return 200, dict_to_xml({"return_code": "FAIL", "return_msg": return_msg})

    def _signed_xml(self, fields, sign_type):
        return dict_to_xml(fields, SIGNERS[sign_type](fields, self.api_key))

    # -- business (called with self.lock held) ------------------------------------------------
    @staticmethod
    def _ok(**fields):
        return dict(fields, result_code="SUCCESS")

    @staticmethod
    def _fail(code, des):
        return {"result_code": "FAIL", "err_code": code, "err_code_des": des}

    def _lack(self, params, names):
        missing = [n for n in names if not params.get(n)]
        return self._fail("LACK_PARAMS", "缺少参数" + missing[0]) if missing else None

    def _payment_fields(self, order):
        fields = {"out_trade_no": order["out_trade_no"], "total_fee": order["total_fee"],
                  "trade_type": order["trade_type"]}
        if order["transaction_id"]:
            fields.update(transaction_id=order["transaction_id"], time_end=order["time_end"],
                          cash_fee=order["total_fee"], fee_type="CNY", bank_type="OTHERS",
                          openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", is_subscribe="N")
        return fields

    def _mark_paid(self, order):
        order["state"] = "SUCCESS"
        order["transaction_id"] = "4200%024d" % next(self.serial)
        order["time_end"] = beijing_now()

    def _new_order(self, params, trade_type):
        order = {"out_trade_no": params["out_trade_no"], "total_fee": params["total_fee"],
                 "body": params["body"], "trade_type": trade_type, "state": "NOTPAY",
                 "notify_url": params.get("notify_url", ""),
                 "sign_type": params.get("sign_type") or MD5, "transaction_id": "", "time_end": "",
                 "code_url": "weixin://wxpay/bizpayurl?pr=" + random_string(9)}
        self.orders[params["out_trade_no"]] = order
        return order

    def _unifiedorder(self, params):
        lack = self._lack(params, ["body", "out_trade_no", "total_fee", "spbill_create_ip",
                                   "notify_url", "trade_type", "product_id"])
        if lack:
            return lack
        if params["trade_type"] != "NATIVE":
            return self._fail("PARAM_ERROR", "trade_type参数错误")
        order = self.orders.get(params["out_trade_no"]) or self._new_order(params, "NATIVE")
        if order["state"] != "NOTPAY":
            return self._fail("ORDERPAID", "该订单已支付")
        return self._ok(trade_type="NATIVE", prepay_id="wx" + random_string(30),
                        code_url=order["code_url"])

    def _micropay(self, params):
        lack = self._lack(params, ["body", "out_trade_no", "total_fee", "spbill_create_ip",
                                   "auth_code"])
        if lack:
            return lack
        if params["out_trade_no"] in self.orders:
            return self._fail("ORDERPAID", "订单已支付")
        order = self._new_order(params, "MICROPAY")
        order["auth_code"] = params["auth_code"]
        if params["auth_code"].startswith("1300"):
            order["state"] = "USERPAYING"
            return self._fail("USERPAYING", "需要用户输入支付密码")
        self._mark_paid(order)
        return self._ok(**self._payment_fields(order))

    def _orderquery(self, params):
        order = self.orders.get(params.get("out_trade_no"))
        if order is None:
            return self._fail("ORDERNOTEXIST", "此交易订单号不存在")
        return self._ok(trade_state=order["state"], **self._payment_fields(order))

    def _closeorder(self, params):
        order = self.orders.get(params.get("out_trade_no"))
        if order is None:
            return self._fail("ORDERNOTEXIST", "订单不存在")
        if order["state"] == "SUCCESS":
            return self._fail("ORDERPAID", "订单已支付")
        order["state"] = "CLOSED"
        return self._ok()

    def _reverse(self, params):
        order = self.orders.get(params.get("out_trade_no"))
        if order is None:
            return self._fail("ORDERNOTEXIST", "订单不存在")
        order["state"] = "REVOKED"
        return self._ok(recall="N")

    def _refund(self, params):
        lack = self._lack(params, ["out_trade_no", "out_refund_no", "total_fee", "refund_fee"])
        if lack:
            return lack
        order = self.orders.get(params["out_trade_no"])
        if order is None or order["state"] not in ("SUCCESS", "REFUND"):
            return self._fail("ORDERNOTEXIST", "订单不存在")
        if params["total_fee"] != order["total_fee"]:
            return self._fail("INVALID_REQUEST", "订单金额或退款金额与之前请求不一致")
        refund = self.refunds.get(params["out_refund_no"])
        if refund is None:
            refund = {"out_refund_no": params["out_refund_no"],
                      "out_trade_no": params["out_trade_no"],
                      "refund_id": "5030%024d" % next(self.serial),
                      "refund_fee": params["refund_fee"], "status": "PROCESSING",
                      "notify_url": params.get("notify_url") or order["notify_url"],
                      "success_time": ""}
            self.refunds[params["out_refund_no"]] = refund
            order["state"] = "REFUND"
        return self._ok(out_trade_no=order["out_trade_no"],
                        transaction_id=order["transaction_id"],
                        out_refund_no=refund["out_refund_no"], refund_id=refund["refund_id"],
                        refund_fee=refund["refund_fee"], total_fee=order["total_fee"],
                        cash_fee=order["total_fee"])

    def _refundquery(self, params):
        refund = self.refunds.get(params.get("out_refund_no"))
        if refund is None:
            return self._fail("REFUNDNOTEXIST", "退款订单查询失败")
        order = self.orders[refund["out_trade_no"]]
        fields = self._ok(out_trade_no=order["out_trade_no"],
                          transaction_id=order["transaction_id"], total_fee=order["total_fee"],
                          cash_fee=order["total_fee"], refund_count="1",
                          out_refund_no_0=refund["out_refund_no"],
                          refund_id_0=refund["refund_id"], refund_fee_0=refund["refund_fee"],
                          refund_status_0=refund["status"])
        if refund["success_time"]:
            fields["refund_success_time_0"] = refund["success_time"]
        return fields

    # -- the payer and WeChat's notifications -------------------------------------------------
    def pay(self, out_trade_no, api_key=None):
        """The payer pays a NATIVE order; WeChat notifies. Returns paymux's answer (status,
        text). ``api_key``: sign the notification with another key (a forgery)."""
        with self.lock:
            order = self.orders[out_trade_no]
            if api_key is None:
                self._mark_paid(order)
                transaction_id, time_end = order["transaction_id"], order["time_end"]
            else:
                transaction_id, time_end = "4200%024d" % 999, beijing_now()
            sign_type = order["sign_type"]
            fields = {"return_code": "SUCCESS", "result_code": "SUCCESS",
                      "appid": self.appid, "mch_id": self.mch_id,
                      "nonce_str": random_string(32), "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
                      "is_subscribe": "N", "trade_type": order["trade_type"],
                      "bank_type": "OTHERS", "total_fee": order["total_fee"],
                      "cash_fee": order["total_fee"], "fee_type": "CNY",
                      "transaction_id": transaction_id, "out_trade_no": out_trade_no,
                      "time_end": time_end,
                      # sent empty by WeChat; an empty value takes no part in the sign
                      "attach": ""}
            if sign_type != MD5:
                fields["sign_type"] = sign_type
            notify_url = order["notify_url"]
        return _notify(notify_url,
                       dict_to_xml(fields, SIGNERS[sign_type](fields, api_key or self.api_key)))

    def complete(self, out_trade_no):
        """The payer confirms a micropay that was waiting (USERPAYING): it is paid."""
        with self.lock:
            order = self.orders[out_trade_no]
            assert order["state"] == "USERPAYING", order
            self._mark_paid(order)

    def settle_refund(self, out_refund_no):
        """The refund succeeds; WeChat sends the refund notification: no ``sign``, the
        details in ``req_info``, encrypted with wechatpy's AES-256-ECB under its key
        derivation (MD5 of the API key, lower-case hex). Returns paymux's answer."""
        with self.lock:
            refund = self.refunds[out_refund_no]
            order = self.orders[refund["out_trade_no"]]
            refund["status"] = "SUCCESS"
            refund["success_time"] = beijing_now("%Y-%m-%d %H:%M:%S")
            info = {"out_refund_no": out_refund_no, "out_trade_no": order["out_trade_no"],
                    "refund_id": refund["refund_id"], "transaction_id": order["transaction_id"],
                    "total_fee": order["total_fee"], "refund_fee": refund["refund_fee"],
                    "settlement_total_fee": order["total_fee"],
                    "settlement_refund_fee": refund["refund_fee"], "refund_status": "SUCCESS",
                    "success_time": refund["success_time"],
                    "refund_recv_accout": "支付用户的零钱", "refund_account":
                    "REFUND_SOURCE_RECHARGE_FUNDS", "refund_request_source": "API"}
            notify_url = refund["notify_url"]
        plaintext = "<root>%s</root>" % "".join(
            "<{0}><![CDATA[{1}]]></{0}>".format(k, v) for k, v in sorted(info.items()))
        return _notify(notify_url, dict_to_xml({
            "return_code": "SUCCESS", "appid": self.appid, "mch_id": self.mch_id,
            "nonce_str": random_string(32),
            "req_info": encrypt_req_info(plaintext, self.api_key)}))


def _notify(url, xml):
    """POSTs a notification as WeChat does; returns the merchant's answer (status, text)."""
    resp = requests.post(url, data=xml.encode("utf-8"), headers={"Content-Type": "text/xml"},
                         timeout=10)
    return resp.status_code, resp.text


def encrypt_req_info(plaintext, api_key):
    """``req_info`` as WeChat sends it: AES-256-ECB with PKCS#7 padding to AES's 16-byte
    block, base64. The key (wechatpy's ``WeChatRefundCrypto``) and the cipher (its
    ``RefundCrypto``) are wechatpy's; the padding is not, because wechatpy's ``PKCS7Encoder``
    pads to 32-byte blocks (the rule of WeChat's official-account message encryption): WeChat's
    refund notifications are padded to 16, and paymux, like any strict PKCS#7 reader, refuses
    padding longer than the block."""
    data = plaintext.encode("utf-8")
    pad = 16 - len(data) % 16
    cipher = RefundCrypto(WeChatRefundCrypto(api_key).key).cipher
    return base64.b64encode(cipher.encrypt(data + bytes([pad]) * pad)).decode("ascii")
