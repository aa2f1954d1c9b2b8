"""WMS inventory consumer: SQS -> inventory.handler.lambda_handler -> inventory positions.

Messages are built from the real sample (events/samples/sqs-inventory-position-reported.json),
sent to the provisioned WorkersInventoryWorkerQueue and drained with ``hub.run_worker`` (the
Lambda SQS poller: delete what succeeded, leave the reported failures in the queue). The worker
runs with its function's environment (its DLQ, the warehouse sites): a message it refuses is
dead-lettered at once with the reason, not left for retries.
"""

from __future__ import annotations

import copy
import itertools
import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import Hub, sample
from helpers.reservation import deployed

QUEUE = "WorkersInventoryWorkerQueue"
DLQ = "WorkersInventoryWorkerDeadLetterQueue"
REASON = "synchub-refusal-reason"
SAMPLE = sample("sqs-inventory-position-reported.json")
SKU = SAMPLE["data"]["sku"]  # FLOUR-T55-25KG
LOCATION = SAMPLE["data"]["location_id"]  # UTR-A01


def report(
    sequence: int,
    *,
    on_hand: int = 120,
    quality_hold: int = 5,
    in_transit: int = 40,
    sku: str = SKU,
    location_id: str = LOCATION,
    as_of: str | None = None,
    event_id: str | None = None,
    event_type: str | None = None,
) -> dict[str, Any]:
    """The sample envelope with its identity, ordering and quantities varied."""
    env = copy.deepcopy(SAMPLE)
    env["event_id"] = event_id or str(uuid.uuid4())
    env["sequence"] = sequence
    env["entity_id"] = f"{sku}@{location_id}"
    if event_type:
        env["event_type"] = event_type
    env["data"].update(
        sku=sku, location_id=location_id, on_hand=on_hand, quality_hold=quality_hold, in_transit=in_transit
    )
    if as_of:
        env["data"]["as_of"] = as_of
    return env


def send(hub: Hub, *bodies: dict[str, Any] | str) -> list[str]:
    """Send message bodies to the inventory queue; returns their SQS message ids, in order."""
    ids = []
    for body in bodies:
        text = body if isinstance(body, str) else json.dumps(body)
        ids.append(hub.sqs.send_message(QueueUrl=hub.queue(QUEUE), MessageBody=text)["MessageId"])
    return ids


def handler(hub: Hub) -> Any:
    from inventory.handler import lambda_handler

    return deployed(hub, QUEUE, lambda_handler)


def drain(hub: Hub, ctx: Any) -> dict[str, Any]:
    return hub.run_worker(QUEUE, handler(hub), ctx)


def refused(hub: Hub) -> dict[str, str]:
    """What the DLQ holds: body -> refusal reason."""
    return {m["Body"]: m["MessageAttributes"][REASON]["StringValue"] for m in hub.receive(DLQ, max_messages=50)}


def deliver(hub: Hub, ctx: Any, *bodies: dict[str, Any] | str) -> dict[str, Any]:
    send(hub, *bodies)
    result = drain(hub, ctx)
    assert result["delivered"] == len(bodies)
    return result


def raw_item(hub: Hub, sku: str = SKU, location_id: str = LOCATION) -> dict[str, Any] | None:
    return hub.ddb.get_item(
        TableName=hub.inventory_table,
        ConsistentRead=True,
        Key={"pk": {"S": f"SKU#{sku}"}, "sk": {"S": f"LOC#{location_id}"}},
    ).get("Item")


def position(hub: Hub, sku: str = SKU, location_id: str = LOCATION) -> dict[str, Any] | None:
    from synchub_core.ddb import from_ddb

    return from_ddb(raw_item(hub, sku, location_id))


def all_items(hub: Hub) -> list[dict[str, Any]]:
    return hub.ddb.scan(TableName=hub.inventory_table, ConsistentRead=True)["Items"]


