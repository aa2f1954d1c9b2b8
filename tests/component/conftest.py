"""The component layer: the real handlers, logic and repositories against moto (in-process),
provisioned from the synthesized template through ``hub`` (tests/conftest.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from helpers import Context, Hub, sample
from synchub.environment import HubEnvironment


@pytest.fixture
def lambda_context() -> Context:
    ctx = Context()
    ctx.aws_request_id = str(uuid.uuid4())
    return ctx


@pytest.fixture
def order_body() -> dict[str, Any]:
    body = sample("api-post-order.json")
    body["channel_order_ref"] = f"{body['channel_order_ref']}-{uuid.uuid4().hex[:6]}"
    return body


@pytest.fixture
def env(hub: Hub) -> HubEnvironment:
    """The provisioned stack as the CLI sees a deployment (``synchub replay`` and the like)."""
    return HubEnvironment(
        endpoint=None,
        region="eu-west-1",
        queues={k: v["url"] for k, v in hub.dep.queues.items()},
        tables=hub.dep.tables,
        event_bus=hub.dep.bus_name,
    )
