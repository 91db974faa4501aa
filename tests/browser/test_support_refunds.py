"""A support operator finds a paid charge, refunds part of it through the confirmation page,
and follows the refund, its event and the webhook delivery on the charge page."""

import re

import pingpp
from playwright.sync_api import expect

ALICE = "alice"
ALICE_PASSWORD = "alice-password-0001"


def test_support_refunds(server, page_for, new_page, login, console, make_charge, receiver,
                         sdk, poll, screenshot):
    # the admin creates alice (support) and a webhook endpoint at the receiver
    admin = page_for("admin")
    screenshot(admin, "admin-overview")
    console.add_operator(admin, ALICE, "support", ALICE_PASSWORD)
    console.add_endpoint(admin, receiver.url)

    # a paid 1.00 test charge
    ch = make_charge(amount=100, paid=True)
    receiver.wait_for(lambda r: r.event_type == "charge.succeeded" and r.object_id == ch.id,
                      what="charge.succeeded delivery for %s" % ch.id)

    # alice, in a browser of her own, finds it by order_no and refunds 0.50
    alice = new_page()
    login(alice, ALICE, ALICE_PASSWORD)
    screenshot(alice, "alice-overview")
    console.search_charge(alice, ch.order_no, ch.id)
    body = alice.locator("body")
    expect(body).to_contain_text(ch.order_no)
    expect(body).to_contain_text("1.00")
    screenshot(alice, "charge-before-refund")

    console.refund(alice, ch.id, "0.50", "partial refund by support")

    sdk(server)
    refunds = pingpp.Charge.list_refunds(ch.id).data
    assert len(refunds) == 1, refunds
    refund = refunds[0]
    assert refund.amount == 50, refund
    assert refund.description == "partial refund by support", refund

    # the charge page shows the refund succeeded (after the 200 ms test delay) ...
    def refund_succeeded(page):
        rows = console.row(console.section(page, "Refunds"), refund.id)
        return rows.count() > 0 and "succeeded" in rows.first.inner_text()

    poll.reload_until(alice, refund_succeeded, what="refund %s shown as succeeded" % refund.id)
    screenshot(alice, "charge-refund-succeeded")

    # ... its refund.succeeded event ...
    event = poll.wait_for(
        lambda: [e for e in server.events("refund.succeeded")
                 if e["data"]["object"]["id"] == refund.id],
        bool, what="the refund.succeeded event of %s" % refund.id)[0]
    event_link = 'a[href$="/dashboard/events/%s"]' % event["id"]

    def event_listed(page):
        events = console.section(page, "Events")
        return events.locator(event_link).count() > 0 and "refund.succeeded" in events.inner_text()

    poll.reload_until(alice, event_listed, what="event %s listed" % event["id"])

    # ... and the webhook deliveries, to the receiver, answered 200
    receiver.wait_for(lambda r: r.event_type == "refund.succeeded" and r.object_id == refund.id,
                      what="refund.succeeded delivery for %s" % refund.id)

    def delivery_listed(page):
        text = console.section(page, "Webhook deliveries").inner_text()
        return receiver.url in text and re.search(r"\b200\b", text) is not None

    poll.reload_until(alice, delivery_listed, what="a delivery to %s with 200" % receiver.url)
    screenshot(alice, "charge-with-event-and-delivery")

    # the event's own page: the attempt to the receiver with status 200, and "Resend"
    alice.locator(event_link).first.click()
    alice.wait_for_url(re.compile(r"/dashboard/events/%s$" % re.escape(event["id"])))

    def attempt_listed(page):
        text = console.text(page)
        return receiver.url in text and re.search(r"\b200\b", text) is not None

    poll.reload_until(alice, attempt_listed, what="the event page's attempt with 200")
    expect(alice.locator("body")).to_contain_text("refund.succeeded")
    expect(console.button(alice, "Resend")).to_be_visible()
    screenshot(alice, "event-page")

    # recorded as alice's
    assert any(e["actor"] == ALICE and e["action"] == "refund.create" for e in server.audit())
