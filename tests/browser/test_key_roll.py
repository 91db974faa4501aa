"""The admin rolls the Test secret key: the new key is shown once; with a grace period the
previous key keeps working, with grace 0 it stops at once."""

import json

import pingpp
import pytest
from playwright.sync_api import expect


def accepted(sdk, server, key):
    sdk(server, api_key=key)
    assert pingpp.Charge.list(app={"id": server.app_id}, limit=1).object == "list"


def refused(sdk, server, key):
    sdk(server, api_key=key)
    with pytest.raises(pingpp.error.AuthenticationError) as exc:
        pingpp.Charge.list(app={"id": server.app_id}, limit=1)
    assert exc.value.http_status == 401


def test_key_roll(server, page_for, console, sdk, screenshot):
    key0 = server.test_key
    admin = page_for("admin")
    console.goto(admin, "/dashboard/developers", shot="developers-keys")
    expect(admin.locator("body")).to_contain_text("sk_test_")   # the key's prefix
    expect(admin.locator("body")).to_contain_text("sk_live_")
    assert key0 not in admin.content(), "the full secret key is on the page"

    # grace 60 minutes: both work
    key1 = console.roll_key(admin, "test", 60)
    assert key1 != key0
    accepted(sdk, server, key1)
    accepted(sdk, server, key0)
    accepted(sdk, server, server.live_key)      # the other mode is untouched

    admin.reload()
    expect(admin.locator("#new-secret")).to_have_count(0)
    assert key1 not in admin.content(), "the new secret is shown again after a reload"
    screenshot(admin, "developers-after-reload")

    # grace 0: the key before it stops at once
    key2 = console.roll_key(admin, "test", 0)
    assert key2 not in (key0, key1)
    server.test_key = key2          # whatever follows on this server uses the newest key
    refused(sdk, server, key1)
    accepted(sdk, server, key2)
    accepted(sdk, server, server.live_key)

    rolls = [e for e in server.audit() if e["action"] == "api_key.roll"]
    assert len(rolls) == 2 and all(e["actor"] == "admin" for e in rolls), rolls
    recorded = json.dumps(server.audit())
    for key in (key0, key1, key2):
        assert key not in recorded, "a secret key is in the audit log"
