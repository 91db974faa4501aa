"""A viewer reads a paid charge but cannot refund it: no button, and a hand-made POST with the
viewer's own valid csrf token is refused with 403 and refunds nothing."""

import pingpp
from playwright.sync_api import expect


def test_viewer_cannot_refund(server, page_for, console, make_charge, sdk, screenshot):
    ch = make_charge(amount=100, paid=True)

    viewer = page_for("viewer", name="vera")
    console.goto(viewer, "/dashboard/charges/%s" % ch.id, shot="viewer-charge")
    expect(viewer.locator("body")).to_contain_text(ch.order_no)
    expect(console.button(viewer, "Refund")).to_have_count(0)
    expect(viewer.locator('input[name="amount"]')).to_have_count(0)

    token = console.csrf(viewer)
    resp = viewer.request.post(
        server.url("/dashboard/charges/%s/refund" % ch.id),
        form={"csrf": token, "amount": "0.50", "description": "viewer tries"},
        headers={"Origin": server.base_url}, max_redirects=0)
    assert resp.status == 403, (resp.status, resp.text()[:500])

    sdk(server)
    after = pingpp.Charge.retrieve(ch.id)
    assert after.amount_refunded == 0, after
    assert pingpp.Charge.list_refunds(ch.id).data == []
    assert not [e for e in server.audit() if e["action"] == "refund.create"]

    # the viewer's session is still fine for reading
    console.goto(viewer, "/dashboard/charges/%s" % ch.id, shot="viewer-charge-after")
