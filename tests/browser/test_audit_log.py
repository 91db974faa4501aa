"""Every kind of change the console makes is on the Audit log page, and `paymux audit
--json` agrees: same actor, action, target and request id."""

import re

import pingpp
from playwright.sync_api import expect

ACTIONS = ["login", "operator.add", "refund.create", "webhook.create", "webhook.test",
           "merchant_key.set", "signature.require", "api_key.roll"]


def test_audit_log(server, page_for, console, make_charge, receiver, rsa_keypair, sdk,
                   screenshot):
    private_pem, public_pem = rsa_keypair
    ch = make_charge(amount=100, paid=True)     # before signatures are required

    admin = page_for("admin")                                       # login
    console.add_operator(admin, "auditee", "viewer")                # operator.add
    console.refund(admin, ch.id, "0.20", "audited refund")          # refund.create
    console.add_endpoint(admin, receiver.url)                       # webhook.create
    console.send_test_event(admin, receiver.url)                    # webhook.test
    console.set_merchant_key(admin, public_pem)                     # merchant_key.set
    console.set_signatures(admin, "test", True)                     # signature.require
    server.test_key = console.roll_key(admin, "test", 60)           # api_key.roll

    entries = server.audit()
    by_admin = [e for e in entries if e["actor"] == "admin"]
    missing = [a for a in ACTIONS if a not in {e["action"] for e in by_admin}]
    assert not missing, ("missing from `paymux audit --json`", missing, entries)
    # the CLI's own entry: the admin created before `serve`
    assert any(e["actor"] == "cli" and e["action"] == "operator.add" and e["target"] == "admin"
               for e in entries), entries

    def one(action):
        found = [e for e in by_admin if e["action"] == action]
        assert found, action
        return found[0]

    assert one("operator.add")["target"] == "auditee"
    sdk(server, private_key_pem=private_pem)    # signatures are required now
    refund_ids = [r.id for r in pingpp.Charge.list_refunds(ch.id).data]
    assert one("refund.create")["target"] in [ch.id] + refund_ids
    for action in ACTIONS:
        if action != "login":
            assert one(action)["request_id"], one(action)

    console.goto(admin, "/dashboard/audit", shot="audit-log")
    expect(admin.get_by_role("heading", name="Audit log").first).to_be_visible()
    table = admin.locator("table").first
    for e in by_admin:
        if e["action"] not in ACTIONS:
            continue
        row = console.row(table, e["action"])
        if e["request_id"]:
            row = row.filter(has_text=e["request_id"])
        expect(row.first).to_be_visible()
        text = row.first.inner_text()
        assert re.search(r"\badmin\b", text), (e, text)
        assert e["action"] in text, (e, text)
        if e["target"]:
            assert e["target"] in text, (e, text)
