"""The admin adds a webhook endpoint, sees its signing secret once, sends a test event that
the receiver gets signed (both signatures verified), then disables, enables and deletes it."""

import base64
import hashlib
import hmac

from playwright.sync_api import expect


def endpoints(server):
    resp = server.raw("GET", "/v1/webhook_endpoints")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def verify_standard_webhook(secret, received):
    """webhook-signature: "v1,<base64 HMAC-SHA256 of '{id}.{timestamp}.{body}'>", keyed with
    the base64 part of the endpoint secret (README, Webhooks)."""
    encoded = secret.split("_", 1)[1] if "_" in secret else secret
    key = base64.b64decode(encoded)
    signed = ("%s.%s." % (received.headers["webhook-id"],
                          received.headers["webhook-timestamp"])).encode() + received.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [s.split(",", 1)[1] for s in received.headers["webhook-signature"].split()
             if s.startswith("v1,")]
    assert expected in given, (expected, given)


def test_webhook_test_event(server, page_for, console, receiver, screenshot,
                            verify_signature):
    admin = page_for("admin")
    console.goto(admin, "/dashboard/webhooks", shot="webhooks-empty")
    for event in ("charge.succeeded", "refund.succeeded"):
        expect(admin.locator('input[type="checkbox"][name="events"][value="%s"]' % event)
               ).to_have_count(1)

    secret = console.add_endpoint(admin, receiver.url)   # no event checked: all events
    [endpoint] = [e for e in endpoints(server) if e["url"] == receiver.url]
    assert endpoint["enabled"] is True and endpoint["livemode"] is False, endpoint

    # the secret is shown once
    admin.reload()
    expect(admin.locator("#new-secret")).to_have_count(0)
    assert secret not in admin.content()
    screenshot(admin, "webhooks-reloaded")

    console.send_test_event(admin, receiver.url)
    got = receiver.wait_for(lambda r: r.event_type == "webhook.test",
                            what="a webhook.test event")
    signature = got.headers.get("x-pingplusplus-signature")
    assert signature, got.headers
    verify_signature(server.platform_public_key_pem, got.body, signature)
    verify_standard_webhook(secret, got)

    # disable, enable, delete
    console.submit(admin, console.button(console.row(admin, receiver.url).first, "Disable"))
    expect(console.button(console.row(admin, receiver.url).first, "Enable")).to_be_visible()
    assert [e["enabled"] for e in endpoints(server) if e["url"] == receiver.url] == [False]
    screenshot(admin, "endpoint-disabled")

    console.submit(admin, console.button(console.row(admin, receiver.url).first, "Enable"))
    expect(console.button(console.row(admin, receiver.url).first, "Disable")).to_be_visible()
    assert [e["enabled"] for e in endpoints(server) if e["url"] == receiver.url] == [True]

    admin.once("dialog", lambda dialog: dialog.accept())    # if it asks with confirm()
    console.submit(admin, console.button(console.row(admin, receiver.url).first, "Delete"))
    if console.button(admin, "Confirm").count():              # or with a page
        console.submit(admin, console.button(admin, "Confirm"))
    console.goto(admin, "/dashboard/webhooks", shot="endpoint-deleted")
    expect(console.row(admin, receiver.url)).to_have_count(0)
    assert [e for e in endpoints(server) if e["url"] == receiver.url] == []

    actions = [(e["actor"], e["action"]) for e in server.audit()]
    assert ("admin", "webhook.create") in actions, actions
    assert ("admin", "webhook.test") in actions, actions
