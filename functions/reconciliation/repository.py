"""Reconciliation results in the connectors table (``pk = RECON#<run_id>``, ``sk = RECON``), stored
with their outbox event in one transaction, and the re-sends of a repair. The only module that
knows that layout."""

from __future__ import annotations

import json
from typing import Any

from synchub_core import ddb
from synchub_core.aws import client
from synchub_core.config import settings
from synchub_core.envelope import EventEnvelope
from synchub_core.outbox import outbox_put

from .models import RECONCILIATION_SOURCE

ITEM_TYPE = "RECON"
MAX_RESULT_BYTES = 350_000  # DynamoDB takes 400 KB an item: the listed references are trimmed below this


def recon_key(run_id: str) -> dict[str, str]:
    return {"pk": f"RECON#{run_id}", "sk": "RECON"}


def _table() -> str:
    return settings().require("connectors_table")


def _json(result: dict[str, Any]) -> str:
    return json.dumps(result, separators=(",", ":"), sort_keys=True)


def _fit(result: dict[str, Any]) -> str:
    """The result as stored: its listed references halved until the item fits (counts stay whole)."""
    text = _json(result)
    while len(text.encode()) > MAX_RESULT_BYTES:
        for side in result.get("references", {}).values():
            for listed in side.values():
                listed["references"] = listed["references"][: len(listed["references"]) // 2]
                listed["truncated"] = listed["count"] > len(listed["references"])
        for side_name, details in result.get("differences", {}).items():
            result["differences"][side_name] = details[: len(details) // 2]
        text = _json(result)
    return text


def store(result: dict[str, Any], event: EventEnvelope) -> dict[str, Any]:
    """Put the result and its event in one TransactWriteItems. A retried run (the same run id)
    finds its first result stored and returns that one: one result, one event per run."""
    text = _fit(result)
    item = {
        **recon_key(result["run_id"]),
        "item_type": ITEM_TYPE,
        "run_id": result["run_id"],
        "window_from": result["window_from"],
        "window_to": result["window_to"],
        "completed_at": result["completed_at"],
        "invoice_match_rate": result["invoice_match_rate"],
        "erp_match_rate": result["erp_match_rate"],
        "result": text,
    }
    try:
        ddb.transact(
            [
                ddb.put(_table(), item, condition="attribute_not_exists(pk)"),
                outbox_put(settings().orders_table, event, RECONCILIATION_SOURCE),
            ]
        )
    except ddb.TransactionCancelled:
        stored = load(result["run_id"])
        if stored is None:  # pragma: no cover - the outbox item exists without its result: never written alone
            raise
        return stored
    return dict(json.loads(text))


def load(run_id: str) -> dict[str, Any] | None:
    item = ddb.get(_table(), recon_key(run_id))
    return dict(json.loads(item["result"])) if item else None


def send(queue_url: str, bodies: list[str], attributes: dict[str, str]) -> list[bool]:
    """Send up to ten bodies in one SendMessageBatch, each with the (string) message ``attributes``;
    whether each was taken."""
    typed = {name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()}
    resp = client("sqs").send_message_batch(
        QueueUrl=queue_url,
        Entries=[
            {"Id": str(i), "MessageBody": body, **({"MessageAttributes": typed} if typed else {})}
            for i, body in enumerate(bodies)
        ],
    )
    taken = {entry["Id"] for entry in resp.get("Successful", [])}
    return [str(i) in taken for i in range(len(bodies))]
