"""The unit layer's own guarantees: IP networking is blocked, Unix sockets are not, and no unit
test module imports the emulator or the local runtime."""

from __future__ import annotations

import ast
import socket
import urllib.request
from pathlib import Path

import pytest

from helpers.network import NetworkBlocked

UNIT = Path(__file__).resolve().parent
EMULATOR_MODULES = ("moto", "synchub.local", "localstack_client")


@pytest.mark.parametrize("family, address", [(socket.AF_INET, ("127.0.0.1", 9)), (socket.AF_INET6, ("::1", 9))])
def test_ip_sockets_cannot_connect_or_bind(family: socket.AddressFamily, address: tuple[str, int]) -> None:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        with pytest.raises(NetworkBlocked, match="unit tests may not use the network"):
            sock.connect(address)
        with pytest.raises(NetworkBlocked):
            sock.connect_ex(address)
        with pytest.raises(NetworkBlocked):
            sock.bind(address)


def test_connections_and_name_resolution_are_refused() -> None:
    with pytest.raises(NetworkBlocked, match="create_connection"):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(NetworkBlocked, match="getaddrinfo"):
        socket.getaddrinfo("example.com", 443)
    with pytest.raises(NetworkBlocked):
        urllib.request.urlopen("http://127.0.0.1:9/", timeout=1)


def test_an_aws_call_to_an_emulator_fails_fast_with_the_reason() -> None:
    import boto3
    from botocore.exceptions import HTTPClientError

    sqs = boto3.client(
        "sqs",
        region_name="eu-west-1",
        endpoint_url="http://127.0.0.1:5000",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    # botocore wraps what its HTTP client raises: the reason still reaches the test's output
    with pytest.raises(HTTPClientError, match=r"unit tests may not use the network .* tests/component/") as raised:
        sqs.list_queues()
    assert isinstance(raised.value.kwargs["error"], NetworkBlocked)


def test_unix_sockets_still_work(tmp_path: Path) -> None:
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"ping")
        assert right.recv(4) == b"ping"
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
        server.bind(path)
        server.listen(1)
        client.connect(path)
        conn, _ = server.accept()
        with conn:
            client.sendall(b"pong")
            assert conn.recv(4) == b"pong"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_unit_test_imports_the_emulator_or_the_local_runtime() -> None:
    offenders = {
        f"{path.relative_to(UNIT)}: {name}"
        for path in UNIT.glob("*.py")
        for name in _imports(path)
        if any(name == m or name.startswith(m + ".") for m in EMULATOR_MODULES)
    }
    assert offenders == set()
