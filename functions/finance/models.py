"""The finance connector's words: the target, its documents, the ledger's statuses, outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FINANCE_TARGET = "finance"
# what a business exception says was refused (``entity_type``), and the ledger's ``document_kind``
ENTITY_INVOICE = "invoice"
ENTITY_CREDIT_MEMO = "credit_memo"

# finance's document types: a credit memo is booked as a credit note, its amounts positive (the
# type says it is a credit), each line pointing at the invoice it credits (``original_reference``)
INVOICE, CREDIT_NOTE = "invoice", "credit_note"
# the finance document type of each hub event the connector posts (each event type also needs its
# rule onto the finance queue, infra/constructs/connectors.py)
DOCUMENT_TYPES = {"InvoiceIssued": INVOICE, "CreditMemoIssued": CREDIT_NOTE}
ENTITY_TYPES = {INVOICE: ENTITY_INVOICE, CREDIT_NOTE: ENTITY_CREDIT_MEMO}

POSTED, REJECTED = "POSTED", "REJECTED"  # the ledger's (POSTING#<invoice_id | credit_memo_id>) statuses
BUSINESS_STATUSES = frozenset({400, 409, 422})  # finance refuses the document itself: an exception
TOKEN_MARGIN_SECONDS = 60  # a cached access token is renewed this long before it expires
PAGE_SIZE = 200  # documents per page when listing finance's invoices

# env
BASE_URL_PARAMETER_ENV = "FINANCE_BASE_URL_PARAMETER"
CREDENTIALS_SECRET_ENV = "FINANCE_CREDENTIALS_SECRET_ARN"
BUFFER_QUEUE_ENV = "BUFFER_QUEUE_URL"
RATE_ENV = "TARGET_RATE_PER_SECOND"
CONNECT_TIMEOUT_ENV = "HTTP_CONNECT_TIMEOUT"
READ_TIMEOUT_ENV = "HTTP_READ_TIMEOUT"
PARAMETER_MAX_AGE = 300  # seconds the base URL and the credentials are cached per container


class FinanceNotConfigured(RuntimeError):
    """The function's environment names no base URL parameter or credentials secret."""


class FinanceAuthFailed(Exception):
    """Finance refused the hub's credentials or a fresh token: a technical failure (retried, then
    dead-lettered), not the target being down."""


class FinanceRateLimited(Exception):
    """Finance answered 429: wait ``retry_after`` seconds (work is parked, not failed)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"finance is rate limiting: retry after {retry_after} s")
        self.retry_after = retry_after


class FinanceRequestFailed(Exception):
    """Finance answered something the connector cannot act on (a status it does not expect)."""


@dataclass
class PostingOutcome:
    """What became of one InvoiceIssued or CreditMemoIssued (``entity_type`` invoice or credit_memo,
    ``entity_id`` its id): ``status`` is posted, already-posted, already-rejected, rejected (a business
    exception), parked, or failed (technical: the record is retried)."""

    entity_id: str
    entity_type: str = ENTITY_INVOICE
    status: str = "failed"
    finance_document_id: str | None = None
    exception_id: str | None = None
    code: str | None = None
    reason: str | None = None
    park_seconds: int = 0
    found_by_lookup: bool = False
    resolved: bool = False
    changes: list[Any] = field(default_factory=list)  # connectors BreakerChange, for the metrics

    @property
    def invoice_id(self) -> str | None:
        return self.entity_id if self.entity_type == ENTITY_INVOICE else None

    @property
    def id_field(self) -> str:
        """The log field of the entity's id: ``invoice_id`` or ``credit_memo_id``."""
        return f"{self.entity_type}_id"


class PostingFailed(Exception):
    """A technical failure posting an invoice or a credit memo: the record fails and SQS retries it."""

    def __init__(self, reason: str, outcome: PostingOutcome) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome
