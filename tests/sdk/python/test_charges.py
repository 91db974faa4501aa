"""Charges through the official Python SDK: create (every channel), retrieve,
list (app[id], limit, paid filter, starting_after) and test-mode payment."""

import pingpp
import pytest

from paymux_harness import CHANNEL_EXTRAS, QR_CHANNELS, SCAN_CHANNELS, charge_params


def assert_common_charge_fields(ch, params, app_id):
    assert isinstance(ch, pingpp.Charge)
    assert ch.object == "charge"
    assert ch.id.startswith("ch_")
    assert ch.livemode is False
    assert ch.app == app_id
    assert ch.channel == params["channel"]
    assert ch.order_no == params["order_no"]
    assert ch.amount == params["amount"]
    assert ch.currency == params["currency"]
    assert ch.client_ip == "127.0.0.1"
    assert ch.subject == params["subject"]
    assert ch.body == params["body"]
    assert isinstance(ch.created, int)
    assert ch.refunded is False
    assert ch.reversed is False
    assert ch.amount_refunded == 0
    for key, value in params["extra"].items():  # extra is echoed back
        assert ch.extra[key] == value, key
    assert ch.refunds.object == "list"
    assert ch.refunds.url == "/v1/charges/%s/refunds" % ch.id
    assert list(ch.refunds.data) == []


@pytest.mark.parametrize("channel", QR_CHANNELS)
def test_create_qr_channel_returns_unpaid_charge_with_payment_url(server, channel):
    params = charge_params(server.app_id, channel)
    ch = pingpp.Charge.create(**params)

    assert_common_charge_fields(ch, params, server.app_id)
    assert ch.paid is False
    assert ch.time_paid is None
    assert ch.credential.object == "credential"
    url = ch.credential[channel]
    assert isinstance(url, str) and url.startswith("http"), ch.credential


@pytest.mark.parametrize("channel", SCAN_CHANNELS)
def test_create_scan_channel_returns_paid_charge(server, channel):
    params = charge_params(server.app_id, channel)
    ch = pingpp.Charge.create(**params)

    assert_common_charge_fields(ch, params, server.app_id)
    assert ch.paid is True
    assert isinstance(ch.time_paid, int) and ch.time_paid >= ch.created
    assert isinstance(ch.transaction_no, str) and ch.transaction_no


@pytest.mark.parametrize("channel", sorted(CHANNEL_EXTRAS))
def test_retrieve_returns_the_created_charge(create_charge, channel):
    created = create_charge(channel, amount=1234)
    got = pingpp.Charge.retrieve(created.id)

    assert isinstance(got, pingpp.Charge)
    for field in ("id", "object", "livemode", "app", "channel", "order_no", "amount",
                  "currency", "paid", "refunded", "amount_refunded", "created",
                  "time_paid", "transaction_no"):
        assert got[field] == created[field], field
    assert got.amount == 1234


def test_retrieve_unknown_charge_is_404(server):
    with pytest.raises(pingpp.error.InvalidRequestError) as exc:
        pingpp.Charge.retrieve("ch_000000000000000000000000")
    assert exc.value.http_status == 404
    assert exc.value.json_body["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("channel,extra", [
    ("wx_pub_qr", {}),                                                  # no product_id
    ("cb_wx_pub_qr", {"product_id": "prod0001"}),                       # no goods_list
    ("isv_qr", {"terminal_id": "T000000012", "pay_channel": "alipay"}),  # terminal_id > 8
    ("isv_qr", {"terminal_id": "T0000001", "pay_channel": "paypal"}),   # bad pay_channel
    ("isv_wap", {"terminal_id": "T0000001", "pay_channel": "wx"}),      # no result_url
    ("alipay_scan", {"terminal_id": "T0000001"}),                       # no scan_code
    ("isv_scan", {"scan_code": "286801346868493272"}),                  # no terminal_id
])
def test_create_without_required_extra_is_rejected(server, channel, extra):
    params = charge_params(server.app_id, channel, extra=extra)
    with pytest.raises(pingpp.error.InvalidRequestError) as exc:
        pingpp.Charge.create(**params)
    assert exc.value.http_status == 400
    assert exc.value.json_body["error"]["type"] == "invalid_request_error"
    assert exc.value.json_body["error"]["message"]


