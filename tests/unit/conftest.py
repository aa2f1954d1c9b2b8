"""The unit layer: pure code, no emulator, no network.

Every unit test runs with IP networking blocked (connect, connect_ex and bind of IP sockets,
``socket.create_connection``, name resolution); Unix sockets still work. A test that reaches for
moto, the local hub or anything on the network fails at once with ``NetworkBlocked`` instead of
hanging on a timeout, and a unit test that asks for an emulator fixture fails before it costs
anything. Such a test belongs in ``tests/component/`` or a layer above it.
"""

from __future__ import annotations

from typing import Any

import pytest

from helpers.network import block_ip_networking

# a functions/ tree that breaks the boundaries on purpose, read (never imported) by test_boundaries.py
collect_ignore = ["fixtures"]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    block_ip_networking(monkeypatch)


def _emulator_fixture(name: str) -> Any:
    def refused(request: pytest.FixtureRequest) -> None:
        pytest.fail(
            f"{request.node.nodeid} asks for the {name!r} fixture: a unit test runs without the emulator "
            "and the synthesized template; move it to tests/component/ (or the layer that fits)",
            pytrace=False,
        )

    return pytest.fixture(name=name)(refused)


# The emulator fixtures of the layers above, overridden for this layer: a unit test that asks for
# one fails at once instead of provisioning an emulator.
hub = _emulator_fixture("hub")
moto_server = _emulator_fixture("moto_server")
cdk_out = _emulator_fixture("cdk_out")
template = _emulator_fixture("template")
