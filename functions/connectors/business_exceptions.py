"""Business exceptions: what a target rejects for good (unknown account, blocked customer,
validation error) is not retried; it is kept as an exception record with the business-readable
reason, the entity, the target, the payload to resubmit and the time, until an operator fixes the
cause and resubmits it (or discards it).

``EXCEPTION#<exception_id>`` items in the connectors table, listed by status through the index
``exceptions-by-status`` (newest first). One record per target and entity (the id is derived from
them): raising it again while it is OPEN changes nothing; raising it after a resubmission re-opens
it (attempts + 1, history appended). Status: OPEN -> RESUBMITTED -> RESOLVED (the resubmitted
entity went through) or OPEN again; OPEN -> DISCARDED.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from synchub_core import ddb
from synchub_core.envelope import now_iso

from . import logic, repository
from .models import (
    EXC_DISCARDED,
    EXC_OPEN,
    EXC_RESOLVED,
    EXC_RESUBMITTED,
    EXCEPTION_STATUSES,
    RESUBMIT_OF,
    ExceptionNotFound,
    ExceptionNotOpen,
)

__all__ = [
    "ExceptionNotFound",
    "ExceptionNotOpen",
    "discard",
    "exception_id",
    "get_exception",
    "list_exceptions",
    "raise_exception",
    "resolve",
    "resubmit",
]

MAX_LIMIT = 100
exception_id = logic.exception_id


def raise_exception(
    *,
    target: str,
    entity_type: str,
    entity_id: str,
    code: str,
    reason: str,
    payload: str,
    resubmit_queue_url: str,
    refs: dict[str, Any],
    also: list[dict[str, Any]] | None = None,
    metrics: Metrics | None = None,
) -> str:
    """Open the exception for ``entity_id`` at ``target`` (or leave an OPEN or DISCARDED one as it is) and
    return its id. ``also``: transaction entries written atomically with it (a connector's ledger
    entry); if one of those is cancelled, ``TransactionCancelled`` is raised and nothing is written."""
    exc_id = logic.exception_id(target, entity_type, entity_id)
    at = now_iso()
    item = {
        "item_type": "EXCEPTION",
        "exception_id": exc_id,
        "target": target,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "code": code,
        "reason": reason,
        "payload": payload,
        "resubmit_queue_url": resubmit_queue_url,
        "refs": {k: v for k, v in refs.items() if v is not None},
        "status": EXC_OPEN,
        "exception_status": EXC_OPEN,
        "raised_at": at,
        "updated_at": at,
    }
    ops = [repository.raise_op(item, {"at": at, "status": EXC_OPEN, "reason": reason})]
    try:
        ddb.transact([*ops, *(also or [])])
    except ddb.TransactionCancelled as exc:
        if exc.failed(0):  # OPEN already (a repeated delivery of the same rejection), or DISCARDED
            return exc_id
        raise
    if metrics is not None:
        metrics.add_metric(name="BusinessExceptionRaised", unit=MetricUnit.Count, value=1)
    return exc_id


def public(item: dict[str, Any]) -> dict[str, Any]:
    """The exception as the API and the CLI show it (no table keys)."""
    out = {k: v for k, v in item.items() if k not in ("pk", "sk", "item_type", "exception_status")}
    if "attempts" in out:
        out["attempts"] = int(out["attempts"])
    return out


def get_exception(exception_id: str) -> dict[str, Any]:
    item = repository.get_exception(exception_id)
    if item is None:
        raise ExceptionNotFound(exception_id)
    return public(item)


def list_exceptions(
    status: str = EXC_OPEN, target: str | None = None, limit: int = 50, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of exceptions in ``status`` (newest first) and the cursor of the next page.
    ``ValueError`` for an unknown status, a limit outside 1..100 or a cursor this did not return."""
    if status not in EXCEPTION_STATUSES:
        raise ValueError(f"status must be one of {', '.join(EXCEPTION_STATUSES)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1 to {MAX_LIMIT}")
    items, next_cursor = repository.query_exceptions(status, limit, cursor, target)
    return [public(i) for i in items], next_cursor


def _not_open(exception_id: str) -> Exception:
    item = repository.get_exception(exception_id)
    if item is None:
        return ExceptionNotFound(exception_id)
    return ExceptionNotOpen(exception_id, str(item.get("status")))


def resubmit(exception_id: str, by: str) -> dict[str, Any]:
    """Send the exception's payload back to its queue (attribute ``synchub-resubmit-of``) and mark
    it RESUBMITTED. Marked first, conditionally on OPEN, so two operators cannot both resubmit it;
    if the send then fails it is put back to OPEN and the error raised."""
    at = now_iso()
    item = repository.move_exception(
        exception_id, (EXC_OPEN,), EXC_RESUBMITTED, at, {"at": at, "status": EXC_RESUBMITTED, "by": by}
    )
    if item is None:
        raise _not_open(exception_id)
    try:
        repository.send(
            str(item["resubmit_queue_url"]),
            str(item["payload"]),
            {RESUBMIT_OF: {"DataType": "String", "StringValue": exception_id}},
        )
    except Exception:
        back = now_iso()
        repository.move_exception(
            exception_id,
            (EXC_RESUBMITTED,),
            EXC_OPEN,
            back,
            {"at": back, "status": EXC_OPEN, "reason": "resubmission could not be sent"},
        )
        raise
    return public(item)


def discard(exception_id: str, by: str, reason: str) -> dict[str, Any]:
    """OPEN -> DISCARDED: the operator decided the entity is not to be sent."""
    at = now_iso()
    item = repository.move_exception(
        exception_id,
        (EXC_OPEN,),
        EXC_DISCARDED,
        at,
        {"at": at, "status": EXC_DISCARDED, "by": by, "reason": reason},
        discard_reason=reason,
    )
    if item is None:
        raise _not_open(exception_id)
    return public(item)


def resolve(target: str, entity_type: str, entity_id: str) -> bool:
    """The entity went through at ``target``: its OPEN or RESUBMITTED exception (if any) ends
    RESOLVED. False when there is none to resolve."""
    at = now_iso()
    moved = repository.move_exception(
        logic.exception_id(target, entity_type, entity_id),
        (EXC_OPEN, EXC_RESUBMITTED),
        EXC_RESOLVED,
        at,
        {"at": at, "status": EXC_RESOLVED, "reason": f"{entity_type} {entity_id} accepted by {target}"},
    )
    return moved is not None
