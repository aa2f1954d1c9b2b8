"""What other domains (reconciliation, the CLI) may use of the finance connector: the finance API
client, the document the hub posts for an invoice, how a booked document differs from the
invoice, and the message that re-posts an invoice through the finance queue."""

from __future__ import annotations

from .client import FinanceClient
from .logic import differences, invoice_document, repost_message
from .models import DOCUMENT_TYPES, FINANCE_TARGET, POSTED, REJECTED

__all__ = [
    "DOCUMENT_TYPES",
    "FINANCE_TARGET",
    "POSTED",
    "REJECTED",
    "FinanceClient",
    "differences",
    "invoice_document",
    "repost_message",
]
