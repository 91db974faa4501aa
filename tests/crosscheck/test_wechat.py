"""WeChat Pay v2, cross-checked with wechatpy, unchanged (requirements.txt).

Part 1: wechatpy's ``WeChatPay`` (only its base URL changed) is the merchant's client of
``paymux simulate wechat``; every answer's ``sign`` is checked with wechatpy's signing code
and the notifications are read with wechatpy's ``parse_payment_result`` and
``parse_refund_notify_result``.

Part 2 (TestAdapterAgainstWechatpySignedWechat): a fake WeChat built on wechatpy's signing
code (wechat_support.FakeWechat) stands in for WeChat behind a paymux server whose app has
WeChat configured in live mode; the official Ping++ SDK drives paymux, and the fake refuses
(签名错误) any request whose ``sign`` wechatpy does not compute the same.
"""

import itertools
import secrets
import time

import pingpp
import pytest
from wechatpy.exceptions import InvalidSignatureException, WeChatPayException

from live_gateway import (SETTLE_TIMEOUT_S, AdapterTests, create_charge, serve, wait_paid,
                          wait_refund_settled)
from paymux_harness import (CHANNEL_EXTRAS, FIXTURES, WECHAT_APPID, WECHAT_MCH_ID, Simulator,
                            checked_binary, new_order_no, wait_for)
from wechat_support import (HMAC_SHA256, MD5, FakeWechat, NotifyReceiver, parse_xml, signed_by,
                            simulator_client)

# The merchant's API client certificate pair: self-signed stand-ins (paymux_harness.FIXTURES).
CERT = FIXTURES / "apiclient_cert.pem"
KEY = FIXTURES / "apiclient_key.pem"
# How long the simulator takes to settle a refund (WeChat: seconds).
REFUND_SETTLE_MS = 200

_codes = itertools.count(1)


def auth_code(prefix="134"):
    """An 18-digit WeChat payment code starting with ``prefix``, unused so far. Plain codes
    pay at once; ``1300SSNN`` picks the simulator's script SS with parameter NN."""
    serial = "%d%06d" % (int(time.time() * 1000) % 10**9, next(_codes))
    return prefix + serial[-(18 - len(prefix)):].rjust(18 - len(prefix), "0")


def failure_answer(exc):
    """The answer behind a WeChatPayException, as wechatpy parses answers."""
    return parse_xml(exc.response.text)


# =============================================================================================
# Part 1: wechatpy as the merchant's client of the simulator
# =============================================================================================

@pytest.fixture(scope="module")
def simulator(tmp_path_factory):
    api_key = secrets.token_hex(16)  # 32 characters, like a WeChat API v2 key
    sim = Simulator(checked_binary(), "wechat", str(tmp_path_factory.mktemp("wechat-sim")),
                    ["--merchant", "%s:%s:%s" % (WECHAT_APPID, WECHAT_MCH_ID, api_key)]).start()
    sim.api_key = api_key
    try:
        resp = sim.control("POST", "/_sim/knobs", {"refund_settle_ms": REFUND_SETTLE_MS})
        assert resp.status_code == 200, resp.text
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="module")
def client(simulator):
    return simulator_client(simulator.url, WECHAT_APPID, WECHAT_MCH_ID, simulator.api_key,
                            CERT, KEY)


@pytest.fixture(scope="module")
def receiver():
    with NotifyReceiver() as server:
        yield server


def call(client, sign_type, method, endpoint, **params):
    """A call through wechatpy. wechatpy's API methods (``client.order.query`` …) leave out
    ``sign_type`` and so sign with MD5; ``WeChatPay.post`` signs with HMAC-SHA256 whatever
    carries ``sign_type=HMAC-SHA256``, so the HMAC calls go through it with the same fields
    (``client_ip`` under WeChat's name, as the API methods send it)."""
    if sign_type == MD5:
        return method(**params)
    if "client_ip" in params:
        params["spbill_create_ip"] = params.pop("client_ip")
    return client.post(endpoint, data=dict(params, appid=client.appid, sign_type=sign_type))


