"""One local hub for the whole end-to-end layer, and channels registered on it as an operator does.

The hub runs the stack's own authorizer, API keys and usage plans: every API call of these tests
goes through `synchub.client.ChannelClient` with a token from `/oauth2/token`, as a channel's does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from synchub import channels, environment
from synchub.client import ChannelClient
from synchub.local.runtime import LocalHub

ChannelFactory = Callable[..., ChannelClient]


@pytest.fixture(scope="session")
def local_hub(cdk_out: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    # schedules (outbox and backorder sweeps) every second instead of every 5 minutes
    hub = LocalHub(
        cdk_out=cdk_out,
        api_port=0,
        retry_delay=0.3,
        schedule_interval=1.0,
        # reconciliation on demand only (synchub reconcile, tests/e2e/test_connectors.py), not every second
        schedule_intervals={"reconciliation.handler.lambda_handler": None},
        state_dir=tmp_path_factory.mktemp("synchub-state"),
    )
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture(scope="session")
def env(local_hub: LocalHub) -> environment.HubEnvironment:
    return environment.local(local_hub.state_dir / "local.json")


@pytest.fixture(scope="session")
def new_channel(env: environment.HubEnvironment) -> ChannelFactory:
    """Register a channel (a fresh id unless named) and return its authenticated client."""

    def make(name: str | None = None, **limits: float) -> ChannelClient:
        name = name or f"e2e-{uuid.uuid4().hex[:10]}"
        creds = channels.add_channel(env, name, **{"rate": 500.0, "burst": 1000, **limits})  # type: ignore[arg-type]
        assert env.api_url
        return ChannelClient(env.api_url, creds.client_id, creds.client_secret, creds.token_url)

    return make


@pytest.fixture(scope="session")
def webshop(new_channel: ChannelFactory) -> ChannelClient:
    """The sample order's channel, `webshop-nl`, registered once for the layer."""
    return new_channel("webshop-nl")
