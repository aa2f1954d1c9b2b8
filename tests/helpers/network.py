"""Blocking IP networking for the unit layer (Unix sockets stay allowed)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

IP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


class NetworkBlocked(RuntimeError):
    """A unit test tried to use the network."""


def _refuse(what: str, target: Any) -> NetworkBlocked:
    return NetworkBlocked(
        f"unit tests may not use the network ({what} {target!r}); a test that needs the emulator "
        "or a server belongs in tests/component/ or a layer above it (see CONTRIBUTING.md)"
    )


def block_ip_networking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make connect, connect_ex and bind of IP sockets, ``socket.create_connection`` and
    ``socket.getaddrinfo`` raise :class:`NetworkBlocked` until ``monkeypatch`` is undone."""

    def guarded(real: Any, what: str) -> Any:
        def method(self: socket.socket, address: Any) -> Any:
            if self.family in IP_FAMILIES:
                raise _refuse(what, address)
            return real(self, address)

        return method

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        raise _refuse("create_connection", address)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        raise _refuse("getaddrinfo", (host, port))

    for name in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, name, guarded(getattr(socket.socket, name), name))
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
