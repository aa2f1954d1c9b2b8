"""What others may use of operations: the business exceptions as an operator works them, for the
``synchub exceptions`` CLI (synchub/exceptions.py), which runs the same code in-process against a
hub's environment that the API runs behind ``/exceptions``: the same id and reason rules, the same
store calls and errors, the same view of an exception (the payload only in :func:`detail`)."""

from __future__ import annotations

from .logic import detail, reason_problems, record, summary, valid_id
from .models import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_REASON_CHARS,
    STATUSES,
    TARGETS,
    CursorInvalid,
    ExceptionClosed,
    ExceptionDetail,
    ExceptionMissing,
    ExceptionRecord,
    ExceptionSummary,
)
from .repository import discard, get, page, resubmit

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_REASON_CHARS",
    "STATUSES",
    "TARGETS",
    "CursorInvalid",
    "ExceptionClosed",
    "ExceptionDetail",
    "ExceptionMissing",
    "ExceptionRecord",
    "ExceptionSummary",
    "detail",
    "discard",
    "get",
    "page",
    "reason_problems",
    "record",
    "resubmit",
    "summary",
    "valid_id",
]
