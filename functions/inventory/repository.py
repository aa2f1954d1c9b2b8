"""Inventory positions: one item per SKU x location in the inventory table
(``pk = SKU#<sku>``, ``sk = LOC#<location_id>``), or per SKU x location x lot for stock kept by lot
(``sk = LOC#<location_id>#LOT#<lot>``, with ``lot`` and ``best_before`` on the item). The only
module that knows that layout; other domains use ``inventory.api``."""

from __future__ import annotations

from datetime import date
from typing import Any

from synchub_core import ddb
from synchub_core.aws import client
from synchub_core.config import settings
from synchub_core.envelope import EventEnvelope, iso, now_iso
from synchub_core.outbox import outbox_put

from .models import INVENTORY_SOURCE, PendingShipment, Position, PositionReport, ReportState

# what an availability inquiry reads of a position: not the pending list (it can be long)
_INQUIRY_FIELDS = (
    "sku",
    "location_id",
    "lot",
    "best_before",
    "on_hand",
    "reserved",
    "quality_hold",
    "in_transit",
    "in_transit_expected_at",
    "available",
    "as_of",
    "wms_sequence",
)


def position_key(sku: str, location_id: str, lot: str | None = None) -> dict[str, str]:
    sk = f"LOC#{location_id}" if lot is None else f"LOC#{location_id}#LOT#{lot}"
    return {"pk": f"SKU#{sku}", "sk": sk}


def _pending(item: dict[str, Any]) -> list[PendingShipment]:
    return [
        PendingShipment(p["shipment_id"], p["shipped_at"], int(p["quantity"]), int(p.get("hold", 0)))
        for p in item.get("pending_shipments", [])
    ]


def report_state(sku: str, location_id: str, lot: str | None = None) -> ReportState | None:
    """What a new WMS report is applied against (strongly consistent), or None for a new position."""
    item = ddb.get(settings().inventory_table, position_key(sku, location_id, lot))
    if item is None:
        return None
    return ReportState(
        wms_sequence=int(item.get("wms_sequence", -1)),
        pending_shipments=_pending(item),
        pending_rev=int(item.get("pending_rev", 0)),
        available=int(item.get("available", 0)),
        reserved=int(item.get("reserved", 0)),
    )


def write_report(
    report: PositionReport,
    sequence: int,
    event_id: str,
    on_hand: int,
    pending: list[PendingShipment],
    seen: ReportState | None,
    quality_hold: int | None = None,
    event: EventEnvelope | None = None,
) -> bool:
    """Store the report's quantities if the position is still as ``seen`` (no newer report, no
    shipment or return landed since). ``reserved`` is kept; ``available`` is computed against the
    ``reserved`` in the table at write time. With ``event`` (the report makes stock available) the
    write and the event's outbox item go in one TransactWriteItems; otherwise one UpdateItem.
    False when the position moved on (re-read)."""
    hold = report.quality_hold if quality_hold is None else quality_hold
    sets = [
        "sku = :sku",
        "location_id = :loc",
        "on_hand = :oh",
        "reported_on_hand = :roh",
        "quality_hold = :qh",
        "in_transit = :it",
        "as_of = :asof",
        "wms_sequence = :seq",
        "last_event_id = :eid",
        "updated_at = :now",
        "pending_shipments = :pending",
        "pending_rev = :rev",
        "reserved = if_not_exists(reserved, :zero)",
        "available = :free - if_not_exists(reserved, :zero)",
    ]
    removes: list[str] = []
    vals: dict[str, Any] = {
        "sku": report.sku,
        "loc": report.location_id,
        "oh": on_hand,
        "roh": report.on_hand,
        "qh": hold,
        "it": report.in_transit,
        "asof": iso(report.as_of),
        "seq": sequence,
        "eid": event_id,
        "now": now_iso(),
        "zero": 0,
        "free": on_hand - hold,
        "pending": [p.to_item() for p in pending],
        "rev": seen.pending_rev if seen else 0,
    }
    if report.lot is not None:
        sets.append("lot = :lot")
        vals["lot"] = report.lot
        if report.best_before is not None:
            sets.append("best_before = :bb")
            vals["bb"] = report.best_before.isoformat()
        else:
            removes.append("best_before")
    if report.in_transit > 0 and report.in_transit_expected_at is not None:
        sets.append("in_transit_expected_at = :eta")
        vals["eta"] = report.in_transit_expected_at.isoformat()
    else:
        removes.append("in_transit_expected_at")
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    op = ddb.update(
        settings().inventory_table,
        position_key(report.sku, report.location_id, report.lot),
        expression,
        condition="(attribute_not_exists(wms_sequence) OR wms_sequence < :seq) AND "
        "(attribute_not_exists(pending_rev) OR pending_rev = :rev)",
        **vals,
    )
    if event is None:
        ddb_client = client("dynamodb")
        try:
            ddb_client.update_item(**op["Update"])
        except ddb_client.exceptions.ConditionalCheckFailedException:
            return False  # a newer report (the re-read says stale) or a shipment landed meanwhile
        return True
    try:
        ddb.transact([op, outbox_put(settings().orders_table, event, INVENTORY_SOURCE)])
    except ddb.TransactionCancelled:
        return False  # as above: the re-read decides (the event id is the report's, so never twice)
    return True


