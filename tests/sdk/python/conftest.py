"""pytest fixtures: a paymux server per session and a pingpp SDK pointed at it.

Modules that need a server of their own (e.g. because they switch request
signing on) override the ``server`` fixture with a module-scoped one built
with ``start_server()``.
"""

import pingpp
import pytest

from paymux_harness import charge_params, finish_server, point_sdk, start_server


@pytest.fixture(scope="session")
def server(request):
    srv = start_server()
    yield srv
    finish_server(request, srv)


@pytest.fixture(autouse=True)
def sdk(server):
    """Configure the official SDK for the active server; unsigned by default."""
    point_sdk(server, server.test_key)
    yield pingpp
    # private_key_path is read lazily into private_key, so reset both
    pingpp.private_key = None
    pingpp.private_key_path = None


@pytest.fixture
def create_charge(server):
    """create_charge(channel, amount=1000, **overrides) -> pingpp Charge"""
    def create(channel, amount=1000, **overrides):
        return pingpp.Charge.create(**charge_params(server.app_id, channel, amount, **overrides))
    return create