def query(client, out_trade_no, sign_type=MD5):
    answer = call(client, sign_type, client.order.query, "pay/orderquery",
                  out_trade_no=out_trade_no)
    assert signed_by(client, answer, sign_type), answer
    return answer


def paid_micropay(client, total_fee=1000, sign_type=MD5):
    out_trade_no = new_order_no("wx")
    answer = call(client, sign_type, client.micropay.create, "pay/micropay", body="Apple",
                  total_fee=total_fee, auth_code=auth_code(), client_ip="127.0.0.1",
                  out_trade_no=out_trade_no)
    assert signed_by(client, answer, sign_type), answer
    assert answer["result_code"] == "SUCCESS" and answer["transaction_id"], answer
    return out_trade_no, answer


def sim_pay(simulator, out_trade_no, result=None):
    body = {} if result is None else {"result": result}
    return simulator.control("POST", "/_sim/orders/%s/pay" % out_trade_no, body)


@pytest.mark.parametrize("sign_type", [MD5, HMAC_SHA256])
def test_wechatpy_native_order_paid_notified_and_queried(simulator, client, receiver,
                                                         sign_type):
    out_trade_no = new_order_no("wx")
    notify_path = "/pay/%s" % out_trade_no
    extra = {} if sign_type == MD5 else {"sign_type": sign_type}
    created = client.order.create(
        trade_type="NATIVE", body="Apple 苹果", total_fee=1234, client_ip="127.0.0.1",
        notify_url=receiver.base_url + notify_path, out_trade_no=out_trade_no,
        product_id="prod0001", **extra)
    assert signed_by(client, created, sign_type), created
    assert created["trade_type"] == "NATIVE"
    assert created["code_url"].startswith("weixin://wxpay/bizpayurl?pr="), created
    assert created["prepay_id"]
    assert query(client, out_trade_no, sign_type)["trade_state"] == "NOTPAY"

    resp = sim_pay(simulator, out_trade_no)
    assert resp.status_code == 200, resp.text
    body = receiver.wait_for_post(notify_path)
    if sign_type == MD5:
        note = client.parse_payment_result(body)
    else:
        # wechatpy's parse_payment_result always recomputes an MD5 sign, so it cannot read a
        # notification signed with HMAC-SHA256; its HMAC function can.
        with pytest.raises(InvalidSignatureException):
            client.parse_payment_result(body)
        note = parse_xml(body)
        assert note["sign_type"] == HMAC_SHA256
        assert signed_by(client, note, HMAC_SHA256), note
        note["total_fee"] = int(note["total_fee"])
    assert (note["return_code"], note["result_code"]) == ("SUCCESS", "SUCCESS")
    assert (note["appid"], note["mch_id"]) == (WECHAT_APPID, WECHAT_MCH_ID)
    assert note["out_trade_no"] == out_trade_no
    assert note["total_fee"] == 1234
    assert note["trade_type"] == "NATIVE"
    assert note["transaction_id"]

    # the receiver's wechatpy-made reply counts as an acknowledgement: no retries follow
    def deliveries():
        resp = simulator.control("GET", "/_sim/notifications?out_trade_no=%s" % out_trade_no)
        return [d for n in resp.json() for d in n["deliveries"]]
    wait_for(deliveries, lambda got: any(d["acknowledged"] for d in got),
             timeout=SETTLE_TIMEOUT_S, what="the notification acknowledged")

    paid = query(client, out_trade_no, sign_type)
    assert paid["trade_state"] == "SUCCESS"
    assert paid["transaction_id"] == note["transaction_id"]
    assert paid["total_fee"] == "1234" and paid["time_end"]


def test_wechatpy_close_order(simulator, client, receiver):
    out_trade_no = new_order_no("wx")
    created = client.order.create(
        trade_type="NATIVE", body="Apple", total_fee=100, client_ip="127.0.0.1",
        notify_url=receiver.base_url + "/pay/" + out_trade_no, out_trade_no=out_trade_no,
        product_id="prod0001")
    assert signed_by(client, created)
    closed = client.order.close(out_trade_no)
    assert signed_by(client, closed), closed
    assert closed["result_code"] == "SUCCESS"
    assert query(client, out_trade_no)["trade_state"] == "CLOSED"
    # a closed order can no longer be paid
    assert sim_pay(simulator, out_trade_no).status_code != 200


