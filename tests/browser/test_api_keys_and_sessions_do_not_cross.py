"""API secret keys do not open the console and a console session does not open the API;
signing in and out."""

import base64
import re

import requests
from playwright.sync_api import expect

LOGIN_RE = re.compile(r"/dashboard/login")


def assert_sent_to_login(resp):
    if resp.status_code == 401:
        return
    assert resp.status_code in (302, 303), (resp.status_code, resp.text[:300])
    assert LOGIN_RE.search(resp.headers.get("Location", "")), resp.headers


def test_api_keys_do_not_open_the_console(server):
    basic = base64.b64encode(("%s:" % server.test_key).encode()).decode()
    for auth in ("Bearer " + server.test_key, "Bearer " + server.live_key, "Basic " + basic):
        for path in ("/dashboard/charges", "/dashboard/", "/dashboard/developers"):
            resp = requests.get(server.url(path), headers={"Authorization": auth},
                                allow_redirects=False, timeout=15)
            assert_sent_to_login(resp)
    # nor does it let a POST through
    resp = requests.post(server.url("/dashboard/context"), data={"mode": "live"},
                         headers={"Authorization": "Bearer " + server.test_key,
                                  "Origin": server.base_url},
                         allow_redirects=False, timeout=15)
    assert resp.status_code in (302, 303, 401, 403), resp.status_code


def test_session_does_not_open_the_api(server, page_for):
    admin = page_for("admin")
    control = admin.request.get(server.url("/dashboard/charges"), max_redirects=0)
    assert control.status == 200, control.status        # the session works on the console
    for path in ("/v1/charges?limit=1", "/v1/events?limit=1", "/v1/webhook_endpoints"):
        resp = admin.request.get(server.url(path), max_redirects=0)
        assert resp.status == 401, (path, resp.status, resp.text()[:300])
    resp = admin.request.post(server.url("/v1/webhook_endpoints"),
                              data={"url": "http://127.0.0.1:9/hook"},
                              headers={"Origin": server.base_url}, max_redirects=0)
    assert resp.status == 401, (resp.status, resp.text()[:300])
    resp = requests.get(server.url("/v1/webhook_endpoints"), timeout=15,
                        headers={"Authorization": "Bearer " + server.test_key})
    assert resp.json()["data"] == [], resp.text


def test_anonymous_is_sent_to_login(server, new_page, screenshot):
    page = new_page()
    page.goto("/dashboard/charges")
    expect(page).to_have_url(LOGIN_RE)
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    screenshot(page, "login")


def test_wrong_password_is_refused(server, new_page, screenshot):
    page = new_page()
    for name, password in ((server.admin_name, "not-the-password-123"),
                           ("nobody", "not-the-password-123")):
        page.goto("/dashboard/login")
        page.locator('input[name="name"]').fill(name)
        page.locator('input[name="password"]').fill(password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.locator("body")).to_contain_text("Wrong name or password")
        screenshot(page, "wrong-password-%s" % name)
        page.goto("/dashboard/")
        expect(page).to_have_url(LOGIN_RE)


def test_sign_out_ends_the_session(server, page_for, new_page, screenshot):
    admin = page_for("admin")
    cookies = admin.context.cookies()
    assert cookies, "no session cookie after signing in"
    admin.get_by_role("button", name="Sign out", exact=True).click()
    admin.wait_for_url(LOGIN_RE)
    screenshot(admin, "signed-out")
    admin.goto("/dashboard/")
    expect(admin).to_have_url(LOGIN_RE)

    # the old cookie, replayed, no longer opens the console (the session ended server-side)
    replay = new_page()
    replay.context.add_cookies(cookies)
    replay.goto("/dashboard/")
    expect(replay).to_have_url(LOGIN_RE)
