"""The finance ledger in the connectors table: ``POSTING#<invoice_id>`` / ``POSTING``, one item per
invoice, POSTED (with finance's document id) or REJECTED. It is written in the same transaction as
the invoice's posting status and its InvoicePosted event, so the ledger, the invoice and the event
never disagree. The only module that knows the ledger's keys and shape."""

from __future__ import annotations

from typing import Any

from synchub_core import ddb
from synchub_core.config import settings

from .models import POSTED, REJECTED


def table() -> str:
    return settings().require("connectors_table")


def ledger_key(invoice_id: str) -> dict[str, str]:
    return {"pk": f"POSTING#{invoice_id}", "sk": "POSTING"}


def ledger(invoice_id: str) -> dict[str, Any] | None:
    return ddb.get(table(), ledger_key(invoice_id))


def _entry(invoice: dict[str, Any], status: str, attempts: int, **fields: Any) -> dict[str, Any]:
    return {
        **ledger_key(invoice["invoice_id"]),
        "item_type": "POSTING",
        "invoice_id": invoice["invoice_id"],
        "status": status,
        "attempts": attempts,
        "shipment_id": invoice["references"]["shipment_id"],
        "invoice_number": invoice["invoice_number"],
        "gross_total": str(invoice["gross_total"]),
        "currency": invoice["currency"],
        **fields,
    }


def _not_posted() -> dict[str, Any]:
    return {"ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": ddb.values(posted=POSTED)}


def posted_op(invoice: dict[str, Any], finance_document_id: str, posted_at: str, attempts: int) -> dict[str, Any]:
    """The ledger entry of a posted invoice (cancelled if it is POSTED already)."""
    item = _entry(invoice, POSTED, attempts, finance_document_id=finance_document_id, posted_at=posted_at)
    return ddb.put(table(), item, condition="attribute_not_exists(pk) OR #s <> :posted", **_not_posted())


def rejected_op(invoice: dict[str, Any], code: str, at: str, attempts: int) -> dict[str, Any]:
    """The ledger entry of an invoice finance refused for good (cancelled if it is POSTED)."""
    item = _entry(invoice, REJECTED, attempts, rejected_at=at, code=code)
    return ddb.put(table(), item, condition="attribute_not_exists(pk) OR #s <> :posted", **_not_posted())


def commit(ops: list[dict[str, Any]]) -> bool:
    """One TransactWriteItems; False when a condition cancelled it."""
    try:
        ddb.transact(ops)
    except ddb.TransactionCancelled:
        return False
    return True


def reposted_op(invoice_id: str, finance_document_id: str, posted_at: str) -> dict[str, Any]:
    """The ledger of a POSTED invoice pointing at the document finance booked when it was posted
    again (finance had lost the first)."""
    return ddb.update(
        table(),
        ledger_key(invoice_id),
        "SET finance_document_id = :doc, posted_at = :at, reposted = :yes",
        condition="#s = :posted",
        names={"#s": "status"},
        posted=POSTED,
        doc=finance_document_id,
        at=posted_at,
        yes=True,
    )
