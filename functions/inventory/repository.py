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


def apply_report(report: PositionReport, sequence: int, event_id: str) -> bool:
    """Apply a WMS report if it is newer than what the position has seen.

    Returns False for a duplicate or stale report (nothing is changed). ``available`` is kept as
    on_hand - reserved - quality_hold; ``reserved`` belongs to the hub and survives reports.
    """
    ddb_client = client("dynamodb")
    try:
        ddb_client.update_item(
            TableName=settings().inventory_table,
            Key=ddb.to_ddb(position_key(report.sku, report.location_id)),
            UpdateExpression=(
                "SET sku = :sku, location_id = :loc, on_hand = :oh, quality_hold = :qh, "
                "in_transit = :it, as_of = :asof, wms_sequence = :seq, last_event_id = :eid, "
                "updated_at = :now, reserved = if_not_exists(reserved, :zero), "
                "available = :free - if_not_exists(reserved, :zero)"
            ),
            ConditionExpression="attribute_not_exists(pk) OR wms_sequence < :seq",
            ExpressionAttributeValues=ddb.values(
                sku=report.sku, loc=report.location_id, oh=report.on_hand, qh=report.quality_hold,
                it=report.in_transit, asof=iso(report.as_of), seq=sequence, eid=event_id,
                now=iso(utcnow()), zero=0, free=report.on_hand - report.quality_hold,
            ),
        )
    except ddb_client.exceptions.ConditionalCheckFailedException:
        return False
    return True


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
        "as_of": item.get("as_of", ""), "sku": item["sku"], "location_id": item["location_id"]}


def reserve_op(sku: str, location_id: str, quantity: int) -> dict[str, Any]:
    return ddb.update(
        settings().inventory_table, position_key(sku, location_id),
        "SET reserved = reserved + :q, available = available - :q",
        condition="attribute_exists(pk) AND available >= :q", q=quantity,
    )


def release_op(sku: str, location_id: str, quantity: int) -> dict[str, Any]:
    return ddb.update(
        settings().inventory_table, position_key(sku, location_id),
        "SET reserved = reserved - :q, available = available + :q",
        condition="attribute_exists(pk) AND reserved >= :q", q=quantity,
    )
