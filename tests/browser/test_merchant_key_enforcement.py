"""The admin pastes the merchant's RSA public key and requires request signatures: the
official SDK is then refused without the private key and accepted with it. Live asks for
confirmation first. Turning it off lets unsigned calls in again."""

import pingpp
import pytest
from playwright.sync_api import expect


def pem_body(pem):
    return "".join(pem.split())


def accepted(sdk, server, mode, private_pem=None):
    sdk(server, mode=mode, private_key_pem=private_pem)
    page = pingpp.Charge.list(app={"id": server.app_id}, limit=1)
    assert page.object == "list"


def refused(sdk, server, mode, private_pem=None):
    sdk(server, mode=mode, private_key_pem=private_pem)
    with pytest.raises(pingpp.error.AuthenticationError) as exc:
        pingpp.Charge.list(app={"id": server.app_id}, limit=1)
    assert exc.value.http_status == 401


def test_merchant_key_enforcement(server, page_for, console, sdk, rsa_keypair, make_charge,
                                  screenshot):
    private_pem, public_pem = rsa_keypair
    admin = page_for("admin")
    console.goto(admin, "/dashboard/developers", shot="developers")
    shown = admin.locator("pre#platform-public-key").inner_text()
    assert pem_body(shown) == pem_body(server.platform_public_key_pem)
    expect(console.button(admin, "Require signatures (Test)")).to_be_visible()
    expect(console.button(admin, "Require signatures (Live)")).to_be_visible()

    console.set_merchant_key(admin, public_pem)
    console.set_signatures(admin, "test", True)

    refused(sdk, server, "test")
    accepted(sdk, server, "test", private_pem)
    assert make_charge(private_key_pem=private_pem).object == "charge"   # a signed POST
    accepted(sdk, server, "live")               # live still takes unsigned calls

    # Live: a confirmation page first
    console.goto(admin, "/dashboard/developers")
    console.submit(admin, console.button(admin, "Require signatures (Live)"))
    confirm = console.button(admin, "Confirm")
    expect(confirm).to_be_visible()
    screenshot(admin, "require-live-confirm")
    accepted(sdk, server, "live")               # nothing changed before confirming
    console.submit(admin, confirm)
    console.goto(admin, "/dashboard/developers", shot="both-required")
    expect(console.button(admin, "Stop requiring signatures (Live)")).to_be_visible()
    expect(console.button(admin, "Stop requiring signatures (Test)")).to_be_visible()
    refused(sdk, server, "live")
    accepted(sdk, server, "live", private_pem)

    # and off again
    console.set_signatures(admin, "test", False)
    console.set_signatures(admin, "live", False)
    accepted(sdk, server, "test")
    accepted(sdk, server, "live")

    actions = [(e["actor"], e["action"]) for e in server.audit()]
    assert ("admin", "merchant_key.set") in actions, actions
    assert ("admin", "signature.require") in actions, actions


def test_the_public_key_can_be_uploaded_as_a_file(server, page_for, console, rsa_keypair, tmp_path,
                                                  screenshot):
    _, public_pem = rsa_keypair
    pem_file = tmp_path / "merchant_public_key.pem"
    pem_file.write_text(public_pem)
    admin = page_for("admin")
    console.goto(admin, "/dashboard/developers")
    admin.locator('input[type="file"][data-fill="merchant_public_key"]').set_input_files(
        str(pem_file))
    area = admin.locator('textarea[name="merchant_public_key"]')
    expect(area).to_have_value(public_pem)        # read into the text area by the page
    screenshot(admin, "public-key-uploaded")
    console.submit(admin, console.button(admin, "Save public key"))
    expect(admin.locator('textarea[name="merchant_public_key"]')).to_contain_text(
        "BEGIN PUBLIC KEY")
    # Not a key: refused with the reason, nothing stored.
    console.goto(admin, "/dashboard/developers")
    admin.locator('textarea[name="merchant_public_key"]').fill("not a key")
    with admin.expect_navigation():
        console.button(admin, "Save public key").click()
    expect(admin.locator("body")).to_contain_text("not an RSA public key")
    console.goto(admin, "/dashboard/developers")
    expect(admin.locator('textarea[name="merchant_public_key"]')).to_contain_text(
        "BEGIN PUBLIC KEY")
