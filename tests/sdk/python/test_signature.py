"""The request-signature switch (Pingplusplus-Signature), with the official
Python SDK signing requests via pingpp.private_key_path / pingpp.private_key.

This module runs its own server because it turns signing on and off.
"""

import pingpp
import pytest

from paymux_harness import (CHANNEL_EXTRAS, charge_params, finish_server, make_rsa_keypair,
                            new_order_no, start_server)


@pytest.fixture(scope="module")
def server(request):
    srv = start_server()
    yield srv
    finish_server(request, srv)


@pytest.fixture(scope="module")
def keys(server):
    merchant_priv, merchant_pub = make_rsa_keypair(server.workdir, "merchant")
    other_priv, _ = make_rsa_keypair(server.workdir, "other")
    return {"priv": merchant_priv, "pub": merchant_pub, "other_priv": other_priv}


@pytest.fixture
def signature_required(server, keys):
    server.set_merchant_public_key(keys["pub"], require_signature="test")
    yield
    server.clear_merchant_public_key()


def sign_with_path(path):
    pingpp.private_key = None
    pingpp.private_key_path = path


def sign_with_pem(path):
    pingpp.private_key_path = None
    with open(path) as f:
        pingpp.private_key = f.read()


def unsigned():
    pingpp.private_key = None
    pingpp.private_key_path = None


def order_nos(server):
    return [c.order_no for c in pingpp.Charge.list(app={"id": server.app_id}, limit=100).data]


def test_unsigned_works_while_signing_is_off(server):
    ch = pingpp.Charge.create(**charge_params(server.app_id, "alipay_qr"))
    assert ch.object == "charge"


@pytest.mark.usefixtures("signature_required")
class TestSignatureRequired:
    def test_signed_sdk_calls_succeed(self, server, keys):
        sign_with_path(keys["priv"])
        params = charge_params(server.app_id, "isv_qr")
        ch = pingpp.Charge.create(**params)                      # POST with body
        assert ch.object == "charge" and ch.order_no == params["order_no"]

        assert pingpp.Charge.retrieve(ch.id).id == ch.id          # GET, no query
        page = pingpp.Charge.list(app={"id": server.app_id}, limit=5, paid=False)
        assert ch.id in [c.id for c in page.data]                 # GET with query
        rev = pingpp.Charge.reverse(ch.id)                        # POST {}
        assert rev.reversed is True

        sign_with_pem(keys["priv"])                               # key given inline
        paid = pingpp.Charge.create(**charge_params(server.app_id, "alipay_scan"))
        re_ = pingpp.Charge.refund(paid.id, amount=10, description="signed refund")
        assert re_.amount == 10
        assert pingpp.Charge.list_refunds(paid.id).data[0].id == re_.id

    def test_signed_recharge_succeeds(self, server, keys):
        sign_with_path(keys["priv"])
        user = "u" + new_order_no()
        rc = pingpp.Recharge.create(app=server.app_id, user=user, charge={
            "amount": 300, "channel": "alipay_scan", "order_no": new_order_no(),
            "subject": "Top-up", "body": "signed recharge",
            "extra": dict(CHANNEL_EXTRAS["alipay_scan"])})
        assert rc.object == "recharge" and rc.succeeded is True
        assert pingpp.User.retrieve(user, app=server.app_id).available_balance == 300

    def test_unsigned_call_is_refused_and_creates_nothing(self, server, keys):
        unsigned()
        params = charge_params(server.app_id, "alipay_qr")
        with pytest.raises(pingpp.error.AuthenticationError) as exc:
            pingpp.Charge.create(**params)
        assert exc.value.http_status == 401
        assert exc.value.json_body["error"]["message"]

        with pytest.raises(pingpp.error.AuthenticationError) as exc:
            pingpp.Charge.list(app={"id": server.app_id}, limit=1)
        assert exc.value.http_status == 401

        sign_with_path(keys["priv"])
        assert params["order_no"] not in order_nos(server)

    def test_signature_from_another_key_is_refused(self, server, keys):
        sign_with_path(keys["other_priv"])
        params = charge_params(server.app_id, "alipay_qr")
        with pytest.raises(pingpp.error.AuthenticationError) as exc:
            pingpp.Charge.create(**params)
        assert exc.value.http_status == 401

        sign_with_path(keys["priv"])
        assert params["order_no"] not in order_nos(server)


def test_require_none_and_clear_turn_the_switch_off(server, keys):
    server.set_merchant_public_key(keys["pub"], require_signature="test")
    try:
        unsigned()
        with pytest.raises(pingpp.error.AuthenticationError):
            pingpp.Charge.create(**charge_params(server.app_id, "alipay_qr"))

        server.set_merchant_public_key(keys["pub"], require_signature="none")
        ch = pingpp.Charge.create(**charge_params(server.app_id, "alipay_qr"))
        assert ch.object == "charge"
        sign_with_path(keys["priv"])                 # a valid signature is still fine
        assert pingpp.Charge.retrieve(ch.id).id == ch.id

        server.set_merchant_public_key(keys["pub"], require_signature="test")
        unsigned()
        with pytest.raises(pingpp.error.AuthenticationError):
            pingpp.Charge.retrieve(ch.id)
    finally:
        server.clear_merchant_public_key()

    unsigned()
    assert pingpp.Charge.retrieve(ch.id).id == ch.id
