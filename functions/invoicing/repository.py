"""Invoices in the orders table (``pk = INVOICE#<shipment_id>``, ``sk = INVOICE``): one item per
shipment, written in the same transaction as the order's transition, its outbox event and the
stock the shipment consumed. The only module that knows that layout."""

from __future__ import annotations

import json
from typing import Any

from inventory import api as inventory
from orders import api as orders
from synchub_core import ddb
from synchub_core.config import settings
from synchub_core.envelope import EventEnvelope
from synchub_core.vocabulary import OrderState

from .models import INVOICE_SOURCE, ShipmentRejected

load_order = orders.load


def invoice_key(shipment_id: str) -> dict[str, str]:
    return {"pk": f"INVOICE#{shipment_id}", "sk": "INVOICE"}


def invoice_exists(shipment_id: str) -> bool:
    return ddb.get(settings().orders_table, invoice_key(shipment_id)) is not None


def load_invoice(shipment_id: str) -> dict[str, Any] | None:
    item = ddb.get(settings().orders_table, invoice_key(shipment_id))
    return json.loads(item["doc"]) if item else None


def _json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, default=str)


def save(
    invoice: dict[str, Any],
    shipment_id: str,
    shipped_at: str,
    consumed: list[dict[str, Any]],
    order: orders.StoredOrder,
    expected_version: int,
    transitions: list[tuple[OrderState, str]],
    event: EventEnvelope,
) -> bool:
    """Store the invoice (once per shipment), consume the shipped stock at the positions it was
    reserved at, and move the order on with its event: one transaction. False when a duplicate
    won the race or the order moved on (the caller re-reads)."""
    ops = [
        ddb.put(
            settings().orders_table,
            {
                **invoice_key(shipment_id),
                "item_type": "INVOICE",
                "order_id": order.order_id,
                "invoice_id": invoice["invoice_id"],
                "doc": _json(invoice),
            },
            condition="attribute_not_exists(pk)",
        )
    ]
    for c in consumed:
        position = inventory.get_position(c["sku"], c["location_id"])
        if position is None:  # pragma: no cover - allocations only come from existing positions
            raise ShipmentRejected(f"position {c['sku']}@{c['location_id']} vanished")
        ops.append(inventory.ship_op(position, c["quantity"], shipped_at, shipment_id))
    ops += orders.transition_ops(order, expected_version, transitions, event, source=INVOICE_SOURCE)
    try:
        ddb.transact(ops)
    except ddb.TransactionCancelled:
        return False
    return True
