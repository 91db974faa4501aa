"""Forged requests against a logged-in admin's session are refused with 403 and change
nothing: another site's Origin (even with the admin's real csrf token), a missing or wrong
token, and a form on another origin of the same site (the receiver's port: same site, so
the session cookie goes along) that submits itself to the console."""

import json
import re
from urllib.parse import urljoin

import pingpp

from conftest import wait_for
from playwright.sync_api import expect

EVIL = "http://evil.example"


def form_fields(form, button):
    """name -> value of what the form submits when `button` (its text) is clicked."""
    return form.evaluate("""(f, label) => {
        const submitter = [...f.querySelectorAll("button, input[type=submit]")]
            .find(b => (b.textContent || b.value).trim() === label) || null;
        return Object.fromEntries([...new FormData(f, submitter).entries()]
            .filter(([, v]) => typeof v === "string"));
    }""", button)


def assert_nothing_changed(server, names, charge_id):
    operators = [o["name"] for o in server.operators()]
    for name in names:
        assert name not in operators, operators
        assert not [e for e in server.audit()
                    if e["action"] == "operator.add" and e["target"] == name]
    pingpp.api_base, pingpp.api_key = server.base_url, server.test_key
    assert pingpp.Charge.retrieve(charge_id).amount_refunded == 0
    assert not [e for e in server.audit() if e["action"] == "refund.create"]


def test_forged_cross_site_post(server, page_for, console, make_charge, receiver, screenshot):
    ch = make_charge(amount=100, paid=True)
    admin = page_for("admin")

    # the operators form as the console serves it, with the admin's real token
    console.goto(admin, "/dashboard/operators", shot="operators")
    form = console.form_with_button(admin, "Add operator")
    target = urljoin(admin.url, form.get_attribute("action") or admin.url)
    token = console.csrf(admin)
    fields = {"name": "mallory", "role": "admin", "password": "mallory-password-01"}

    def post(url, data, origin):
        headers = {"Origin": origin} if origin else {}
        return admin.request.post(url, form=data, headers=headers, max_redirects=0)

    refused = {
        "another site's Origin, valid csrf": post(target, dict(fields, csrf=token), EVIL),
        "same origin, no csrf": post(target, fields, server.base_url),
        "same origin, wrong csrf": post(target, dict(fields, csrf="0" * len(token)),
                                        server.base_url),
        "no Origin, no csrf": post(target, fields, None),
        "refund, another site's Origin": post(
            server.url("/dashboard/charges/%s/refund" % ch.id),
            {"csrf": token, "amount": "1.00", "description": "forged"}, EVIL),
        "refund, no csrf": post(
            server.url("/dashboard/charges/%s/refund" % ch.id),
            {"amount": "1.00", "description": "forged"}, server.base_url),
    }
    statuses = {what: r.status for what, r in refused.items()}
    assert all(s == 403 for s in statuses.values()), statuses
    assert_nothing_changed(server, ["mallory"], ch.id)

    # a page on another origin of the same site submits a form to the console by itself
    hidden = "".join('<input type="hidden" name="%s" value="%s">' % (k, v) for k, v in
                     dict(fields, name="mallory2", csrf=token).items())
    evil_url = receiver.serve_html("/win-a-prize.html", """<!doctype html>
<html><body><h1>You won!</h1>
<form id="f" method="post" action="%s">%s</form>
<script>addEventListener("load", () => setTimeout(() => document.forms.f.submit(), 50));</script>
</body></html>""" % (target, hidden))
    with admin.expect_navigation(url=target) as navigation:
        admin.goto(evil_url)
    forged = navigation.value
    assert forged.request.method == "POST"
    assert forged.request.header_value("origin") == receiver.origin
    assert forged.status == 403, forged.status
    screenshot(admin, "cross-origin-form-refused")
    assert_nothing_changed(server, ["mallory", "mallory2"], ch.id)

    # the refund confirmation step, captured from the real flow and replayed forged
    console.goto(admin, "/dashboard/charges/%s" % ch.id)
    refund_form = console.form_with_button(admin, "Refund")
    refund_form.locator('input[name="amount"]').fill("0.30")
    refund_form.locator('input[name="description"]').fill("real refund")
    console.submit(admin, console.button(refund_form, "Refund"))
    confirm = console.button(admin, "Confirm refund")
    expect(confirm).to_be_visible()
    screenshot(admin, "refund-confirm")
    confirm_form = console.form_with_button(admin, "Confirm refund")
    confirm_target = urljoin(admin.url, confirm_form.get_attribute("action") or admin.url)
    confirm_fields = form_fields(confirm_form, "Confirm refund")
    assert confirm_fields.get("csrf"), confirm_fields
    without_csrf = {k: v for k, v in confirm_fields.items() if k != "csrf"}
    statuses = {
        "confirm, another site's Origin": post(confirm_target, confirm_fields, EVIL).status,
        "confirm, no csrf": post(confirm_target, without_csrf, server.base_url).status,
    }
    assert all(s == 403 for s in statuses.values()), (statuses, json.dumps(confirm_fields))
    assert_nothing_changed(server, ["mallory", "mallory2"], ch.id)

    # the genuine confirmation still works: the forged copies were complete requests
    console.submit(admin, confirm)
    expect(admin).to_have_url(re.compile(r"/dashboard/charges/%s(\?.*)?$" % re.escape(ch.id)))
    screenshot(admin, "refund-confirmed")
    # the refund is pending until the channel (here the test-mode delay) confirms it
    refunds = pingpp.Charge.list_refunds(ch.id).data
    assert [r.amount for r in refunds] == [30], refunds
    wait_for(lambda: pingpp.Charge.retrieve(ch.id).amount_refunded, lambda v: v == 30,
             what="the refund of 30 to succeed")
    assert len([e for e in server.audit() if e["action"] == "refund.create"]) == 1
