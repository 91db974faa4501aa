"""Live mode through the official Python SDK, against the channel simulators.

This module runs its own gateway (``LiveGateway``): `paymux simulate wechat`,
`paymux simulate alipay` and `paymux simulate unionpay` on loopback, and a server whose app
has all three configured in live mode. Every charge, refund, retrieve and list goes through the SDK with the live key; the
simulators' control routes play the payer, and their notifications come back to the gateway.
"""

import itertools
import re
import time

import pingpp
import pytest

from paymux_harness import (CHANNEL_EXTRAS, charge_params, finish_server, point_sdk,
                            start_live_gateway, wait_for)

# How long a merchant may have to wait for what the channel says (notifications over
# loopback take milliseconds; the scan poll runs every 5 s).
SETTLE_TIMEOUT_S = 10

# What the channels hand out as the payment URL.
CREDENTIAL_RE = {
    "wx_pub_qr": re.compile(r"^weixin://wxpay/bizpayurl\?pr=\w+$"),
    "alipay_qr": re.compile(r"^https://qr\.alipay\.com/\w+$"),
    "upacp_qr": re.compile(r"^https://qr\.95516\.com/[\w/]+$"),
}
# The simulators' field names for the same things (UnionPay's: its /_sim/ snapshot's
# names for qrCode and queryId).
SIM_CREDENTIAL = {"wx_pub_qr": "code_url", "alipay_qr": "qr_code", "upacp_qr": "qr_code"}
SIM_TRANSACTION = {"wx": "transaction_id", "alipay": "trade_no", "unionpay": "query_id"}
# A notification sent twice (WeChat's knob is a switch, the others' a count).
DUPLICATE_KNOB = {"wx": (True, False), "alipay": (1, 0), "unionpay": (1, 0)}
# A payment code that pays at once, as (prefix, length): WeChat's and Alipay's with no script
# prefix (1300… and 2899… are their simulators' scripts), UnionPay's 19 digits with the
# simulator's "pays at once" script 629900 (629901…629905 are the others). Only WeChat refuses
# a code it has seen; each test gets a fresh one anyway.
SCAN_CODE = {"wx": ("134", 18), "alipay": ("286", 18), "unionpay": ("629900", 19)}

QR = ["wx_pub_qr", "alipay_qr", "upacp_qr"]
SCAN = ["wx_pub_scan", "alipay_scan", "upacp_scan"]


_scan_codes = itertools.count(1)


def scan_extra(channel, scan_code=None):
    """The channel's `extra` with a payment code of its own: WeChat takes a code only once.
    By default a code that pays at once (see SCAN_PREFIX)."""
    if scan_code is None:
        serial = (int(time.time() * 1000) * 1000 + next(_scan_codes)) % 10**15
        prefix, length = SCAN_CODE[provider(channel)]
        scan_code = prefix + ("%015d" % serial)[-(length - len(prefix)):]
    return dict(CHANNEL_EXTRAS[channel], scan_code=scan_code)


def provider(channel):
    if channel.startswith("wx"):
        return "wx"
    return "unionpay" if channel.startswith("upacp") else "alipay"


@pytest.fixture(scope="module")
def server(request):
    srv = start_live_gateway()
    yield srv
    finish_server(request, srv)


@pytest.fixture(autouse=True)
def sdk(server):
    """The official SDK with the live secret key, unsigned."""
    point_sdk(server, server.live_key)
    yield pingpp
    pingpp.api_key = server.test_key


def create(server, channel, amount=1000, **overrides):
    return pingpp.Charge.create(**charge_params(server.app_id, channel, amount, **overrides))


def wait_paid(charge_id):
    return wait_for(lambda: pingpp.Charge.retrieve(charge_id), lambda c: c.paid,
                    timeout=SETTLE_TIMEOUT_S, interval=0.1,
                    what="charge %s to be paid" % charge_id)


def wait_refund_settled(charge_id, refund_id):
    return wait_for(lambda: pingpp.Charge.retrieve_refund(charge_id, refund_id),
                    lambda r: r.status != "pending", timeout=SETTLE_TIMEOUT_S, interval=0.1,
                    what="refund %s to settle" % refund_id)


def live_events(server, type_, object_id):
    """Events of `type_` about `object_id` in the live event list (raw: no SDK method)."""
    return [e for e in server.recent_events(limit=100, key=server.live_key)
            if e["type"] == type_ and e["data"]["object"]["id"] == object_id]


def the_event(server, type_, object_id):
    """Waits for the one `type_` event about `object_id`; retrieves it through the SDK."""
    events = wait_for(lambda: live_events(server, type_, object_id), lambda evs: evs,
                      timeout=SETTLE_TIMEOUT_S, what="a %s event for %s" % (type_, object_id))
    assert len(events) == 1, events
    evt = pingpp.Event.retrieve(events[0]["id"])
    assert isinstance(evt, pingpp.Event)
    assert evt.type == type_
    assert evt.livemode is True
    assert evt.data.object.id == object_id
    return evt