@pytest.mark.parametrize("sign_type", [MD5, HMAC_SHA256])
def test_wechatpy_micropay_paid_at_once(client, sign_type):
    out_trade_no, answer = paid_micropay(client, total_fee=888, sign_type=sign_type)
    assert answer["out_trade_no"] == out_trade_no
    assert answer["total_fee"] == "888" and answer["trade_type"] == "MICROPAY"
    queried = call(client, sign_type, client.micropay.query, "pay/orderquery",
                   out_trade_no=out_trade_no)
    assert signed_by(client, queried, sign_type)
    assert queried["trade_state"] == "SUCCESS"
    assert queried["transaction_id"] == answer["transaction_id"]


def test_wechatpy_micropay_payer_confirming_then_paid(client):
    out_trade_no = new_order_no("wx")
    # script 01, NN=02: USERPAYING, two queries answer USERPAYING, then SUCCESS
    with pytest.raises(WeChatPayException) as exc:
        client.micropay.create(body="Apple", total_fee=100, auth_code=auth_code("13000102"),
                               client_ip="127.0.0.1", out_trade_no=out_trade_no)
    assert exc.value.errcode == "USERPAYING"
    assert signed_by(client, failure_answer(exc.value))
    states = [query(client, out_trade_no)["trade_state"] for _ in range(3)]
    assert states == ["USERPAYING", "USERPAYING", "SUCCESS"]


@pytest.mark.parametrize("prefix,err_code", [
    ("130010", "AUTHCODEEXPIRE"),
    ("130012", "NOTENOUGH"),
    ("130013", "NOTSUPORTCARD"),
    ("99", "AUTH_CODE_INVALID"),  # not a WeChat payment code at all
])
def test_wechatpy_micropay_refused(client, prefix, err_code):
    out_trade_no = new_order_no("wx")
    with pytest.raises(WeChatPayException) as exc:
        client.micropay.create(body="Apple", total_fee=100, auth_code=auth_code(prefix),
                               client_ip="127.0.0.1", out_trade_no=out_trade_no)
    assert exc.value.return_code == "SUCCESS" and exc.value.result_code == "FAIL"
    assert exc.value.errcode == err_code
    assert signed_by(client, failure_answer(exc.value))
    with pytest.raises(WeChatPayException) as exc:
        client.order.query(out_trade_no=out_trade_no)
    assert exc.value.errcode == "ORDERNOTEXIST"
    assert signed_by(client, failure_answer(exc.value))


def test_wechatpy_reverse_of_a_paid_micropay(client):
    out_trade_no, _ = paid_micropay(client)
    reversed_ = client.order.reverse(out_trade_no=out_trade_no)
    assert signed_by(client, reversed_), reversed_
    assert reversed_["result_code"] == "SUCCESS" and reversed_["recall"] == "N"
    assert query(client, out_trade_no)["trade_state"] == "REVOKED"


def test_wechatpy_reverse_while_the_payer_confirms(simulator, client):
    out_trade_no = new_order_no("wx")
    # script 03: USERPAYING until the payer (the test hook) ends it
    with pytest.raises(WeChatPayException) as exc:
        client.micropay.create(body="Apple", total_fee=100, auth_code=auth_code("130003"),
                               client_ip="127.0.0.1", out_trade_no=out_trade_no)
    assert exc.value.errcode == "USERPAYING"
    with pytest.raises(WeChatPayException) as exc:
        client.order.reverse(out_trade_no=out_trade_no)
    answer = failure_answer(exc.value)
    assert signed_by(client, answer)
    assert (answer["err_code"], answer["recall"]) == ("USERPAYING", "Y"), answer

    resp = sim_pay(simulator, out_trade_no, result="fail")
    assert resp.status_code == 200, resp.text
    assert query(client, out_trade_no)["trade_state"] == "PAYERROR"
    reversed_ = client.order.reverse(out_trade_no=out_trade_no)
    assert signed_by(client, reversed_)
    assert reversed_["recall"] == "N"
    assert query(client, out_trade_no)["trade_state"] == "REVOKED"


