"""UnionPay online payments (upacp, acp 5.1.0), cross-checked with an acp client written for
this suite from the protocol, independent of paymux's Rust code (unionpay_support.py: no
independent acp SDK can be installed from the registries the suite uses).

1. TestAcpClientAgainstTheSimulator: the client is the merchant's client of
   `paymux simulate unionpay` -- QR applied for and paid, queries, consumer codes with the
   simulator's scripts, refunds, cancel, reversal, refusals -- and every answer and every
   notification is validated the acp way: the signing certificate it carries chains to the
   root and middle certificates the simulator hands out (`GET /_sim/certificates`), is
   UnionPay's, and its key verifies the signature. The simulator's certificate rotation keeps
   validating; a key pinned before it does not. The validator itself is shown to refuse.
2. TestAdapterAgainstAcpSignedUnionpay: paymux's UnionPay adapter, in live mode, talks to a
   fake UnionPay (its own certificate authority) that verifies every request and signs every
   answer and notification with the same client code; the merchant drives paymux with the
   Ping++ SDK.
"""

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pingpp
import pytest
from cryptography import x509

import unionpay_support as acp
from live_gateway import (SETTLE_TIMEOUT_S, AdapterTests, create_charge, serve, wait_paid,
                          wait_refund_settled)
from paymux_harness import (UNIONPAY_CERT_ID, UNIONPAY_MER_ID, Simulator, checked_binary,
                            make_rsa_keypair, new_order_no, wait_for)

# The simulator's consumer-code scripts (its `qr_nos`): chosen by the first six digits.
QR_SUCCESS = "6299000000000000001"
QR_WAIT_THEN_SUCCESS = "6299010000000000001"
QR_WAIT_FOREVER = "6299020000000000001"
QR_DECLINED = "6299030000000000001"
QR_UNKNOWN_PAID = "6299040000000000001"
# The simulator's scan_wait_secs: how long a 629901 payer takes to confirm.
SCAN_WAIT_S = 10


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """The merchant's signing key (its public key file for the simulator) and a stranger's."""
    directory = str(tmp_path_factory.mktemp("unionpay-keys"))
    private, public = make_rsa_keypair(directory, "merchant")
    stranger, _ = make_rsa_keypair(directory, "stranger")
    private_pem = Path(private).read_text()
    return {"private_pem": private_pem, "public_pem": Path(public).read_text(),
            "public_file": public, "private": acp.load_private_key(private_pem),
            "stranger": acp.load_private_key(Path(stranger).read_text())}


# =============================================================================================
# 1. the acp client against the simulator
# =============================================================================================

def start_simulator(workdir, public_file):
    sim = Simulator(checked_binary(), "unionpay", workdir, [
        "--merchant", "%s=%s:%s" % (UNIONPAY_MER_ID, public_file, UNIONPAY_CERT_ID)]).start()
    try:
        sim.chain = certificates(sim)
    except Exception:
        sim.stop()
        raise
    return sim


def certificates(sim):
    resp = sim.control("GET", "/_sim/certificates")
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def simulator(keys, tmp_path_factory):
    sim = start_simulator(str(tmp_path_factory.mktemp("unionpay-sim")), keys["public_file"])
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def other_simulator(keys, tmp_path_factory):
    """A second simulator: a certificate authority of its own, the same merchant."""
    sim = start_simulator(str(tmp_path_factory.mktemp("unionpay-sim2")), keys["public_file"])
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def receiver():
    with acp.NotifyReceiver() as server:
        yield server


def make_client(sim, private_key, cert_id=UNIONPAY_CERT_ID, validator=None):
    validator = validator or acp.Validator(sim.chain["root"], sim.chain["middle"])
    return acp.AcpClient(sim.url, UNIONPAY_MER_ID, cert_id, private_key, validator)


@pytest.fixture(scope="module")
def client(simulator, keys):
    return make_client(simulator, keys["private"])


