"""Event contracts: JSON Schemas in ``events/schemas`` generated from the pydantic models the
functions validate with, so the published contract and the code cannot drift apart
(``python -m synchub.contracts`` rewrites them; a test fails when they are stale)."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "events" / "schemas"
if str(ROOT / "functions") not in sys.path:
    sys.path.insert(0, str(ROOT / "functions"))

BASE_ID = "https://synchub.dev/schemas/"


def _models() -> tuple[Any, dict[str, Any], dict[str, Any]]:
    from connectors.models import CircuitStateChangedData
    from fulfilment.models import OrderCancellationAnsweredData, OrderReleasedData, ReleaseAcknowledgedData
    from inventory.models import PositionReport, StockAvailableData
    from invoicing.models import (
        CreditMemo,
        CreditMemoPostedData,
        Invoice,
        InvoicePostedData,
        ReturnReceived,
        ShipmentConfirmed,
    )
    from orders.models import (
        OrderAcceptedData,
        OrderCancellationRequestedData,
        OrderCancelledData,
        OrderIn,
        ReturnAuthorizedData,
    )
    from reconciliation.models import ReconciliationCompletedData
    from reservation.models import OrderBackorderedData, OrderReservedData
    from synchub_core.envelope import EventEnvelope

    events = {
        "OrderAccepted": OrderAcceptedData,
        "OrderReserved": OrderReservedData,
        "OrderBackordered": OrderBackorderedData,
        "InventoryPositionReported": PositionReport,
        "ShipmentConfirmed": ShipmentConfirmed,
        "InvoiceIssued": Invoice,
        "InvoicePosted": InvoicePostedData,
        "CircuitStateChanged": CircuitStateChangedData,
        "ReconciliationCompleted": ReconciliationCompletedData,
        "OrderCancelled": OrderCancelledData,
        "OrderCancellationRequested": OrderCancellationRequestedData,
        "OrderCancellationAnswered": OrderCancellationAnsweredData,
        "OrderReleased": OrderReleasedData,
        "ReleaseAcknowledged": ReleaseAcknowledgedData,
        "ReturnAuthorized": ReturnAuthorizedData,
        "ReturnReceived": ReturnReceived,
        "CreditMemoIssued": CreditMemo,
        "CreditMemoPosted": CreditMemoPostedData,
        "StockAvailable": StockAvailableData,
    }
    documents = {"order-request": OrderIn}
    return EventEnvelope, events, documents


def _kebab(name: str) -> str:
    return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")


def generate() -> dict[str, dict[str, Any]]:
    envelope, events, documents = _models()
    out: dict[str, dict[str, Any]] = {}
    env_schema = envelope.model_json_schema()
    out["envelope.schema.json"] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE_ID + "envelope.schema.json",
        **env_schema,
    }
    for event_type, model in events.items():
        schema = copy.deepcopy(env_schema)
        data = model.model_json_schema(ref_template="#/$defs/{model}")
        schema.setdefault("$defs", {}).update(data.pop("$defs", {}))
        schema["properties"]["data"] = data
        schema["properties"]["event_type"] = {"const": event_type, "title": "Event Type", "type": "string"}
        schema["title"] = f"{event_type} event (EventBridge detail / SQS body)"
        name = f"{_kebab(event_type)}.schema.json"
        out[name] = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": BASE_ID + name, **schema}
    for name, model in documents.items():
        out[f"{name}.schema.json"] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": BASE_ID + f"{name}.schema.json",
            **model.model_json_schema(),
        }
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    SCHEMAS.mkdir(parents=True, exist_ok=True)
    for name, schema in generate().items():
        (SCHEMAS / name).write_text(render(schema))
        print(f"wrote events/schemas/{name}")


if __name__ == "__main__":
    main()
