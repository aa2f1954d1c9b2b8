"""Lazily created boto3 clients, one per service per process.

boto3 honours ``AWS_ENDPOINT_URL`` natively, which is how the local runtime points the very
same code at moto or LocalStack.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=2, read_timeout=10)


@cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)


def reset_clients() -> None:
    client.cache_clear()
