"""Alipay's two Python libraries, unchanged, as the cross-check suite uses them.

* ``alipay-sdk-python`` (Alipay's official SDK) is imported as it installs: ``alipay.aop.api``.
* ``python-alipay-sdk`` installs a top-level package also named ``alipay``, so the two cannot
  share site-packages. scripts/test-crosscheck.sh installs it (requirements-isolated.txt) into
  ``<venv>/isolated``; it is loaded from there under the name ``python_alipay_sdk``. Its code
  only imports itself relatively, so nothing in it changes.

Also here: one client class per library with the same methods (each answer verified by the
library itself), the receiver the simulator notifies, and the fake Alipay whose signatures are
the official SDK's (``alipay.aop.api.util.SignatureUtils``), which paymux's adapter talks to
(both ``loopback`` servers).
"""

import importlib.util
import itertools
import json
import random
import secrets
import socket
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
import rsa
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.domain.AlipayTradeCancelModel import AlipayTradeCancelModel
from alipay.aop.api.domain.AlipayTradeCloseModel import AlipayTradeCloseModel
from alipay.aop.api.domain.AlipayTradeFastpayRefundQueryModel import \
    AlipayTradeFastpayRefundQueryModel
from alipay.aop.api.domain.AlipayTradePayModel import AlipayTradePayModel
from alipay.aop.api.domain.AlipayTradePrecreateModel import AlipayTradePrecreateModel
from alipay.aop.api.domain.AlipayTradeQueryModel import AlipayTradeQueryModel
from alipay.aop.api.domain.AlipayTradeRefundModel import AlipayTradeRefundModel
from alipay.aop.api.exception.Exception import ResponseException
from alipay.aop.api.request.AlipayTradeCancelRequest import AlipayTradeCancelRequest
from alipay.aop.api.request.AlipayTradeCloseRequest import AlipayTradeCloseRequest
from alipay.aop.api.request.AlipayTradeFastpayRefundQueryRequest import \
    AlipayTradeFastpayRefundQueryRequest
from alipay.aop.api.request.AlipayTradePayRequest import AlipayTradePayRequest
from alipay.aop.api.request.AlipayTradePrecreateRequest import AlipayTradePrecreateRequest
from alipay.aop.api.request.AlipayTradeQueryRequest import AlipayTradeQueryRequest
from alipay.aop.api.request.AlipayTradeRefundRequest import AlipayTradeRefundRequest
from alipay.aop.api.response.AlipayTradeCancelResponse import AlipayTradeCancelResponse
from alipay.aop.api.response.AlipayTradeCloseResponse import AlipayTradeCloseResponse
from alipay.aop.api.response.AlipayTradeFastpayRefundQueryResponse import \
    AlipayTradeFastpayRefundQueryResponse
from alipay.aop.api.response.AlipayTradePayResponse import AlipayTradePayResponse
from alipay.aop.api.response.AlipayTradePrecreateResponse import AlipayTradePrecreateResponse
from alipay.aop.api.response.AlipayTradeQueryResponse import AlipayTradeQueryResponse
from alipay.aop.api.response.AlipayTradeRefundResponse import AlipayTradeRefundResponse
from alipay.aop.api.util.SignatureUtils import get_sign_content, sign_with_rsa2, verify_with_rsa

from loopback import LoopbackServer, Receiver

ISOLATED_DIR = Path(sys.prefix) / "isolated"
BEIJING = timezone(timedelta(hours=8))


