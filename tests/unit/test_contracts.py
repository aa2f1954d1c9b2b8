"""Event contracts: committed schemas match the models, samples match the schemas and every event
type has a sample. (That the events the functions emit match their schemas is checked in
tests/component/test_emitted_events.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from synchub import contracts

SCHEMAS = contracts.SCHEMAS
SAMPLES = Path(contracts.ROOT) / "events" / "samples"


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


def test_committed_schemas_are_generated_from_the_models() -> None:
    generated = contracts.generate()
    committed = {p.name for p in SCHEMAS.glob("*.schema.json")}
    assert committed == set(generated), "run `make schemas`"
    for name, body in generated.items():
        assert (SCHEMAS / name).read_text() == contracts.render(body), f"{name} is stale: run `make schemas`"


@pytest.mark.parametrize(
    "sample_file, schema_file, pick",
    [
        ("api-post-order.json", "order-request.schema.json", lambda s: s),
        ("apigw-post-order-event.json", "order-request.schema.json", lambda s: json.loads(s["body"])),
        ("sqs-inventory-position-reported.json", "inventory-position-reported.schema.json", lambda s: s),
        ("eventbridge-shipment-confirmed.json", "shipment-confirmed.schema.json", lambda s: s["detail"]),
        ("eventbridge-order-accepted.json", "order-accepted.schema.json", lambda s: s["detail"]),
        ("eventbridge-order-reserved.json", "order-reserved.schema.json", lambda s: s["detail"]),
        ("eventbridge-order-backordered.json", "order-backordered.schema.json", lambda s: s["detail"]),
        ("eventbridge-invoice-issued.json", "invoice-issued.schema.json", lambda s: s["detail"]),
        ("eventbridge-invoice-posted.json", "invoice-posted.schema.json", lambda s: s["detail"]),
        ("eventbridge-circuit-state-changed.json", "circuit-state-changed.schema.json", lambda s: s["detail"]),
        ("eventbridge-reconciliation-completed.json", "reconciliation-completed.schema.json", lambda s: s["detail"]),
        ("eventbridge-order-cancelled.json", "order-cancelled.schema.json", lambda s: s["detail"]),
        (
            "eventbridge-order-cancellation-requested.json",
            "order-cancellation-requested.schema.json",
            lambda s: s["detail"],
        ),
        (
            "eventbridge-order-cancellation-answered.json",
            "order-cancellation-answered.schema.json",
            lambda s: s["detail"],
        ),
        ("eventbridge-order-released.json", "order-released.schema.json", lambda s: s["detail"]),
        ("eventbridge-release-acknowledged.json", "release-acknowledged.schema.json", lambda s: s["detail"]),
        ("eventbridge-return-authorized.json", "return-authorized.schema.json", lambda s: s["detail"]),
        ("eventbridge-return-received.json", "return-received.schema.json", lambda s: s["detail"]),
        ("eventbridge-credit-memo-issued.json", "credit-memo-issued.schema.json", lambda s: s["detail"]),
        ("eventbridge-credit-memo-posted.json", "credit-memo-posted.schema.json", lambda s: s["detail"]),
        ("eventbridge-stock-available.json", "stock-available.schema.json", lambda s: s["detail"]),
    ],
)
def test_samples_conform_to_their_schemas(sample_file: str, schema_file: str, pick) -> None:
    document = pick(json.loads((SAMPLES / sample_file).read_text()))
    jsonschema.Draft202012Validator(schema(schema_file)).validate(document)


def test_every_sample_is_valid_json_and_every_schema_is_a_valid_schema() -> None:
    for path in SAMPLES.glob("*.json"):
        json.loads(path.read_text())
    for path in SCHEMAS.glob("*.json"):
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_schemas_reject_what_the_models_reject() -> None:
    bad = json.loads((SAMPLES / "sqs-inventory-position-reported.json").read_text())
    bad["data"]["on_hand"] = -1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema("inventory-position-reported.schema.json"))
    wrong_type = json.loads((SAMPLES / "eventbridge-shipment-confirmed.json").read_text())["detail"]
    wrong_type["event_type"] = "InvoiceIssued"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong_type, schema("shipment-confirmed.schema.json"))


def test_every_event_type_has_a_sample_and_samples_match_their_detail_type() -> None:
    for schema_file in SCHEMAS.glob("*.schema.json"):
        if schema_file.name in ("envelope.schema.json", "order-request.schema.json"):
            continue
        kind = schema_file.name.removesuffix(".schema.json")
        found = list(SAMPLES.glob(f"*-{kind}.json"))
        assert found, f"no sample event for {kind}"
        for sample_file in found:
            event = json.loads(sample_file.read_text())
            detail = event.get("detail", event)
            assert contracts._kebab(detail["event_type"]) == kind
            if "detail-type" in event:
                assert event["detail-type"] == detail["event_type"]


def test_the_order_request_may_leave_the_channel_out_and_the_event_may_not() -> None:
    """The channel comes from the credential: optional in the request, always in OrderAccepted."""
    request = json.loads((SAMPLES / "api-post-order.json").read_text())
    del request["channel"]
    jsonschema.Draft202012Validator(schema("order-request.schema.json")).validate(request)
    assert "channel" not in schema("order-request.schema.json")["required"]
    event = json.loads((SAMPLES / "eventbridge-order-accepted.json").read_text())["detail"]
    assert "channel" in schema("order-accepted.schema.json")["properties"]["data"]["required"]
    del event["data"]["channel"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(event, schema("order-accepted.schema.json"))
