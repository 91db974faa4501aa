"""The admin creates and renames an app and switches the console to it (its charges, not the
first app's); the console speaks Chinese unless the browser prefers English, and the operator
can switch."""

import re

import pingpp
from playwright.sync_api import expect


def test_apps_are_created_renamed_and_switched_to(server, page_for, console, make_charge, sdk,
                                                  screenshot):
    first_app_charge = make_charge(amount=100, paid=False)
    admin = page_for("admin")
    console.goto(admin, "/dashboard/apps", shot="apps")
    form = console.form_with_button(admin, "Create app")
    form.locator('input[name="name"]').fill("Second store")
    console.submit(admin, console.button(form, "Create app"))
    row = console.row(admin, "Second store")
    expect(row.first).to_be_visible()
    app_id = re.search(r"app_\w+", row.first.inner_text()).group(0)

    # Renamed in place.
    row.first.locator('input[name="name"]').fill("Second store (Pudong)")
    console.submit(admin, console.button(row.first, "Rename"))
    expect(console.row(admin, "Second store (Pudong)").first).to_be_visible()
    screenshot(admin, "apps-renamed")

    # The API sees the same app, and a charge made in it shows once the console switches.
    sdk(server)
    second_charge = pingpp.Charge.create(
        order_no="apps%d" % (abs(hash(app_id)) % 10**8), amount=200, app={"id": app_id},
        channel="alipay_qr", currency="cny", client_ip="127.0.0.1", subject="s", body="b")
    console.goto(admin, "/dashboard/charges")
    expect(admin.get_by_role("link", name=first_app_charge.id, exact=True)).to_be_visible()
    expect(admin.get_by_role("link", name=second_charge.id, exact=True)).to_have_count(0)
    with admin.expect_navigation():
        admin.locator('select[name="app"]').select_option(app_id)
    expect(admin.get_by_role("link", name=second_charge.id, exact=True)).to_be_visible()
    expect(admin.get_by_role("link", name=first_app_charge.id, exact=True)).to_have_count(0)
    screenshot(admin, "charges-of-second-app")

    actions = [(e["actor"], e["action"], e["target"]) for e in server.audit()]
    assert ("admin", "app.create", app_id) in actions, actions
    assert ("admin", "app.rename", app_id) in actions, actions


def test_chinese_by_default_english_when_preferred_or_chosen(server, browser, screenshot):
    context = browser.new_context(base_url=server.base_url, locale="zh-CN")
    page = context.new_page()
    page.goto("/dashboard/login")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    screenshot(page, "login-zh")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.get_by_label("Name").fill(server.admin_name)
    page.get_by_label("Password").fill(server.admin_password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("heading", name="概览")).to_be_visible()
    screenshot(page, "overview-zh")
    context.close()
