"""What other domains (reconciliation, the CLI) may use of the finance connector: the finance API
client, the document the hub posts for an invoice or a credit memo, how a booked document differs
from it, and the message that re-posts one through the finance queue."""

from __future__ import annotations

from .client import FinanceClient
from .logic import credit_note_document, differences, document_of, invoice_document, repost_message
from .models import CREDIT_NOTE, DOCUMENT_TYPES, FINANCE_TARGET, INVOICE, POSTED, REJECTED

__all__ = [
    "CREDIT_NOTE",
    "DOCUMENT_TYPES",
    "FINANCE_TARGET",
    "INVOICE",
    "POSTED",
    "REJECTED",
    "FinanceClient",
    "credit_note_document",
    "differences",
    "document_of",
    "invoice_document",
    "repost_message",
]