def paid_at_channel(server, channel, amount=1000):
    """A live QR charge the payer paid at the channel's simulator."""
    ch = create(server, channel, amount)
    server.pay_at_channel(channel, ch.order_no)
    return wait_paid(ch.id)


@pytest.mark.parametrize("channel", QR)
def test_qr_charge_is_paid_at_the_channel(server, channel):
    ch = create(server, channel)
    assert isinstance(ch, pingpp.Charge)
    assert ch.livemode is True
    assert ch.paid is False
    assert ch.transaction_no in (None, "")
    credential = ch.credential[channel]
    assert CREDENTIAL_RE[channel].match(credential), credential
    assert not credential.startswith(server.base_url), "the gateway's own test page"
    at_channel = server.channel_order(channel, ch.order_no)
    assert at_channel[SIM_CREDENTIAL[channel]] == credential
    assert pingpp.Charge.retrieve(ch.id).paid is False

    # the channel sends its notification twice; the merchant sees one payment
    twice, once = DUPLICATE_KNOB[provider(channel)]
    server.set_knobs(channel, duplicate_notifications=twice)
    try:
        paid = server.pay_at_channel(channel, ch.order_no)
        got = wait_paid(ch.id)
        wait_for(lambda: server.acknowledged_posts(channel, ch.order_no), lambda n: n >= 2,
                 timeout=SETTLE_TIMEOUT_S, what="both copies of the notification answered")
    finally:
        server.set_knobs(channel, duplicate_notifications=once)

    assert got.id == ch.id
    assert got.livemode is True
    assert got.paid is True
    assert isinstance(got.time_paid, int)
    assert got.transaction_no == paid[SIM_TRANSACTION[provider(channel)]]
    assert got.transaction_no

    evt = the_event(server, "charge.succeeded", ch.id)
    assert evt.data.object.paid is True
    assert evt.data.object.transaction_no == got.transaction_no

    listed = pingpp.Charge.list(app={"id": server.app_id}, limit=100)
    mine = [c for c in listed.data if c.id == ch.id]
    assert len(mine) == 1 and mine[0].paid is True and mine[0].livemode is True


@pytest.mark.parametrize("channel", SCAN)
def test_scan_charge_paid_at_once(server, channel):
    ch = create(server, channel, amount=888, extra=scan_extra(channel))
    assert ch.livemode is True
    assert ch.paid is True, "a payment code that pays at once: paid in the create answer"
    assert isinstance(ch.time_paid, int)
    at_channel = server.channel_order(channel, ch.order_no)
    assert ch.transaction_no == at_channel[SIM_TRANSACTION[provider(channel)]]
    assert ch.transaction_no
    got = pingpp.Charge.retrieve(ch.id)
    assert got.paid is True and got.transaction_no == ch.transaction_no
    the_event(server, "charge.succeeded", ch.id)


def test_scan_charge_payer_confirming_then_paid_by_the_poll(server):
    """WeChat answers USERPAYING; the gateway asks again 5 s later and finds it paid.
    (Scripted payment code 1300 01 00 + 10 free digits: USERPAYING, then SUCCESS on the
    first query.)"""
    started = time.monotonic()
    code = "13000100%010d" % (int(time.time() * 1000) % 10**10)
    ch = create(server, "wx_pub_scan", extra=scan_extra("wx_pub_scan", code))
    assert ch.livemode is True
    assert ch.paid is False, "the payer is still confirming"
    got = wait_for(lambda: pingpp.Charge.retrieve(ch.id), lambda c: c.paid,
                   timeout=12, interval=0.25, what="the 5 s poll to find %s paid" % ch.id)
    assert time.monotonic() - started >= 4, "paid before the gateway asked again"
    at_channel = server.channel_order("wx_pub_scan", ch.order_no)
    assert at_channel["trade_state"] == "SUCCESS"
    assert got.transaction_no == at_channel["transaction_id"]
    the_event(server, "charge.succeeded", ch.id)


