"""Reconciliation: a schedule (rate(1 hour)) runs ``lambda_handler``; so can an on-demand invocation
with ``{"window_from": "YYYY-MM-DD", "window_to": "YYYY-MM-DD", "repair": false}`` (every member
optional). A run that cannot read a side fails (retried, then the schedule's on-failure DLQ)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

import synchub_core
from synchub_core.lambda_support import Powertools

from . import logic
from .models import WindowInvalid

pt = Powertools.for_service("reconciliation", traced=("botocore", "httplib"))  # and the finance API


def _day(value: Any, name: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise WindowInvalid(f"{name} {str(value)[:40]!r} is not a date (YYYY-MM-DD)") from None


def _request(event: Any) -> tuple[date | None, date | None, bool, str | None, datetime | None]:
    """(window_from, window_to, repair, the invocation's event id, its time) of a scheduled or
    on-demand event."""
    event = event if isinstance(event, dict) else {}
    detail = event.get("detail")
    asked = detail if isinstance(detail, dict) and detail else event
    repair = asked.get("repair", True)
    if not isinstance(repair, bool):
        raise WindowInvalid("repair must be true or false")
    event_id = event.get("id") if isinstance(event.get("id"), str) else None
    at = None
    if event_id and isinstance(event.get("time"), str):
        try:
            at = datetime.fromisoformat(event["time"])
        except ValueError:
            at = None
    return (
        _day(asked.get("window_from"), "window_from"),
        _day(asked.get("window_to"), "window_to"),
        repair,
        event_id,
        at,
    )


def _reconcile(event: dict, context: Any) -> dict[str, Any]:
    window_from, window_to, repair, event_id, at = _request(event)
    run_id = logic.new_run_id(at or datetime.now(UTC), seed=event_id)
    with pt.correlated(run_id, run_id=run_id):
        try:
            result = logic.run(
                window_from, window_to, repair=repair, run_id=run_id, causation_id=event_id, metrics=pt.metrics
            )
        except Exception as exc:
            pt.logger.error("reconciliation failed", extra={"error": type(exc).__name__, "reason": str(exc)[:300]})
            raise
        invoices, orders = result["invoices"], result["erp_orders"]
        pt.metrics.add_metric(
            name="InvoiceMatchRate", unit=MetricUnit.Percent, value=float(result["invoice_match_rate"])
        )
        pt.metrics.add_metric(name="ErpMatchRate", unit=MetricUnit.Percent, value=float(result["erp_match_rate"]))
        pt.metrics.add_metric(name="InvoicesMissing", unit=MetricUnit.Count, value=invoices["missing"])
        pt.metrics.add_metric(name="InvoicesReposted", unit=MetricUnit.Count, value=invoices["reposted"])
        pt.metrics.add_metric(name="InvoicesMismatched", unit=MetricUnit.Count, value=invoices["mismatched"])
        pt.metrics.add_metric(name="InvoicesExtra", unit=MetricUnit.Count, value=invoices["extra"])
        pt.metrics.add_metric(name="ErpOrdersMissing", unit=MetricUnit.Count, value=orders["missing"])
        pt.metrics.add_metric(name="ErpOrdersResent", unit=MetricUnit.Count, value=orders["resent"])
        pt.metrics.add_metric(name="ErpOrdersMismatched", unit=MetricUnit.Count, value=orders["mismatched"])
        pt.metrics.add_metric(name="ErpOrdersExtra", unit=MetricUnit.Count, value=orders["extra"])
        summary = {
            "run_id": result["run_id"],
            "window_from": result["window_from"],
            "window_to": result["window_to"],
            "repair": result["repair"],
            "invoices": invoices,
            "erp_orders": orders,
            "invoice_match_rate": result["invoice_match_rate"],
            "erp_match_rate": result["erp_match_rate"],
        }
        pt.logger.info("reconciliation completed", extra=summary)  # counts and ids only
        return summary


lambda_handler = pt.handler(_reconcile)

synchub_core.init_done()  # the end of this function's init: see synchub_core/__init__.py
