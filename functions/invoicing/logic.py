"""ShipmentConfirmed -> exactly one invoice per shipment, priced from the order lines."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from synchub_core.config import WarehouseSite
from synchub_core.envelope import EventEnvelope, Refused, deterministic_event_id, iso, new_event, now_iso
from synchub_core.vocabulary import OrderState, money

from . import repository
from .models import (
    INVOICE_ISSUED,
    INVOICE_POSTED,
    INVOICE_SOURCE,
    MAX_ATTEMPTS,
    NOT_INVOICEABLE,
    Invoice,
    InvoicePostedData,
    InvoicingContention,
    OrderNotFound,
    Outcome,
    ShipmentConfirmed,
    ShipmentRejected,
    ShippedLine,
)

__all__ = [
    "OrderNotFound",
    "Outcome",
    "ShipmentRejected",
    "admit",
    "consume_allocations",
    "invoice_id_for",
    "invoice_number",
    "invoice_posted_event",
    "issue",
    "load_invoice",
    "price",
]

load_invoice = repository.load_invoice


def invoice_id_for(shipment_id: str) -> str:
    return "inv_" + hashlib.sha256(f"shipment:{shipment_id}".encode()).hexdigest()[:24]


def invoice_number(shipped_at: datetime, invoice_id: str) -> str:
    """``SH-YYYYMM-<10 hex>``: deterministic per shipment (not gap-free sequential)."""
    return f"SH-{shipped_at:%Y%m}-{invoice_id[4:14].upper()}"


def price(
    order_id: str, order_lines: list[dict[str, Any]], shipped: Mapping[str, int], shipment: ShipmentConfirmed
) -> dict[str, Any]:
    """Invoice lines and totals for what ``shipment`` ships of an order whose lines are
    ``order_lines`` and of which ``shipped`` (units per SKU) already shipped. Rounded per line to
    the cent, half up; tax on the rounded net. Raises :class:`ShipmentRejected` for a SKU not on
    the order or more units than the order has left."""
    by_sku = {line["sku"]: line for line in order_lines}
    lines, net_total, tax_total = [], Decimal("0"), Decimal("0")
    for shipped_line in shipment.lines:
        line = by_sku.get(shipped_line.sku)
        if line is None:
            raise ShipmentRejected(
                f"shipment {shipment.shipment_id} ships {shipped_line.sku}, which is not on order {order_id}"
            )
        already = shipped.get(shipped_line.sku, 0)
        if already + shipped_line.quantity > int(line["quantity"]):
            raise ShipmentRejected(
                f"shipment {shipment.shipment_id} ships {shipped_line.quantity} x {shipped_line.sku}; "
                f"order {order_id} has {line['quantity']} of which {already} already shipped"
            )
        unit = Decimal(str(line["unit_price"]))
        rate = Decimal(str(line.get("tax_rate", "0")))
        net = money(unit * shipped_line.quantity)
        tax = money(net * rate)
        net_total += net
        tax_total += tax
        lines.append(
            {
                "line_id": line["line_id"],
                "sku": shipped_line.sku,
                "quantity": shipped_line.quantity,
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


def consume_allocations(
    allocations: list[dict[str, Any]], shipped: list[ShippedLine]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The allocations the shipped quantities consume, in allocation order.

    Returns ``(consumed, remaining)``: what each position gives up for this shipment, and the
    allocations left on the order. The inputs are not changed.
    """
    consumed: list[dict[str, Any]] = []
    remaining = [dict(a) for a in allocations]
    for line in shipped:
        need = line.quantity
        for alloc in remaining:
            if need == 0:
                break
            if alloc["sku"] != line.sku or alloc["quantity"] == 0:
                continue
            take = min(need, alloc["quantity"])
            alloc["quantity"] -= take
            need -= take
            consumed.append({"sku": alloc["sku"], "location_id": alloc["location_id"], "quantity": take})
    return consumed, [a for a in remaining if a["quantity"] > 0]


def is_complete(order_lines: list[dict[str, Any]], shipped: Mapping[str, int]) -> bool:
    """Every line shipped in full."""
    return all(shipped.get(line["sku"], 0) >= int(line["quantity"]) for line in order_lines)


