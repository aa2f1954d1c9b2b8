"""What other domains may use of invoicing: the issued invoice of a shipment, and the event types."""

from __future__ import annotations

from .models import INVOICE_ISSUED, SHIPMENT_CONFIRMED, Invoice
from .repository import load_invoice

__all__ = ["INVOICE_ISSUED", "SHIPMENT_CONFIRMED", "Invoice", "load_invoice"]