class TestList:
    def test_list_requires_app_id_client_side(self):
        with pytest.raises(pingpp.error.InvalidRequestError):
            pingpp.Charge.list(limit=3)

    def test_limit_and_has_more(self, server, create_charge):
        for _ in range(4):
            create_charge("alipay_qr")
        page = pingpp.Charge.list(app={"id": server.app_id}, limit=3)
        assert page.object == "list"
        assert page.url == "/v1/charges"
        assert page.has_more is True
        assert len(page.data) == 3
        assert all(isinstance(c, pingpp.Charge) and c.app == server.app_id for c in page.data)

    def test_starting_after_continues_right_after_the_cursor(self, server, create_charge):
        for _ in range(6):
            create_charge("alipay_qr")
        everything = [c.id for c in pingpp.Charge.list(app={"id": server.app_id}, limit=20).data]
        page = pingpp.Charge.list(app={"id": server.app_id}, limit=2,
                                  starting_after=everything[2])
        assert [c.id for c in page.data] == everything[3:5]
        assert page.has_more is True

    def test_newest_first(self, server, create_charge):
        # Charges created within the same second must still come back in
        # reverse creation order (most recent first).
        created = [create_charge("alipay_qr").id for _ in range(5)]
        page = pingpp.Charge.list(app={"id": server.app_id}, limit=5)
        assert [c.id for c in page.data] == created[::-1]
        createds = [c.created for c in page.data]
        assert createds == sorted(createds, reverse=True)

    def test_walking_all_pages_yields_each_charge_once(self, server, create_charge):
        created = {create_charge("wx_pub_qr").id for _ in range(3)}
        seen, cursor = [], None
        while True:
            kwargs = {"starting_after": cursor} if cursor else {}
            page = pingpp.Charge.list(app={"id": server.app_id}, limit=2, **kwargs)
            assert len(page.data) <= 2
            seen.extend(c.id for c in page.data)
            if not page.has_more:
                break
            cursor = page.data[-1].id
            assert len(seen) < 1000, "pagination does not terminate"
        assert len(seen) == len(set(seen)), "a charge appeared on two pages"
        assert created <= set(seen)

    def test_paid_filter(self, server, create_charge):
        unpaid = {create_charge("alipay_qr").id, create_charge("upacp_qr").id}
        paid = {create_charge("alipay_scan").id, create_charge("wx_pub_scan").id}

        got_paid = pingpp.Charge.list(app={"id": server.app_id}, limit=100, paid=True)
        assert got_paid.data and all(c.paid is True for c in got_paid.data)
        ids = {c.id for c in got_paid.data}
        assert paid <= ids and not (unpaid & ids)

        got_unpaid = pingpp.Charge.list(app={"id": server.app_id}, limit=100, paid=False)
        assert got_unpaid.data and all(c.paid is False for c in got_unpaid.data)
        ids = {c.id for c in got_unpaid.data}
        assert unpaid <= ids and not (paid & ids)


class TestTestModePay:
    @pytest.mark.parametrize("channel", ["alipay_qr", "wx_pub_qr", "isv_wap"])
    def test_pay_marks_charge_paid(self, server, create_charge, channel):
        ch = create_charge(channel)
        assert ch.paid is False

        body = server.test_pay(ch.id)
        assert body["object"] == "charge"
        assert body["id"] == ch.id
        assert body["paid"] is True

        got = pingpp.Charge.retrieve(ch.id)
        assert got.paid is True
        assert isinstance(got.time_paid, int) and got.time_paid >= got.created
        assert isinstance(got.transaction_no, str) and got.transaction_no
        assert got.amount_refunded == 0 and got.refunded is False

    def test_failed_payment_leaves_charge_unpaid(self, server, create_charge):
        ch = create_charge("alipay_qr")
        body = server.test_pay(ch.id, result="fail")
        assert body["id"] == ch.id
        assert body["paid"] is False

        got = pingpp.Charge.retrieve(ch.id)
        assert got.paid is False
        assert got.time_paid is None

