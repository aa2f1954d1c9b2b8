"""ShipmentConfirmed -> exactly one invoice per shipment, priced from the order lines."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from orders import api as orders_api
from synchub_core.config import WarehouseSite, legal_entity
from synchub_core.envelope import EventEnvelope, Refused, deterministic_event_id, iso, new_event, now_iso
from synchub_core.vocabulary import OrderState, format_money, money

from . import repository
from .models import (
    CREDIT_MEMO_ISSUED,
    CREDIT_MEMO_POSTED,
    INVOICE_ISSUED,
    INVOICE_POSTED,
    INVOICE_SOURCE,
    MAX_ATTEMPTS,
    MAX_SHIPMENTS_PER_ORDER,
    NOT_INVOICEABLE,
    NOT_RESERVED_YET,
    CreditMemo,
    CreditMemoPostedData,
    Invoice,
    InvoicePostedData,
    InvoicingContention,
    OrderNotFound,
    Outcome,
    ReturnReceived,
    ReturnRejected,
    ShipmentConfirmed,
    ShipmentHeld,
    ShipmentRejected,
)

__all__ = [
    "OrderNotFound",
    "Outcome",
    "ShipmentHeld",
    "ShipmentRejected",
    "admit",
    "admit_return",
    "credit",
    "credit_memo_id_for",
    "credit_memo_posted_event",
    "invoice_id_for",
    "invoice_posted_event",
    "issue",
    "load_invoice",
    "pick",
    "price",
    "stock_changes",
]

load_invoice = repository.load_invoice


def invoice_id_for(shipment_id: str) -> str:
    return "inv_" + hashlib.sha256(f"shipment:{shipment_id}".encode()).hexdigest()[:24]


def price(
    order_id: str,
    order_lines: list[dict[str, Any]],
    shipped: Mapping[str, int],
    shipment: ShipmentConfirmed,
    currency: str = "EUR",
) -> dict[str, Any]:
    """Invoice lines and totals for what ``shipment`` ships of an order whose lines are
    ``order_lines`` and of which ``shipped`` (units per SKU, shipped or closed) is done already: one
    invoice line per order line, however many locations it was picked from. Rounded per line to the
    currency's minor unit, half up; tax on the rounded net. Raises :class:`ShipmentRejected` for a
    SKU not on the order or more units than the order has left."""
    by_sku = {line["sku"]: line for line in order_lines}
    quantities: dict[str, int] = {}
    for shipped_line in shipment.lines:
        if shipped_line.sku not in by_sku:
            raise ShipmentRejected(
                f"shipment {shipment.shipment_id} ships {shipped_line.sku}, which is not on order {order_id}"
            )
        quantities[shipped_line.sku] = quantities.get(shipped_line.sku, 0) + shipped_line.quantity
    lines, net_total, tax_total = [], Decimal("0"), Decimal("0")
    for sku, quantity in quantities.items():
        line = by_sku[sku]
        already = shipped.get(sku, 0)
        if already + quantity > int(line["quantity"]):
            raise ShipmentRejected(
                f"shipment {shipment.shipment_id} ships {quantity} x {sku}; "
                f"order {order_id} has {line['quantity']} of which {already} already shipped or closed"
            )
        unit = Decimal(str(line["unit_price"]))
        rate = Decimal(str(line.get("tax_rate", "0")))
        net = money(unit * quantity, currency)
        tax = money(net * rate, currency)
        net_total += net
        tax_total += tax
        lines.append(
            {
                "line_id": line["line_id"],
                "sku": sku,
                "quantity": quantity,
                "unit_price": str(unit),
                "tax_rate": str(rate),
                "net_amount": format_money(net, currency),
                "tax_amount": format_money(tax, currency),
                "gross_amount": format_money(net + tax, currency),
            }
        )
    return {
        "lines": lines,
        "net_total": format_money(net_total, currency),
        "tax_total": format_money(tax_total, currency),
        "gross_total": format_money(net_total + tax_total, currency),
    }


def _where(location_id: str | None, lot: str | None, prefix: str) -> str:
    place = location_id or f"the site's locations ({prefix}*)"
    return f"{place} lot {lot}" if lot else place


def pick(
    order_id: str,
    allocations: list[dict[str, Any]],
    shipment: ShipmentConfirmed,
    location_prefix: str,
    reopenable: Mapping[str, int] | None = None,
) -> tuple[dict[int, int], list[dict[str, Any]]]:
    """What each of the order's allocations (by index) gives up to ``shipment``: exactly the
    allocation at the location (and lot) each line names. A line without a location takes the
    order's one allocation of the SKU at the shipping site (``location_prefix``).

    ``reopenable``: units of a SKU a later shipment closed short while this one (shipped before
    that close, delivered after it) was on its way; they left without a reservation (the close had
    released it) and are returned as ``unreserved`` picks ``{sku, location_id, lot, quantity}``.
    Anything else the order has not reserved there (no or several reservations, fewer units) is
    :class:`ShipmentRejected`: the hub never guesses where a unit came from."""
    left = [int(a["quantity"]) for a in allocations]
    reopen = dict(reopenable or {})
    taken: dict[int, int] = {}
    unreserved: list[dict[str, Any]] = []
    for line in shipment.lines:
        matches = [
            i
            for i, a in enumerate(allocations)
            if a["sku"] == line.sku
            and (
                a["location_id"] == line.location_id
                if line.location_id
                else a["location_id"].startswith(location_prefix)
            )
            and (line.lot is None or a.get("lot") == line.lot)
        ]
        where = _where(line.location_id, line.lot, location_prefix)
        reserved_at = (
            ", ".join(
                f"{a['quantity']} at {a['location_id']}" + (f" lot {a['lot']}" if a.get("lot") else "")
                for a in allocations
                if a["sku"] == line.sku
            )
            or "nowhere"
        )
        if len(matches) > 1:
            raise ShipmentRejected(
                f"shipment {shipment.shipment_id} ships {line.sku} from {where}, where order {order_id} has "
                f"several reservations ({reserved_at}): name the location_id and lot picked"
            )
        index = matches[0] if matches else None
        take = min(line.quantity, left[index]) if index is not None else 0
        short = line.quantity - take
        location = line.location_id or (allocations[index]["location_id"] if index is not None else None)
        if short and (location is None or reopen.get(line.sku, 0) < short):
            if index is None:
                raise ShipmentRejected(
                    f"shipment {shipment.shipment_id} ships {line.sku} from {where}, where order {order_id} has "
                    f"no reservation of it (reserved: {reserved_at})"
                )
            raise ShipmentRejected(
                f"shipment {shipment.shipment_id} ships {line.quantity} x {line.sku} from {where}; order "
                f"{order_id} has {left[index]} reserved there (reserved: {reserved_at})"
            )
        if index is not None and take:
            left[index] -= take
            taken[index] = taken.get(index, 0) + take
        if short:
            reopen[line.sku] -= short
            lot = line.lot or (allocations[index].get("lot") if index is not None else None)
            unreserved.append({"sku": line.sku, "location_id": location, "lot": lot, "quantity": short})
    return taken, unreserved


def done_units(order: orders_api.StoredOrder, reopened: Mapping[str, int]) -> dict[str, int]:
    """Units of each SKU shipped or closed, less those a shipment takes back from a close."""
    return {
        sku: order.shipped.get(sku, 0) + order.closed.get(sku, 0) - reopened.get(sku, 0)
        for sku in {*order.shipped, *order.closed}
    }


def reopenable_units(order: orders_api.StoredOrder, shipment: ShipmentConfirmed) -> dict[str, int]:
    """Closed units of each SKU that ``shipment`` may turn out to have shipped: those of lines a
    later shipment closed (``shipment`` was shipped before that close)."""
    shipped_at = iso(shipment.shipped_at)
    return {
        sku: units
        for sku, units in order.closed.items()
        if units > 0 and sku in order.closed_at and shipped_at < order.closed_at[sku]
    }


def stock_changes(
    order: orders_api.StoredOrder, shipment: ShipmentConfirmed, location_prefix: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int], dict[str, int]]:
    """What ``shipment`` does to the order's reservations: ``(changes, remaining, closed, reopened)``.

    ``changes``: per touched position ``{sku, location_id, lot, consume, release, unreserved}``:
    reserved units shipped from it, reserved units given back because a line was closed short, and
    units shipped from it without a reservation (all on one position update). ``remaining``: the
    allocations left on the order. ``closed``: units this shipment closes per SKU. ``reopened``:
    units of a closed line this shipment turns out to have shipped before the close.
    """
    reopenable = reopenable_units(order, shipment)
    taken, unreserved = pick(order.order_id, order.allocations, shipment, location_prefix, reopenable)
    reopened: dict[str, int] = {}
    for u in unreserved:
        reopened[u["sku"]] = reopened.get(u["sku"], 0) + u["quantity"]
    shipped_now: dict[str, int] = {}
    for line in shipment.lines:
        shipped_now[line.sku] = shipped_now.get(line.sku, 0) + line.quantity
    closing = {line.sku for line in shipment.lines if line.close_short}
    closed = {}
    for sku in sorted(closing):
        rest = order.open_units(sku) + reopened.get(sku, 0) - shipped_now.get(sku, 0)
        if rest > 0:
            closed[sku] = rest
    changes: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    remaining = []
    for index, allocation in enumerate(order.allocations):
        consume = taken.get(index, 0)
        left = int(allocation["quantity"]) - consume
        release = left if allocation["sku"] in closing else 0
        if consume or release:
            place = (allocation["sku"], allocation["location_id"], allocation.get("lot"))
            changes[place] = {
                "sku": place[0],
                "location_id": place[1],
                "lot": place[2],
                "consume": consume,
                "release": release,
                "unreserved": 0,
            }
        if left - release > 0:
            remaining.append({**allocation, "quantity": left - release})
    for u in unreserved:
        place = (u["sku"], u["location_id"], u["lot"])
        entry = changes.setdefault(
            place,
            {"sku": place[0], "location_id": place[1], "lot": place[2], "consume": 0, "release": 0, "unreserved": 0},
        )
        entry["unreserved"] += u["quantity"]
    return list(changes.values()), remaining, closed, reopened


def admit(envelope: EventEnvelope, source: str | None, sites: Mapping[str, WarehouseSite]) -> ShipmentConfirmed:
    """The shipment of ``envelope`` if the site it names as its warehouse published it.

    ``source`` is the EventBridge ``source``, which only the site's producer role may use (IAM
    and the bus policy). Raises :class:`Refused` when it is no registered site or the shipment
    names another site's ``warehouse_id`` or another site's location; pydantic's
    ``ValidationError`` when it is invalid.
    """
    site = _site(envelope, source, sites)
    shipment = ShipmentConfirmed.model_validate(envelope.data)
    _own_warehouse(envelope, site, "shipment", shipment.shipment_id, shipment.warehouse_id, "confirms shipments from")
    for line in shipment.lines:
        _own_location(envelope, site, line.location_id)
    return shipment


def admit_return(envelope: EventEnvelope, source: str | None, sites: Mapping[str, WarehouseSite]) -> ReturnReceived:
    """The return receipt of ``envelope`` if the site it names published it about its own locations."""
    site = _site(envelope, source, sites)
    receipt = ReturnReceived.model_validate(envelope.data)
    _own_warehouse(envelope, site, "return", receipt.rma_id, receipt.warehouse_id, "receives returns at")
    for line in receipt.lines:
        _own_location(envelope, site, line.location_id)
    return receipt


def _site(envelope: EventEnvelope, source: str | None, sites: Mapping[str, WarehouseSite]) -> WarehouseSite:
    site = sites.get(source or "")
    if site is None:
        raise Refused(
            f"{envelope.event_type} {envelope.event_id} from source {source!r}: not a registered warehouse site; "
            f"registered: {', '.join(sorted(sites)) or 'none'}"
        )
    return site


def _own_warehouse(
    envelope: EventEnvelope, site: WarehouseSite, what: str, ref: str, warehouse_id: str, does: str
) -> None:
    if warehouse_id != site.warehouse_id:
        raise Refused(
            f"{envelope.event_type} {envelope.event_id} ({what} {ref}) from {site.source} names "
            f"warehouse {warehouse_id}, which is not its own: {site.source} {does} {site.warehouse_id} only"
        )


def _own_location(envelope: EventEnvelope, site: WarehouseSite, location_id: str | None) -> None:
    if location_id is not None and not location_id.startswith(site.location_prefix):
        raise Refused(
            f"{envelope.event_type} {envelope.event_id} from {site.source} names location {location_id}, "
            f"which is not one of its own: {site.source} has only locations starting with {site.location_prefix}"
        )


def issue(envelope: EventEnvelope, site: WarehouseSite | None = None) -> Outcome:
    """``ShipmentConfirmed`` -> the shipment's invoice, once: the stock it consumed, the order moved
    on (SHIPPED, or INVOICED once every line is shipped or closed), the invoice numbered from its
    legal entity's gap-free counter, all in one transaction. ``site`` is the shipping site (its
    location prefix and legal entity); without it, the hub's legal entity and any location."""
    shipment = ShipmentConfirmed.model_validate(envelope.data)
    invoice_id = invoice_id_for(shipment.shipment_id)
    prefix = site.location_prefix if site is not None else ""
    entity = (site.legal_entity if site is not None else None) or legal_entity()
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
        if order.state in NOT_RESERVED_YET:
            raise ShipmentHeld(
                f"shipment {shipment.shipment_id} is for order {order.order_id}, which is {order.state.value}: "
                "the hub has not reserved its stock yet; the shipment waits for the reservation"
            )
        if len(order.shipments) >= MAX_SHIPMENTS_PER_ORDER:
            raise ShipmentRejected(
                f"shipment {shipment.shipment_id}: order {order.order_id} has {len(order.shipments)} shipments "
                f"already, the most one order takes; ship the rest together, or close the lines short"
            )
        currency = order.doc["currency"]
        # more than the order has left, even with every unit it could take back from a close: that
        # is the problem to name, before where the units were picked
        price(
            order.order_id, order.doc["lines"], done_units(order, reopenable_units(order, shipment)), shipment, currency
        )
        changes, remaining, closed, reopened = stock_changes(order, shipment, prefix)
        totals = price(order.order_id, order.doc["lines"], done_units(order, reopened), shipment, currency)
        expected = order.version
        order.allocations = remaining
        for line in shipment.lines:
            order.shipped[line.sku] = order.shipped.get(line.sku, 0) + line.quantity
        for sku, units in reopened.items():
            order.closed[sku] -= units
        for sku, units in closed.items():
            order.closed[sku] = order.closed.get(sku, 0) + units
            order.closed_at[sku] = iso(shipment.shipped_at)
        order.version += 1
        order.updated_at = now_iso()
        year = int(order.updated_at[:4])
        numbered = repository.next_invoice_number(entity, year)
        invoice = Invoice.model_validate(
            {
                "invoice_id": invoice_id,
                "invoice_number": numbered.number,
                "legal_entity": entity,
                "fiscal_year": year,
                "sequence": numbered.sequence,
                "issued_at": order.updated_at,
                "currency": currency,
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
        order.invoices = [*order.invoices, invoice_id]
        order.shipments = [
            *order.shipments,
            {
                "shipment_id": shipment.shipment_id,
                "invoice_id": invoice_id,
                "warehouse_id": shipment.warehouse_id,
                "shipped_at": iso(shipment.shipped_at),
                "lines": [line.model_dump(mode="json", exclude_none=True) for line in shipment.lines],
            },
        ]
        transitions = [(OrderState.SHIPPED, f"shipment {shipment.shipment_id} confirmed from {shipment.warehouse_id}")]
        if closed:
            closed_text = ", ".join(f"{units} x {sku}" for sku, units in closed.items())
            transitions.append((OrderState.SHIPPED, f"closed short by shipment {shipment.shipment_id}: {closed_text}"))
        if reopened:
            late = ", ".join(f"{units} x {sku}" for sku, units in reopened.items())
            transitions.append(
                (OrderState.SHIPPED, f"shipment {shipment.shipment_id} shipped {late} before the line was closed")
            )
        cancellation = order.cancellation or {}
        if cancellation.get("status") == "REQUESTED":
            refusal = f"shipment {shipment.shipment_id} left {shipment.warehouse_id} before the cancellation"
            order.cancellation = {**cancellation, "status": "REFUSED", "refusal": refusal}
            transitions.append((OrderState.SHIPPED, f"cancellation refused: {refusal}"))
        complete = order.complete()
        order.state = OrderState.INVOICED if complete else OrderState.SHIPPED
        if complete:
            transitions.append((OrderState.INVOICED, f"invoice {invoice['invoice_number']} issued"))
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
        released = sorted({c["sku"] for c in changes if c["release"]})
        try:
            saved = repository.save(
                invoice,
                shipment.shipment_id,
                iso(shipment.shipped_at),
                changes,
                order,
                expected,
                transitions,
                event,
                numbered.op,
                released,
            )
        except Refused as full:  # the order's item or its InvoiceIssued would be too large (orders' refusal)
            raise ShipmentRejected(f"shipment {shipment.shipment_id} cannot be invoiced: {full.reason}") from full
        if saved:
            return Outcome(shipment.shipment_id, invoice_id, created=True)
        # a duplicate won the race (checked at the top), the order moved on or another invoice took
        # the number: re-read
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
    """The InvoicePosted event of ``invoice`` booked as ``finance_document_id``."""
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
    return _posted_event(INVOICE_POSTED, "invoice-posted", invoice["invoice_id"], data, correlation_id, causation_id)


def _posted_event(
    event_type: str,
    id_kind: str,
    document_id: str,
    data: BaseModel,
    correlation_id: str,
    causation_id: str | None,
) -> EventEnvelope:
    """A document's posted event (InvoicePosted, CreditMemoPosted): its id derives from the
    document, so a repeated posting writes the same event, which the outbox takes once."""
    return new_event(
        event_type,
        entity_id=document_id,
        sequence=2,
        data=data.model_dump(mode="json"),
        correlation_id=correlation_id,
        causation_id=causation_id,
        source_system=INVOICE_SOURCE,
        event_id=deterministic_event_id(id_kind, document_id),
    )


def credit_memo_id_for(order_id: str, rma_id: str) -> str:
    return "cm_" + hashlib.sha256(f"return:{order_id}:{rma_id}".encode()).hexdigest()[:24]


def credit_lines(
    order: orders_api.StoredOrder, invoices: list[dict[str, Any]], receipt: ReturnReceived
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Credit lines for the units ``receipt`` brought back, and the order's ``credited`` after them.

    Returned units of a SKU are credited against that SKU's invoice lines, oldest invoice first,
    each only for units not credited before: a credit never exceeds what was invoiced, in units or
    in money. Amounts follow the invoice's rule (per line, half up to the currency's minor unit, tax
    on the rounded net); the last units of an invoice line get exactly what is left of its amounts,
    so rounding can never credit a cent more than the line was invoiced.
    """
    currency = order.doc["currency"]
    credited: dict[str, dict[str, Any]] = {k: dict(v) for k, v in order.credited.items()}
    lines: list[dict[str, Any]] = []
    for returned in receipt.lines:
        need = returned.quantity
        for invoice in invoices:
            for line in invoice["lines"]:
                if need == 0:
                    break
                if line["sku"] != returned.sku:
                    continue
                key = f"{invoice['invoice_id']}#{line['line_id']}"
                done = credited.get(key, {"quantity": 0, "net": "0", "tax": "0"})
                open_units = int(line["quantity"]) - int(done["quantity"])
                take = min(need, open_units)
                if take <= 0:
                    continue
                net_left = Decimal(line["net_amount"]) - Decimal(done["net"])
                tax_left = Decimal(line["tax_amount"]) - Decimal(done["tax"])
                if take == open_units:  # the line's last units: what is left of it, to the cent
                    net, tax = net_left, tax_left
                else:
                    net = min(money(Decimal(line["unit_price"]) * take, currency), net_left)
                    tax = min(money(net * Decimal(line["tax_rate"]), currency), tax_left)
                credited[key] = {
                    "quantity": int(done["quantity"]) + take,
                    "net": str(Decimal(done["net"]) + net),
                    "tax": str(Decimal(done["tax"]) + tax),
                }
                lines.append(
                    {
                        "invoice_id": invoice["invoice_id"],
                        "invoice_number": invoice["invoice_number"],
                        "line_id": line["line_id"],
                        "sku": returned.sku,
                        "quantity": take,
                        "unit_price": line["unit_price"],
                        "tax_rate": line["tax_rate"],
                        "net_amount": format_money(net, currency),
                        "tax_amount": format_money(tax, currency),
                        "gross_amount": format_money(net + tax, currency),
                        "condition": returned.condition,
                    }
                )
                need -= take
        if need:
            raise ReturnRejected(
                f"return {receipt.rma_id} of order {order.order_id} brings back {returned.quantity} x {returned.sku}, "
                f"{need} more than were invoiced and not yet credited"
            )
    return lines, credited


def _check_receipt(order: orders_api.StoredOrder, receipt: ReturnReceived) -> dict[str, Any]:
    """The return authorization ``receipt`` fulfils; :class:`ReturnRejected` if there is none or it
    brings back more of a SKU than was authorized."""
    authorization = next((r for r in order.returns if r["rma_id"] == receipt.rma_id), None)
    if authorization is None:
        raise ReturnRejected(
            f"return {receipt.rma_id} received for order {order.order_id}, which has no such return "
            "authorization: the channel authorizes returns with POST /orders/{order_id}/returns"
        )
    authorized: dict[str, int] = {}
    for line in authorization["lines"]:
        authorized[line["sku"]] = authorized.get(line["sku"], 0) + int(line["quantity"])
    received: dict[str, int] = {}
    for line in receipt.lines:
        received[line.sku] = received.get(line.sku, 0) + line.quantity
    for sku, units in received.items():
        if units > authorized.get(sku, 0):
            raise ReturnRejected(
                f"return {receipt.rma_id} of order {order.order_id} brings back {units} x {sku}; "
                f"{authorized.get(sku, 0)} were authorized"
            )
    return authorization


def credit(envelope: EventEnvelope) -> Outcome:
    """``ReturnReceived`` -> exactly one credit memo per return: the units back in stock (resaleable
    into available, damaged into quality_hold), the return RECEIVED on the order, the credit memo
    numbered from its legal entity's gap-free counter, CreditMemoIssued (and StockAvailable for the
    resaleable SKUs), all in one transaction. A second receipt of the same return changes nothing."""
    receipt = ReturnReceived.model_validate(envelope.data)
    memo_id = credit_memo_id_for(receipt.order_id, receipt.rma_id)
    for _ in range(MAX_ATTEMPTS):
        order = repository.load_order(receipt.order_id)
        if repository.credit_memo_exists(receipt.order_id, receipt.rma_id):
            return Outcome(receipt.rma_id, memo_id, created=False)
        if order is None:
            raise OrderNotFound(receipt.order_id)
        authorization = _check_receipt(order, receipt)
        if authorization.get("status") == "RECEIVED":  # pragma: no cover - the memo exists then
            return Outcome(receipt.rma_id, memo_id, created=False)
        invoices = repository.invoices_of(order)
        lines, credited = credit_lines(order, invoices, receipt)
        first = next(i for i in invoices if any(line["invoice_id"] == i["invoice_id"] for line in lines))
        entity = first.get("legal_entity") or legal_entity()
        expected = order.version
        order.version += 1
        order.updated_at = now_iso()
        year = int(order.updated_at[:4])
        numbered = repository.next_credit_memo_number(entity, year)
        currency = order.doc["currency"]
        net = sum((Decimal(line["net_amount"]) for line in lines), Decimal("0"))
        tax = sum((Decimal(line["tax_amount"]) for line in lines), Decimal("0"))
        memo = CreditMemo.model_validate(
            {
                "credit_memo_id": memo_id,
                "credit_memo_number": numbered.number,
                "legal_entity": entity,
                "fiscal_year": year,
                "sequence": numbered.sequence,
                "issued_at": order.updated_at,
                "currency": currency,
                "customer": first["customer"],
                "bill_to": first["bill_to"],
                "references": {
                    "order_id": order.order_id,
                    "rma_id": receipt.rma_id,
                    "channel": order.doc["channel"],
                    "channel_order_ref": order.doc["channel_order_ref"],
                    "warehouse_id": receipt.warehouse_id,
                    "received_at": iso(receipt.received_at),
                },
                "lines": lines,
                "net_total": format_money(net, currency),
                "tax_total": format_money(tax, currency),
                "gross_total": format_money(net + tax, currency),
            }
        ).model_dump(mode="json")
        order.credited = credited
        order.credit_memos = [*order.credit_memos, memo_id]
        order.returns = [
            {**r, "status": "RECEIVED", "received_at": iso(receipt.received_at), "credit_memo_id": memo_id}
            if r["rma_id"] == receipt.rma_id
            else r
            for r in order.returns
        ]
        note = f"return {receipt.rma_id} received at {receipt.warehouse_id}; credit memo {numbered.number} issued"
        event = new_event(
            CREDIT_MEMO_ISSUED,
            entity_id=memo_id,
            sequence=1,
            data=memo,
            correlation_id=envelope.correlation_id,
            causation_id=envelope.event_id,
            source_system=INVOICE_SOURCE,
            event_id=deterministic_event_id("credit-memo", receipt.order_id, receipt.rma_id),
        )
        restocked = sorted({line.sku for line in receipt.lines if line.condition == "RESALEABLE"})
        try:
            saved = repository.save_credit_memo(
                memo, receipt, order, expected, [(order.state, note)], event, numbered.op, restocked
            )
        except Refused as full:  # the order's item or its CreditMemoIssued would be too large (orders' refusal)
            raise ReturnRejected(f"return {receipt.rma_id} cannot be credited: {full.reason}") from full
        if saved:
            return Outcome(receipt.rma_id, memo_id, created=True)
    raise InvoicingContention(receipt.rma_id)


def credit_memo_posted_event(
    memo: dict[str, Any],
    finance_document_id: str,
    posted_at: str,
    *,
    correlation_id: str,
    causation_id: str | None,
    target: str = "finance",
) -> EventEnvelope:
    """The CreditMemoPosted event of ``memo`` booked as ``finance_document_id``."""
    data = CreditMemoPostedData(
        credit_memo_id=memo["credit_memo_id"],
        credit_memo_number=memo["credit_memo_number"],
        order_id=memo["references"]["order_id"],
        rma_id=memo["references"]["rma_id"],
        target=target,
        finance_document_id=finance_document_id,
        posted_at=posted_at,
        currency=memo["currency"],
        gross_total=memo["gross_total"],
    )
    return _posted_event(
        CREDIT_MEMO_POSTED, "credit-memo-posted", memo["credit_memo_id"], data, correlation_id, causation_id
    )
