"""Probes of a running local hub's data, as the end-to-end tests read it through the emulator."""

from __future__ import annotations

import json
import uuid
from typing import Any

from helpers import sample
from synchub.environment import HubEnvironment

INTAKE_ITEMS = ("ORDER", "IDEMP", "CHANREF")  # what POST /orders writes (workers add history and outbox)


def scan(env: HubEnvironment, table: str) -> list[dict[str, Any]]:
    return env.clients()("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]


def intake_items(env: HubEnvironment) -> list[dict[str, Any]]:
    """Orders, idempotency keys and channel refs: what a refused request must not have written."""
    return [i for i in scan(env, env.orders_table) if i["sk"]["S"] in INTAKE_ITEMS]


def position(env: HubEnvironment, sku: str, loc: str) -> dict[str, Any] | None:
    return (
        env.clients()("dynamodb")
        .get_item(
            TableName=env.tables["DataInventoryTable"],
            ConsistentRead=True,
            Key={"pk": {"S": f"SKU#{sku}"}, "sk": {"S": f"LOC#{loc}"}},
        )
        .get("Item")
    )


def inventory_message(sku: str, loc: str, seq: int, on_hand: int) -> str:
    """The sample WMS report for ``sku`` at ``loc``: ``on_hand`` units as of sequence ``seq``."""
    msg = sample("sqs-inventory-position-reported.json")
    msg.update(event_id=str(uuid.uuid4()), sequence=seq, entity_id=f"{sku}@{loc}")
    msg["data"].update(sku=sku, location_id=loc, on_hand=on_hand, quality_hold=0)
    return json.dumps(msg)