@pytest.mark.parametrize("sign_type", [MD5, HMAC_SHA256])
def test_wechatpy_refund_notified_and_queried(client, receiver, sign_type):
    out_trade_no, paid = paid_micropay(client, total_fee=1000, sign_type=sign_type)
    out_refund_no = new_order_no("rf")
    notify_path = "/refund/%s" % out_refund_no
    refund = dict(total_fee=1000, refund_fee=300, out_refund_no=out_refund_no,
                  out_trade_no=out_trade_no, refund_desc="退货",
                  notify_url=receiver.base_url + notify_path)
    accepted = call(client, sign_type, client.refund.apply, "secapi/pay/refund", **refund)
    assert signed_by(client, accepted, sign_type), accepted
    assert accepted["out_refund_no"] == out_refund_no
    assert accepted["refund_fee"] == "300" and accepted["total_fee"] == "1000"
    assert accepted["transaction_id"] == paid["transaction_id"]
    # the same out_refund_no refunds once
    again = call(client, sign_type, client.refund.apply, "secapi/pay/refund", **refund)
    assert signed_by(client, again, sign_type)
    assert again["refund_id"] == accepted["refund_id"]

    body = receiver.wait_for_post(notify_path)
    note = client.parse_refund_notify_result(body)  # decrypts req_info, checks appid/mch_id
    assert note["out_refund_no"] == out_refund_no and note["out_trade_no"] == out_trade_no
    assert note["refund_id"] == accepted["refund_id"]
    assert note["refund_status"] == "SUCCESS" and note["success_time"]
    assert (note["refund_fee"], note["total_fee"]) == (300, 1000)

    listed = call(client, sign_type, client.refund.query, "pay/refundquery",
                  out_refund_no=out_refund_no)
    assert signed_by(client, listed, sign_type), listed
    assert listed["refund_count"] == "1"
    assert listed["out_refund_no_0"] == out_refund_no
    assert listed["refund_id_0"] == accepted["refund_id"]
    assert (listed["refund_fee_0"], listed["refund_status_0"]) == ("300", "SUCCESS")
    assert listed["refund_success_time_0"] == note["success_time"]
    assert query(client, out_trade_no, sign_type)["trade_state"] == "REFUND"


def test_wechatpy_with_a_wrong_key_is_refused(simulator, client):
    out_trade_no, _ = paid_micropay(client)
    stranger = simulator_client(simulator.url, WECHAT_APPID, WECHAT_MCH_ID,
                                secrets.token_hex(16), CERT, KEY)
    with pytest.raises(WeChatPayException) as exc:
        stranger.order.query(out_trade_no=out_trade_no)
    assert (exc.value.return_code, exc.value.return_msg) == ("FAIL", "签名错误")
    # the check used throughout fails when it should
    answer = query(client, out_trade_no)
    assert not signed_by(stranger, answer)
    assert not signed_by(client, dict(answer, total_fee="1"))
    assert not signed_by(client, answer, HMAC_SHA256)


def test_wechatpy_signs_untrimmed_values_which_wechat_refuses(receiver, client):
    """wechatpy signs a value as sent; WeChat trims a value before signing it (so paymux
    sends values trimmed). A value with surrounding spaces is therefore refused, by the
    simulator as by WeChat, and the same order with the value trimmed goes through."""
    out_trade_no = new_order_no("wx")
    order = dict(trade_type="NATIVE", total_fee=100, client_ip="127.0.0.1",
                 notify_url=receiver.base_url + "/pay/" + out_trade_no,
                 out_trade_no=out_trade_no, product_id="prod0001")
    with pytest.raises(WeChatPayException) as exc:
        client.order.create(body="  Apple  ", **order)
    assert (exc.value.return_code, exc.value.return_msg) == ("FAIL", "签名错误")
    created = client.order.create(body="Apple", **order)
    assert signed_by(client, created) and created["result_code"] == "SUCCESS"


