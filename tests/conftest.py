"""Fixtures and hooks every test layer shares.

Tests are layered by cost, one folder each (CONTRIBUTING.md, "Where tests go"): ``unit/``,
``component/``, ``infra/``, ``local_runtime/``, ``e2e/``. Every test is marked with its layer
(``pytest -m unit``). Helpers that are not fixtures live in ``tests/helpers/``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("helpers")

from helpers import CDK_OUT, REGION, ROOT, TEMPLATE, Hub  # noqa: E402  (after the assert rewrite hook)

TESTS = Path(__file__).resolve().parent
LAYERS = ("unit", "component", "infra", "local_runtime", "e2e")  # by cost


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its layer and run the layers cheapest first (a stable sort: modules
    stay whole, so module-scoped fixtures are still set up once); refuse tests outside them."""
    layer_of: dict[pytest.Item, str] = {}
    for item in items:
        parts = item.path.resolve().relative_to(TESTS).parts
        if len(parts) < 2 or parts[0] not in LAYERS:
            raise pytest.UsageError(
                f"{item.path.relative_to(ROOT)}: tests go in one of tests/{{{','.join(LAYERS)}}}/ "
                "(see CONTRIBUTING.md, 'Where tests go')"
            )
        layer_of[item] = parts[0]
        item.add_marker(parts[0])
    items.sort(key=lambda item: LAYERS.index(layer_of[item]))


def _stale() -> bool:
    if not TEMPLATE.exists():
        return True
    built = TEMPLATE.stat().st_mtime
    sources = [p for d in ("functions", "infra") for p in (ROOT / d).rglob("*.py")]
    return any(p.stat().st_mtime > built for p in sources)


@pytest.fixture(scope="session")
def cdk_out() -> Path:
    """cdk.out, synthesized now if missing or older than functions/ or infra/."""
    if _stale():
        from infra.app import build

        build(CDK_OUT).synth()
    return CDK_OUT


@pytest.fixture(scope="session")
def template(cdk_out: Path) -> dict[str, Any]:
    return json.loads(TEMPLATE.read_text())


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_DEV", "false")


@pytest.fixture(scope="session", autouse=True)
def _botocore_data_read_once() -> Iterator[None]:
    """Every botocore session shares one cache of botocore's data files.

    botocore caches the JSON it loads (service models, endpoint rules, partitions) per session,
    and the code under test makes a new session per client (``synchub_core.aws``), after
    ``hub`` resets its clients for every test: that re-parsed the same files ~10 times per
    component test (about 0.1 s per client). The files do not change during a run and botocore
    already shares each loaded document between the clients of a session, so sharing them
    between sessions changes nothing a test can observe; clients, credentials and moto's state
    stay per test.
    """
    from botocore import loaders

    shared: dict[tuple[str, ...], dict[Any, Any]] = {}
    original = loaders.Loader.__init__

    def init(self: loaders.Loader, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._cache = shared.setdefault(tuple(self.search_paths), {})

    loaders.Loader.__init__ = init  # type: ignore[method-assign]
    yield
    loaders.Loader.__init__ = original  # type: ignore[method-assign]


@pytest.fixture
def hub(cdk_out: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    """A fresh moto with the whole stack provisioned from the synthesized template, and the
    functions' environment set as the stack sets it."""
    import boto3
    from moto import mock_aws

    from synchub.local.moto_isolation import install as install_isolation
    from synchub.local.provision import provision
    from synchub.local.template import Template
    from synchub_core.aws import reset_clients
    from synchub_core.config import reset_settings

    install_isolation()
    with mock_aws():
        made: dict[str, Any] = {}

        def clients(service: str) -> Any:  # one client per service for provisioning and the Hub
            if service not in made:
                made[service] = boto3.client(service, region_name=REGION)
            return made[service]

        template = Template.load(cdk_out, "Synchub", REGION)
        deployment = provision(template, clients, endpoint="moto")
        orders_fn = next(f for f in deployment.functions.values() if f.handler.startswith("orders."))
        for key, value in orders_fn.environment.items():
            monkeypatch.setenv(key, value)
        reset_clients()
        reset_settings()
        yield Hub(deployment, clients)
        reset_clients()
        reset_settings()