def expected_fields(env: dict[str, Any], reserved: int = 0) -> dict[str, Any]:
    """Every stored attribute but ``updated_at`` (a wall-clock stamp) for report ``env``."""
    d = env["data"]
    return {
        "pk": f"SKU#{d['sku']}",
        "sk": f"LOC#{d['location_id']}",
        "sku": d["sku"],
        "location_id": d["location_id"],
        "on_hand": d["on_hand"],
        "quality_hold": d["quality_hold"],
        "in_transit": d["in_transit"],
        "reserved": reserved,
        "available": d["on_hand"] - reserved - d["quality_hold"],
        "as_of": d["as_of"].replace("Z", ".000Z") if "." not in d["as_of"] else d["as_of"],
        "wms_sequence": env["sequence"],
        "last_event_id": env["event_id"],
        "reported_on_hand": d["on_hand"],
        "pending_shipments": [],
        "pending_rev": 0,
    }


def without_stamp(item: dict[str, Any] | None) -> dict[str, Any]:
    assert item is not None
    assert item.get("updated_at"), "every applied report stamps updated_at"
    return {k: v for k, v in item.items() if k != "updated_at"}


# --------------------------------------------------------------------------------------------------


def test_first_report_creates_position_with_available_computed(hub: Hub, lambda_context: Any) -> None:
    env = report(1042)  # the sample as is: on_hand 120, quality_hold 5, in_transit 40
    result = deliver(hub, lambda_context, env)

    assert result["batchItemFailures"] == []
    assert hub.depth(QUEUE) == 0
    item = position(hub)
    assert without_stamp(item) == expected_fields(env)
    assert item["available"] == 120 - 0 - 5
    assert item["as_of"] == "2026-11-23T07:45:00.000Z"
    assert len(all_items(hub)) == 1


def test_newer_sequence_updates_position(hub: Hub, lambda_context: Any) -> None:
    deliver(hub, lambda_context, report(1, on_hand=120, quality_hold=5, in_transit=40))
    newer = report(2, on_hand=80, quality_hold=10, in_transit=0, as_of="2026-11-23T09:00:00Z")
    result = deliver(hub, lambda_context, newer)

    assert result["batchItemFailures"] == []
    item = position(hub)
    assert without_stamp(item) == expected_fields(newer)
    assert item["available"] == 70
    assert item["wms_sequence"] == 2 and item["last_event_id"] == newer["event_id"]
    assert hub.depth(QUEUE) == 0


@pytest.mark.parametrize("replay", ["duplicate", "stale"])
def test_duplicate_or_stale_report_changes_nothing(hub: Hub, lambda_context: Any, replay: str) -> None:
    current = report(5, on_hand=100, quality_hold=2)
    deliver(hub, lambda_context, current)
    before = raw_item(hub)

    if replay == "duplicate":  # the same WMS event redelivered (new SQS message, same sequence)
        again = copy.deepcopy(current)
        again["data"]["on_hand"] = 999  # even different content under the same sequence is ignored
    else:  # an older report arriving late
        again = report(4, on_hand=1, quality_hold=0, in_transit=0)
    result = deliver(hub, lambda_context, again)

    assert result["batchItemFailures"] == []  # not an error: acknowledged and dropped
    assert hub.depth(QUEUE) == 0
    assert raw_item(hub) == before  # byte for byte, updated_at included
    assert len(all_items(hub)) == 1


def test_reordered_delivery_ends_at_highest_sequence(hub: Hub, lambda_context: Any) -> None:
    r1 = report(1, on_hand=10, quality_hold=0, in_transit=0, as_of="2026-11-23T07:00:00Z")
    r2 = report(2, on_hand=20, quality_hold=1, in_transit=5, as_of="2026-11-23T08:00:00Z")
    r3 = report(3, on_hand=30, quality_hold=2, in_transit=7, as_of="2026-11-23T09:00:00Z")

    deliver(hub, lambda_context, r3)
    after_r3 = raw_item(hub)
    deliver(hub, lambda_context, r2)
    deliver(hub, lambda_context, r1)

    assert raw_item(hub) == after_r3
    assert without_stamp(position(hub)) == expected_fields(r3)
    assert hub.depth(QUEUE) == 0


