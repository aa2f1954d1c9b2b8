"""The reconciliation function's entry point: scheduled and on-demand events, the run id, the
metrics, and nothing but counts in its answer and log."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from helpers import Context
from reconciliation import handler, logic
from reconciliation.models import WindowInvalid

SCHEDULED = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-11-23T12:00:00Z",
    "region": "eu-west-1",
    "resources": ["arn:aws:events:eu-west-1:123456789012:rule/reconcile"],
    "detail": {},
}


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def run(window_from: Any, window_to: Any, **kw: Any) -> dict[str, Any]:
        calls.append({"window_from": window_from, "window_to": window_to, **kw})
        counts = {"hub": 2, "finance": 1, "matched": 1, "missing": 1, "in_flight": 0, "rejected": 0, "extra": 0,
                  "mismatched": 0, "reposted": 1}  # fmt: skip
        orders = {"hub": 0, "acknowledged": 0, "matched": 0, "missing": 0, "in_flight": 0, "rejected": 0, "extra": 0,
                  "mismatched": 0, "resent": 0}  # fmt: skip
        return {"run_id": kw["run_id"], "window_from": "2026-11-22", "window_to": "2026-11-23", "repair": kw["repair"],
                "invoices": counts, "erp_orders": orders, "invoice_match_rate": "50.00", "erp_match_rate": "100.00",
                "references": {"invoices": {"missing": {"references": ["inv_1"]}}}}  # fmt: skip

    monkeypatch.setattr(logic, "run", run)
    return calls


def test_a_scheduled_run(runs: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    answer = handler.lambda_handler(SCHEDULED, Context())
    call = runs[0]
    assert call["window_from"] is None and call["window_to"] is None and call["repair"] is True
    assert call["run_id"] == logic.new_run_id(logic.datetime(2026, 11, 23, 12, tzinfo=logic.UTC), seed=SCHEDULED["id"])
    assert call["causation_id"] == SCHEDULED["id"]
    assert answer["invoice_match_rate"] == "50.00" and "references" not in answer
    out = capsys.readouterr().out
    metrics = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    names = {m["Name"]: m["Unit"] for d in metrics for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names["InvoiceMatchRate"] == "Percent" and names["ErpMatchRate"] == "Percent"

    def value(name: str) -> Any:
        found = metrics[0][name]
        return found[-1] if isinstance(found, list) else found

    assert value("InvoiceMatchRate") == 50.0 and value("InvoicesReposted") == 1
    assert "inv_1" not in out  # counts only


def test_a_retried_scheduled_run_has_the_same_run_id(runs: list[dict[str, Any]]) -> None:
    handler.lambda_handler(SCHEDULED, Context())
    handler.lambda_handler(SCHEDULED, Context())
    assert runs[0]["run_id"] == runs[1]["run_id"]


def test_an_on_demand_run(runs: list[dict[str, Any]]) -> None:
    handler.lambda_handler({"window_from": "2026-11-01", "window_to": "2026-11-02", "repair": False}, Context())
    call = runs[0]
    assert (call["window_from"], call["window_to"], call["repair"]) == (date(2026, 11, 1), date(2026, 11, 2), False)
    assert call["causation_id"] is None and call["run_id"].startswith("rec-")


@pytest.mark.parametrize("event", [{"window_from": "last week"}, {"repair": "no"}])
def test_a_bad_on_demand_event_fails(runs: list[dict[str, Any]], event: dict[str, Any]) -> None:
    with pytest.raises(WindowInvalid):
        handler.lambda_handler(event, Context())
    assert runs == []
