"""Finance poster: EventBridge ``InvoiceIssued`` and ``CreditMemoIssued`` (source synchub.invoicing)
-> the FinancePosting queue -> this Lambda -> the cloud finance API, as an invoice or a credit note
(see ``logic`` for the idempotency chain, the breaker and the buffer)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

import synchub_core
from connectors import api as connectors
from invoicing import api as invoicing
from synchub_core.lambda_support import METRICS_NAMESPACE, Delivery, Feed, Powertools

from . import logic
from .client import FinanceClient
from .models import (
    BUFFER_QUEUE_ENV,
    ENTITY_CREDIT_MEMO,
    FINANCE_TARGET,
    RATE_ENV,
    PostingFailed,
    PostingOutcome,
)

pt = Powertools.for_service("finance", traced=("botocore", "httplib"))  # and the calls to the finance API
DEFAULT_RATE_PER_SECOND = 20

_runtime: logic.Runtime | None = None  # one per invocation (the breaker's read is reused within it)


def runtime() -> logic.Runtime:
    made: list[FinanceClient] = []

    def client() -> FinanceClient:
        if not made:
            made.append(FinanceClient.from_env())
        return made[0]

    return logic.Runtime(
        breaker=connectors.Breaker.from_env(FINANCE_TARGET),
        limiter=connectors.RateLimiter(
            FINANCE_TARGET, per_second=int(os.environ.get(RATE_ENV) or DEFAULT_RATE_PER_SECOND)
        ),
        buffer_queue_url=os.environ.get(BUFFER_QUEUE_ENV, ""),
        client=client,
        metrics=pt.metrics,
    )


def _emit(outcome: PostingOutcome) -> None:
    for change in outcome.changes:
        with single_metric(name=change.metric, unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE) as metric:
            metric.add_dimension("service", "finance")
            metric.add_dimension("target", change.target)
        pt.logger.warning(
            "circuit state changed",
            extra={
                "target": change.target,
                "previous": change.previous,
                "state": change.state,
                "reason": change.reason,
            },
        )
    if outcome.status == "posted" and outcome.entity_type == ENTITY_CREDIT_MEMO:
        pt.metrics.add_metric(name="CreditMemoPostedToFinance", unit=MetricUnit.Count, value=1)
    elif outcome.status == "posted":
        pt.metrics.add_metric(name="InvoicePostedToFinance", unit=MetricUnit.Count, value=1)


def _handle(delivery: Delivery) -> None:
    rt = _runtime if _runtime is not None else runtime()
    try:
        outcome = logic.post(delivery, rt)
    except PostingFailed as exc:
        _emit(exc.outcome)
        pt.metrics.add_metric(name="FinancePostingFailed", unit=MetricUnit.Count, value=1)
        pt.logger.warning(
            "finance posting failed",
            extra={exc.outcome.id_field: exc.outcome.entity_id, "reason": exc.reason[:300]},
        )
        raise
    _emit(outcome)
    pt.logger.info(
        "finance posting",
        extra={
            outcome.id_field: outcome.entity_id,
            "outcome": outcome.status,
            "finance_document_id": outcome.finance_document_id,
            "exception_id": outcome.exception_id,
            "code": outcome.code,
            "park_seconds": outcome.park_seconds or None,
            "found_by_lookup": outcome.found_by_lookup or None,
            "resolved": outcome.resolved or None,
        },
    )


_batch = pt.envelope_batch_handler(
    (invoicing.INVOICE_ISSUED, invoicing.CREDIT_MEMO_ISSUED),
    "finance-posting",
    _handle,
    feed=Feed.BUS,
    sources=[invoicing.INVOICE_SOURCE],
    admit=logic.admit,
)


def lambda_handler(event: dict, context: Any) -> Any:
    """One runtime (breaker, rate limiter, finance client) per invocation, then the batch."""
    global _runtime
    _runtime = runtime()
    try:
        return _batch(event, context)
    finally:
        _runtime = None


synchub_core.init_done()  # the end of this function's init: see synchub_core/__init__.py