@pytest.fixture(scope="module")
def confirming_payment(client, receiver):
    """A 629901 payment, started with the first simulator test: its payer confirms SCAN_WAIT_S
    later, which the module's last test waits for, so the suite does not sit idle meanwhile."""
    order_id, txn_time = new_order_no("up"), acp.beijing_compact()
    answer = client.consume(order_id, QR_WAIT_THEN_SUCCESS, "520", receiver.url, txn_time)
    return {"order_id": order_id, "txn_time": txn_time, "answer": answer,
            "deadline": time.monotonic() + SCAN_WAIT_S + SETTLE_TIMEOUT_S}


def notifications(receiver, validator, order_id, count):
    """The notifications about `order_id` once `count` arrived, each validated the acp way."""
    forms = wait_for(lambda: receiver.forms(order_id), lambda got: len(got) >= count,
                     timeout=SETTLE_TIMEOUT_S,
                     what="%d notification(s) about %s" % (count, order_id))
    for form in forms:
        assert form.pop("_content_type").startswith("application/x-www-form-urlencoded")
        validator.validate(form)
        assert form["merId"] == UNIONPAY_MER_ID
    return forms


def assert_code(answer, code):
    assert answer["respCode"] == code, answer
    assert answer["respMsg"], answer
    return answer


def paid_at_once(client, receiver, amount="1000"):
    order_id, txn_time = new_order_no("up"), acp.beijing_compact()
    paid = assert_code(client.consume(order_id, QR_SUCCESS, amount, receiver.url, txn_time),
                       "00")
    assert paid["queryId"], paid
    return order_id, txn_time, paid["queryId"]