def test_reserved_set_by_hub_survives_new_report(hub: Hub, lambda_context: Any) -> None:
    from inventory.repository import release_op, reserve_op
    from synchub_core import ddb

    deliver(hub, lambda_context, report(1, on_hand=120, quality_hold=5))
    ddb.transact([reserve_op(SKU, LOCATION, 30)])  # what the reservation worker does
    assert position(hub)["reserved"] == 30 and position(hub)["available"] == 85

    newer = report(2, on_hand=100, quality_hold=10, in_transit=0)
    deliver(hub, lambda_context, newer)
    item = position(hub)
    assert item["reserved"] == 30
    assert item["available"] == 100 - 30 - 10
    assert without_stamp(item) == expected_fields(newer, reserved=30)

    # a report below what is reserved leaves the hub's reservation intact; available goes negative
    # (oversold) until releases or a recount catch up - planners skip positions with available <= 0
    shrink = report(3, on_hand=20, quality_hold=0, in_transit=0)
    deliver(hub, lambda_context, shrink)
    item = position(hub)
    assert item["reserved"] == 30 and item["available"] == -10

    ddb.transact([release_op(SKU, LOCATION, 30)])
    item = position(hub)
    assert item["reserved"] == 0 and item["available"] == 20


def test_mixed_batch_refuses_exactly_the_bad_messages(hub: Hub, lambda_context: Any) -> None:
    # an existing position a bad record will try (and fail) to overwrite
    deliver(hub, lambda_context, report(1, location_id="UTR-X01", on_hand=50, quality_hold=0))
    untouched = raw_item(hub, SKU, "UTR-X01")

    good_a = report(7, location_id="UTR-A01", on_hand=60, quality_hold=4, in_transit=1)
    good_b = report(3, sku="YEAST-DRY-500G", location_id="UTR-B02", on_hand=200, quality_hold=0, in_transit=0)
    negative = report(2, location_id="UTR-X01", on_hand=-1, quality_hold=0)
    hold_too_big = report(2, location_id="UTR-X01", on_hand=10, quality_hold=11)
    missing = report(1, location_id="UTR-C03")
    del missing["data"]["on_hand"]
    malformed = json.dumps(report(1, location_id="UTR-D04"))[:-10]  # truncated JSON
    wrong_type = report(1, location_id="UTR-E05", event_type="ShipmentConfirmed")

    send(hub, good_a, negative, hold_too_big, good_b, missing, malformed, wrong_type)
    result = drain(hub, lambda_context)

    assert result["delivered"] == 7
    # the bad ones can never succeed: dead-lettered at once with the reason, no retries spent
    assert result["batchItemFailures"] == []
    assert hub.depth(QUEUE) == 0
    reasons = refused(hub)
    assert reasons == {
        json.dumps(negative): "invalid PositionReport: on_hand: Input should be greater than or equal to 0",
        json.dumps(hold_too_big): "invalid PositionReport: quality_hold cannot exceed on_hand",
        json.dumps(missing): "invalid PositionReport: on_hand: Field required",
        malformed: reasons[malformed],
        json.dumps(wrong_type): f"the inventory queue does not take ShipmentConfirmed (event {wrong_type['event_id']})",
    }
    assert reasons[malformed].startswith("not JSON: ")
    # the valid ones are applied and deleted
    assert without_stamp(position(hub, SKU, "UTR-A01")) == expected_fields(good_a)
    assert without_stamp(position(hub, "YEAST-DRY-500G", "UTR-B02")) == expected_fields(good_b)
    # the bad ones wrote nothing
    assert raw_item(hub, SKU, "UTR-X01") == untouched
    for loc in ("UTR-C03", "UTR-D04", "UTR-E05"):
        assert raw_item(hub, SKU, loc) is None
    assert len(all_items(hub)) == 3


