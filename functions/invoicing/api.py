"""What other domains may use of invoicing: the issued invoice of a shipment, the invoices issued
in a window, an invoice or credit memo by id, an order's billing documents, the transaction entries
that record a posting to finance of either (with its InvoicePosted / CreditMemoPosted event), and
the event types."""

from __future__ import annotations

from .logic import credit_memo_posted_event, invoice_posted_event
from .models import (
    CREDIT_MEMO_ISSUED,
    CREDIT_MEMO_POSTED,
    INVOICE_ISSUED,
    INVOICE_POSTED,
    INVOICE_SOURCE,
    POSTED,
    REJECTED,
    RETURN_RECEIVED,
    SHIPMENT_CONFIRMED,
    CreditMemo,
    CreditMemoPostedData,
    Invoice,
    InvoicePostedData,
)
from .repository import (
    documents_of,
    issued_between,
    load_credit_memo,
    load_credit_memo_by_id,
    load_document,
    load_invoice,
    load_invoice_by_id,
    posted_ops,
    rejected_ops,
    reposted_ops,
)

__all__ = [
    "CREDIT_MEMO_ISSUED",
    "CREDIT_MEMO_POSTED",
    "INVOICE_ISSUED",
    "INVOICE_POSTED",
    "INVOICE_SOURCE",
    "POSTED",
    "REJECTED",
    "RETURN_RECEIVED",
    "SHIPMENT_CONFIRMED",
    "CreditMemo",
    "CreditMemoPostedData",
    "Invoice",
    "InvoicePostedData",
    "credit_memo_posted_event",
    "documents_of",
    "invoice_posted_event",
    "issued_between",
    "load_credit_memo",
    "load_credit_memo_by_id",
    "load_document",
    "load_invoice",
    "load_invoice_by_id",
    "posted_ops",
    "rejected_ops",
    "reposted_ops",
]
