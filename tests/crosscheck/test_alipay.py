"""Alipay, cross-checked with code nobody here wrote: Alipay's official Python SDK
(alipay-sdk-python) and python-alipay-sdk, both unchanged (see alipay_support.py).

1. TestLibrariesAgainstTheSimulator: each library is the merchant's client of
   `paymux simulate alipay` -- precreate, the buyer scanning and paying (the simulator's
   /_sim/ hooks), query, close, pay with the scripted payment codes, cancel, refunds, refund
   query -- and every answer is verified by the library's own signature check. The simulator's
   notifications are verified with each library's notification verification.
2. TestAdapterAgainstLibrarySignedAlipay: paymux's Alipay adapter, in live mode, talks to a
   fake Alipay that verifies every request and signs every answer with the official SDK's
   signature utilities; the merchant drives paymux with the Ping++ SDK.
"""

import collections
import itertools
import os
import re
import time

import pingpp
import pytest
import requests

import alipay_support as lib
from live_gateway import (SETTLE_TIMEOUT_S, AdapterTests, create_charge, serve, wait_paid,
                          wait_refund_settled)
from paymux_harness import (checked_binary, make_rsa_keypair, new_order_no,
                            spawn_until_listening, stop_process, wait_for)

SIM_APP_OFFICIAL = "2021000000000301"
SIM_APP_PYTHON_ALIPAY_SDK = "2021000000000302"
GATEWAY_APP = "2021000000000303"
# Chinese that GBK can carry too.
SUBJECT = "测试商品：红富士苹果 Apple"
SIM_LISTEN_RE = re.compile(r"paymux simulate alipay listening on http://127\.[\d.]+:(\d+)")

_codes = itertools.count(1)


def payment_code(prefix="2868"):
    """An 18-digit payment code (Alipay's start with 25-30), unique in the run; the simulator's
    scripts are chosen by the first six digits (crates/paymux-simulators/src/alipay/mod.rs)."""
    serial = (int(time.time() * 1000) * 100 + next(_codes)) % 10**12
    return prefix + ("%018d" % serial)[len(prefix):]