@pytest.mark.parametrize(
    "bad, reason",
    [
        pytest.param(lambda: report(1, on_hand=-5, quality_hold=0), "on_hand: Input should be", id="negative-on-hand"),
        pytest.param(lambda: report(1, on_hand=3, quality_hold=4), "cannot exceed on_hand", id="hold-exceeds-on-hand"),
        pytest.param(
            lambda: {k: v for k, v in report(1).items() if k != "sequence"},
            "invalid EventEnvelope: sequence: Field required",
            id="missing-sequence",
        ),
        pytest.param(
            lambda: report(1) | {"data": {**report(1)["data"], "reserved": 3}},
            "reserved: Extra inputs are not permitted",
            id="wms-sends-reserved",
        ),
        pytest.param(
            lambda: report(1, location_id="utr a01"), "location_id: String should match", id="bad-location-id"
        ),
        pytest.param(lambda: "{not json", "not JSON: ", id="malformed-json"),
        pytest.param(
            lambda: report(1, event_type="OrderAccepted"), "does not take OrderAccepted", id="wrong-event-type"
        ),
        pytest.param(
            lambda: sample("eventbridge-shipment-confirmed.json") | {"detail": report(1)},
            "EventBridge event on a directly fed queue",
            id="wrapped-in-an-eventbridge-event",
        ),
    ],
)
def test_bad_record_alone_is_refused_and_writes_nothing(hub: Hub, lambda_context: Any, bad: Any, reason: str) -> None:
    body = bad()
    send(hub, body)
    messages = hub.receive(QUEUE)
    assert len(messages) == 1
    # refused, not failed: the batch succeeds and the message is not retried
    assert handler(hub)(hub.sqs_event(QUEUE, messages), lambda_context) == {"batchItemFailures": []}
    assert all_items(hub) == []
    (dead,) = hub.receive(DLQ)
    assert dead["Body"] == messages[0]["Body"]
    assert reason in dead["MessageAttributes"][REASON]["StringValue"]
    assert dead["MessageAttributes"]["synchub-refused-by"]["StringValue"].startswith("inventory")
    assert dead["MessageAttributes"]["synchub-source-queue"]["StringValue"] == hub.dep.queues[QUEUE]["arn"]


