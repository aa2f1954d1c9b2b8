"""ShipmentConfirmed -> exactly one invoice per shipment, priced from the order lines."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from inventory import repository as inventory
from orders import repository as orders
from orders.models import OrderState
from synchub_core import ddb
from synchub_core.config import settings
from synchub_core.envelope import EventEnvelope, deterministic_event_id, iso, new_event

from .models import INVOICE_ISSUED, Invoice, ShipmentConfirmed

INVOICE_SOURCE = "synchub.invoicing"
CENT = Decimal("0.01")
MAX_ATTEMPTS = 5
NOT_INVOICEABLE = {OrderState.CANCELLED, OrderState.REJECTED}


class OrderNotFound(Exception):
    """The shipment names an order the hub does not know (yet): retried, then dead-lettered."""


class ShipmentRejected(ValueError):
    """The shipment contradicts the order (unknown SKU, over-shipment, cancelled order)."""


class InvoicingContention(Exception):
    pass


@dataclass
class Outcome:
    shipment_id: str
    invoice_id: str
    created: bool


def invoice_key(shipment_id: str) -> dict[str, str]:
    return {"pk": f"INVOICE#{shipment_id}", "sk": "INVOICE"}


def invoice_id_for(shipment_id: str) -> str:
    return "inv_" + hashlib.sha256(f"shipment:{shipment_id}".encode()).hexdigest()[:24]


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def price(order: orders.StoredOrder, shipment: ShipmentConfirmed) -> dict[str, Any]:
    """Invoice lines and totals for what was shipped (rounded per line, half up)."""
    by_sku = {line["sku"]: line for line in order.doc["lines"]}
    lines, net_total, tax_total = [], Decimal("0"), Decimal("0")
    for shipped in shipment.lines:
        line = by_sku.get(shipped.sku)
        if line is None:
            raise ShipmentRejected(
                f"shipment {shipment.shipment_id} ships {shipped.sku}, which is not on order {order.order_id}"
            )
        already = order.shipped.get(shipped.sku, 0)
        if already + shipped.quantity > int(line["quantity"]):
            raise ShipmentRejected(
                f"shipment {shipment.shipment_id} ships {shipped.quantity} x {shipped.sku}; "
                f"order {order.order_id} has {line['quantity']} of which {already} already shipped"
            )
        unit = Decimal(str(line["unit_price"]))
        rate = Decimal(str(line.get("tax_rate", "0")))
        net = money(unit * shipped.quantity)
        tax = money(net * rate)
        net_total += net
        tax_total += tax
        lines.append(
            {
                "line_id": line["line_id"],
                "sku": shipped.sku,
                "quantity": shipped.quantity,
                "unit_price": str(unit),
                "tax_rate": str(rate),
                "net_amount": str(net),
                "tax_amount": str(tax),
                "gross_amount": str(net + tax),
            }
        )
    return {
        "lines": lines,
        "net_total": str(net_total),
        "tax_total": str(tax_total),
        "gross_total": str(net_total + tax_total),
    }


def _consume_allocations(order: orders.StoredOrder, shipment: ShipmentConfirmed) -> list[dict[str, Any]]:
    """The allocations the shipped quantities consume (see ``inventory.repository.ship_op``).
    Returns them per position; mutates ``order.allocations``."""
    released: list[dict[str, Any]] = []
    remaining = [dict(a) for a in order.allocations]
    for shipped in shipment.lines:
        need = shipped.quantity
        for alloc in remaining:
            if need == 0:
                break
            if alloc["sku"] != shipped.sku or alloc["quantity"] == 0:
                continue
            take = min(need, alloc["quantity"])
            alloc["quantity"] -= take
            need -= take
            released.append({"sku": alloc["sku"], "location_id": alloc["location_id"], "quantity": take})
    order.allocations = [a for a in remaining if a["quantity"] > 0]
    return released


def issue(envelope: EventEnvelope) -> Outcome:
    shipment = ShipmentConfirmed.model_validate(envelope.data)
    table = settings().orders_table
    invoice_id = invoice_id_for(shipment.shipment_id)
    for _ in range(MAX_ATTEMPTS):
        # Read the order *before* looking for the invoice: both are written by one transaction, so
        # an order read older than the invoice check never reflects an invoice the check missed.
        # (The other way round, a duplicate delivery racing the winner could see "no invoice" and
        # then an order that already counts this shipment, and reject it as an over-shipment.)
        order = orders.load(shipment.order_id)
        if ddb.get(table, invoice_key(shipment.shipment_id)) is not None:
            return Outcome(shipment.shipment_id, invoice_id, created=False)
        if order is None:
            raise OrderNotFound(shipment.order_id)
        if order.state in NOT_INVOICEABLE:
            raise ShipmentRejected(
                f"order {order.order_id} is {order.state.value}; shipment {shipment.shipment_id} cannot be invoiced"
            )
        totals = price(order, shipment)
        expected = order.version
        released = _consume_allocations(order, shipment)
        for line in shipment.lines:
            order.shipped[line.sku] = order.shipped.get(line.sku, 0) + line.quantity
        complete = all(order.shipped.get(ln["sku"], 0) >= int(ln["quantity"]) for ln in order.doc["lines"])
        order.invoices = [*order.invoices, invoice_id]
        order.version += 1
        order.updated_at = orders.now_iso()
        order.state = OrderState.INVOICED if complete else OrderState.SHIPPED
        invoice = {
            "invoice_id": invoice_id,
            "invoice_number": f"SH-{shipment.shipped_at:%Y%m}-{invoice_id[4:14].upper()}",
            "issued_at": order.updated_at,
            "currency": order.doc["currency"],
            "customer": order.doc["customer"],
            "bill_to": order.doc["ship_to"],
            "references": {
                "order_id": order.order_id,
                "shipment_id": shipment.shipment_id,
                "channel": order.doc["channel"],
                "channel_order_ref": order.doc["channel_order_ref"],
                "warehouse_id": shipment.warehouse_id,
                "shipped_at": iso(shipment.shipped_at),
            },
            **totals,
        }
        invoice = Invoice.model_validate(invoice).model_dump(mode="json")
        event = new_event(
            INVOICE_ISSUED,
            entity_id=invoice_id,
            sequence=1,
            data=invoice,
            correlation_id=envelope.correlation_id,
            causation_id=envelope.event_id,
            source_system=INVOICE_SOURCE,
            event_id=deterministic_event_id("invoice", shipment.shipment_id),
        )
        transitions = [(OrderState.SHIPPED, f"shipment {shipment.shipment_id} confirmed from {shipment.warehouse_id}")]
        if complete:
            transitions.append((OrderState.INVOICED, f"invoice {invoice['invoice_number']} issued"))
        ops = [
            ddb.put(
                table,
                {
                    **invoice_key(shipment.shipment_id),
                    "item_type": "INVOICE",
                    "order_id": order.order_id,
                    "invoice_id": invoice_id,
                    "doc": _json(invoice),
                },
                condition="attribute_not_exists(pk)",
            )
        ]
        shipped_at = iso(shipment.shipped_at)
        for r in released:
            position = inventory.get_position(r["sku"], r["location_id"])
            if position is None:  # pragma: no cover - allocations only come from existing positions
                raise ShipmentRejected(f"position {r['sku']}@{r['location_id']} vanished")
            ops.append(inventory.ship_op(position, r["quantity"], shipped_at, shipment.shipment_id))
        ops += orders.transition_ops(order, expected, transitions, event, source=INVOICE_SOURCE)
        try:
            ddb.transact(ops)
        except ddb.TransactionCancelled:
            continue  # a duplicate won the race (checked at the top) or the order moved on
        return Outcome(shipment.shipment_id, invoice_id, created=True)
    raise InvoicingContention(shipment.shipment_id)


def _json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, default=str)


def load_invoice(shipment_id: str) -> dict[str, Any] | None:
    item = ddb.get(settings().orders_table, invoice_key(shipment_id))
    return json.loads(item["doc"]) if item else None
