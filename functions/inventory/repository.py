"""Inventory positions: one item per SKU x location in the inventory table
(``pk = SKU#<sku>``, ``sk = LOC#<location_id>``). The only module that knows that layout; other
domains use ``inventory.api``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from synchub_core import ddb
from synchub_core.aws import client
from synchub_core.config import settings
from synchub_core.envelope import iso, now_iso

from .models import PendingShipment, Position, PositionReport, ReportState


def position_key(sku: str, location_id: str) -> dict[str, str]:
    return {"pk": f"SKU#{sku}", "sk": f"LOC#{location_id}"}


def report_state(sku: str, location_id: str) -> ReportState | None:
    """What a new WMS report is applied against (strongly consistent), or None for a new position."""
    item = ddb.get(settings().inventory_table, position_key(sku, location_id))
    if item is None:
        return None
    return ReportState(
        wms_sequence=int(item.get("wms_sequence", -1)),
        pending_shipments=[
            PendingShipment(p["shipment_id"], p["shipped_at"], int(p["quantity"]))
            for p in item.get("pending_shipments", [])
        ],
        pending_rev=int(item.get("pending_rev", 0)),
    )


def write_report(
    report: PositionReport,
    sequence: int,
    event_id: str,
    on_hand: int,
    pending: list[PendingShipment],
    seen: ReportState | None,
) -> bool:
    """Store the report's quantities if the position is still as ``seen`` (no newer report, no
    shipment landed since). ``reserved`` is kept; ``available`` is computed against the
    ``reserved`` in the table at write time. False when the position moved on (re-read)."""
    ddb_client = client("dynamodb")
    try:
        ddb_client.update_item(
            TableName=settings().inventory_table,
            Key=ddb.to_ddb(position_key(report.sku, report.location_id)),
            UpdateExpression=(
                "SET sku = :sku, location_id = :loc, on_hand = :oh, reported_on_hand = :roh, "
                "quality_hold = :qh, in_transit = :it, as_of = :asof, wms_sequence = :seq, "
                "last_event_id = :eid, updated_at = :now, pending_shipments = :pending, "
                "pending_rev = :rev, reserved = if_not_exists(reserved, :zero), "
                "available = :free - if_not_exists(reserved, :zero)"
            ),
            ConditionExpression="(attribute_not_exists(pk) OR wms_sequence < :seq) AND "
            "(attribute_not_exists(pending_rev) OR pending_rev = :rev)",
            ExpressionAttributeValues=ddb.values(
                sku=report.sku,
                loc=report.location_id,
                oh=on_hand,
                roh=report.on_hand,
                qh=report.quality_hold,
                it=report.in_transit,
                asof=iso(report.as_of),
                seq=sequence,
                eid=event_id,
                now=now_iso(),
                zero=0,
                free=on_hand - report.quality_hold,
                pending=[asdict(p) for p in pending],
                rev=seen.pending_rev if seen else 0,
            ),
        )
    except ddb_client.exceptions.ConditionalCheckFailedException:
        return False  # a newer report (the re-read says stale) or a shipment landed meanwhile
    return True


def get_position(sku: str, location_id: str) -> dict[str, Any] | None:
    return ddb.get(settings().inventory_table, position_key(sku, location_id))


def positions_for(sku: str) -> list[Position]:
    items = ddb.query_all(
        TableName=settings().inventory_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=ddb.values(pk=position_key(sku, "")["pk"]),
        ConsistentRead=True,
    )
    return [Position.model_validate(_position_fields(i)) for i in items]


def _position_fields(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item.get(k, 0) for k in Position.model_fields} | {
        "as_of": item.get("as_of", ""),
        "sku": item["sku"],
        "location_id": item["location_id"],
    }


def reserve_op(sku: str, location_id: str, quantity: int) -> dict[str, Any]:
    return ddb.update(
        settings().inventory_table,
        position_key(sku, location_id),
        "SET reserved = reserved + :q, available = available - :q",
        condition="attribute_exists(pk) AND available >= :q",
        q=quantity,
    )


def ship_op(position: dict[str, Any], quantity: int, shipped_at: str, shipment_id: str) -> dict[str, Any]:
    """Consume ``quantity`` reserved units that physically left the location.

    If the position's last WMS report is as of the shipment or later, its on_hand already lacks
    the units: only the reservation goes, and they stop being counted twice. Otherwise on_hand
    drops now (available stays as it was: the units were reserved) and the shipment is kept in
    ``pending_shipments`` until a WMS report as of a later time includes it. Both are conditional
    on the report the decision was made against.
    """
    table = settings().inventory_table
    key = position_key(position["sku"], position["location_id"])
    condition = "reserved >= :q AND as_of = :asof"
    if position.get("as_of", "") >= shipped_at:
        return ddb.update(
            table,
            key,
            "SET reserved = reserved - :q, available = available + :q",
            condition=condition,
            q=quantity,
            asof=position["as_of"],
        )
    return ddb.update(
        table,
        key,
        "SET reserved = reserved - :q, on_hand = on_hand - :q, "
        "pending_shipments = list_append(if_not_exists(pending_shipments, :empty), :entry), "
        "pending_rev = if_not_exists(pending_rev, :zero) + :one",
        condition=condition,
        q=quantity,
        asof=position["as_of"],
        empty=[],
        zero=0,
        one=1,
        entry=[{"shipment_id": shipment_id, "shipped_at": shipped_at, "quantity": quantity}],
    )


def release_op(sku: str, location_id: str, quantity: int) -> dict[str, Any]:
    """Give reserved units back (an allocation undone, e.g. a cancelled order): the inverse of
    :func:`reserve_op`."""
    return ddb.update(
        settings().inventory_table,
        position_key(sku, location_id),
        "SET reserved = reserved - :q, available = available + :q",
        condition="attribute_exists(pk) AND reserved >= :q",
        q=quantity,
    )
