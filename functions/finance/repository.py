"""The finance ledger in the connectors table: ``POSTING#<invoice_id | credit_memo_id>`` / ``POSTING``,
one item per invoice or credit memo (``document_kind``; the ids never collide: ``inv_...``,
``cm_...``), POSTED (with finance's document id) or REJECTED. It is written in the same transaction
as the document's posting status and its InvoicePosted / CreditMemoPosted event, so the ledger, the
document and the event never disagree. The only module that knows the ledger's keys and shape."""

from __future__ import annotations

from typing import Any

from synchub_core import ddb
from synchub_core.config import settings

from .models import ENTITY_CREDIT_MEMO, ENTITY_INVOICE, POSTED, REJECTED


def table() -> str:
    return settings().require("connectors_table")


def ledger_key(invoice_id: str) -> dict[str, str]:
    return {"pk": f"POSTING#{invoice_id}", "sk": "POSTING"}


def ledger(entity_id: str) -> dict[str, Any] | None:
    """The ledger entry of an invoice or a credit memo (by its id), or None."""
    return ddb.get(table(), ledger_key(entity_id))


def _facts(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    """What the ledger keeps of the posted document besides its status: ids an operator searches by."""
    references = doc["references"]
    if kind == ENTITY_CREDIT_MEMO:
        return {
            "credit_memo_id": doc["credit_memo_id"],
            "credit_memo_number": doc["credit_memo_number"],
            "order_id": references["order_id"],
            "rma_id": references["rma_id"],
        }
    return {
        "invoice_id": doc["invoice_id"],
        "shipment_id": references["shipment_id"],
        "invoice_number": doc["invoice_number"],
    }


def _entry(doc: dict[str, Any], kind: str, status: str, attempts: int, **fields: Any) -> dict[str, Any]:
    facts = _facts(doc, kind)
    return {
        **ledger_key(str(facts[f"{kind}_id"])),
        "item_type": "POSTING",
        "document_kind": kind,
        **facts,
        "status": status,
        "attempts": attempts,
        "gross_total": str(doc["gross_total"]),
        "currency": doc["currency"],
        **fields,
    }


def _not_posted() -> dict[str, Any]:
    return {"ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": ddb.values(posted=POSTED)}


def posted_op(
    doc: dict[str, Any], finance_document_id: str, posted_at: str, attempts: int, kind: str = ENTITY_INVOICE
) -> dict[str, Any]:
    """The ledger entry of a posted invoice or credit memo (``kind``; cancelled if it is POSTED already)."""
    item = _entry(doc, kind, POSTED, attempts, finance_document_id=finance_document_id, posted_at=posted_at)
    return ddb.put(table(), item, condition="attribute_not_exists(pk) OR #s <> :posted", **_not_posted())


def rejected_op(doc: dict[str, Any], code: str, at: str, attempts: int, kind: str = ENTITY_INVOICE) -> dict[str, Any]:
    """The ledger entry of an invoice or credit memo finance refused for good (cancelled if it is POSTED)."""
    item = _entry(doc, kind, REJECTED, attempts, rejected_at=at, code=code)
    return ddb.put(table(), item, condition="attribute_not_exists(pk) OR #s <> :posted", **_not_posted())


def commit(ops: list[dict[str, Any]]) -> bool:
    """One TransactWriteItems; False when a condition cancelled it."""
    try:
        ddb.transact(ops)
    except ddb.TransactionCancelled:
        return False
    return True


def reposted_op(entity_id: str, finance_document_id: str, posted_at: str) -> dict[str, Any]:
    """The ledger of a POSTED invoice or credit memo pointing at the document finance booked when it
    was posted again (finance had lost the first)."""
    return ddb.update(
        table(),
        ledger_key(entity_id),
        "SET finance_document_id = :doc, posted_at = :at, reposted = :yes",
        condition="#s = :posted",
        names={"#s": "status"},
        posted=POSTED,
        doc=finance_document_id,
        at=posted_at,
        yes=True,
    )