def get_position(sku: str, location_id: str, lot: str | None = None) -> dict[str, Any] | None:
    return ddb.get(settings().inventory_table, position_key(sku, location_id, lot))


def positions_for(sku: str, *, consistent: bool = True) -> list[Position]:
    """Every position of ``sku`` (all locations and lots): one Query of its partition."""
    items = ddb.query_all(
        TableName=settings().inventory_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=ddb.values(pk=position_key(sku, "")["pk"]),
        ConsistentRead=consistent,
    )
    return [Position.model_validate(_position_fields(i)) for i in items]


def inquiry_positions(sku: str) -> list[Position]:
    """The positions of ``sku`` for an availability inquiry: one eventually consistent Query of its
    partition (never a scan), reading only what the answer shows."""
    names = {f"#f{n}": name for n, name in enumerate(_INQUIRY_FIELDS)}
    items = ddb.query_all(
        TableName=settings().inventory_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=ddb.values(pk=position_key(sku, "")["pk"]),
        ProjectionExpression=", ".join(names),
        ExpressionAttributeNames=names,
        ConsistentRead=False,
    )
    return [Position.model_validate(_position_fields(i)) for i in items]


def _position_fields(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item.get(k, 0) for k in Position.model_fields} | {
        "as_of": item.get("as_of", ""),
        "sku": item["sku"],
        "location_id": item["location_id"],
        "lot": item.get("lot"),
        "best_before": item.get("best_before"),
        "in_transit_expected_at": item.get("in_transit_expected_at"),
        "wms_sequence": item.get("wms_sequence", -1),
    }


def reserve_op(sku: str, location_id: str, quantity: int, lot: str | None = None) -> dict[str, Any]:
    return ddb.update(
        settings().inventory_table,
        position_key(sku, location_id, lot),
        "SET reserved = reserved + :q, available = available - :q",
        condition="attribute_exists(pk) AND available >= :q",
        q=quantity,
    )