# =============================================================================================
# Part 2: paymux's adapter against a fake WeChat built on wechatpy
# =============================================================================================

@pytest.fixture(scope="module")
def fake():
    with FakeWechat(WECHAT_APPID, WECHAT_MCH_ID, secrets.token_hex(16)) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(request, fake):
    yield from serve(request, "wechat", {
        "appid": fake.appid, "mch_id": fake.mch_id, "api_key": fake.api_key,
        "sign_type": MD5, "gateway_url": fake.base_url,
        "client_cert_pem": CERT.read_text(), "client_key_pem": KEY.read_text(),
    })


def the_call(fake, path, sign_type=MD5, **match):
    """The one call to ``path`` matching ``match``, checked as wechatpy checks it."""
    calls = fake.calls_to(path, **match)
    assert len(calls) == 1, (path, match, calls)
    [c] = calls
    assert c["verified"] and c["sign_type"] == sign_type, c
    assert c["params"].get("sign_type") == sign_type  # paymux always names it
    return c["params"]


def acknowledged(reply):
    status, text = reply
    return status == 200 and parse_xml(text).get("return_code") == "SUCCESS"


def scan_charge(gateway, code=None, amount=1000):
    extra = dict(CHANNEL_EXTRAS["wx_pub_scan"], scan_code=code or auth_code())
    return create_charge(gateway, "wx_pub_scan", amount, extra=extra)


def refund_settled_by_notification(fake, charge_id, refund_id):
    """Waits for paymux to submit the refund, has the fake settle it and notify paymux (which
    acknowledges), and returns the refund as the merchant then sees it."""
    wait_for(lambda: fake.calls_to("/secapi/pay/refund", out_refund_no=refund_id), bool,
             timeout=SETTLE_TIMEOUT_S, what="paymux to submit the refund")
    assert pingpp.Charge.retrieve_refund(charge_id, refund_id).status == "pending"
    assert acknowledged(fake.settle_refund(refund_id))
    return wait_refund_settled(charge_id, refund_id)


