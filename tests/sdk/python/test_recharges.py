"""Recharges (balance top-ups) through the official Python SDK: create with a
scan channel (paid at once), retrieve, list, refund, and the user's balance."""

import pingpp
import pytest

from paymux_harness import CHANNEL_EXTRAS, new_order_no, wait_for


def recharge_charge(amount):
    return {
        "amount": amount,
        "channel": "alipay_scan",
        "order_no": new_order_no(),
        "subject": "Top-up",
        "body": "paymux SDK recharge",
        "client_ip": "127.0.0.1",
        "extra": dict(CHANNEL_EXTRAS["alipay_scan"]),
    }


def balance(app_id, user):
    u = pingpp.User.retrieve(user, app=app_id)
    assert u.object == "user"
    assert u.id == user
    return u.available_balance


@pytest.fixture
def user():
    return "u" + new_order_no()


def test_recharge_credits_and_refund_debits_balance(server, user):
    app = server.app_id
    charge = recharge_charge(1000)
    rc = pingpp.Recharge.create(app=app, user=user, charge=charge,
                                description="first top-up", metadata={"k": "v"})

    assert isinstance(rc, pingpp.Recharge)
    assert rc.object == "recharge"
    assert rc.livemode is False
    assert rc.app == app
    assert rc.user == user
    assert rc.amount == 1000
    assert rc.succeeded is True
    assert isinstance(rc.time_succeeded, int)
    assert rc.refunded is False
    assert rc.description == "first top-up"
    assert rc.metadata == {"k": "v"}
    # the charge is embedded as a full object, paid at once (scan channel)
    assert isinstance(rc.charge, pingpp.Charge)
    assert rc.charge.object == "charge"
    assert rc.charge.id.startswith("ch_")
    assert rc.charge.channel == "alipay_scan"
    assert rc.charge.order_no == charge["order_no"]
    assert rc.charge.amount == 1000
    assert rc.charge.paid is True
    assert rc.charge.livemode is False

    assert balance(app, user) == 1000

    rc2 = pingpp.Recharge.create(app=app, user=user, charge=recharge_charge(500))
    assert rc2.succeeded is True and rc2.amount == 500
    assert balance(app, user) == 1500

    # retrieve
    got = pingpp.Recharge.retrieve(rc.id, app=app)
    assert got.id == rc.id
    assert got.object == "recharge"
    assert got.amount == 1000 and got.user == user
    assert got.charge.id == rc.charge.id

    # list (page based)
    lst = pingpp.Recharge.list(app=app, page=1, per_page=100)
    assert lst.object == "list"
    assert lst.url == "/v1/apps/%s/recharges" % app
    ids = [r.id for r in lst.data]
    assert rc.id in ids and rc2.id in ids
    assert all(isinstance(r, pingpp.Recharge) for r in lst.data)
    one = pingpp.Recharge.list(app=app, page=1, per_page=1)
    assert len(one.data) == 1 and one.has_more is True

    # refund the first recharge (whole amount) -> balance debited by 1000
    re_ = pingpp.Recharge.refund(rc.id, app=app, description="give it back")
    assert isinstance(re_, pingpp.Refund)
    assert re_.object == "refund"
    assert re_.id.startswith("re_")
    assert re_.amount == 1000
    assert re_.charge == rc.charge.id
    assert re_.status in ("pending", "succeeded")

    done = wait_for(lambda: pingpp.Recharge.retrieve_refund(rc.id, re_.id, app=app),
                    lambda r: r.status == "succeeded", what="recharge refund to succeed")
    assert done.id == re_.id and done.amount == 1000
    assert wait_for(lambda: balance(app, user), lambda b: b == 500,
                    what="balance to be debited") == 500

    refunds = pingpp.Recharge.list_refunds(rc.id, app=app)
    assert refunds.object == "list"
    assert [r.id for r in refunds.data] == [re_.id]

    # a second refund of the same recharge has nothing left to refund
    with pytest.raises(pingpp.error.InvalidRequestError) as exc:
        pingpp.Recharge.refund(rc.id, app=app, description="again")
    assert exc.value.http_status == 400
    assert balance(app, user) == 500

    after = pingpp.Recharge.retrieve(rc.id, app=app)
    assert after.refunded is True
    assert pingpp.Recharge.retrieve(rc2.id, app=app).refunded is False


def test_retrieve_unknown_recharge_is_404(server):
    with pytest.raises(pingpp.error.InvalidRequestError) as exc:
        pingpp.Recharge.retrieve("999999999999999999999999", app=server.app_id)
    assert exc.value.http_status == 404
