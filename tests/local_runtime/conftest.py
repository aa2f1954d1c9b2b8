"""The local runtime layer: the local hub's own pieces (emulator server, pollers, persistence,
the HTTP front, process lifecycle)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from helpers import REGION


@pytest.fixture
def moto_server() -> Iterator[Any]:
    """An emulator over HTTP, as the local hub runs it; yields a ``service -> client`` factory."""
    from moto.server import ThreadedMotoServer

    from synchub.local.moto_isolation import install
    from synchub.local.runtime import aws_clients, reset_moto

    install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    reset_moto(f"http://{host}:{port}")
    yield aws_clients(f"http://{host}:{port}", REGION)
    reset_moto(f"http://{host}:{port}")
    server.stop()