@pytest.fixture(scope="module", autouse=True)
def beijing_clock():
    """Both libraries stamp requests with datetime.now(), which Alipay reads as Beijing time:
    run them as on a merchant's server in China."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "CST-8"
    time.tzset()
    yield
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


KeyPair = collections.namedtuple("KeyPair", "private_pem public_pem public_file")


class Keys:
    def __init__(self, directory):
        self.directory = directory

    def pair(self, name):
        """A fresh RSA key: its private key (PKCS#1 PEM), its public key (SPKI PEM) and the
        public key's file."""
        private, public = make_rsa_keypair(self.directory, name)
        with open(private) as f, open(public) as g:
            return KeyPair(f.read(), g.read(), public)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return Keys(str(tmp_path_factory.mktemp("alipay-keys")))


# =============================================================================================
# 1. the libraries as clients of the simulator
# =============================================================================================

class AlipaySimulator:
    """`paymux simulate alipay` with one app per library. Alipay's official Python SDK always
    connects to port 80 (443 for https) and fails on a server_url that names a port, so the
    simulator listens on port 80 of a loopback address of its own."""

    def __init__(self, binary, workdir, apps):
        try:
            self.host = lib.free_loopback_address_on_port(80)
            listen = "%s:80" % self.host
            self.port80 = True
        except PermissionError:
            self.host, listen, self.port80 = "127.0.0.1", "127.0.0.1:0", False
        args = [a for app_id, public in apps for a in ("--app", "%s=%s" % (app_id, public))]
        self.stdout_log = os.path.join(workdir, "sim-alipay.stdout.log")
        self.stderr_log = os.path.join(workdir, "sim-alipay.stderr.log")
        self.proc, self.port = spawn_until_listening(
            [binary, "simulate", "alipay", "--listen", listen, *args], SIM_LISTEN_RE,
            self.stdout_log, self.stderr_log)
        self.base = "http://%s:%d" % (self.host, self.port)
        # The official SDK's own form of the URL: no port (it would break on one).
        self.gateway_url = ("http://%s/gateway.do" % self.host if self.port == 80
                            else self.base + "/gateway.do")
        try:
            resp = requests.get(self.base + "/_sim/public_key", timeout=10)
            assert resp.status_code == 200, resp.text
        except Exception:
            self.stop()
            raise
        self.public_key_pem = resp.text

    def stop(self):
        stop_process(self.proc)

    def order(self, app_id, out_trade_no):
        resp = requests.get("%s/_sim/orders/%s" % (self.base, out_trade_no),
                            params={"app_id": app_id}, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def buyer(self, action, app_id, out_trade_no):
        """The buyer scans (`scan`) or pays (`pay`); returns the HTTP answer."""
        return requests.post("%s/_sim/orders/%s/%s" % (self.base, out_trade_no, action),
                             json={"app_id": app_id}, timeout=10)


@pytest.fixture(scope="module")
def sim_keys(keys):
    return {SIM_APP_OFFICIAL: keys.pair("official_app"),
            SIM_APP_PYTHON_ALIPAY_SDK: keys.pair("python_alipay_sdk_app"),
            "stranger": keys.pair("stranger")}


@pytest.fixture(scope="module")
def simulator(sim_keys, tmp_path_factory):
    sim = AlipaySimulator(checked_binary(), str(tmp_path_factory.mktemp("alipay-sim")), [
        (SIM_APP_OFFICIAL, sim_keys[SIM_APP_OFFICIAL].public_file),
        (SIM_APP_PYTHON_ALIPAY_SDK, sim_keys[SIM_APP_PYTHON_ALIPAY_SDK].public_file),
    ])
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def receiver():
    with lib.NotifyReceiver() as server:
        yield server


CLIENTS = ["official-utf-8", "official-GBK", "python-alipay-sdk"]


def make_client(kind, simulator, sim_keys, app_key=None, alipay_public_key=None):
    """A library client of the simulator; `app_key`/`alipay_public_key` replace the right
    keys, for the tests that must fail."""
    if kind.startswith("official"):
        if not simulator.port80:
            pytest.skip("the official SDK only reaches port 80, which this user may not bind")
        app_id = SIM_APP_OFFICIAL
        private = app_key or sim_keys[app_id].private_pem
        return lib.OfficialClient(simulator.gateway_url, app_id, private,
                                  alipay_public_key or simulator.public_key_pem,
                                  charset=kind.split("-", 1)[1])
    app_id = SIM_APP_PYTHON_ALIPAY_SDK
    return lib.PythonAlipaySdkClient(simulator.gateway_url, app_id,
                                     app_key or sim_keys[app_id].private_pem,
                                     alipay_public_key or simulator.public_key_pem)


@pytest.fixture(params=CLIENTS)
def client(request, simulator, sim_keys):
    return make_client(request.param, simulator, sim_keys)


def assert_ok(reply, code="10000"):
    assert reply.get("code") == code, reply
    return reply


def assert_business_failure(reply, sub_code):
    assert (reply.get("code"), reply.get("sub_code")) == ("40004", sub_code), reply
    assert reply.get("sub_msg"), reply


class TestLibrariesAgainstTheSimulator:
    def notifications(self, receiver, sim_keys, client, out_trade_no, count):
        """The first `count` notifications about `out_trade_no`, once they arrived. Alipay
        notifies in the character set of the merchant's request: each is decoded and verified
        in the client's, with the official SDK's utilities and, for UTF-8 (the only one it
        speaks), python-alipay-sdk's `verify`."""
        forms = wait_for(lambda: receiver.notifications(out_trade_no, client.charset),
                         lambda got: len(got) >= count, timeout=SETTLE_TIMEOUT_S,
                         what="%d notification(s) about %s" % (count, out_trade_no))
        app_private_key = sim_keys[client.app_id].private_pem
        public = self.alipay_public_key
        for form in forms:
            content_type = form.pop("content_type")
            assert form["notify_type"] == "trade_status_sync"
            assert form["app_id"] == client.app_id
            assert form["sign_type"] == "RSA2"
            assert form["charset"].lower() == client.charset.lower(), form
            assert content_type.lower().endswith("charset=" + client.charset.lower()), \
                content_type
            assert lib.verify_notify_official(form, public, client.charset), form
            if client.charset == "utf-8":
                assert lib.verify_notify_python_alipay_sdk(form, public, app_private_key), form
        return forms[:count]

    @pytest.fixture(autouse=True)
    def _alipay_public_key(self, simulator):
        self.alipay_public_key = simulator.public_key_pem

    def test_qr_precreate_scan_pay_query_refunds(self, client, simulator, receiver, sim_keys):
        no = new_order_no("ali")
        created = assert_ok(client.precreate(no, "10.00", SUBJECT, receiver.url, body="红富士"))
        assert created["out_trade_no"] == no
        assert created["qr_code"].startswith("https://qr.alipay.com/"), created
        at_alipay = simulator.order(client.app_id, no)
        assert (at_alipay["stage"], at_alipay["qr_code"]) == ("precreated", created["qr_code"])
        assert at_alipay["subject"] == SUBJECT, "the subject as the library sent it"
        assert at_alipay["total_amount"] == "10.00"
        assert at_alipay["notify_url"] == receiver.url

        # Nobody scanned: no trade yet.
        assert_business_failure(client.query(no), "ACQ.TRADE_NOT_EXIST")

        assert simulator.buyer("scan", client.app_id, no).status_code == 200
        waiting = assert_ok(client.query(no))
        assert waiting["trade_status"] == "WAIT_BUYER_PAY"
        trade_no = waiting["trade_no"]
        assert trade_no

        assert simulator.buyer("pay", client.app_id, no).status_code == 200
        [paid_note] = self.notifications(receiver, sim_keys, client, no, 1)
        assert paid_note["trade_status"] == "TRADE_SUCCESS"
        assert (paid_note["trade_no"], paid_note["total_amount"]) == (trade_no, "10.00")
        assert paid_note["subject"] == SUBJECT
        assert paid_note["body"] == "红富士"
        paid = assert_ok(client.query(no))
        assert paid["trade_status"] == "TRADE_SUCCESS"
        assert (paid["trade_no"], paid["total_amount"], paid["buyer_pay_amount"]) == \
            (trade_no, "10.00", "10.00")
        assert paid["send_pay_date"]

        reason = "部分退款：颜色不符"
        first = assert_ok(client.refund(no, "3.00", "R1", reason))
        assert (first["fund_change"], first["refund_fee"], first["trade_no"]) == \
            ("Y", "3.00", trade_no)
        again = assert_ok(client.refund(no, "3.00", "R1", reason))
        assert (again["fund_change"], again["refund_fee"]) == ("N", "3.00"), \
            "a repeated request number refunds nothing more"
        assert_business_failure(client.refund(no, "4.00", "R1"),
                                "ACQ.DISCORDANT_REPEAT_REQUEST")

        found = assert_ok(client.refund_query(no, "R1"))
        assert (found["out_request_no"], found["refund_amount"], found["refund_status"]) == \
            ("R1", "3.00", "REFUND_SUCCESS")
        assert found["refund_reason"] == reason
        unknown = assert_ok(client.refund_query(no, "R-never"))
        assert "refund_amount" not in unknown and "refund_status" not in unknown, \
            "Alipay answers 10000 for a number it does not know, with nothing in it"

        rest = assert_ok(client.refund(no, "7.00", "R2"))
        assert (rest["fund_change"], rest["refund_fee"]) == ("Y", "10.00")
        assert assert_ok(client.query(no))["trade_status"] == "TRADE_CLOSED"
        assert_business_failure(client.refund(no, "0.01", "R3"), "ACQ.TRADE_STATUS_ERROR")

        at_alipay = simulator.order(client.app_id, no)
        assert [(r["out_request_no"], r["refund_amount"], r["refund_reason"])
                for r in at_alipay["refunds"]] == [("R1", "3.00", reason), ("R2", "7.00", None)]
        notes = self.notifications(receiver, sim_keys, client, no, 3)
        assert [(n["trade_status"], n.get("out_biz_no"), n.get("refund_fee")) for n in notes] \
            == [("TRADE_SUCCESS", None, None), ("TRADE_SUCCESS", "R1", "3.00"),
                ("TRADE_CLOSED", "R2", "10.00")]

    def test_qr_close(self, client, simulator, receiver, sim_keys):
        no = new_order_no("ali")
        assert_ok(client.precreate(no, "0.01", SUBJECT, receiver.url))
        # Not scanned yet: nothing to close (the QR dies at its time_expire).
        assert_business_failure(client.close(no), "ACQ.TRADE_NOT_EXIST")
        assert simulator.buyer("scan", client.app_id, no).status_code == 200
        closed = assert_ok(client.close(no))
        assert closed["out_trade_no"] == no and closed["trade_no"]
        assert assert_ok(client.query(no))["trade_status"] == "TRADE_CLOSED"
        assert simulator.buyer("pay", client.app_id, no).status_code == 409, \
            "a closed trade cannot be paid"
        [note] = self.notifications(receiver, sim_keys, client, no, 1)
        assert (note["trade_status"], note["trade_no"]) == ("TRADE_CLOSED", closed["trade_no"])
        assert_business_failure(client.close(no), "ACQ.TRADE_STATUS_ERROR")

    def test_scan_pay_at_once_then_cancel_refunds(self, client, simulator, receiver, sim_keys):
        no = new_order_no("ali")
        paid = assert_ok(client.pay(no, payment_code(), "8.88", SUBJECT, receiver.url))
        assert (paid["out_trade_no"], paid["total_amount"]) == (no, "8.88")
        assert paid["trade_no"] and paid["gmt_payment"]
        [note] = self.notifications(receiver, sim_keys, client, no, 1)
        assert (note["trade_status"], note["trade_no"]) == ("TRADE_SUCCESS", paid["trade_no"])

        cancelled = assert_ok(client.cancel(no))
        assert (cancelled["action"], cancelled["retry_flag"]) == ("refund", "N"), cancelled
        assert assert_ok(client.query(no))["trade_status"] == "TRADE_CLOSED"
        assert simulator.order(client.app_id, no)["refund_fee"] == "8.88"
        assert_business_failure(client.pay(no, payment_code(), "8.88", SUBJECT, receiver.url),
                                "ACQ.TRADE_HAS_CLOSE")

    def test_scan_pay_then_full_refund(self, client, simulator, receiver, sim_keys):
        no = new_order_no("ali")
        paid = assert_ok(client.pay(no, payment_code(), "6.66", SUBJECT, receiver.url))
        refunded = assert_ok(client.refund(no, "6.66", "FULL-1", "整单退款"))
        assert (refunded["fund_change"], refunded["refund_fee"], refunded["trade_no"]) == \
            ("Y", "6.66", paid["trade_no"])
        assert assert_ok(client.query(no))["trade_status"] == "TRADE_CLOSED"
        found = assert_ok(client.refund_query(no, "FULL-1"))
        assert (found["refund_amount"], found["refund_status"], found["refund_reason"]) == \
            ("6.66", "REFUND_SUCCESS", "整单退款")
        notes = self.notifications(receiver, sim_keys, client, no, 2)
        assert [(n["trade_status"], n.get("out_biz_no"), n.get("refund_fee")) for n in notes] \
            == [("TRADE_SUCCESS", None, None), ("TRADE_CLOSED", "FULL-1", "6.66")]
        assert notes[1]["gmt_refund"] and notes[1]["gmt_close"]

    def test_scan_pay_waiting_then_paid_when_queried(self, client):
        no = new_order_no("ali")
        # 289901: the payer is entering the password; the second query finds it paid.
        waiting = assert_ok(client.pay(no, payment_code("289901"), "1.00", SUBJECT, None),
                            code="10003")
        assert waiting["out_trade_no"] == no
        assert assert_ok(client.query(no))["trade_status"] == "WAIT_BUYER_PAY"
        assert assert_ok(client.query(no))["trade_status"] == "TRADE_SUCCESS"

    @pytest.mark.parametrize("prefix, code, sub_code", [
        ("289903", "20000", "isp.unknow-error"), ("289904", "40004", "ACQ.SYSTEM_ERROR")])
    def test_scan_pay_outcome_unknown_then_query_finds_it_paid(self, client, prefix, code,
                                                                sub_code):
        no = new_order_no("ali")
        unknown = client.pay(no, payment_code(prefix), "3.30", SUBJECT, None)
        assert (unknown["code"], unknown["sub_code"]) == (code, sub_code), unknown
        paid = assert_ok(client.query(no))
        assert (paid["trade_status"], paid["total_amount"]) == ("TRADE_SUCCESS", "3.30")

    def test_scan_pay_waiting_forever_then_cancel_closes(self, client):
        no = new_order_no("ali")
        assert_ok(client.pay(no, payment_code("289902"), "1.00", SUBJECT, None), code="10003")
        cancelled = assert_ok(client.cancel(no))
        assert (cancelled["action"], cancelled["retry_flag"]) == ("close", "N"), cancelled
        assert assert_ok(client.query(no))["trade_status"] == "TRADE_CLOSED"

    def test_scan_pay_refused(self, client):
        no = new_order_no("ali")
        assert_business_failure(client.pay(no, payment_code("289905"), "1.00", SUBJECT, None),
                                "ACQ.PAYMENT_AUTH_CODE_INVALID")
        assert_business_failure(client.pay(no, payment_code("289906"), "1.00", SUBJECT, None),
                                "ACQ.BUYER_BALANCE_NOT_ENOUGH")
        assert_business_failure(client.query(no), "ACQ.TRADE_NOT_EXIST")

    @pytest.mark.parametrize("kind", CLIENTS)
    def test_a_request_signed_with_another_key_is_refused(self, kind, simulator, sim_keys):
        stranger = make_client(kind, simulator, sim_keys,
                               app_key=sim_keys["stranger"].private_pem)
        refusal = stranger.refuses(lambda: stranger.query(new_order_no("ali")))
        assert (refusal["code"], refusal["sub_code"]) == ("40002", "isv.invalid-signature"), \
            refusal

    @pytest.mark.parametrize("kind", CLIENTS)
    def test_an_answer_the_library_cannot_verify_is_rejected(self, kind, simulator, sim_keys):
        doubting = make_client(kind, simulator, sim_keys,
                               alipay_public_key=sim_keys["stranger"].public_pem)
        with pytest.raises(doubting.VERIFY_FAILED):
            doubting.query(new_order_no("ali"))

    def test_a_tampered_notification_fails_both_verifiers(self, simulator, receiver, sim_keys):
        client = make_client("python-alipay-sdk", simulator, sim_keys)
        no = new_order_no("ali")
        assert_ok(client.pay(no, payment_code(), "2.00", SUBJECT, receiver.url))
        [note] = self.notifications(receiver, sim_keys, client, no, 1)
        app_private_key = sim_keys[client.app_id].private_pem
        for field, value in (("total_amount", "200.00"), ("subject", SUBJECT + "!")):
            forged = dict(note, **{field: value})
            assert not lib.verify_notify_official(forged, simulator.public_key_pem)
            assert not lib.verify_notify_python_alipay_sdk(forged, simulator.public_key_pem,
                                                           app_private_key)


# =============================================================================================
# 2. paymux's adapter against a fake Alipay on the official SDK's signing code
# =============================================================================================

@pytest.fixture(scope="module")
def fake_keys(keys):
    return {"app": keys.pair("gateway_app"), "alipay": keys.pair("fake_alipay"),
            "stranger": keys.pair("gateway_stranger")}


@pytest.fixture(scope="module")
def fake(fake_keys):
    with lib.FakeAlipay(GATEWAY_APP, fake_keys["app"].public_pem,
                        fake_keys["alipay"].private_pem) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(request, fake, fake_keys):
    yield from serve(request, "alipay", {
        "app_id": fake.app_id, "alipay_public_key": fake_keys["alipay"].public_pem,
        "gateway_url": fake.url, "app_private_key": fake_keys["app"].private_pem,
    })


def create(gateway, channel, amount, extra, **overrides):
    return create_charge(gateway, channel, amount, **{
        "order_no": new_order_no("ali"), "subject": SUBJECT, "body": "红富士 body",
        "extra": extra, **overrides})


class TestAdapterAgainstLibrarySignedAlipay(AdapterTests):
    def seen(self, fake, order_no, method):
        return [s for s in fake.requests_for(order_no, method) if s["verified"]]

    def test_qr_charge_is_precreated_paid_by_notification_and_refunded(self, gateway, fake,
                                                                       fake_keys):
        ch = create(gateway, "alipay_qr", 1000, {})
        assert ch.livemode is True and ch.paid is False
        [precreate] = self.seen(fake, ch.order_no, "alipay.trade.precreate")
        order = fake.orders[ch.order_no]
        # The fake wrote it as https:\/\/…; paymux verified those bytes and reads the URL.
        assert ch.credential["alipay_qr"] == order["qr_code"]
        biz = precreate["biz"]
        assert (biz["out_trade_no"], biz["total_amount"], biz["subject"], biz["body"]) == \
            (ch.order_no, "10.00", SUBJECT, "红富士 body")
        assert lib.beijing_epoch(biz["time_expire"]) == ch.time_expire
        assert precreate["params"]["notify_url"] == "%s/notify/alipay/%s/live" % (
            gateway.base_url, gateway.app_id)

        # A notification Alipay did not sign changes nothing.
        forged = fake.buyer_pays(ch.order_no,
                                 alipay_private_key_pem=fake_keys["stranger"].private_pem)
        assert forged.text != "success", forged.text
        assert pingpp.Charge.retrieve(ch.id).paid is False

        answer = fake.buyer_pays(ch.order_no)
        assert (answer.status_code, answer.text) == (200, "success")
        paid = wait_paid(ch.id)
        assert paid.transaction_no == order["trade_no"]
        assert paid.time_paid == lib.beijing_epoch(order["paid"])

        description = "部分退款：颜色不符 & 100%"
        refund = pingpp.Charge.refund(ch.id, amount=300, description=description)
        refund = wait_refund_settled(ch.id, refund.id)
        assert (refund.status, refund.amount, refund.succeed) == ("succeeded", 300, True)
        assert refund.transaction_no == order["trade_no"]
        [sent] = self.seen(fake, ch.order_no, "alipay.trade.refund")
        assert sent["biz"]["refund_reason"] == description
        assert (sent["biz"]["out_request_no"], sent["biz"]["refund_amount"]) == \
            (refund.id, "3.00")
        # Alipay notifies the refund too (still TRADE_SUCCESS): acknowledged, nothing changes.
        answer = fake.notify(ch.order_no, out_biz_no=refund.id)
        assert (answer.status_code, answer.text) == (200, "success")
        got = pingpp.Charge.retrieve(ch.id)
        assert (got.paid, got.amount_refunded) == (True, 300)

        rest = pingpp.Charge.refund(ch.id, description="rest")
        rest = wait_refund_settled(ch.id, rest.id)
        assert (rest.status, rest.amount) == ("succeeded", 700)
        assert fake.orders[ch.order_no]["status"] == "TRADE_CLOSED"
        # A fully refunded trade is TRADE_CLOSED at Alipay; the charge stays paid, refunded.
        answer = fake.notify(ch.order_no, out_biz_no=rest.id)
        assert (answer.status_code, answer.text) == (200, "success")
        got = pingpp.Charge.retrieve(ch.id)
        assert (got.paid, got.refunded, got.amount_refunded) == (True, True, 1000)
        assert {r.id: r.status for r in got.refunds.data} == {refund.id: "succeeded",
                                                               rest.id: "succeeded"}
        assert [s["biz"]["out_request_no"] for s in
                self.seen(fake, ch.order_no, "alipay.trade.refund")] == [refund.id, rest.id]

    def test_scan_charge_sends_goods_list_as_goods_detail(self, gateway, fake):
        goods = [
            {"goods_id": "apple-01", "goods_name": "红富士苹果", "quantity": 2,
             "price": "12.50", "goods_category": "fruit"},
            {"goods_id": "cup-02", "goods_name": "杯子", "quantity": "1", "price": 11},
        ]
        code = payment_code()
        ch = create(gateway, "alipay_scan", 3600,
                    {"scan_code": code, "terminal_id": "T0000001", "operator_id": "cashier-7",
                     "store_id": "store-1", "goods_list": goods})
        assert ch.paid is True, "a payment Alipay confirmed at once"
        order = fake.orders[ch.order_no]
        assert ch.transaction_no == order["trade_no"]
        assert ch.time_paid == lib.beijing_epoch(order["paid"])
        [pay] = self.seen(fake, ch.order_no, "alipay.trade.pay")
        biz = pay["biz"]
        assert (biz["scene"], biz["auth_code"], biz["total_amount"], biz["subject"]) == \
            ("bar_code", code, "36.00", SUBJECT)
        assert (biz["terminal_id"], biz["operator_id"], biz["store_id"]) == \
            ("T0000001", "cashier-7", "store-1")
        assert biz["goods_detail"] == goods

    def test_reverse_of_a_waiting_scan_charge_cancels_it_at_alipay(self, gateway, fake):
        # 289902: the fake answers 10003, the payer is still entering the password.
        ch = create(gateway, "alipay_scan", 500,
                    {"scan_code": payment_code("289902"), "terminal_id": "T0000001"})
        assert ch.paid is False
        rev = pingpp.Charge.reverse(ch.id)
        assert (rev.reversed, rev.paid, rev.refunded) == (True, False, False)
        assert len(self.seen(fake, ch.order_no, "alipay.trade.cancel")) == 1
        assert fake.orders[ch.order_no]["status"] == "TRADE_CLOSED"
        assert self.seen(fake, ch.order_no, "alipay.trade.refund") == []

    def test_reverse_of_a_paid_scan_charge_refunds_it_at_alipay(self, gateway, fake):
        ch = create(gateway, "alipay_scan", 700,
                    {"scan_code": payment_code(), "terminal_id": "T0000001"})
        assert ch.paid is True
        rev = pingpp.Charge.reverse(ch.id)
        assert (rev.reversed, rev.paid, rev.refunded) == (True, True, True)
        [refund] = rev.refunds.data
        refund = wait_refund_settled(ch.id, refund.id)
        assert (refund.status, refund.amount) == ("succeeded", 700)
        [sent] = self.seen(fake, ch.order_no, "alipay.trade.refund")
        assert (sent["biz"]["out_request_no"], sent["biz"]["refund_amount"]) == \
            (refund.id, "7.00")
        assert fake.orders[ch.order_no]["status"] == "TRADE_CLOSED"

    def test_a_request_alipay_cannot_verify_is_refused(self, gateway, fake, fake_keys):
        """The fake's check is real: under another app public key paymux's signature fails,
        and the merchant is told the channel refused."""
        self.expect_refused = {("alipay.trade.precreate", "isv.invalid-signature")}
        right = fake.app_public_key
        fake.app_public_key = lib.pem_body(fake_keys["stranger"].public_pem)
        try:
            with pytest.raises(pingpp.error.ChannelError) as refused:
                create(gateway, "alipay_qr", 100, {})
        finally:
            fake.app_public_key = right
        assert refused.value.http_status == 402
        assert "isv.invalid-signature" in str(refused.value), str(refused.value)

    def test_an_answer_not_signed_by_alipay_is_not_trusted(self, gateway, fake, fake_keys):
        """An answer under another key is as good as none: the merchant gets no QR code and
        is told the outcome is unknown (paymux queries Alipay later)."""
        order_no = new_order_no("ali")
        right = fake.alipay_private_key
        fake.alipay_private_key = lib.pem_body(fake_keys["stranger"].private_pem)
        try:
            with pytest.raises(pingpp.error.ChannelError) as failed:
                create(gateway, "alipay_qr", 100, {}, order_no=order_no)
        finally:
            fake.alipay_private_key = right
        assert failed.value.http_status == 402
        assert failed.value.json_body["error"]["code"] == "channel_unknown", str(failed.value)
        assert len(self.seen(fake, order_no, "alipay.trade.precreate")) == 1
        [charge] = [c for c in pingpp.Charge.list(app={"id": gateway.app_id}, limit=100).data
                    if c.order_no == order_no]
        assert charge.paid is False
        assert not (charge.credential or {}).get("alipay_qr"), charge.credential