def admit(envelope: EventEnvelope, source: str | None, sites: Mapping[str, WarehouseSite]) -> ShipmentConfirmed:
    """The shipment of ``envelope`` if the site it names as its warehouse published it.

    ``source`` is the EventBridge ``source``, which only the site's producer role may use (IAM
    and the bus policy). Raises :class:`Refused` when it is no registered site or the shipment
    names another site's ``warehouse_id``; pydantic's ``ValidationError`` when it is invalid.
    """
    site = sites.get(source or "")
    if site is None:
        raise Refused(
            f"ShipmentConfirmed {envelope.event_id} from source {source!r}: not a registered warehouse site; "
            f"registered: {', '.join(sorted(sites)) or 'none'}"
        )
    shipment = ShipmentConfirmed.model_validate(envelope.data)
    if shipment.warehouse_id != site.warehouse_id:
        raise Refused(
            f"ShipmentConfirmed {envelope.event_id} (shipment {shipment.shipment_id}) from {site.source} names "
            f"warehouse {shipment.warehouse_id}, which is not its own: {site.source} confirms shipments "
            f"from {site.warehouse_id} only"
        )
    return shipment


def issue(envelope: EventEnvelope) -> Outcome:
    shipment = ShipmentConfirmed.model_validate(envelope.data)
    invoice_id = invoice_id_for(shipment.shipment_id)
    for _ in range(MAX_ATTEMPTS):
        # Read the order *before* looking for the invoice: both are written by one transaction, so
        # an order read older than the invoice check never reflects an invoice the check missed.
        # (The other way round, a duplicate delivery racing the winner could see "no invoice" and
        # then an order that already counts this shipment, and reject it as an over-shipment.)
        order = repository.load_order(shipment.order_id)
        if repository.invoice_exists(shipment.shipment_id):
            return Outcome(shipment.shipment_id, invoice_id, created=False)
        if order is None:
            raise OrderNotFound(shipment.order_id)
        if order.state in NOT_INVOICEABLE:
            raise ShipmentRejected(
                f"order {order.order_id} is {order.state.value}; shipment {shipment.shipment_id} cannot be invoiced"
            )
        totals = price(order.order_id, order.doc["lines"], order.shipped, shipment)
        expected = order.version
        consumed, order.allocations = consume_allocations(order.allocations, shipment.lines)
        for line in shipment.lines:
            order.shipped[line.sku] = order.shipped.get(line.sku, 0) + line.quantity
        complete = is_complete(order.doc["lines"], order.shipped)
        order.invoices = [*order.invoices, invoice_id]
        order.version += 1
        order.updated_at = now_iso()
        order.state = OrderState.INVOICED if complete else OrderState.SHIPPED
        invoice = Invoice.model_validate(
            {
                "invoice_id": invoice_id,
                "invoice_number": invoice_number(shipment.shipped_at, invoice_id),
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
        ).model_dump(mode="json")
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
        shipped_at = iso(shipment.shipped_at)
        if repository.save(invoice, shipment.shipment_id, shipped_at, consumed, order, expected, transitions, event):
            return Outcome(shipment.shipment_id, invoice_id, created=True)
        # a duplicate won the race (checked at the top) or the order moved on: re-read
    raise InvoicingContention(shipment.shipment_id)


def invoice_posted_event(
    invoice: dict[str, Any],
    finance_document_id: str,
    posted_at: str,
    *,
    correlation_id: str,
    causation_id: str | None,
    target: str = "finance",
) -> EventEnvelope:
    """The InvoicePosted event of ``invoice`` booked as ``finance_document_id`` (its id derives from
    the invoice: a repeated posting writes the same event, which the outbox takes once)."""
    references = invoice["references"]
    data = InvoicePostedData(
        invoice_id=invoice["invoice_id"],
        invoice_number=invoice["invoice_number"],
        shipment_id=references["shipment_id"],
        order_id=references["order_id"],
        target=target,
        finance_document_id=finance_document_id,
        posted_at=posted_at,
        currency=invoice["currency"],
        gross_total=invoice["gross_total"],
    )
    return new_event(
        INVOICE_POSTED,
        entity_id=invoice["invoice_id"],
        sequence=2,
        data=data.model_dump(mode="json"),
        correlation_id=correlation_id,
        causation_id=causation_id,
        source_system=INVOICE_SOURCE,
        event_id=deterministic_event_id("invoice-posted", invoice["invoice_id"]),
    )