@pytest.mark.usefixtures("confirming_payment")
class TestAcpClientAgainstTheSimulator:
    def test_qr_applied_paid_notified_and_queried(self, client, simulator, receiver):
        order_id, txn_time = new_order_no("up"), acp.beijing_compact()
        # `{…}` carries `&` and `=` in a synchronous answer, which is not URL-encoded.
        reserved = "{note=红富士 苹果&qty=2}"
        applied = client.apply_qr(order_id, " 1234 ", receiver.url, txn_time,
                                  reqReserved=reserved, riskRateInfo="  ")
        assert_code(applied, "00")
        assert applied["qrCode"].startswith("https://qr.95516.com/"), applied
        assert "queryId" not in applied, "no transaction before the payer pays"
        assert (applied["orderId"], applied["txnTime"], applied["merId"]) == \
            (order_id, txn_time, UNIONPAY_MER_ID)
        assert applied["txnAmt"] == "1234", "sent trimmed, as signed"
        assert applied["reqReserved"] == reserved
        assert "{note=" in client.last_text and "riskRateInfo" not in client.last_text

        assert_code(client.query(order_id, txn_time), "34")
        resp = simulator.control("POST", "/_sim/orders/%s/pay" % order_id, {})
        assert resp.status_code == 200, resp.text

        [note] = notifications(receiver, client.validator, order_id, 1)
        assert (note["txnType"], note["txnSubType"], note["respCode"]) == ("01", "07", "00")
        assert (note["txnTime"], note["txnAmt"], note["currencyCode"]) == \
            (txn_time, "1234", "156")
        assert note["reqReserved"] == reserved
        assert note["queryId"] and note["traceNo"] and note["settleDate"]

        paid = assert_code(client.query(order_id, txn_time), "00")
        assert (paid["origRespCode"], paid["queryId"], paid["txnAmt"]) == \
            ("00", note["queryId"], "1234")
        # UnionPay finds a transaction by orderId and txnTime together.
        an_hour_before = acp.beijing_compact(time.time() - 3600)
        assert_code(client.query(order_id, an_hour_before), "34")

    def test_consumer_code_paid_then_refunded_partly_and_fully(self, client, receiver):
        order_id, txn_time, query_id = paid_at_once(client, receiver, "1000")
        [note] = notifications(receiver, client.validator, order_id, 1)
        assert (note["txnSubType"], note["queryId"], note["txnAmt"]) == ("06", query_id, "1000")
        paid = assert_code(client.query(order_id, txn_time), "00")
        assert (paid["origRespCode"], paid["queryId"]) == ("00", query_id)

        part, part_time = new_order_no("rf"), acp.beijing_compact()
        accepted = assert_code(client.refund(part, query_id, "300", receiver.url, part_time),
                               "00")
        assert accepted["origQryId"] == query_id and accepted["queryId"], accepted
        [refunded] = notifications(receiver, client.validator, part, 1)
        assert (refunded["txnType"], refunded["txnSubType"], refunded["respCode"]) == \
            ("04", "00", "00")
        assert (refunded["origQryId"], refunded["queryId"], refunded["txnAmt"]) == \
            (query_id, accepted["queryId"], "300")
        found = assert_code(client.query(part, part_time), "00")
        assert (found["origRespCode"], found["queryId"]) == ("00", accepted["queryId"])

        assert_code(client.refund(new_order_no("rf"), query_id, "701", receiver.url), "33")
        rest = new_order_no("rf")
        assert_code(client.refund(rest, query_id, "700", receiver.url), "00")
        [refunded] = notifications(receiver, client.validator, rest, 1)
        assert (refunded["respCode"], refunded["txnAmt"]) == ("00", "700")
        assert_code(client.refund(new_order_no("rf"), query_id, "1", receiver.url), "33")

    def test_consumer_code_declined(self, client, receiver):
        order_id, txn_time = new_order_no("up"), acp.beijing_compact()
        assert_code(client.consume(order_id, QR_DECLINED, "100", receiver.url, txn_time), "64")
        failed = assert_code(client.query(order_id, txn_time), "00")
        assert failed["origRespCode"] == "64", failed

    def test_consumer_code_unknown_then_paid_by_query(self, client, receiver):
        order_id, txn_time = new_order_no("up"), acp.beijing_compact()
        unknown = assert_code(client.consume(order_id, QR_UNKNOWN_PAID, "330", receiver.url,
                                             txn_time), "03")
        assert "queryId" not in unknown, unknown
        paid = assert_code(client.query(order_id, txn_time), "00")
        assert paid["origRespCode"] == "00" and paid["queryId"], paid
        [note] = notifications(receiver, client.validator, order_id, 1)
        assert note["queryId"] == paid["queryId"]

    def test_cancel_on_the_day_of_the_payment(self, client, receiver):
        order_id, txn_time, query_id = paid_at_once(client, receiver, "500")
        assert_code(client.cancel(new_order_no("cx"), query_id, "499", receiver.url), "36")
        cancel, cancel_time = new_order_no("cx"), acp.beijing_compact()
        cancelled = assert_code(client.cancel(cancel, query_id, "500", receiver.url,
                                              cancel_time), "00")
        assert cancelled["origQryId"] == query_id and cancelled["queryId"], cancelled
        [note] = notifications(receiver, client.validator, cancel, 1)
        assert (note["txnType"], note["respCode"], note["origQryId"]) == ("31", "00", query_id)
        found = assert_code(client.query(cancel, cancel_time), "00")
        assert found["origRespCode"] == "00"
        assert_code(client.refund(new_order_no("rf"), query_id, "100", receiver.url), "35")

    def test_reversal_of_a_processing_and_of_a_paid_consumer_code_payment(self, client,
                                                                          simulator, receiver):
        waiting, waiting_time = new_order_no("up"), acp.beijing_compact()
        answer = assert_code(client.consume(waiting, QR_WAIT_FOREVER, "100", receiver.url,
                                            waiting_time), "05")
        assert answer["queryId"]
        assert client.query(waiting, waiting_time)["origRespCode"] == "05"
        # The reversal names the payment by its own orderId and txnTime, both.
        assert_code(client.reverse(waiting, acp.beijing_compact(time.time() - 3600)), "35")
        assert_code(client.reverse(waiting, waiting_time), "00")
        assert client.query(waiting, waiting_time)["origRespCode"] == "01"
        resp = simulator.control("POST", "/_sim/orders/%s/pay" % waiting, {})
        assert resp.status_code == 409, "a reversed payment cannot be confirmed any more"

        order_id, txn_time, query_id = paid_at_once(client, receiver, "200")
        assert_code(client.reverse(order_id, txn_time), "00")
        assert client.query(order_id, txn_time)["origRespCode"] == "01"
        assert_code(client.refund(new_order_no("rf"), query_id, "200", receiver.url), "35")

    @pytest.mark.parametrize("path, txn, common, code", [
        (acp.BACK_TRANS, ("01", "07"), {"bizType": "000201"}, "32"),
        (acp.BACK_TRANS, ("01", "07"), {"accessType": "1"}, "10"),
        (acp.BACK_TRANS, ("01", "07"), {"channelType": "05"}, "10"),
        (acp.BACK_TRANS, ("01", "01"), {}, "32"),
        (acp.BACK_TRANS, ("00", "00"), {}, "32"),
        (acp.QUERY_TRANS, ("01", "07"), {}, "32"),
    ], ids=["bizType", "accessType", "channelType", "txnSubType", "query-at-backTrans",
            "payment-at-queryTrans"])
    def test_what_the_simulator_refuses(self, client, receiver, path, txn, common, code):
        # Answered and signed like any other answer (the client validated it).
        refused = client.call(path, *txn, common=common, orderId=new_order_no("up"),
                              txnTime=acp.beijing_compact(), txnAmt="100",
                              currencyCode="156", backUrl=receiver.url)
        assert_code(refused, code)

    def test_a_request_signed_with_another_key_or_certificate_is_refused(self, simulator,
                                                                         keys):
        stranger = make_client(simulator, keys["stranger"])
        assert_code(stranger.query(new_order_no("up"), acp.beijing_compact()), "11")
        other_cert = make_client(simulator, keys["private"], cert_id="68759663126")
        assert_code(other_cert.query(new_order_no("up"), acp.beijing_compact()), "11")
        # The right key and certificate: the same query goes through (no such order).
        assert_code(make_client(simulator, keys["private"]).query(new_order_no("up"),
                                                                  acp.beijing_compact()), "34")

    def test_rotation_keeps_the_chain_and_defeats_a_pinned_key(self, client, simulator,
                                                               receiver):
        before = certificates(simulator)
        old_key = x509.load_pem_x509_certificate(before["signing"].encode()).public_key()
        pinned = acp.PinnedKeyValidator(old_key)
        order_id, txn_time, query_id = paid_at_once(client, receiver, "900")
        old_answer = client.query(order_id, txn_time)
        assert old_answer["certId"] == before["cert_id"]
        assert pinned.accepts(old_answer), "the pinned key did work before the rotation"

        resp = simulator.control("POST", "/_sim/certificates/rotate")
        assert resp.status_code == 200, resp.text
        after = resp.json()
        assert (after["root"], after["middle"]) == (before["root"], before["middle"])
        assert after["cert_id"] != before["cert_id"]
        assert after["signing"] != before["signing"]
        assert certificates(simulator) == after

        answer = client.query(order_id, txn_time)  # validated under the same root and middle
        assert (answer["certId"], answer["signPubKeyCert"]) == (after["cert_id"],
                                                                after["signing"])
        cert = client.validator.validate(answer)
        assert str(cert.serial_number) == answer["certId"], "certId is the serial number"
        assert not pinned.accepts(answer)

        refund = new_order_no("rf")
        assert_code(client.refund(refund, query_id, "900", receiver.url), "00")
        [note] = notifications(receiver, client.validator, refund, 1)
        assert (note["certId"], note["signPubKeyCert"].strip()) == \
            (after["cert_id"], after["signing"])
        assert not pinned.accepts(note)
        # An answer signed before the rotation is still UnionPay's.
        client.validator.validate(old_answer)

    def test_the_validator_refuses_what_is_not_unionpays(self, client, simulator,
                                                        other_simulator, keys, receiver):
        order_id, txn_time, _ = paid_at_once(client, receiver)
        answer = client.query(order_id, txn_time)
        validator = client.validator
        for field, value in (("origRespCode", "01"), ("txnAmt", "1"), ("queryId", "1" * 21)):
            with pytest.raises(acp.AcpValidationError, match="does not verify"):
                validator.validate(dict(answer, **{field: value}))
        with pytest.raises(acp.AcpValidationError, match="no signature"):
            validator.validate({k: v for k, v in answer.items() if k != "signature"})
        with pytest.raises(acp.AcpValidationError, match="no signPubKeyCert"):
            validator.validate({k: v for k, v in answer.items() if k != "signPubKeyCert"})

        # Another simulator: valid under its own chain, not under this one.
        theirs = make_client(other_simulator, keys["private"])
        their_order, their_time, _ = paid_at_once(theirs, receiver)
        their_answer = theirs.query(their_order, their_time)
        with pytest.raises(acp.AcpValidationError, match="did not issue"):
            validator.validate(their_answer)
        [their_note] = notifications(receiver, theirs.validator, their_order, 1)
        with pytest.raises(acp.AcpValidationError, match="did not issue"):
            validator.validate(their_note)
        # Its certificate on this simulator's answer: neither chains nor verifies.
        swapped = dict(answer, signPubKeyCert=their_answer["signPubKeyCert"])
        with pytest.raises(acp.AcpValidationError):
            validator.validate(swapped)
        with pytest.raises(acp.AcpValidationError):
            theirs.validator.validate(swapped)
        with pytest.raises(acp.AcpValidationError, match="root did not issue"):
            acp.Validator(other_simulator.chain["root"], simulator.chain["middle"])
        # A client that trusts the other chain refuses this simulator's answers.
        mistaken = make_client(simulator, keys["private"], validator=theirs.validator)
        with pytest.raises(acp.AcpValidationError):
            mistaken.query(order_id, txn_time)


