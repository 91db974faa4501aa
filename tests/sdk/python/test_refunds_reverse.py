"""Charge refunds (create / retrieve / list, over-refund) and reverse, through
the official Python SDK."""

import re

import pingpp
import pytest

from paymux_harness import wait_for


def mentions_amount(message, fen):
    """True if `message` states `fen` (as fen, e.g. 700, or yuan, e.g. 7.00)."""
    for form in {str(fen), "%.2f" % (fen / 100.0)}:
        if re.search(r"(?<![A-Za-z0-9_.])%s(?![A-Za-z0-9_])" % re.escape(form), message):
            return True
    return False


def wait_refund_succeeded(charge_id, refund_id):
    return wait_for(lambda: pingpp.Charge.retrieve_refund(charge_id, refund_id),
                    lambda r: r.status == "succeeded",
                    what="refund %s to succeed" % refund_id)


@pytest.fixture
def paid_charge(server, create_charge):
    """A 1000-fen alipay_qr charge paid through the test-mode helper."""
    ch = create_charge("alipay_qr", amount=1000)
    server.test_pay(ch.id)
    ch = pingpp.Charge.retrieve(ch.id)
    assert ch.paid is True
    return ch


def assert_refund(re_, charge, amount, description):
    assert isinstance(re_, pingpp.Refund)
    assert re_.object == "refund"
    assert re_.id.startswith("re_")
    assert re_.amount == amount
    assert re_.charge == charge.id
    assert re_.charge_order_no == charge.order_no
    assert re_.description == description
    assert isinstance(re_.created, int)
    assert isinstance(re_.extra, dict)


def test_partial_full_and_over_refund(paid_charge):
    ch = paid_charge

    # partial refund: pending at first, succeeded shortly after
    r1 = pingpp.Charge.refund(ch.id, amount=300, description="partial")
    assert_refund(r1, ch, 300, "partial")
    assert r1.status == "pending"
    assert r1.succeed is False
    r1 = wait_refund_succeeded(ch.id, r1.id)
    assert r1.succeed is True
    assert isinstance(r1.time_succeed, int)

    got = pingpp.Charge.retrieve(ch.id)
    assert got.amount_refunded == 300
    assert got.refunded is True
    assert [r.id for r in got.refunds.data] == [r1.id]

    # more than what is left: refused, message states the refundable 700
    with pytest.raises(pingpp.error.InvalidRequestError) as exc:
        pingpp.Charge.refund(ch.id, amount=800, description="too much")
    assert exc.value.http_status == 400
    assert exc.value.json_body["error"]["type"] == "invalid_request_error"
    assert mentions_amount(str(exc.value), 700), str(exc.value)

    # no amount = the whole rest
    r2 = pingpp.Charge.refund(ch.id, description="rest")
    assert_refund(r2, ch, 700, "rest")
    wait_refund_succeeded(ch.id, r2.id)

    got = pingpp.Charge.retrieve(ch.id)
    assert got.amount_refunded == 1000
    assert got.refunded is True
    assert {r.id for r in got.refunds.data} == {r1.id, r2.id}

    # fully refunded: anything more is an over-refund, refundable amount 0
    with pytest.raises(pingpp.error.InvalidRequestError) as exc:
        pingpp.Charge.refund(ch.id, amount=1, description="one more")
    assert exc.value.http_status == 400
    assert mentions_amount(str(exc.value), 0), str(exc.value)
    assert pingpp.Charge.retrieve(ch.id).amount_refunded == 1000


def test_refund_of_unpaid_charge_is_rejected(create_charge):
    ch = create_charge("alipay_qr")
    with pytest.raises(pingpp.error.InvalidRequestError) as exc:
        pingpp.Charge.refund(ch.id, amount=100, description="nothing was paid")
    assert exc.value.http_status == 400
    assert pingpp.Charge.retrieve(ch.id).refunds.data == []


def test_refund_list_and_retrieve(paid_charge):
    ch = paid_charge
    r1 = pingpp.Charge.refund(ch.id, amount=100, description="first")
    r2 = pingpp.Charge.refund(ch.id, amount=200, description="second")

    refunds = pingpp.Charge.list_refunds(ch.id)
    assert refunds.object == "list"
    assert refunds.url == "/v1/charges/%s/refunds" % ch.id
    assert refunds.has_more is False
    assert {r.id for r in refunds.data} == {r1.id, r2.id}
    assert all(isinstance(r, pingpp.Refund) for r in refunds.data)

    page = pingpp.Charge.list_refunds(ch.id, limit=1)
    assert len(page.data) == 1 and page.has_more is True

    got = pingpp.Charge.retrieve_refund(ch.id, r2.id)
    assert_refund(got, ch, 200, "second")
    assert got.id == r2.id
    assert got.status in ("pending", "succeeded")

    with pytest.raises(pingpp.error.InvalidRequestError) as exc:
        pingpp.Charge.retrieve_refund(ch.id, "re_000000000000000000000000")
    assert exc.value.http_status == 404


class TestReverse:
    def test_reverse_unpaid_isv_qr_closes_it(self, create_charge):
        ch = create_charge("isv_qr")
        assert ch.paid is False

        rev = pingpp.Charge.reverse(ch.id)
        assert isinstance(rev, pingpp.Charge)
        assert rev.id == ch.id
        assert rev.reversed is True
        assert rev.paid is False

        got = pingpp.Charge.retrieve(ch.id)
        assert got.reversed is True
        assert got.paid is False
        assert got.amount_refunded == 0

    def test_reverse_paid_isv_scan_refunds_it(self, create_charge):
        ch = create_charge("isv_scan", amount=888)
        assert ch.paid is True

        rev = pingpp.Charge.reverse(ch.id)
        assert rev.id == ch.id
        assert rev.reversed is True
        assert rev.paid is True

        got = wait_for(lambda: pingpp.Charge.retrieve(ch.id),
                       lambda c: c.amount_refunded == 888
                       and [r.status for r in c.refunds.data] == ["succeeded"],
                       what="the reversed charge to be refunded")
        assert got.reversed is True
        assert got.refunded is True
        assert got.refunds.data[0].amount == 888

    @pytest.mark.parametrize("channel", ["alipay_qr", "wx_pub_qr"])
    def test_reverse_is_refused_for_non_isv_qr_channels(self, create_charge, channel):
        ch = create_charge(channel)
        with pytest.raises(pingpp.error.InvalidRequestError) as exc:
            pingpp.Charge.reverse(ch.id)
        assert exc.value.http_status == 400
        assert exc.value.json_body["error"]["type"] == "invalid_request_error"
        assert pingpp.Charge.retrieve(ch.id).reversed is False
