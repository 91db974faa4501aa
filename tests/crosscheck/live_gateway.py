"""Part 2 of every suite: paymux's adapter against a fake channel built on the library's code.

``serve`` starts a ``FakeChannelGateway`` (a module-scoped fixture yields from it), and
``AdapterTests`` is the base of the test classes: the Ping++ SDK is the merchant, with the live
key, and each test ends by checking that the fake trusted every request paymux sent it.
"""

import pingpp
import pytest

from paymux_harness import (LiveGateway, PaymuxServer, charge_params, checked_binary,
                            finish_server, point_sdk, wait_for)

# How long a merchant may wait for what the channel says (over loopback: milliseconds).
SETTLE_TIMEOUT_S = 10


class FakeChannelGateway(LiveGateway):
    """LiveGateway's `paymux serve` (PAYMUX_SECRETS_KEY, --public-url of its own address)
    without its simulators: the app has the one channel `provider` configured in live mode with
    `settings`, which point it at a fake."""

    def __init__(self, binary, provider, settings):
        super().__init__(binary)
        self.provider = provider
        self.settings = settings

    def start(self):
        PaymuxServer.start(self)  # LiveGateway.start would start and configure its simulators
        self.configure(self.provider, self.settings)
        return self

    def reconfigure(self, **changes):
        """The channel configured again: its starting settings with `changes`."""
        self.configure(self.provider, dict(self.settings, **changes))


def serve(request, provider, settings):
    """For a module-scoped `gateway` fixture (``yield from``): the started FakeChannelGateway;
    afterwards it is stopped, its output shown if a test failed."""
    gateway = FakeChannelGateway(checked_binary(), provider, settings).start()
    yield gateway
    finish_server(request, gateway)


class AdapterTests:
    """Base of a test class run with the fixtures `gateway` (from ``serve``) and `fake`, a
    fake channel that records each request it got in `seen` (under `lock`), a dict whose
    `verified` says whether it passed the channel's checks, signature included, and names a
    refused one with `refusal(record)`.

    Each test has the Ping++ SDK aimed at the gateway with the live key; afterwards, the fake
    must have seen a request, and refused none but those the test put in `expect_refused`."""

    @pytest.fixture(autouse=True)
    def merchant(self, gateway, fake):
        point_sdk(gateway, gateway.live_key)
        with fake.lock:
            start = len(fake.seen)
        self.expect_refused = set()
        yield
        with fake.lock:
            during = fake.seen[start:]
        assert during, "the fake saw no request"
        refused = [fake.refusal(s) for s in during if not s["verified"]]
        assert set(refused) <= self.expect_refused, refused


def create_charge(gateway, channel, amount=1000, **overrides):
    """A charge created through the SDK: paymux_harness.charge_params with `overrides`."""
    return pingpp.Charge.create(**charge_params(gateway.app_id, channel, amount, **overrides))


def wait_paid(charge_id, timeout=SETTLE_TIMEOUT_S, interval=0.05, what=None):
    """The charge once the merchant sees it paid."""
    return wait_for(lambda: pingpp.Charge.retrieve(charge_id), lambda c: c.paid,
                    timeout=timeout, interval=interval,
                    what=what or "charge %s to be paid" % charge_id)


def wait_refund_settled(charge_id, refund_id):
    """The refund once it is no longer pending."""
    return wait_for(lambda: pingpp.Charge.retrieve_refund(charge_id, refund_id),
                    lambda r: r.status != "pending", timeout=SETTLE_TIMEOUT_S,
                    what="refund %s to settle" % refund_id)