def test_direct_event_batch_reports_failures_by_message_id(
    hub: Hub, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler alone, on a hand-built SQS event: a refused record is dead-lettered and counts
    as handled; one that fails for now (here: contention) is reported by its messageId."""
    from inventory import repository

    good = report(10, on_hand=40, quality_hold=0, in_transit=0)
    bad = report(11, on_hand=4, quality_hold=5)
    busy = report(12, location_id="UTR-BUSY")
    real_write = repository.write_report

    def write(report: Any, *args: Any) -> bool:
        return False if report.location_id == "UTR-BUSY" else real_write(report, *args)  # always outraced

    monkeypatch.setattr(repository, "write_report", write)
    event = hub.sqs_event(
        QUEUE,
        [
            {"MessageId": "m-good", "ReceiptHandle": "rh-1", "Body": json.dumps(good)},
            {"MessageId": "m-bad", "ReceiptHandle": "rh-2", "Body": json.dumps(bad)},
            {"MessageId": "m-busy", "ReceiptHandle": "rh-3", "Body": json.dumps(busy)},
        ],
    )
    assert handler(hub)(event, lambda_context) == {"batchItemFailures": [{"itemIdentifier": "m-busy"}]}
    assert [m["Body"] for m in hub.receive(DLQ)] == [json.dumps(bad)]  # refused; the busy one is retried
    assert without_stamp(position(hub)) == expected_fields(good)
    assert raw_item(hub, SKU, "UTR-BUSY") is None


def test_reports_only_from_a_registered_site_about_its_own_locations(hub: Hub, lambda_context: Any) -> None:
    own = report(1, location_id="UTR-A01")
    old_spelling = report(2, location_id="UTR-A02") | {"source_system": "wms-utrecht"}
    unknown_site = report(3, location_id="UTR-A03") | {"source_system": "wms.eindhoven"}
    not_a_site = report(4, location_id="UTR-A04") | {"source_system": "synchub.orders"}
    others_location = report(5, location_id="TLB-A01")  # wms.utrecht about a Tilburg location
    tilburg = report(6, location_id="TLB-A01") | {"source_system": "wms.tilburg"}
    deliver(hub, lambda_context, own, old_spelling, unknown_site, not_a_site, others_location, tilburg)

    assert hub.depth(QUEUE) == 0
    assert {(i["location_id"]["S"], i["wms_sequence"]["N"]) for i in all_items(hub)} == {
        ("UTR-A01", "1"),
        ("TLB-A01", "6"),
    }
    registered = "registered: wms.tilburg, wms.utrecht"
    assert refused(hub) == {
        json.dumps(old_spelling): f"inventory report {old_spelling['event_id']} from source_system 'wms-utrecht': "
        f"not a registered warehouse site (the site is spelled wms.utrecht); {registered}",
        json.dumps(unknown_site): f"inventory report {unknown_site['event_id']} from source_system 'wms.eindhoven': "
        f"not a registered warehouse site; {registered}",
        json.dumps(not_a_site): f"inventory report {not_a_site['event_id']} from source_system 'synchub.orders': "
        f"not a registered warehouse site; {registered}",
        json.dumps(others_location): f"inventory report {others_location['event_id']} from wms.utrecht names "
        "location TLB-A01, which is not one of its own: wms.utrecht reports only locations starting with UTR-",
    }


@pytest.mark.parametrize(
    "warehouses, problem",
    [
        (None, "WAREHOUSES is not set on this function"),
        ("", "WAREHOUSES is not set on this function"),
        ("{not json", "WAREHOUSES is not JSON"),
        ('["wms.utrecht"]', "WAREHOUSES is not a JSON object of sites"),
        ('{"utrecht": {"warehouse_id": "UTR", "location_prefix": "UTR-"}}', "site 'utrecht' is not spelled wms.<site>"),
        ('{"wms.utrecht": {"warehouse_id": "UTR"}}', "site wms.utrecht needs a warehouse_id and a location_prefix"),
        (
            '{"wms.a": {"warehouse_id": "UTR", "location_prefix": "UTR-"}, '
            '"wms.b": {"warehouse_id": "UTR2", "location_prefix": "UTR-2"}}',
            "location prefix 'UTR-' of wms.a also covers wms.b's 'UTR-2'",
        ),
    ],
)
def test_without_a_usable_site_registry_every_report_is_refused(
    hub: Hub, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, warehouses: str | None, problem: str
) -> None:
    """A misconfigured worker does not take whatever comes: it refuses, saying why (replayable
    once the stack is fixed)."""
    from inventory.handler import lambda_handler

    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", hub.queue(DLQ))
    if warehouses is None:
        monkeypatch.delenv("WAREHOUSES", raising=False)
    else:
        monkeypatch.setenv("WAREHOUSES", warehouses)
    send(hub, report(1))
    assert hub.run_worker(QUEUE, lambda_handler, lambda_context)["batchItemFailures"] == []
    assert all_items(hub) == []
    (reason,) = refused(hub).values()
    assert reason == (
        f"warehouse site registry unavailable: {problem}; warehouse events are refused until the stack "
        "sets WAREHOUSES (cdk.json context synchub:warehouses)"
    )


# --------------------------------------------------------------------------------------------------

_examples = itertools.count()


@st.composite
def report_streams(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[int]]:
    """Distinct-sequence reports for one position, and a delivery order: every report at least once,
    some redelivered, shuffled."""
    sequences = draw(st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=6, unique=True))
    reports = []
    for seq in sequences:
        on_hand = draw(st.integers(min_value=0, max_value=10_000))
        hold = draw(st.integers(min_value=0, max_value=on_hand))
        transit = draw(st.integers(min_value=0, max_value=10_000))
        reports.append(
            report(
                seq, on_hand=on_hand, quality_hold=hold, in_transit=transit, as_of=f"2026-11-23T07:{seq % 60:02d}:00Z"
            )
        )
    duplicates = draw(st.lists(st.integers(min_value=0, max_value=len(reports) - 1), max_size=6))
    order = draw(st.permutations(list(range(len(reports))) + duplicates))
    return reports, order


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=report_streams(), batch_size=st.integers(min_value=1, max_value=10))
def test_any_delivery_order_converges_on_highest_sequence(
    hub: Hub, lambda_context: Any, stream: tuple[list[dict[str, Any]], list[int]], batch_size: int
) -> None:
    lambda_handler = handler(hub)
    reports, order = stream
    # a position of its own per example: the hub fixture (and its tables) lives across examples
    location = f"UTR-PROP-{next(_examples)}"
    for r in reports:
        r["data"]["location_id"] = location
        r["entity_id"] = f"{SKU}@{location}"

    messages = [
        {"MessageId": f"m-{n}", "ReceiptHandle": f"rh-{n}", "Body": json.dumps(reports[i])} for n, i in enumerate(order)
    ]
    for start in range(0, len(messages), batch_size):
        result = lambda_handler(hub.sqs_event(QUEUE, messages[start : start + batch_size]), lambda_context)
        assert result["batchItemFailures"] == []

    newest = max(reports, key=lambda r: r["sequence"])
    assert without_stamp(position(hub, SKU, location)) == expected_fields(newest)