def test_parse_answer_as_the_sdk_reads_it():
    text = ("respCode=00&reqReserved={a=1&b=[x&y]}&signature=ab+/c==&list=[p&q]&empty="
            "&signPubKeyCert=-----BEGIN CERTIFICATE-----\nMIIB+/=\n-----END CERTIFICATE-----"
            "\r\n")
    assert acp.parse_answer(text) == {
        "respCode": "00", "reqReserved": "{a=1&b=[x&y]}", "signature": "ab+/c==",
        "list": "[p&q]", "empty": "",
        "signPubKeyCert": "-----BEGIN CERTIFICATE-----\nMIIB+/=\n-----END CERTIFICATE-----"}
    with pytest.raises(ValueError):
        acp.parse_answer("a=1&a=2")


def test_the_validator_follows_the_acp_certificate_rules():
    """On a chain of the suite's own: each rule refuses on its own."""
    authority = acp.Authority("Suite")
    validator = acp.Validator(authority.root_pem, authority.middle_pem)
    now = datetime.now(timezone.utc)
    message = {"version": acp.VERSION, "encoding": "UTF-8", "signMethod": "01",
               "respCode": "00", "orderId": "up0001"}

    good = authority.issue()
    assert validator.validate(good.sign(message)).serial_number == int(good.cert_id)
    refusals = [
        (authority.issue(valid_from=now - timedelta(days=9), valid_until=now - timedelta(days=1)),
         "not valid now"),
        (authority.issue(valid_from=now + timedelta(days=1)), "not valid now"),
        (authority.issue(owner="某某科技有限公司"), "not UnionPay's"),
        (authority.issue(owner=acp.TEST_OWNER), "not UnionPay's"),
        (acp.Authority("Stranger").issue(), "did not issue"),
    ]
    for signer, why in refusals:
        with pytest.raises(acp.AcpValidationError, match=why):
            validator.validate(signer.sign(message))
    test_owner = authority.issue(owner=acp.TEST_OWNER)
    acp.Validator(authority.root_pem, authority.middle_pem, accept_test_owner=True) \
        .validate(test_owner.sign(message))
    # Signed by another key than the certificate's.
    forged = dict(acp.sign(dict(message, signPubKeyCert=good.cert_pem), good.cert_id,
                           acp.new_rsa_key()))
    with pytest.raises(acp.AcpValidationError, match="does not verify"):
        validator.validate(forged)
    with pytest.raises(acp.AcpValidationError, match="not a 5.1.0"):
        validator.validate(good.sign(dict(message, version="5.0.0")))
    with pytest.raises(acp.AcpValidationError, match="not a CA"):
        broken = acp.Authority("Broken", middle_is_ca=False)
        acp.Validator(broken.root_pem, broken.middle_pem)


