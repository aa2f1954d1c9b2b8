"""What each function imports on its cold start (issue 10; benchmarks/coldstart.py measures the cost).

Each handler module is imported in a fresh interpreter with the variables Lambda sets at init
(``LAMBDA_TASK_ROOT`` makes Powertools' Tracer patch for real, as deployed with active tracing), and
what ends up in ``sys.modules`` is checked against what the function needs: a regression here is a
slower cold start on every scale-out, which no functional test would notice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
HANDLERS = [
    "channels.handler",
    "erp.handler",
    "finance.handler",
    "fulfilment.handler",
    "inventory.handler",
    "invoicing.handler",
    "masterdata.handler",
    "operations.handler",
    "orders.handler",
    "outbox.handler",
    "reconciliation.handler",
    "reservation.handler",
]
DOMAINS = {p.name for p in FUNCTIONS.iterdir() if (p / "__init__.py").is_file()}


@cache
def loaded(module: str) -> frozenset[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(FUNCTIONS),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_TASK_ROOT": str(FUNCTIONS),
        "AWS_LAMBDA_FUNCTION_NAME": "lean-imports",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "POWERTOOLS_SERVICE_NAME": "lean-imports",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
    }
    code = (
        f"import sys, json, gc, {module}; "
        "print(json.dumps(sorted(sys.modules) + [f'gc:{gc.isenabled()}:{gc.get_freeze_count() > 0}']))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return frozenset(json.loads(out.stdout.strip().splitlines()[-1]))


def domains(module: str) -> set[str]:
    return {name.split(".")[0] for name in loaded(module)} & DOMAINS - {"synchub_core"}


@pytest.mark.parametrize("module", HANDLERS)
def test_no_function_imports_what_no_function_uses(module: str) -> None:
    modules = loaded(module)
    # Powertools' parser record models (imported by its batch utility when pydantic came first) and
    # the libraries the X-Ray SDK's patch_all would patch: none is used by any function
    unused = {"aws_lambda_powertools.utilities.parser", "requests", "sqlite3", "pynamodb", "httpx"}
    assert not unused & modules, f"{module} imports {sorted(unused & modules)}"
    assert "aws_xray_sdk.ext.botocore.patch" in modules, f"{module}: AWS calls are not traced"


@pytest.mark.parametrize("module", ["outbox.handler", "channels.handler"])
def test_functions_that_read_no_envelope_do_not_import_pydantic(module: str) -> None:
    assert "pydantic" not in loaded(module), f"{module} imports pydantic on its cold start"


@pytest.mark.parametrize("module", sorted(set(HANDLERS) - {"orders.handler", "operations.handler", "channels.handler"}))
def test_only_the_apis_import_the_event_handler(module: str) -> None:
    assert "aws_lambda_powertools.event_handler" not in loaded(module)


@pytest.mark.parametrize(
    ("module", "needs"),
    [
        ("outbox.handler", {"outbox"}),
        ("channels.handler", {"channels"}),
        ("inventory.handler", {"inventory"}),
        ("masterdata.handler", {"masterdata"}),
        ("fulfilment.handler", {"fulfilment", "orders", "inventory"}),
        ("reservation.handler", {"reservation", "orders", "inventory"}),
    ],
)
def test_workers_import_only_the_domains_they_use(module: str, needs: set[str]) -> None:
    """Intake's master data checks stay out of the workers that move an order on (orders.transitions)."""
    assert domains(module) == needs, f"{module} imports {sorted(domains(module) - needs)} too"


def test_only_connectors_trace_http_calls() -> None:
    """The X-Ray SDK patches botocore everywhere and the standard library's HTTP client only where a
    function calls a partner's API itself (finance, reconciliation against finance)."""
    patched = {m for m in HANDLERS if "aws_xray_sdk.ext.httplib.patch" in loaded(m)}
    assert patched == {"finance.handler", "reconciliation.handler"}


@pytest.mark.parametrize("module", HANDLERS)
def test_init_runs_without_the_garbage_collector_and_freezes_what_it_built(module: str) -> None:
    """synchub_core (first in every domain package) turns collection off in Lambda; the handler
    module's last line freezes what init built and turns it back on: a function never runs with
    collection off."""
    assert "gc:True:True" in loaded(module), f"{module}: collection not resumed, or nothing frozen, after init"


def test_outside_lambda_collection_is_never_touched() -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(FUNCTIONS), "AWS_REGION": "eu-west-1"}
    code = "import gc, synchub_core; print(gc.isenabled(), gc.get_freeze_count())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["True", "0"], out.stderr[-2000:]
