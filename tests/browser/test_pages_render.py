"""Every page of the navigation answers 200 with its heading, loads without failed
resources or script errors, and the overview and a charge render at a phone's width; the
Test/Live switch changes which charges are listed."""

import re

import pingpp
from playwright.sync_api import expect

NAV = ["Overview", "Charges", "Refunds", "Events", "Deliveries", "Webhooks", "Developers",
       "Channels", "Apps", "Recharges", "Operators", "Audit log"]
PHONE = {"width": 390, "height": 844}


def watch(page):
    """Failed responses (>= 400) and script errors of everything `page` loads."""
    problems = []
    page.on("response", lambda r: r.status >= 400 and problems.append(
        "%d %s" % (r.status, r.url)))
    page.on("pageerror", lambda e: problems.append("page error: %s" % e))
    page.on("console", lambda m: m.type == "error" and problems.append(
        "console error: %s" % m.text))
    return problems


def test_pages_render(server, page_for, console, make_charge, screenshot):
    ch = make_charge(amount=100, paid=True)
    server.test_pay(make_charge(amount=250).id, fail=True)   # a failed one too
    admin = page_for("admin")
    problems = watch(admin)

    hrefs = {}
    for name in NAV:
        link = admin.get_by_role("link", name=name, exact=True).first
        expect(link).to_be_attached()
        hrefs[name] = link.get_attribute("href")
    for name, href in hrefs.items():
        resp = admin.goto(href)
        assert resp.status == 200, (name, href, resp.status)
        expect(admin.get_by_role("heading", name=name).first).to_be_visible()
        expect(admin.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
        screenshot(admin, "page-%s" % name)

    resp = admin.goto("/dashboard/charges/%s" % ch.id)
    assert resp.status == 200
    for title in ("Refunds", "Events", "Webhook deliveries"):
        expect(admin.get_by_role("heading", name=title, exact=True).first).to_be_visible()
    screenshot(admin, "charge")
    assert not problems, problems


def test_pages_render_on_a_phone(server, page_for, make_charge, screenshot):
    ch = make_charge(amount=100, paid=True)
    phone = page_for("admin", viewport=PHONE)
    problems = watch(phone)
    resp = phone.goto("/dashboard/")
    assert resp.status == 200
    expect(phone.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    screenshot(phone, "phone-overview")
    resp = phone.goto("/dashboard/charges/%s" % ch.id)
    assert resp.status == 200
    expect(phone.locator("body")).to_contain_text(ch.order_no)
    screenshot(phone, "phone-charge")
    width = phone.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        print("note: the charge page is %dpx wide at a %dpx viewport" % (width, PHONE["width"]))
    assert not problems, problems


def test_mode_switch(server, page_for, console, make_charge, screenshot):
    ch = make_charge(amount=100, paid=True)        # a test-mode charge
    admin = page_for("admin")

    def listed():
        console.goto(admin, "/dashboard/charges?q=%s" % ch.order_no)
        return console.row(admin, ch.order_no).count() > 0

    assert listed()
    console.submit(admin, console.button(admin, "Live"))
    screenshot(admin, "live-mode")
    assert not listed(), "a test charge is listed in live mode"
    screenshot(admin, "live-charges")
    console.submit(admin, console.button(admin, "Test"))
    assert listed()


def test_mark_paid_and_failed(server, page_for, console, make_charge, sdk, screenshot):
    admin = page_for("admin")
    paid, failed = make_charge(amount=100), make_charge(amount=100)

    console.goto(admin, "/dashboard/charges/%s" % paid.id, shot="unpaid")
    expect(console.button(admin, "Mark failed")).to_be_visible()
    console.submit(admin, console.button(admin, "Mark paid"))
    expect(admin).to_have_url(re.compile(r"/dashboard/charges/%s(\?.*)?$" % re.escape(paid.id)))
    expect(console.button(admin, "Mark paid")).to_have_count(0)
    screenshot(admin, "marked-paid")

    console.goto(admin, "/dashboard/charges/%s" % failed.id)
    console.submit(admin, console.button(admin, "Mark failed"))
    expect(admin).to_have_url(
        re.compile(r"/dashboard/charges/%s(\?.*)?$" % re.escape(failed.id)))
    screenshot(admin, "marked-failed")

    sdk(server)
    assert pingpp.Charge.retrieve(paid.id).paid is True
    after = pingpp.Charge.retrieve(failed.id)
    assert after.paid is False and after.failure_code, after