# =============================================================================================
# 2. paymux's adapter against a fake UnionPay on the acp client's code
# =============================================================================================

@pytest.fixture(scope="module")
def fake(keys):
    with acp.FakeUnionpay(UNIONPAY_MER_ID, UNIONPAY_CERT_ID, keys["public_pem"]) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(request, fake, keys):
    """paymux with UnionPay at the fake, trusting the fake's root and middle certificates."""
    yield from serve(request, "unionpay", {
        "mer_id": fake.mer_id, "cert_id": fake.cert_id,
        "unionpay_root_cert": fake.authority.root_pem,
        "unionpay_middle_cert": fake.authority.middle_pem,
        "gateway_url": fake.base_url, "private_key": keys["private_pem"],
    })


def scan_code(script=QR_SUCCESS):
    """A 19-digit consumer code with the script's prefix, unique in the run."""
    return script[:6] + ("%013d" % (time.time_ns() // 1000))[-13:]


def refund_submitted(fake, order_id):
    """What paymux sent to refund (04/00) under `order_id` (the refund's id without `re_`),
    once it came; the only such request."""
    [call] = wait_for(lambda: fake.calls(order_id, "04"), bool, timeout=SETTLE_TIMEOUT_S,
                      what="paymux to submit refund %s" % order_id)
    return call["params"]


class TestAdapterAgainstAcpSignedUnionpay(AdapterTests):
    def back_url(self, gateway):
        return "%s/notify/unionpay/%s/live" % (gateway.base_url, gateway.app_id)

    def test_qr_charge_paid_by_notification_then_refunded(self, gateway, fake):
        ch = create_charge(gateway, "upacp_qr", 1000)
        assert ch.livemode is True and ch.paid is False
        [apply] = fake.calls(ch.order_no, "01")
        sent = apply["params"]
        assert ch.credential["upacp_qr"] == fake.txns[ch.order_no]["qrCode"]
        assert (sent["txnSubType"], sent["txnAmt"], sent["currencyCode"]) == ("07", "1000", "156")
        assert (sent["bizType"], sent["accessType"], sent["channelType"]) == ("000000", "0", "08")
        assert sent["txnTime"] == acp.beijing_compact(ch.created)
        assert sent["payTimeout"] == acp.beijing_compact(ch.time_expire)
        assert sent["backUrl"] == self.back_url(gateway)
        assert (sent["certId"], sent["merId"]) == (UNIONPAY_CERT_ID, UNIONPAY_MER_ID)

        # A notification changed after it was signed changes nothing.
        tampered = fake.pay(ch.order_no, tamper={"txnAmt": "1"})
        assert tampered.status_code != 200, tampered.text
        assert pingpp.Charge.retrieve(ch.id).paid is False

        answer = fake.notify(ch.order_no)
        assert answer.status_code == 200, answer.text
        paid = wait_paid(ch.id)
        query_id = fake.txns[ch.order_no]["queryId"]
        assert paid.transaction_no == query_id

        # A partial refund: accepted, then settled by UnionPay's notification.
        part = pingpp.Charge.refund(ch.id, amount=300, description="部分退款")
        part_id = part.id[len("re_"):]
        sent = refund_submitted(fake, part_id)
        assert (sent["origQryId"], sent["txnAmt"], sent["txnSubType"]) == (query_id, "300", "00")
        assert sent["txnTime"] == acp.beijing_compact(part.created)
        assert sent["backUrl"] == self.back_url(gateway)
        assert pingpp.Charge.retrieve_refund(ch.id, part.id).status == "pending"
        answer = fake.settle_refund(part_id)
        assert answer.status_code == 200, answer.text
        part = wait_refund_settled(ch.id, part.id)
        assert (part.status, part.amount) == ("succeeded", 300)
        assert part.transaction_no == fake.txns[part_id]["queryId"]

        # The rest: the answer is lost on the way back, so paymux asks (00/00) and finds it.
        fake.instant_refunds = True
        fake.lose_next("04")
        try:
            rest = pingpp.Charge.refund(ch.id, description="rest")
            rest = wait_refund_settled(ch.id, rest.id)
        finally:
            fake.instant_refunds = False
        assert (rest.status, rest.amount) == ("succeeded", 700)
        rest_id = rest.id[len("re_"):]
        [lost] = fake.calls(rest_id, "04")
        assert lost["resp_code"] == "03"
        [query] = fake.calls(rest_id, "00")
        assert query["params"]["txnTime"] == acp.beijing_compact(rest.created)
        # UnionPay's notification of it still comes: acknowledged, nothing changes.
        assert fake.notify(rest_id).status_code == 200
        got = pingpp.Charge.retrieve(ch.id)
        assert (got.paid, got.refunded, got.amount_refunded) == (True, True, 1000)

    def test_scan_charge_paid_at_once(self, gateway, fake):
        code = scan_code()
        ch = create_charge(gateway, "upacp_scan", 888, extra={"scan_code": code})
        assert ch.livemode is True and ch.paid is True
        [consume] = fake.calls(ch.order_no, "01")
        sent = consume["params"]
        assert (sent["txnSubType"], sent["qrNo"], sent["txnAmt"]) == ("06", code, "888")
        assert sent["txnTime"] == acp.beijing_compact(ch.created)
        assert ch.transaction_no == fake.txns[ch.order_no]["queryId"]
        # UnionPay notifies the payment too: acknowledged, paid once.
        assert fake.notify(ch.order_no).status_code == 200
        got = pingpp.Charge.retrieve(ch.id)
        assert (got.paid, got.transaction_no) == (True, ch.transaction_no)

    def test_reverse_of_a_processing_scan_charge_is_a_reversal(self, gateway, fake):
        ch = create_charge(gateway, "upacp_scan", 500,
                           extra={"scan_code": scan_code(QR_WAIT_FOREVER)})
        assert ch.paid is False, "the payer is still confirming"
        rev = pingpp.Charge.reverse(ch.id)
        assert (rev.reversed, rev.paid, rev.refunded) == (True, False, False)
        [reversal] = fake.calls(ch.order_no, "99")
        assert reversal["params"]["txnSubType"] == "01"
        assert reversal["params"]["txnTime"] == acp.beijing_compact(ch.created)
        assert fake.txns[ch.order_no]["status"] == "reversed"
        assert fake.calls(ch.order_no, "04") == []

    def test_reverse_of_a_paid_scan_charge_refunds_it(self, gateway, fake):
        ch = create_charge(gateway, "upacp_scan", 700, extra={"scan_code": scan_code()})
        assert ch.paid is True
        rev = pingpp.Charge.reverse(ch.id)
        assert (rev.reversed, rev.paid, rev.refunded) == (True, True, True)
        [refund] = rev.refunds.data
        refund_id = refund.id[len("re_"):]
        sent = refund_submitted(fake, refund_id)
        assert (sent["origQryId"], sent["txnAmt"]) == (ch.transaction_no, "700")
        assert fake.settle_refund(refund_id).status_code == 200
        assert wait_refund_settled(ch.id, refund.id).status == "succeeded"
        assert fake.calls(ch.order_no, "99") == []

    def test_a_rotated_signing_certificate_keeps_working(self, gateway, fake):
        before = fake.signer
        after = fake.rotate()
        assert after.cert_id != before.cert_id
        ch = create_charge(gateway, "upacp_scan", 100, extra={"scan_code": scan_code()})
        assert ch.paid is True
        [consume] = fake.calls(ch.order_no, "01")
        assert consume["cert_id"] == after.cert_id, "answered under the new certificate"

        qr = create_charge(gateway, "upacp_qr", 200)
        assert qr.credential["upacp_qr"]
        answer = fake.pay(qr.order_no)
        assert answer.status_code == 200, answer.text
        wait_paid(qr.id)
        # What was signed before the rotation is still UnionPay's to paymux: the old
        # certificate has not expired.
        legacy = fake.notify(ch.order_no, signer=before)
        assert legacy.status_code == 200, legacy.text

    def test_a_request_unionpay_cannot_verify_is_refused(self, gateway, fake, keys):
        """The fake's check is real: under another merchant key paymux's signature fails
        (respCode=11), and the merchant is told the channel refused."""
        self.expect_refused = {("01", "11")}
        right = fake.merchant_key
        fake.merchant_key = keys["stranger"].public_key()
        try:
            with pytest.raises(pingpp.error.ChannelError) as refused:
                create_charge(gateway, "upacp_qr", 100)
        finally:
            fake.merchant_key = right
        assert refused.value.http_status == 402
        assert refused.value.json_body["error"]["code"] == "11", str(refused.value)

    def test_what_an_untrusted_certificate_signs_is_not_believed(self, gateway, fake):
        now = datetime.now(timezone.utc)
        untrusted = {
            "another chain": acp.Authority("Stranger").issue(),
            "the test environment's owner": fake.authority.issue(owner=acp.TEST_OWNER),
            "another owner": fake.authority.issue(owner="某某科技有限公司"),
            "expired": fake.authority.issue(valid_from=now - timedelta(days=30),
                                            valid_until=now - timedelta(days=1)),
        }
        # A notification signed under it is refused, and the charge stays unpaid.
        qr = create_charge(gateway, "upacp_qr", 100)
        for why, signer in untrusted.items():
            forged = fake.pay(qr.order_no, signer=signer)
            assert forged.status_code != 200, (why, forged.text)
        assert pingpp.Charge.retrieve(qr.id).paid is False

        # An answer signed under it is no answer: the consumer-code payment stays open...
        open_charges = {}
        for why, signer in untrusted.items():
            with fake.signing_with(signer):
                ch = create_charge(gateway, "upacp_scan", 100, extra={"scan_code": scan_code()})
            assert ch.paid is False, why
            assert fake.txns[ch.order_no]["status"] == "succeeded"
            open_charges[why] = ch.id
        # ...until paymux asks again and UnionPay answers under its own certificate.
        for why, charge_id in open_charges.items():
            wait_paid(charge_id, what="the poll to find %s paid" % why)
        answer = fake.notify(qr.order_no)
        assert answer.status_code == 200, answer.text
        wait_paid(qr.id)


# =============================================================================================
# 1, continued: last in the module, so that the simulator's payer (who confirms SCAN_WAIT_S
# after the first simulator test started) confirms while part 2 runs
# =============================================================================================

def test_consumer_code_processing_then_paid_by_query(client, receiver, confirming_payment):
    started = confirming_payment
    assert_code(started["answer"], "05")
    order_id, txn_time = started["order_id"], started["txn_time"]
    paid = wait_for(lambda: client.query(order_id, txn_time),
                    lambda q: q["origRespCode"] != "05",
                    timeout=max(0.0, started["deadline"] - time.monotonic()),
                    interval=0.2, what="the payer of %s to confirm" % order_id)
    assert_code(paid, "00")
    assert (paid["origRespCode"], paid["queryId"]) == ("00", started["answer"]["queryId"])
    [note] = notifications(receiver, client.validator, order_id, 1)
    assert (note["respCode"], note["queryId"], note["txnAmt"]) == \
        ("00", paid["queryId"], "520")