def _as_of_condition(position: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The condition that the position is still at the report it was read at (a position no report
    reached yet, created by a return, has no ``as_of``)."""
    if position.get("as_of"):
        return "as_of = :asof", {"asof": position["as_of"]}
    return "attribute_not_exists(as_of)", {}


def ship_op(
    position: dict[str, Any],
    quantity: int,
    shipped_at: str,
    shipment_id: str,
    release: int = 0,
    unreserved: int = 0,
) -> dict[str, Any]:
    """Consume ``quantity`` reserved units that physically left the location, give back ``release``
    further reserved units (``available`` rises by them: the rest of a line closed short), and
    consume ``unreserved`` units that left without a reservation (a shipment that arrives after a
    later one closed its line: the close had released them), in one update (a transaction may not
    touch an item twice).

    If the position's last WMS report is as of the shipment or later, its on_hand already lacks
    the units: only the reservation goes, and they stop being counted twice. Otherwise on_hand
    drops now (available stays as it was for reserved units, drops for unreserved ones) and the
    shipment is kept in ``pending_shipments`` until a WMS report as of a later time includes it.
    Both are conditional on the report the decision was made against.
    """
    table = settings().inventory_table
    key = position_key(position["sku"], position["location_id"], position.get("lot"))
    as_of, as_of_vals = _as_of_condition(position)
    condition = f"reserved >= :qr AND {as_of}"
    values = as_of_vals | {"qr": quantity + release}
    if position.get("as_of", "") >= shipped_at:
        # counted by the WMS already: the reservation goes (unreserved units: nothing left to change)
        return ddb.update(
            table,
            key,
            "SET reserved = reserved - :qr, available = available + :qr",
            condition=condition,
            **values,
        )
    gone = quantity + unreserved
    return ddb.update(
        table,
        key,
        "SET reserved = reserved - :qr, available = available + :r - :u, on_hand = on_hand - :gone, "
        "pending_shipments = list_append(if_not_exists(pending_shipments, :empty), :entry), "
        "pending_rev = if_not_exists(pending_rev, :zero) + :one",
        condition=condition,
        r=release,
        u=unreserved,
        gone=gone,
        empty=[],
        zero=0,
        one=1,
        entry=[PendingShipment(shipment_id, shipped_at, gone).to_item()],
        **values,
    )


def release_op(sku: str, location_id: str, quantity: int, lot: str | None = None) -> dict[str, Any]:
    """Give reserved units back (an allocation undone, e.g. a cancelled order): the inverse of
    :func:`reserve_op`."""
    return ddb.update(
        settings().inventory_table,
        position_key(sku, location_id, lot),
        "SET reserved = reserved - :q, available = available + :q",
        condition="attribute_exists(pk) AND reserved >= :q",
        q=quantity,
    )


def return_op(
    sku: str,
    location_id: str,
    quantity: int,
    *,
    lot: str | None = None,
    best_before: date | str | None = None,
    damaged: bool,
    received_at: str,
    ref: str,
) -> dict[str, Any]:
    """Units a customer sent back, received at ``received_at`` (``iso()``): on_hand rises, and
    ``available`` (resaleable) or ``quality_hold`` (damaged) with it. The position is created if
    the hub has none.

    Like :func:`ship_op`, it reads the position and is conditional on the report it read: if that
    report is as of the receipt or later, the WMS already counts the units and only a condition
    check is returned; otherwise the units go in now and the return is kept in
    ``pending_shipments`` (quantity -q, and hold -q when damaged) until a report as of a later time
    includes it (docs/decisions/0007-shipped-stock-handling.md). The caller retries on conflict, and
    puts one return_op per position in a transaction (combine lines of the same sku, location and lot).
    ``best_before`` (a date or an ISO date string) is kept only for a lot that has none yet.
    """
    table = settings().inventory_table
    key = position_key(sku, location_id, lot)
    current = ddb.get(table, key)
    if current is not None and current.get("as_of", "") >= received_at:
        as_of, vals = _as_of_condition(current)
        check: dict[str, Any] = {
            "TableName": table,
            "Key": ddb.to_ddb(key),
            "ConditionExpression": as_of,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if vals:
            check["ExpressionAttributeValues"] = ddb.values(**vals)
        return {"ConditionCheck": check}
    hold = quantity if damaged else 0
    entry = PendingShipment(ref, received_at, -quantity, -hold).to_item()
    sets = [
        "sku = :sku",
        "location_id = :loc",
        "on_hand = if_not_exists(on_hand, :zero) + :q",
        "quality_hold = if_not_exists(quality_hold, :zero) + :h",
        "reserved = if_not_exists(reserved, :zero)",
        "in_transit = if_not_exists(in_transit, :zero)",
        "available = if_not_exists(available, :zero) + :a",
        "pending_shipments = list_append(if_not_exists(pending_shipments, :empty), :entry)",
        "pending_rev = if_not_exists(pending_rev, :zero) + :one",
    ]
    vals = {
        "sku": sku,
        "loc": location_id,
        "zero": 0,
        "one": 1,
        "q": quantity,
        "h": hold,
        "a": quantity - hold,
        "empty": [],
        "entry": [entry],
    }
    if lot is not None:
        sets.append("lot = :lot")
        vals["lot"] = lot
        if best_before is not None:
            sets.append("best_before = if_not_exists(best_before, :bb)")
            vals["bb"] = best_before if isinstance(best_before, str) else best_before.isoformat()
    if current is None:
        condition = "attribute_not_exists(pk)"
    else:
        as_of, as_of_vals = _as_of_condition(current)
        condition, vals = as_of, vals | as_of_vals  # a shipment appending meanwhile is fine: both append
    return ddb.update(table, key, "SET " + ", ".join(sets), condition=condition, **vals)
