"""The business exceptions API's words: what an operator sees of an exception (the API's response
models), what it sends (a discard's reason), the principal the authorizer names, and the errors.

The exceptions themselves are the connectors' (``connectors.api``: raised by the finance and ERP
connectors on a permanent rejection, kept in ConnectorsTable); this domain only serves them to
operators. The ``payload`` (the message to resubmit: an order or an invoice, with customer data)
is in :class:`ExceptionDetail` only, never in a list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

OPERATOR_ROLE = "operator"  # the authorizer context's ``role`` of an operator (channels.api.Role.OPERATOR)
PRINCIPAL = re.compile(r"[a-z0-9][a-z0-9\-]{1,31}")  # a principal's id: channels.api.CHANNEL_ID
EXCEPTION_ID = re.compile(r"exc_[0-9a-f]{20}")  # connectors: "exc_" + 20 hex digits of a sha256
EXCEPTION_ID_PATTERN = r"^exc_[0-9a-f]{20}$"
STATUSES = ("OPEN", "RESUBMITTED", "RESOLVED", "DISCARDED")
TARGETS = ("finance", "erp")
Status = Literal["OPEN", "RESUBMITTED", "RESOLVED", "DISCARDED"]
Target = Literal["finance", "erp"]
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_CURSOR_CHARS = 2048
MIN_REASON_CHARS = 1
MAX_REASON_CHARS = 500
MAX_BODY_BYTES = 4096  # a discard body is one short reason


class ExceptionHistoryEntry(BaseModel):
    """One step of an exception's life: raised (with the target's reason), resubmitted, discarded
    (with the operator's reason), resolved."""

    model_config = ConfigDict(extra="ignore")
    at: str = Field(description="When (ISO 8601, UTC)")
    status: str = Field(description="The status it moved to")
    reason: str | None = Field(default=None, description="Why: the target's reason, or the operator's")
    by: str | None = Field(default=None, description="Who: the operator, or the CLI user")


class ExceptionSummary(BaseModel):
    """A business exception as a list shows it: the rejection, its entity and target, no payload."""

    model_config = ConfigDict(extra="ignore")
    exception_id: Annotated[str, Field(pattern=EXCEPTION_ID_PATTERN, examples=["exc_3f2a9c0d1e7b5a4c6d8e"])]
    target: str = Field(description="The system that refused it: `finance` or `erp`", examples=["erp"])
    entity_type: str = Field(description="What was refused: `invoice`, `order`, ...", examples=["order"])
    entity_id: str = Field(description="The hub's id of it", examples=["ord_0f8e2d1c3b4a59687766554433221100"])
    code: str = Field(description="The target's refusal code", examples=["customer-blocked"])
    reason: str = Field(
        description="Why, in the target's business words", examples=["customer CUST-1 is blocked in ERP (credit hold)"]
    )
    status: Status = Field(description="OPEN until an operator resubmits or discards it")
    raised_at: str = Field(description="When it was (last) raised (ISO 8601, UTC)")
    first_raised_at: str | None = Field(default=None, description="When it was first raised")
    updated_at: str = Field(description="When its status last changed")
    attempts: int = Field(description="How often the target refused it (a resubmission refused again re-opens it)")
    refs: dict[str, Any] = Field(default_factory=dict, description="Related ids: order_id, invoice_id, channel, ...")


class ExceptionRecord(ExceptionSummary):
    """An exception with its history (the answer to resubmit and discard)."""

    history: list[ExceptionHistoryEntry] = Field(default_factory=list)


class ExceptionDetail(ExceptionRecord):
    """One exception in full, with the payload a resubmission sends (it may hold personal data)."""

    payload: str = Field(description="The message a resubmission sends to the connector's queue, as it was refused")


class ExceptionPage(BaseModel):
    items: list[ExceptionSummary] = Field(description="Newest first")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class DiscardRequest(BaseModel):
    """Why the exception is given up (kept in its history)."""

    model_config = ConfigDict(extra="forbid")
    reason: Annotated[
        str,
        Field(
            min_length=MIN_REASON_CHARS,
            max_length=MAX_REASON_CHARS,
            description="Why it is discarded: 1-500 characters, not only spaces",
            examples=["order cancelled with the customer by phone"],
        ),
    ]


@dataclass(frozen=True)
class Principal:
    """Who calls: the authorizer's context ``channel`` (the OAuth client id) and ``role``."""

    name: str
    role: str | None

    @property
    def operator(self) -> bool:
        return self.role == OPERATOR_ROLE


class CursorInvalid(ValueError):
    """A ``cursor`` this API did not return, or returned for another query."""


class ExceptionMissing(LookupError):
    """No exception with this id (or an id that cannot be one)."""


class ExceptionClosed(Exception):
    """A resubmit or discard of an exception that is not OPEN (any more)."""

    def __init__(self, exception_id: str, status: str) -> None:
        super().__init__(f"{exception_id} is {status}")
        self.exception_id = exception_id
        self.status = status