class TestAdapterAgainstWechatpySignedWechat(AdapterTests):
    @pytest.mark.parametrize("sign_type", [MD5, HMAC_SHA256])
    def test_paymux_wx_pub_qr_paid_then_refunded(self, gateway, fake, sign_type):
        if sign_type != MD5:
            gateway.reconfigure(sign_type=sign_type)
        try:
            ch = create_charge(gateway, "wx_pub_qr", 1234, subject="Apple 苹果")
            assert ch.livemode is True and ch.paid is False
            sent = the_call(fake, "/pay/unifiedorder", sign_type, out_trade_no=ch.order_no)
            assert (sent["trade_type"], sent["body"], sent["total_fee"], sent["product_id"]) \
                == ("NATIVE", "Apple 苹果", "1234", "prod0001")
            assert sent["notify_url"].startswith(gateway.base_url + "/notify/wechat/")
            assert ch.credential["wx_pub_qr"] == fake.orders[ch.order_no]["code_url"]

            # a notification signed with another key changes nothing
            assert not acknowledged(fake.pay(ch.order_no, api_key=secrets.token_hex(16)))
            assert pingpp.Charge.retrieve(ch.id).paid is False

            assert acknowledged(fake.pay(ch.order_no))
            got = wait_paid(ch.id)
            assert got.transaction_no == fake.orders[ch.order_no]["transaction_id"]
            assert isinstance(got.time_paid, int)

            refund = pingpp.Charge.refund(ch.id, amount=234, description="退货 partial")
            assert refund.status == "pending"
            settled = refund_settled_by_notification(fake, ch.id, refund.id)
            assert settled.status == "succeeded" and settled.succeed is True
            sent = the_call(fake, "/secapi/pay/refund", sign_type, out_refund_no=refund.id)
            assert (sent["out_trade_no"], sent["total_fee"], sent["refund_fee"]) == \
                (ch.order_no, "1234", "234")
            assert sent["refund_desc"] == "退货 partial"
            assert settled.transaction_no == fake.refunds[refund.id]["refund_id"]
            got = pingpp.Charge.retrieve(ch.id)
            assert got.refunded is True and got.amount_refunded == 234
        finally:
            if sign_type != MD5:
                gateway.reconfigure(sign_type=MD5)

    def test_paymux_subject_with_surrounding_spaces(self, gateway, fake):
        """WeChat trims values before signing, wechatpy signs them as sent: paymux sends the
        subject trimmed, so the fake's check (over the values exactly as received) agrees."""
        ch = create_charge(gateway, "wx_pub_qr", 100, subject="  Apple 苹果 \t ")
        sent = the_call(fake, "/pay/unifiedorder", out_trade_no=ch.order_no)
        assert sent["body"] == "Apple 苹果"
        assert ch.credential["wx_pub_qr"] == fake.orders[ch.order_no]["code_url"]

    def test_paymux_wx_pub_scan_paid_at_once(self, gateway, fake):
        code = auth_code()
        ch = scan_charge(gateway, code, amount=888)
        assert ch.livemode is True and ch.paid is True
        sent = the_call(fake, "/pay/micropay", out_trade_no=ch.order_no)
        assert (sent["auth_code"], sent["total_fee"], sent["body"]) == (code, "888", ch.subject)
        assert ch.transaction_no == fake.orders[ch.order_no]["transaction_id"]
        assert isinstance(ch.time_paid, int)

    def test_paymux_wx_pub_scan_payer_confirming_then_paid_by_query(self, gateway, fake):
        ch = scan_charge(gateway, auth_code("1300"))
        assert ch.paid is False, "the payer is still confirming"
        fake.complete(ch.order_no)
        # the gateway asks again (orderquery) 5 s after USERPAYING
        got = wait_paid(ch.id, timeout=12, interval=0.1)
        assert got.transaction_no == fake.orders[ch.order_no]["transaction_id"]
        queries = fake.calls_to("/pay/orderquery", out_trade_no=ch.order_no)
        assert queries and all(q["verified"] for q in queries)

    def test_paymux_reverse_of_an_unpaid_scan_charge(self, gateway, fake):
        ch = scan_charge(gateway, auth_code("1300"))
        assert ch.paid is False
        rev = pingpp.Charge.reverse(ch.id)
        assert rev.reversed is True and rev.paid is False
        the_call(fake, "/secapi/pay/reverse", out_trade_no=ch.order_no)
        assert fake.orders[ch.order_no]["state"] == "REVOKED"
        assert pingpp.Charge.retrieve(ch.id).reversed is True

    def test_paymux_reverse_of_a_paid_scan_charge_refunds_it(self, gateway, fake):
        ch = scan_charge(gateway, amount=500)
        assert ch.paid is True
        rev = pingpp.Charge.reverse(ch.id)
        assert rev.reversed is True and rev.refunded is True
        [refund] = rev.refunds.data
        settled = refund_settled_by_notification(fake, ch.id, refund.id)
        assert settled.status == "succeeded" and settled.amount == 500
        sent = the_call(fake, "/secapi/pay/refund", out_refund_no=refund.id)
        assert (sent["total_fee"], sent["refund_fee"]) == ("500", "500")
        assert fake.calls_to("/secapi/pay/reverse", out_trade_no=ch.order_no) == []

    def test_paymux_reverse_of_an_unpaid_wechat_isv_qr_closes_it(self, gateway, fake):
        extra = dict(CHANNEL_EXTRAS["isv_qr"], pay_channel="wx")
        ch = create_charge(gateway, "isv_qr", extra=extra)
        assert ch.paid is False
        the_call(fake, "/pay/unifiedorder", out_trade_no=ch.order_no)
        rev = pingpp.Charge.reverse(ch.id)
        assert rev.reversed is True and rev.paid is False
        the_call(fake, "/pay/closeorder", out_trade_no=ch.order_no)
        assert fake.orders[ch.order_no]["state"] == "CLOSED"