def _load_python_alipay_sdk():
    package_dir = ISOLATED_DIR / "alipay"
    if not (package_dir / "__init__.py").is_file():
        raise RuntimeError("python-alipay-sdk is not installed in %s (scripts/test-crosscheck.sh "
                           "installs requirements-isolated.txt there)" % ISOLATED_DIR)
    spec = importlib.util.spec_from_file_location(
        "python_alipay_sdk", package_dir / "__init__.py",
        submodule_search_locations=[str(package_dir)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


python_alipay_sdk = _load_python_alipay_sdk()


def pem_body(pem):
    """A PEM key as the bare base64 Alipay's console shows (and the official SDK takes)."""
    return "".join(line for line in pem.splitlines() if line and not line.startswith("-----"))


def beijing_now():
    return datetime.fromtimestamp(time.time(), BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def beijing_epoch(text):
    """`yyyy-MM-dd HH:mm:ss` in Beijing time, as Unix seconds."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING).timestamp())


# --- the libraries as clients of Alipay (the simulator) --------------------------------------

class OfficialClient:
    """alipay-sdk-python: DefaultAlipayClient and the AlipayTrade*Request/Model/Response classes.
    `execute` verifies every answer over its bytes in the configured charset and raises
    ResponseException when it cannot."""

    VERIFY_FAILED = ResponseException

    def __init__(self, server_url, app_id, app_private_key_pem, alipay_public_key_pem,
                 charset="utf-8"):
        config = AlipayClientConfig()
        config.server_url = server_url
        config.app_id = app_id
        # The keys as Alipay's console hands them out: bare base64.
        config.app_private_key = pem_body(app_private_key_pem)
        config.alipay_public_key = pem_body(alipay_public_key_pem)
        config.charset = charset
        config.timeout = 10
        self.client = DefaultAlipayClient(config)
        self.app_id = app_id
        self.charset = charset

    def _execute(self, request_cls, model_cls, response_cls, fields, notify_url=None):
        model = model_cls()
        for name, value in fields.items():
            # A name the model does not have would be set and silently never sent.
            assert isinstance(getattr(model_cls, name, None), property), (model_cls, name)
            setattr(model, name, value)
        request = request_cls(biz_model=model)
        if notify_url:
            request.notify_url = notify_url
        content = self.client.execute(request)
        response = response_cls()
        response.parse_response_content(content)
        reply = json.loads(content)
        # The SDK's typed response read the same answer.
        assert (response.code, response.sub_code) == (reply.get("code"), reply.get("sub_code"))
        return reply

    def precreate(self, out_trade_no, total_amount, subject, notify_url, **extra):
        return self._execute(AlipayTradePrecreateRequest, AlipayTradePrecreateModel,
                             AlipayTradePrecreateResponse,
                             dict(out_trade_no=out_trade_no, total_amount=total_amount,
                                  subject=subject, **extra), notify_url)

    def pay(self, out_trade_no, auth_code, total_amount, subject, notify_url):
        return self._execute(AlipayTradePayRequest, AlipayTradePayModel, AlipayTradePayResponse,
                             dict(out_trade_no=out_trade_no, scene="bar_code",
                                  auth_code=auth_code, total_amount=total_amount,
                                  subject=subject, product_code="FACE_TO_FACE_PAYMENT"),
                             notify_url)

    def query(self, out_trade_no):
        return self._execute(AlipayTradeQueryRequest, AlipayTradeQueryModel,
                             AlipayTradeQueryResponse, dict(out_trade_no=out_trade_no))

    def close(self, out_trade_no):
        return self._execute(AlipayTradeCloseRequest, AlipayTradeCloseModel,
                             AlipayTradeCloseResponse, dict(out_trade_no=out_trade_no))

    def cancel(self, out_trade_no):
        return self._execute(AlipayTradeCancelRequest, AlipayTradeCancelModel,
                             AlipayTradeCancelResponse, dict(out_trade_no=out_trade_no))

    def refund(self, out_trade_no, refund_amount, out_request_no, refund_reason=None):
        fields = dict(out_trade_no=out_trade_no, refund_amount=refund_amount,
                      out_request_no=out_request_no)
        if refund_reason:
            fields["refund_reason"] = refund_reason
        return self._execute(AlipayTradeRefundRequest, AlipayTradeRefundModel,
                             AlipayTradeRefundResponse, fields)

    def refund_query(self, out_trade_no, out_request_no):
        return self._execute(AlipayTradeFastpayRefundQueryRequest,
                             AlipayTradeFastpayRefundQueryModel,
                             AlipayTradeFastpayRefundQueryResponse,
                             dict(out_trade_no=out_trade_no, out_request_no=out_request_no))

    def refuses(self, call):
        """The gateway-level refusal (`error_response`) a call got, as the library shows it:
        this SDK verifies and returns it like any answer."""
        return call()


class _GatewayAliPay(python_alipay_sdk.AliPay):
    """python-alipay-sdk's AliPay has no gateway setting (production or, with debug=True,
    Alipay's sandbox): this only points it elsewhere."""

    def __init__(self, gateway, **kwargs):
        super().__init__(**kwargs)
        self._gateway = gateway


class PythonAlipaySdkClient:
    """python-alipay-sdk: AliPay's api_alipay_trade_* methods. Each returns the answer after
    `_verify_and_return_sync_response` checked its signature (AliPayValidationError when it
    does not hold); an `error_response` raises AliPayException."""

    VERIFY_FAILED = python_alipay_sdk.AliPayValidationError

    def __init__(self, server_url, app_id, app_private_key_pem, alipay_public_key_pem):
        self.alipay = _GatewayAliPay(
            server_url, appid=app_id, app_private_key_string=app_private_key_pem,
            alipay_public_key_string=alipay_public_key_pem, sign_type="RSA2")
        self.app_id = app_id
        # It sends charset=utf-8 and verifies UTF-8 only.
        self.charset = "utf-8"

    def precreate(self, out_trade_no, total_amount, subject, notify_url, **extra):
        return self.alipay.api_alipay_trade_precreate(subject, out_trade_no, total_amount,
                                                      notify_url=notify_url, **extra)

    def pay(self, out_trade_no, auth_code, total_amount, subject, notify_url):
        return self.alipay.api_alipay_trade_pay(out_trade_no, "bar_code", auth_code, subject,
                                                notify_url=notify_url,
                                                total_amount=total_amount,
                                                product_code="FACE_TO_FACE_PAYMENT")

    def query(self, out_trade_no):
        return self.alipay.api_alipay_trade_query(out_trade_no=out_trade_no)

    def close(self, out_trade_no):
        return self.alipay.api_alipay_trade_close(out_trade_no=out_trade_no)

    def cancel(self, out_trade_no):
        return self.alipay.api_alipay_trade_cancel(out_trade_no=out_trade_no)

    def refund(self, out_trade_no, refund_amount, out_request_no, refund_reason=None):
        extra = {"out_request_no": out_request_no}
        if refund_reason:
            extra["refund_reason"] = refund_reason
        return self.alipay.api_alipay_trade_refund(refund_amount, out_trade_no=out_trade_no,
                                                   **extra)

    def refund_query(self, out_trade_no, out_request_no):
        return self.alipay.api_alipay_trade_fastpay_refund_query(out_request_no,
                                                                 out_trade_no=out_trade_no)

    def refuses(self, call):
        try:
            call()
        except python_alipay_sdk.AliPayException as e:
            # Its message is the raw body; the refusal is its `error_response`.
            raw = str(e).split("message:", 1)[1]
            return json.loads(raw)["error_response"]
        raise AssertionError("python-alipay-sdk did not raise for an error_response")


# --- notification verification, each library its own way -------------------------------------

def verify_notify_official(params, alipay_public_key_pem, charset="utf-8"):
    """The official SDK's signature utilities on a notification: get_sign_content of every
    field but `sign` and `sign_type`, in the merchant's `charset`, checked with
    verify_with_rsa."""
    fields = {k: v for k, v in params.items() if k not in ("sign", "sign_type")}
    content = get_sign_content(fields).encode(charset)
    try:
        return verify_with_rsa(pem_body(alipay_public_key_pem), content, params["sign"])
    except rsa.VerificationError:
        return False


def verify_notify_python_alipay_sdk(params, alipay_public_key_pem, app_private_key_pem):
    """python-alipay-sdk's `verify(data, signature)`: `sign` taken out first; it drops
    `sign_type` itself."""
    client = python_alipay_sdk.AliPay(appid=params.get("app_id", ""),
                                      app_private_key_string=app_private_key_pem,
                                      alipay_public_key_string=alipay_public_key_pem)
    data = dict(params)
    signature = data.pop("sign")
    return client.verify(data, signature)


# --- the merchant's notify URL ---------------------------------------------------------------

class NotifyReceiver(Receiver):
    """Where the simulator's `trade_status_sync` notifications go: keeps each POST as
    received and answers `success` (the tests verify them afterwards)."""

    ack = "success"

    @property
    def url(self):
        return self.base_url + "/alipay/notify"

    def notifications(self, out_trade_no, charset="utf-8"):
        """The forms received about `out_trade_no`, oldest first, decoded as a merchant whose
        requests were in `charset` decodes them (with their Content-Type under `content_type`).
        """
        def form(body, encoding):
            return dict(urllib.parse.parse_qsl(body.decode("ascii"), keep_blank_values=True,
                                               strict_parsing=True, encoding=encoding,
                                               errors="strict"))

        # The order number is ASCII: find the order's notifications before decoding them.
        mine = [r for r in self.received()
                if form(r["body"], "latin-1").get("out_trade_no") == out_trade_no]
        return [dict(form(r["body"], charset), content_type=r["content_type"]) for r in mine]


# --- where the simulator listens -------------------------------------------------------------

def free_loopback_address_on_port(port):
    """A loopback address (127.x.y.z) where `port` can be bound, or raises PermissionError
    when this process may not bind it at all."""
    rng = random.Random()
    for _ in range(20):
        address = "127.%d.%d.%d" % (rng.randint(1, 254), rng.randint(1, 254),
                                     rng.randint(1, 254))
        with socket.socket() as s:
            try:
                s.bind((address, port))
            except PermissionError:
                raise
            except OSError:
                continue
        return address
    raise RuntimeError("no free loopback address for port %d" % port)


# --- a fake Alipay built on the official SDK's signing code ----------------------------------

_numbers = itertools.count(1)


def _serial():
    return "%d%06d" % (int(time.time() * 1000), next(_numbers) % 10**6)


def sign_notification(params, alipay_private_key_pem):
    """`params` with `sign_type` and a `sign` as Alipay puts them on a notification: over
    every other field, sorted (the official SDK's get_sign_content and sign_with_rsa2)."""
    fields = {k: v for k, v in params.items() if k not in ("sign", "sign_type")}
    signed = dict(fields, sign_type="RSA2")
    signed["sign"] = sign_with_rsa2(pem_body(alipay_private_key_pem), get_sign_content(fields),
                                    "utf-8")
    return signed


class FakeAlipay(LoopbackServer):
    """`POST /gateway.do` for the trade methods paymux's adapter calls. Every request is
    checked as Alipay's gateway checks it -- common parameters, a timestamp within 15 minutes
    of Beijing time, and the RSA2 signature under the app's public key with the official SDK's
    get_sign_content/verify_with_rsa -- and recorded in `seen`. A request that fails gets
    Alipay's signed `error_response` (`isv.invalid-signature` for a bad signature). Answers are
    `<method>_response` JSON signed with sign_with_rsa2, written with `/` escaped as `\\/`
    (as Alipay's serialiser writes URLs), so only a verifier that uses the exact bytes
    passes."""

    reply_type = "text/html;charset=utf-8"
    METHODS = {"alipay.trade.precreate": "_precreate", "alipay.trade.pay": "_pay",
               "alipay.trade.query": "_query", "alipay.trade.close": "_close",
               "alipay.trade.cancel": "_cancel", "alipay.trade.refund": "_refund",
               "alipay.trade.fastpay.refund.query": "_refund_query"}

    def __init__(self, app_id, app_public_key_pem, alipay_private_key_pem):
        super().__init__()
        self.app_id = app_id
        self.app_public_key = pem_body(app_public_key_pem)
        self.alipay_private_key = pem_body(alipay_private_key_pem)
        self.lock = threading.Lock()
        self.seen = []
        self.orders = {}

    @property
    def url(self):
        return self.base_url + "/gateway.do"

    def requests_for(self, out_trade_no, method=None):
        with self.lock:
            return [s for s in self.seen
                    if s["biz"].get("out_trade_no") == out_trade_no
                    and (method is None or s["method"] == method)]

    @staticmethod
    def refusal(record):
        """A refused request, as AdapterTests names it: (method, sub_code)."""
        return record["method"], record["refusal"]

    # -- the gateway --------------------------------------------------------------------------
    def on_post(self, path, body, content_type):
        return 200, self._answer(path, body)

    def _answer(self, path, body):
        record = {"path": path, "method": None, "params": {}, "biz": {}, "verified": False,
                  "refusal": None}
        try:
            query = urllib.parse.urlsplit(path).query
            params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
            params.update(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                                 strict_parsing=bool(body)))
        except (UnicodeDecodeError, ValueError):
            params = None
        with self.lock:
            self.seen.append(record)
            if params is None:
                record["refusal"] = "isv.invalid-parameter"
                return self._render("error_response", _reply(
                    "40002", "Invalid Arguments", "isv.invalid-parameter", "参数无效"))
            record["params"] = params
            record["method"] = params.get("method")
            try:
                record["biz"] = json.loads(params.get("biz_content") or "{}")
            except ValueError:
                record["biz"] = {}
            refusal = self._gateway_check(path, params)
            if refusal:
                record["refusal"] = refusal["sub_code"]
                return self._render("error_response", refusal)
            record["verified"] = True
            method = params["method"]
            handler = getattr(self, self.METHODS[method])
            return self._render(method.replace(".", "_") + "_response",
                                handler(record["biz"], params))

    def _gateway_check(self, path, params):
        if urllib.parse.urlsplit(path).path != "/gateway.do":
            return _reply("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名")
        missing = [k for k in ("app_id", "method", "sign_type", "sign", "timestamp",
                               "version", "biz_content") if not params.get(k)]
        if missing:
            return _reply("40001", "Missing Required Arguments", "isv.missing-" + missing[0],
                          "缺少参数")
        if params["app_id"] != self.app_id:
            return _reply("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")
        if params["method"] not in self.METHODS:
            return _reply("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名")
        if params.get("charset", "utf-8").lower() != "utf-8":
            return _reply("40002", "Invalid Arguments", "isv.invalid-charset", "字符集错误")
        if params.get("format", "JSON").upper() != "JSON":
            return _reply("40002", "Invalid Arguments", "isv.invalid-format", "无效的数据格式")
        if params["sign_type"] != "RSA2" or params["version"] != "1.0":
            return _reply("40002", "Invalid Arguments", "isv.invalid-signature-type",
                          "无效的签名类型")
        try:
            skew = abs(beijing_epoch(params["timestamp"]) - time.time())
        except ValueError:
            skew = None
        if skew is None or skew > 15 * 60:
            return _reply("40002", "Invalid Arguments", "isv.invalid-timestamp",
                          "非法的时间戳参数")
        # Alipay's gateway signs what it received without `sign` and without empty values.
        content = get_sign_content({k: v for k, v in params.items() if k != "sign" and v != ""})
        try:
            verify_with_rsa(self.app_public_key, content.encode("utf-8"), params["sign"])
        except (rsa.VerificationError, ValueError, TypeError):
            return _reply("40002", "Invalid Arguments", "isv.invalid-signature",
                          "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，"
                          "网关生成的验签字符串为：" + content)
        return None

    def _render(self, node, reply):
        content = json.dumps(reply, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")
        sign = sign_with_rsa2(self.alipay_private_key, content, "utf-8")
        return '{"%s":%s,"sign":"%s"}' % (node, content, sign)

    # -- the trade methods (just what the tested flows need) ----------------------------------
    def _precreate(self, biz, params):
        no = biz.get("out_trade_no")
        if not no or not biz.get("total_amount") or not biz.get("subject"):
            return _reply("40004", "Business Failed", "ACQ.INVALID_PARAMETER", "参数无效")
        order = self.orders.setdefault(no, {
            "out_trade_no": no, "total_amount": biz["total_amount"], "subject": biz["subject"],
            "qr_code": "https://qr.alipay.com/bax0%s" % secrets.token_hex(10),
            "notify_url": params.get("notify_url"), "trade_no": None, "status": None,
            "refunds": {}})
        return _reply("10000", "Success", out_trade_no=no, qr_code=order["qr_code"])

    def _pay(self, biz, params):
        no = biz.get("out_trade_no")
        if biz.get("scene") != "bar_code" or not biz.get("auth_code"):
            return _reply("40004", "Business Failed", "ACQ.INVALID_PARAMETER", "参数无效")
        order = self.orders.setdefault(no, {
            "out_trade_no": no, "total_amount": biz["total_amount"], "subject": biz["subject"],
            "qr_code": None, "notify_url": params.get("notify_url"), "trade_no": None,
            "status": None, "refunds": {}})
        order["trade_no"] = order["trade_no"] or "2026%s" % _serial()
        # A payment code starting 289902: the payer is still entering the password.
        if biz["auth_code"].startswith("289902"):
            order["status"] = "WAIT_BUYER_PAY"
            return _reply("10003", " order success pay inprocess", out_trade_no=no,
                          trade_no=order["trade_no"])
        self._settle(order)
        return _reply("10000", "Success", **self._trade_fields(order), gmt_payment=order["paid"])

    def _query(self, biz, params):
        order = self.orders.get(biz.get("out_trade_no"))
        if not order or not order["trade_no"]:
            return _reply("40004", "Business Failed", "ACQ.TRADE_NOT_EXIST", "交易不存在",
                          out_trade_no=biz.get("out_trade_no"))
        return _reply("10000", "Success", **self._trade_fields(order),
                      trade_status=order["status"])

    def _close(self, biz, params):
        order = self.orders.get(biz.get("out_trade_no"))
        if not order or not order["trade_no"]:
            return _reply("40004", "Business Failed", "ACQ.TRADE_NOT_EXIST", "交易不存在")
        if order["status"] != "WAIT_BUYER_PAY":
            return _reply("40004", "Business Failed", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        order["status"] = "TRADE_CLOSED"
        return _reply("10000", "Success", out_trade_no=order["out_trade_no"],
                      trade_no=order["trade_no"])

    def _cancel(self, biz, params):
        no = biz.get("out_trade_no")
        order = self.orders.get(no)
        if not order or not order["trade_no"]:
            return _reply("10000", "Success", out_trade_no=no, retry_flag="N", action="close")
        if order["status"] == "TRADE_SUCCESS":
            order["refunds"][no] = {"refund_amount": order["total_amount"],
                                    "refund_reason": None, "at": beijing_now()}
            action = "refund"
        else:
            action = "close"
        order["status"] = "TRADE_CLOSED"
        return _reply("10000", "Success", out_trade_no=no, trade_no=order["trade_no"],
                      retry_flag="N", action=action)

    def _refund(self, biz, params):
        order = self.orders.get(biz.get("out_trade_no"))
        if not order or not order["trade_no"]:
            return _reply("40004", "Business Failed", "ACQ.TRADE_NOT_EXIST", "交易不存在")
        number = biz.get("out_request_no") or order["out_trade_no"]
        fields = dict(out_trade_no=order["out_trade_no"], trade_no=order["trade_no"],
                      buyer_logon_id="159****5620", buyer_user_id="2088101117955611")
        done = order["refunds"].get(number)
        if done:
            if done["refund_amount"] != biz.get("refund_amount"):
                return _reply("40004", "Business Failed", "ACQ.DISCORDANT_REPEAT_REQUEST",
                              "请求信息不一致")
            return _reply("10000", "Success", **fields, fund_change="N",
                          refund_fee=_yuan(self._refunded(order)), gmt_refund_pay=done["at"])
        if order["status"] != "TRADE_SUCCESS":
            return _reply("40004", "Business Failed", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        amount = _fen(biz.get("refund_amount", ""))
        if amount is None or amount <= 0 or \
                self._refunded(order) + amount > _fen(order["total_amount"]):
            return _reply("40004", "Business Failed", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                          "退款金额超限")
        order["refunds"][number] = {"refund_amount": biz["refund_amount"],
                                    "refund_reason": biz.get("refund_reason"),
                                    "at": beijing_now()}
        if self._refunded(order) == _fen(order["total_amount"]):
            order["status"] = "TRADE_CLOSED"
        return _reply("10000", "Success", **fields, fund_change="Y",
                      refund_fee=_yuan(self._refunded(order)),
                      gmt_refund_pay=order["refunds"][number]["at"])

    def _refund_query(self, biz, params):
        order = self.orders.get(biz.get("out_trade_no"))
        if not order or not order["trade_no"]:
            return _reply("40004", "Business Failed", "ACQ.TRADE_NOT_EXIST", "交易不存在")
        done = order["refunds"].get(biz.get("out_request_no"))
        if not done:
            return _reply("10000", "Success")
        return _reply("10000", "Success", out_trade_no=order["out_trade_no"],
                      trade_no=order["trade_no"], out_request_no=biz["out_request_no"],
                      total_amount=order["total_amount"], refund_amount=done["refund_amount"],
                      refund_status="REFUND_SUCCESS")

    def _settle(self, order):
        order["status"] = "TRADE_SUCCESS"
        order["paid"] = beijing_now()

    def _trade_fields(self, order):
        return dict(out_trade_no=order["out_trade_no"], trade_no=order["trade_no"],
                    buyer_logon_id="159****5620", buyer_user_id="2088101117955611",
                    total_amount=order["total_amount"],
                    buyer_pay_amount=order["total_amount"] if order.get("paid") else "0.00")

    @staticmethod
    def _refunded(order):
        return sum(_fen(r["refund_amount"]) for r in order["refunds"].values())

    # -- the payer, and Alipay's notifications ------------------------------------------------
    def buyer_pays(self, out_trade_no, alipay_private_key_pem=None):
        """The payer scans and pays a precreated QR: the order is paid here and Alipay's
        `trade_status_sync` goes to its notify_url (see `notify`). Returns paymux's answer."""
        with self.lock:
            order = self.orders[out_trade_no]
            if order["status"] != "TRADE_SUCCESS":
                order["trade_no"] = order["trade_no"] or "2026%s" % _serial()
                self._settle(order)
        return self.notify(out_trade_no, alipay_private_key_pem=alipay_private_key_pem)

    def notify(self, out_trade_no, out_biz_no=None, alipay_private_key_pem=None):
        """POSTs Alipay's `trade_status_sync` about the order as it stands (about refund
        `out_biz_no` when given) to its notify_url, signed with Alipay's key, or with
        `alipay_private_key_pem` to forge one. Returns paymux's HTTP answer."""
        with self.lock:
            order = self.orders[out_trade_no]
            now = beijing_now()
            total = order["total_amount"]
            params = {
                "notify_time": now, "notify_type": "trade_status_sync",
                "notify_id": "2026%s" % secrets.token_hex(12), "app_id": self.app_id,
                "auth_app_id": self.app_id, "charset": "utf-8", "version": "1.0",
                "trade_no": order["trade_no"], "out_trade_no": out_trade_no,
                "buyer_id": "2088101117955611", "buyer_logon_id": "159****5620",
                "seller_id": "2088101106499364", "trade_status": order["status"],
                "total_amount": total, "receipt_amount": total, "buyer_pay_amount": total,
                "subject": order["subject"], "gmt_create": order["paid"],
                "gmt_payment": order["paid"],
                "fund_bill_list": json.dumps([{"amount": total, "fundChannel": "ALIPAYACCOUNT"}]),
            }
            if out_biz_no:
                params.update(out_biz_no=out_biz_no, refund_fee=_yuan(self._refunded(order)),
                              gmt_refund=order["refunds"][out_biz_no]["at"] + ".000")
            url = order["notify_url"]
        form = sign_notification(params, alipay_private_key_pem or self.alipay_private_key)
        return requests.post(url, data=form, timeout=10, headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})


def _reply(code, msg, sub_code=None, sub_msg=None, **fields):
    reply = {"code": code, "msg": msg}
    if sub_code:
        reply["sub_code"] = sub_code
        reply["sub_msg"] = sub_msg
    reply.update((k, v) for k, v in fields.items() if v is not None)
    return reply


def _fen(yuan):
    whole, _, cents = str(yuan).partition(".")
    if not whole.isdigit() or len(cents) > 2 or (cents and not cents.isdigit()):
        return None
    return int(whole) * 100 + int(cents.ljust(2, "0") or 0)


def _yuan(fen):
    return "%d.%02d" % divmod(fen, 100)
