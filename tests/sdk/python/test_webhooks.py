"""Webhooks: a receiver using the official Python example's verification code
(``webhook_receiver.py``, after pingpp-python ``example/verify_demo.py``)
accepts paymux's deliveries and rejects a tampered body or a foreign signature.

This module runs its own server because it registers a webhook endpoint, which
would otherwise get every other test's events.
"""

import base64

import pingpp
import pytest
import requests
from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA
from Crypto.Signature import PKCS1_v1_5

from paymux_harness import charge_params, finish_server, start_server, wait_for
from webhook_receiver import SIGNATURE_HEADER, WebhookReceiver, verify

DELIVERY_TIMEOUT_S = 10  # first attempts are immediate; a failed one is retried after 5 s


@pytest.fixture(scope="module")
def server(request):
    srv = start_server()
    yield srv
    finish_server(request, srv)


@pytest.fixture(scope="module")
def receiver(server):
    rcv = WebhookReceiver(server.info["platform_public_key_pem"]).start()
    yield rcv
    rcv.stop()


@pytest.fixture(scope="module")
def endpoint(server, receiver):
    resp = server.raw("POST", "/v1/webhook_endpoints", {"url": receiver.url})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["object"] == "webhook_endpoint"
    assert body["url"] == receiver.url
    assert body["secret"].startswith("whsec_")
    return body


@pytest.fixture(scope="module")
def delivered(server, receiver, endpoint):
    """Pay and refund a charge through the SDK; the receiver's verified
    charge.succeeded and refund.succeeded deliveries."""
    pingpp.api_base, pingpp.api_key = server.base_url, server.test_key
    ch = pingpp.Charge.create(**charge_params(server.app_id, "alipay_qr", amount=1000))
    server.test_pay(ch.id)
    charge_evt = _wait_delivery(receiver, "charge.succeeded", ch.id)

    re_ = pingpp.Charge.refund(ch.id, amount=300, description="webhook")
    assert re_.status == "pending"
    refund_evt = _wait_delivery(receiver, "refund.succeeded", re_.id)
    return {"charge": ch, "refund": re_, "charge.succeeded": charge_evt,
            "refund.succeeded": refund_evt}


def _wait_delivery(receiver, event_type, object_id):
    return receiver.wait_for(
        lambda r: r.event_type == event_type and r.object_id == object_id,
        timeout=DELIVERY_TIMEOUT_S, what="%s delivery for %s" % (event_type, object_id))


def _post(receiver, body, signature):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return requests.post(receiver.url, data=body, headers=headers, timeout=15)


def _tamper(body, field=b'"amount":'):
    """Change one byte: the first digit of `field` (so still valid JSON and UTF-8)."""
    i = body.index(field) + len(field)
    assert body[i:i + 1].isdigit(), body
    return body[:i] + (b"9" if body[i:i + 1] != b"9" else b"8") + body[i + 1:]


@pytest.mark.parametrize("event_type", ["charge.succeeded", "refund.succeeded"])
def test_delivery_verifies_with_the_example_code(server, delivered, event_type):
    got = delivered[event_type]
    assert got.verified is True, got
    assert got.status == 200
    assert got.error is None
    assert got.path == "/hook"
    assert got.headers["content-type"] == "application/json"

    obj_id = delivered["charge" if event_type == "charge.succeeded" else "refund"].id
    evt = pingpp.Event.retrieve(got.event["id"])
    assert evt.type == event_type
    assert evt.data.object.id == obj_id
    assert got.event["data"]["object"]["id"] == obj_id
    if event_type == "charge.succeeded":
        assert got.event["data"]["object"]["paid"] is True
    else:
        assert got.event["data"]["object"]["status"] == "succeeded"
        assert got.event["data"]["object"]["charge"] == delivered["charge"].id


@pytest.mark.parametrize("event_type", ["charge.succeeded", "refund.succeeded"])
def test_delivery_log_shows_the_attempt_succeeded(server, receiver, delivered, event_type):
    evt_id = delivered[event_type].event["id"]

    def log():
        resp = server.raw("GET", "/v1/events/%s/webhook_deliveries" % evt_id)
        assert resp.status_code == 200, resp.text
        return resp.json()

    body = wait_for(log, lambda b: b["data"] and b["data"][0]["status"] == "succeeded",
                    timeout=DELIVERY_TIMEOUT_S, what="delivery of %s to succeed" % evt_id)
    delivery = body["data"][0]
    assert delivery["event"] == evt_id
    attempt = delivery["attempts"][0]
    assert attempt["url"] == receiver.url
    assert attempt["status_code"] == 200
    assert attempt["succeeded"] is True
    evt = wait_for(lambda: pingpp.Event.retrieve(evt_id), lambda e: e.pending_webhooks == 0,
                   what="%s to have no pending webhooks" % evt_id)
    assert evt.id == evt_id


def test_every_delivery_from_paymux_verified(server, receiver, delivered):
    # (the other tests of this module post to the receiver themselves, with requests' User-Agent)
    from_paymux = [r for r in receiver.received if r.headers.get("user-agent", "").startswith("paymux")]
    assert len(from_paymux) >= 2
    assert all(r.verified and r.status == 200 for r in from_paymux), from_paymux