@pytest.mark.parametrize("channel", QR)
def test_partial_refund_then_the_rest(server, channel):
    ch = paid_at_channel(server, channel, amount=1000)

    r1 = pingpp.Charge.refund(ch.id, amount=300, description="partial")
    assert isinstance(r1, pingpp.Refund)
    assert r1.amount == 300 and r1.charge == ch.id
    assert r1.status == "pending"
    assert r1.succeed is False
    r1 = wait_refund_settled(ch.id, r1.id)
    assert r1.status == "succeeded", r1
    assert r1.succeed is True
    assert isinstance(r1.time_succeed, int)
    assert r1.transaction_no
    got = pingpp.Charge.retrieve(ch.id)
    assert got.amount_refunded == 300 and got.refunded is True

    # more than the 700 left: refused by the gateway, nothing reaches the channel
    with pytest.raises(pingpp.error.InvalidRequestError) as exc:
        pingpp.Charge.refund(ch.id, amount=800, description="too much")
    assert exc.value.http_status == 400
    assert "700" in str(exc.value) or "7.00" in str(exc.value), str(exc.value)

    r2 = pingpp.Charge.refund(ch.id, description="rest")
    assert r2.amount == 700
    assert r2.status == "pending"
    r2 = wait_refund_settled(ch.id, r2.id)
    assert r2.status == "succeeded", r2

    got = pingpp.Charge.retrieve(ch.id)
    assert got.amount_refunded == 1000
    assert {r.id: r.status for r in got.refunds.data} == {r1.id: "succeeded",
                                                           r2.id: "succeeded"}
    with pytest.raises(pingpp.error.InvalidRequestError) as exc:
        pingpp.Charge.refund(ch.id, amount=1, description="one more")
    assert exc.value.http_status == 400

    # the channel refunded exactly these two
    at_channel = server.channel_order(channel, ch.order_no)
    if provider(channel) == "unionpay":
        # each refund is a 04/00 of its own (orderId = the refund id without re_), numbered
        # by UnionPay's queryId, against the payment's queryId
        assert at_channel["refunded"] == 1000, at_channel
        for refund in (r1, r2):
            at_up = server.channel_order(channel, refund.id[len("re_"):])
            assert (at_up["txn_type"], at_up["txn_amt"], at_up["status"]) == \
                ("04", refund.amount, "succeeded"), at_up
            assert at_up["orig_qry_id"] == ch.transaction_no
            assert refund.transaction_no == at_up["query_id"]
    elif provider(channel) == "wx":
        assert sorted((r["out_refund_no"], r["refund_fee"], r["refund_status"])
                      for r in at_channel["refunds"]) == \
            sorted([(r1.id, 300, "SUCCESS"), (r2.id, 700, "SUCCESS")])
    else:
        assert sorted((r["out_request_no"], r["refund_amount"])
                      for r in at_channel["refunds"]) == \
            sorted([(r1.id, "3.00"), (r2.id, "7.00")])

    for refund in (r1, r2):
        evt = the_event(server, "refund.succeeded", refund.id)
        assert evt.data.object.amount == refund.amount


@pytest.mark.parametrize("channel", QR)
def test_create_is_idempotent_on_order_no(server, channel):
    params = charge_params(server.app_id, channel)
    first = pingpp.Charge.create(**params)
    again = pingpp.Charge.create(**params)
    assert again.id == first.id
    assert again.livemode is True
    assert again.credential[channel] == first.credential[channel]
    listed = pingpp.Charge.list(app={"id": server.app_id}, limit=100)
    assert [c.id for c in listed.data if c.order_no == params["order_no"]] == [first.id]


def test_channel_not_configured_in_live_mode(server):
    params = charge_params(server.app_id, "ccb_qr")
    with pytest.raises(pingpp.error.ChannelError) as exc:
        pingpp.Charge.create(**params)
    assert exc.value.http_status == 402
    error = exc.value.json_body["error"]
    assert error["type"] == "channel_error"
    assert error["code"] == "channel_not_configured"
    listed = pingpp.Charge.list(app={"id": server.app_id}, limit=100)
    assert [c for c in listed.data if c.order_no == params["order_no"]] == []


@pytest.mark.parametrize("channel", SCAN)
def test_reverse_of_a_paid_scan_charge_refunds_it_at_the_channel(server, channel):
    ch = create(server, channel, amount=500, extra=scan_extra(channel))
    assert ch.paid is True
    rev = pingpp.Charge.reverse(ch.id)
    assert rev.reversed is True and rev.paid is True and rev.refunded is True
    [refund] = rev.refunds.data
    assert refund.amount == 500
    refund = wait_refund_settled(ch.id, refund.id)
    assert refund.status == "succeeded", refund
    assert refund.transaction_no
    at_channel = server.channel_order(channel, ch.order_no)
    if provider(channel) == "unionpay":
        # refunded in full with a 04/00, not also reversed with a 99/01: undone once
        assert at_channel["refunded"] == 500 and at_channel["status"] == "succeeded", at_channel
        at_up = server.channel_order(channel, refund.id[len("re_"):])
        assert (at_up["txn_type"], at_up["txn_amt"], at_up["status"]) == \
            ("04", 500, "succeeded"), at_up
        assert refund.transaction_no == at_up["query_id"]
    else:
        assert len(at_channel["refunds"]) == 1, at_channel
    the_event(server, "charge.reversed", ch.id)
    the_event(server, "refund.succeeded", refund.id)


@pytest.mark.parametrize("pay_channel", ["wx", "alipay"])
def test_reverse_of_an_unpaid_isv_qr_closes_it_at_the_channel(server, pay_channel):
    extra = dict(CHANNEL_EXTRAS["isv_qr"], pay_channel=pay_channel)
    ch = create(server, "isv_qr", extra=extra)
    assert ch.paid is False
    rev = pingpp.Charge.reverse(ch.id)
    assert rev.reversed is True and rev.paid is False
    assert pingpp.Charge.retrieve(ch.id).reversed is True
    the_event(server, "charge.reversed", ch.id)
    # The channel closed it: the payer can no longer pay it.
    sim = server.simulator("wx_pub_qr" if pay_channel == "wx" else "alipay_qr")
    resp = sim.control("POST", "/_sim/orders/%s/pay" % ch.order_no, {})
    assert resp.status_code != 200, resp.text
    assert pingpp.Charge.retrieve(ch.id).paid is False
