"""Where the business exceptions are: the connectors' exception store (``connectors.api``, items
``EXCEPTION#<id>`` in ConnectorsTable and its GSI ``exceptions-by-status``). This domain owns no
table; this module is its only way to the store, and turns the store's errors into this domain's
(:class:`ExceptionMissing`, :class:`ExceptionClosed`, :class:`CursorInvalid`)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from connectors import api as store

from .models import CursorInvalid, ExceptionClosed, ExceptionMissing


def page(status: str, target: str | None, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of exceptions in ``status`` (of ``target`` only), newest first, and the store's
    cursor for the next page. A cursor the store cannot use is :class:`CursorInvalid`."""
    try:
        items, next_cursor = store.list_exceptions(status=status, target=target, limit=limit, cursor=cursor)
    except ValueError as exc:  # the store's verdict on a cursor it did not make
        if cursor is None:
            raise
        raise CursorInvalid(str(exc)) from None
    except ClientError as exc:  # a well-formed cursor DynamoDB still refuses as a start key
        if cursor is None or exc.response.get("Error", {}).get("Code") != "ValidationException":
            raise
        raise CursorInvalid("the cursor does not page this query") from None
    return list(items), next_cursor


def get(exception_id: str) -> dict[str, Any]:
    try:
        found = store.get_exception(exception_id)
    except store.ExceptionNotFound:
        raise ExceptionMissing(exception_id) from None
    if not found:
        raise ExceptionMissing(exception_id)
    return dict(found)


def resubmit(exception_id: str, by: str) -> dict[str, Any]:
    """OPEN -> RESUBMITTED and the payload sent back to its queue (the store's job, exactly once)."""
    try:
        done = store.resubmit(exception_id, by)
    except store.ExceptionNotFound:
        raise ExceptionMissing(exception_id) from None
    except store.ExceptionNotOpen as exc:
        raise ExceptionClosed(exception_id, _status_of(exc, exception_id)) from None
    return _after(exception_id, done)


def discard(exception_id: str, by: str, reason: str) -> dict[str, Any]:
    """OPEN -> DISCARDED, the operator's reason in its history."""
    try:
        done = store.discard(exception_id, by, reason)
    except store.ExceptionNotFound:
        raise ExceptionMissing(exception_id) from None
    except store.ExceptionNotOpen as exc:
        raise ExceptionClosed(exception_id, _status_of(exc, exception_id)) from None
    return _after(exception_id, done)


def _after(exception_id: str, done: Any) -> dict[str, Any]:
    """The exception after a move: what the store returned, or (if it returned no item) read again."""
    if isinstance(done, dict) and done.get("exception_id") == exception_id:
        return done
    return get(exception_id)


def _status_of(exc: Exception, exception_id: str) -> str:
    status = getattr(exc, "status", None)
    if isinstance(status, str) and status:
        return status
    try:
        return str(get(exception_id).get("status") or "UNKNOWN")
    except ExceptionMissing:
        return "UNKNOWN"
