"""Events (retrieve through the SDK) and API-key authentication."""

import time

import pingpp
import pytest
import requests

from paymux_harness import charge_params, wait_for


def find_event(server, type_, object_id):
    """Poll the raw event list (newest first) for a matching event."""
    def matching(events):
        return [e for e in events
                if e["type"] == type_ and e["data"]["object"]["id"] == object_id]

    events = wait_for(lambda: server.recent_events(limit=100), lambda evs: matching(evs),
                      what="a %s event for %s" % (type_, object_id))
    createds = [e["created"] for e in events]
    assert createds == sorted(createds, reverse=True), "event list is not newest first"
    return matching(events)[0]


def test_charge_succeeded_event_retrieve(server, create_charge):
    ch = create_charge("wx_pub_qr")
    server.test_pay(ch.id)
    listed = find_event(server, "charge.succeeded", ch.id)

    evt = pingpp.Event.retrieve(listed["id"])
    assert isinstance(evt, pingpp.Event)
    assert evt.object == "event"
    assert evt.id == listed["id"]
    assert evt.type == "charge.succeeded"
    assert evt.livemode is False
    assert isinstance(evt.created, int)
    assert isinstance(evt.pending_webhooks, int)
    obj = evt.data.object
    assert isinstance(obj, pingpp.Charge)
    assert obj.id == ch.id
    assert obj.paid is True
    assert obj.amount == ch.amount


def test_refund_succeeded_event_retrieve(server, create_charge):
    ch = create_charge("alipay_scan", amount=500)
    re_ = pingpp.Charge.refund(ch.id, amount=200, description="evt")
    listed = find_event(server, "refund.succeeded", re_.id)

    evt = pingpp.Event.retrieve(listed["id"])
    assert evt.type == "refund.succeeded"
    obj = evt.data.object
    assert isinstance(obj, pingpp.Refund)
    assert obj.id == re_.id
    assert obj.charge == ch.id
    assert obj.amount == 200
    assert obj.status == "succeeded"


def test_event_list_is_newest_first(server, create_charge):
    charges = [create_charge("alipay_qr") for _ in range(5)]
    time.sleep(0.3)  # let any refund still pending from other tests settle
    for ch in charges:
        server.test_pay(ch.id)
    events = server.recent_events(limit=5)
    assert [(e["type"], e["data"]["object"]["id"]) for e in events] == \
        [("charge.succeeded", ch.id) for ch in reversed(charges)]


def test_retrieve_unknown_event_is_404(server):
    with pytest.raises(pingpp.error.InvalidRequestError) as exc:
        pingpp.Event.retrieve("evt_000000000000000000000000")
    assert exc.value.http_status == 404


class TestApiKey:
    BAD_KEY = "sk_test_" + "Zz9" * 8

    def test_wrong_key_on_retrieve_is_authentication_error(self, create_charge):
        ch = create_charge("alipay_qr")
        with pytest.raises(pingpp.error.AuthenticationError) as exc:
            pingpp.Charge.retrieve(ch.id, api_key=self.BAD_KEY)
        assert exc.value.http_status == 401
        assert isinstance(exc.value.json_body["error"]["message"], str)
        assert exc.value.json_body["error"]["message"]

    def test_wrong_key_on_create_is_refused_and_creates_nothing(self, server):
        params = charge_params(server.app_id, "alipay_qr")
        with pytest.raises(pingpp.error.AuthenticationError) as exc:
            pingpp.Charge.create(api_key=self.BAD_KEY, **params)
        assert exc.value.http_status == 401
        recent = pingpp.Charge.list(app={"id": server.app_id}, limit=100)
        assert params["order_no"] not in [c.order_no for c in recent.data]

    def test_wrong_key_via_global_setting(self, server):
        pingpp.api_key = self.BAD_KEY
        with pytest.raises(pingpp.error.AuthenticationError) as exc:
            pingpp.Charge.list(app={"id": server.app_id}, limit=1)
        assert exc.value.http_status == 401

    def test_raw_basic_auth_is_accepted_too(self, server, create_charge):
        # Node and Go send `Basic base64(key + ":")`; paymux must accept both.
        ch = create_charge("alipay_qr")
        resp = requests.get(server.base_url + "/v1/charges/" + ch.id,
                            auth=(server.test_key, ""), timeout=15)
        assert resp.status_code == 200, resp.text
        assert resp.json()["id"] == ch.id
