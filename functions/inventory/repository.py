"""Inventory positions: one item per SKU x location in the inventory table."""

from __future__ import annotations

from typing import Any

from synchub_core import ddb
from synchub_core.aws import client
from synchub_core.config import settings
from synchub_core.envelope import iso, utcnow

from .models import Position, PositionReport


def position_key(sku: str, location_id: str) -> dict[str, str]:
    return {"pk": f"SKU#{sku}", "sk": f"LOC#{location_id}"}


class PositionContention(Exception):
    """Shipments kept changing the position while a report was applied: retried by SQS."""


MAX_ATTEMPTS = 5


def apply_report(report: PositionReport, sequence: int, event_id: str) -> bool:
    """Apply a WMS report if it is newer than what the position has seen.

    Returns False for a duplicate or stale report (nothing is changed). ``reserved`` belongs to
    the hub and survives reports; ``available`` is on_hand - reserved - quality_hold, computed
    against the ``reserved`` in the table at write time. Shipments the hub confirmed after the
    report's ``as_of`` (``pending_shipments``) are not in the WMS's on_hand yet, so they are
    subtracted; shipments at or before ``as_of`` are in it and are dropped from the list.
    """
    table = settings().inventory_table
    key = position_key(report.sku, report.location_id)
    ddb_client = client("dynamodb")
    as_of = iso(report.as_of)
    for _ in range(MAX_ATTEMPTS):
        current = ddb.get(table, key)
        if current is not None and int(current.get("wms_sequence", -1)) >= sequence:
            return False
        pending = [p for p in (current or {}).get("pending_shipments", []) if p["shipped_at"] > as_of]
        on_hand = report.on_hand - sum(int(p["quantity"]) for p in pending)
        revision = int((current or {}).get("pending_rev", 0))
        try:
            ddb_client.update_item(
                TableName=table,
                Key=ddb.to_ddb(key),
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
                    asof=as_of,
                    seq=sequence,
                    eid=event_id,
                    now=iso(utcnow()),
                    zero=0,
                    free=on_hand - report.quality_hold,
                    pending=pending,
                    rev=revision,
                ),
            )
        except ddb_client.exceptions.ConditionalCheckFailedException:
            continue  # a newer report (the re-read says stale) or a shipment landed meanwhile
        return True
    raise PositionContention(f"{report.sku}@{report.location_id}")


def get_position(sku: str, location_id: str) -> dict[str, Any] | None:
    return ddb.get(settings().inventory_table, position_key(sku, location_id))


def positions_for(sku: str) -> list[Position]:
    items = ddb.query_all(
        TableName=settings().inventory_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=ddb.values(pk=f"SKU#{sku}"),
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
