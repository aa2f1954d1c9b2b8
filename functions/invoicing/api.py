"""What other domains may use of invoicing: the issued invoice of a shipment, the invoices issued
in a window, the transaction entries that record an invoice's posting to finance (with its
InvoicePosted event), and the event types."""

from __future__ import annotations

from .logic import invoice_posted_event
from .models import (
    INVOICE_ISSUED,
    INVOICE_POSTED,
    INVOICE_SOURCE,
    POSTED,
    REJECTED,
    SHIPMENT_CONFIRMED,
    Invoice,
    InvoicePostedData,
)
from .repository import issued_between, load_invoice, load_invoice_by_id, posted_ops, rejected_ops, reposted_ops

__all__ = [
    "INVOICE_ISSUED",
    "INVOICE_POSTED",
    "INVOICE_SOURCE",
    "POSTED",
    "REJECTED",
    "SHIPMENT_CONFIRMED",
    "Invoice",
    "InvoicePostedData",
    "invoice_posted_event",
    "issued_between",
    "load_invoice",
    "load_invoice_by_id",
    "posted_ops",
    "rejected_ops",
    "reposted_ops",
]