def test_tampered_body_is_rejected(receiver, delivered):
    original = delivered["charge.succeeded"]
    # control: the same bytes and signature, replayed by us, still verify
    resp = _post(receiver, original.body, original.signature)
    assert resp.status_code == 200, resp.text

    tampered = _tamper(original.body)
    assert len(tampered) == len(original.body)
    assert sum(a != b for a, b in zip(tampered, original.body)) == 1
    resp = _post(receiver, tampered, original.signature)
    assert resp.status_code == 400, resp.text
    got = [r for r in receiver.received if r.body == tampered]
    assert len(got) == 1 and got[0].verified is False and got[0].error is None, got


def test_signature_from_another_key_is_rejected(receiver, delivered):
    original = delivered["refund.succeeded"]
    other_key = RSA.generate(2048)
    foreign = base64.b64encode(
        PKCS1_v1_5.new(other_key).sign(SHA256.new(original.body))).decode()
    # well-formed: it verifies under the other key's public half
    assert verify(original.body, foreign, other_key.publickey().export_key())

    resp = _post(receiver, original.body, foreign)
    assert resp.status_code == 400, resp.text
    got = [r for r in receiver.received if r.signature == foreign]
    assert len(got) == 1 and got[0].body == original.body, got
    assert got[0].verified is False and got[0].error is None, got[0]


def test_missing_signature_is_rejected(receiver, delivered):
    resp = _post(receiver, delivered["charge.succeeded"].body, None)
    assert resp.status_code == 400, resp.text
    got = [r for r in receiver.received if r.signature is None]
    assert len(got) == 1 and got[0].verified is False, got


# The example's own sample (pingpp-python example/message.json, the signature in
# example/verify_demo.py, example/pingpp_public_key.pem): shows that the adapted
# verify() still accepts what the original accepted.
EXAMPLE_BODY = (
    '{"id":"evt_04qN8cXQvIhssduhS4hpqd9p","created":1427555016,"livemode":false,'
    '"type":"account.summary.available","data":{"object":{"acct_id":"acct_0eHSiDyzv9G09ejT",'
    '"object":"account_daily_summary","acct_display_name":"xx\u516c\u53f8","created":1425139260,'
    '"summary_from":1425052800,"summary_to":1425139199,"charges_amount":1000,"charges_count":100}},'
    '"object":"event","pending_webhooks":2,"request":null,"scope":"acct_1234567890123456",'
    '"acct_id":"acct_1234567890123456"}')
EXAMPLE_SIGNATURE = (
    "PcU0SMJhbPObiIVinNnalZOjI02koWozxLrxa3WQW3rK/n7I+EuVGuXvhsq2MIf"
    "UaNiHZDgRFYybGtKr1uuFzEXjA4PwmnDHfWgwRPdjgseoU0eke6ZqGpklBRVTbF"
    "6PUy6/vAqur4xb7h1wpdrteUpCPafzDmVPsQLicdojJ/TF9ACjQW8gTNiS6tE9g"
    "L5hxy0RJ3/okRJo6dz2pvJBWkjCrgp/r98z/LQijA1o//atZrH63+DcL/GwEOga"
    "ymqbodzusXF+g6WMJ/GTJgjdPRHvpO9UAAUKkOQqvwthJvsXIH/L1xqvy+tFpo2"
    "J0Ptwg85bowKoyy1qC5ak3sqWqw==")
EXAMPLE_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAzs8SiPoFQT9K0lWa6WSx
0d6UnA391KM2aFwijY0AK7r+MiAe07ivenopzFL3dqIRhQjuP7d30V85kWydN5UZ
cm/tZgm4K+8wttb988hOrzSjtPOMghHK+bnDwE8FIB+ZbHAZCEVhNfE6i9kLGbHH
Q617+mxUTJ3yEZG9CIgke475o2Blxy4UMsRYjo2gl5aanzmOmoZcbiC/R5hXSQUH
XV9/VzA7U//DIm8Xn7rerd1n8+KWCg4hrIIu/A0FKm8zyS4QwAwQO2wdzGB0h15t
uFLhjVz1W5ZPXjmCRLzTUoAvH12C6YFStvS5kjPcA66P1nSKk5o3koSxOumOs0iC
EQIDAQAB
-----END PUBLIC KEY-----"""


def test_verify_accepts_the_examples_own_sample():
    body = EXAMPLE_BODY.encode("utf-8")
    assert len(body) == 460
    assert verify(body, EXAMPLE_SIGNATURE, EXAMPLE_PUBLIC_KEY) is True
    assert verify(_tamper(body, b'"charges_amount":'), EXAMPLE_SIGNATURE, EXAMPLE_PUBLIC_KEY) is False
    # the example re-pads base64 that lost its "=" padding
    assert verify(body, EXAMPLE_SIGNATURE.rstrip("="), EXAMPLE_PUBLIC_KEY) is True
