"""OrderAccepted -> reservation worker: every line reserved (RESERVED) or none (BACKORDERED).

Orders are created through ``orders.logic.accept``, stock is seeded through
``inventory.repository.apply_report``; ``hub.publish_outbox()`` pushes OrderAccepted to
EventBridge, whose rule delivers it to WorkersReservationWorkerQueue, and ``hub.run_worker``
plays the Lambda SQS poller.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
from conftest import Hub, sample

QUEUE = "WorkersReservationWorkerQueue"
DLQ = "WorkersReservationWorkerDeadLetterQueue"
FLOUR = "FLOUR-T55-25KG"
YEAST = "YEAST-DRY-500G"


# ---------------------------------------------------------------------------------------- helpers


def order_body(lines: list[tuple[str, int]] | None = None) -> dict[str, Any]:
    """The sample order (FLOUR x4, YEAST x10) with a unique channel ref, optionally other lines."""
    body = sample("api-post-order.json")
    body["channel_order_ref"] = f"{body['channel_order_ref']}-{uuid.uuid4().hex[:8]}"
    if lines is not None:
        template = body["lines"][0]
        body["lines"] = [
            {**template, "line_id": str(n + 1), "sku": sku, "quantity": qty} for n, (sku, qty) in enumerate(lines)
        ]
    return body


def accept(lines: list[tuple[str, int]] | None = None) -> str:
    from orders.logic import accept as accept_order
    from orders.models import OrderIn

    body = order_body(lines)
    result = accept_order(OrderIn.model_validate(body), f"idem-{uuid.uuid4().hex}", body["channel_order_ref"])
    assert result.created and result.state == "ACCEPTED"
    return result.order_id


def stock(sku: str, location_id: str, on_hand: int, quality_hold: int = 0, sequence: int = 1) -> None:
    from inventory.logic import apply_report
    from inventory.models import PositionReport

    report = PositionReport(
        sku=sku,
        location_id=location_id,
        on_hand=on_hand,
        quality_hold=quality_hold,
        in_transit=0,
        as_of="2026-11-23T07:45:00Z",
    )
    assert apply_report(report, sequence, str(uuid.uuid4()))


def position(sku: str, location_id: str) -> dict[str, Any] | None:
    from inventory.repository import position_key
    from synchub_core import ddb
    from synchub_core.config import settings

    return ddb.get(settings().inventory_table, position_key(sku, location_id))


def positions(hub: Hub) -> dict[tuple[str, str], dict[str, Any]]:
    from synchub_core.ddb import from_ddb

    items = (from_ddb(i) for i in hub.ddb.scan(TableName=hub.inventory_table, ConsistentRead=True)["Items"])
    return {(i["sku"], i["location_id"]): i for i in items}


def order(order_id: str) -> Any:
    from orders.repository import read

    found = read(order_id)
    assert found is not None
    return found


def outbox(hub: Hub, event_type: str | None = None) -> list[dict[str, Any]]:
    """Outbox items (deserialized) with their envelope parsed into ``event``."""
    from synchub_core.ddb import from_ddb

    items = [
        from_ddb(i)
        for i in hub.ddb.scan(TableName=hub.orders_table, ConsistentRead=True)["Items"]
        if i["pk"]["S"].startswith("OUTBOX#")
    ]
    for i in items:
        i["event"] = json.loads(i["detail"])
    return [i for i in items if event_type is None or i["detail_type"] == event_type]


def accepted_event(hub: Hub, order_id: str) -> dict[str, Any]:
    (item,) = [i for i in outbox(hub, "OrderAccepted") if i["event"]["entity_id"] == order_id]
    return item["event"]


def run(hub: Hub, ctx: Any) -> dict[str, Any]:
    from reservation.handler import lambda_handler

    return hub.run_worker(QUEUE, lambda_handler, ctx)


def publish_and_run(hub: Hub, ctx: Any, expect_published: int | None = None) -> dict[str, Any]:
    published = hub.publish_outbox()
    if expect_published is not None:
        assert published == expect_published
    return run(hub, ctx)


def receive_once(hub: Hub, name: str = QUEUE) -> list[dict[str, Any]]:
    """One ReceiveMessage call with VisibilityTimeout=0: the messages are visible again at once
    (``hub.receive`` keeps polling, which with a zero timeout returns the same message again)."""
    return hub.sqs.receive_message(
        QueueUrl=hub.queue(name), MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"]
    ).get("Messages", [])


def send_envelope(hub: Hub, envelope: dict[str, Any]) -> str:
    """Put an envelope on the reservation queue the way the EventBridge rule target does."""
    body = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": envelope["event_type"],
        "source": "synchub.orders",
        "account": "123456789012",
        "time": "2026-11-23T08:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": envelope,
    }
    return hub.sqs.send_message(QueueUrl=hub.queue(QUEUE), MessageBody=json.dumps(body))["MessageId"]


def fake_accepted(order_id: str, event_type: str = "OrderAccepted") -> dict[str, Any]:
    data = order_body()
    data["order_id"] = order_id
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "event_version": "1",
        "occurred_at": "2026-11-23T08:00:00.000Z",
        "correlation_id": "test",
        "causation_id": None,
        "source_system": "synchub.orders",
        "entity_id": order_id,
        "sequence": 1,
        "data": data,
    }


# ------------------------------------------------------------------------------------------ tests


def test_enough_stock_reserves_every_line(hub: Hub, lambda_context: Any) -> None:
    from reservation.logic import ORDER_RESERVED

    stock(FLOUR, "UTR-A01", on_hand=120, quality_hold=5)
    stock(YEAST, "UTR-B01", on_hand=30)
    order_id = accept()  # FLOUR x4, YEAST x10
    before = positions(hub)

    result = publish_and_run(hub, lambda_context, expect_published=1)

    assert result["delivered"] == 1 and result["batchItemFailures"] == []
    assert hub.depth(QUEUE) == 0 and hub.depth(DLQ) == 0
    after = positions(hub)
    flour, yeast = after[(FLOUR, "UTR-A01")], after[(YEAST, "UTR-B01")]
    assert (flour["reserved"], flour["available"]) == (4, 115 - 4)
    assert (yeast["reserved"], yeast["available"]) == (10, 30 - 10)
    for key in after:  # only reserved / available moved; what the WMS owns is untouched
        assert {k: v for k, v in after[key].items() if k not in ("reserved", "available")} == {
            k: v for k, v in before[key].items() if k not in ("reserved", "available")
        }

    stored = order(order_id)
    assert stored.state.value == "RESERVED" and stored.version == 2
    assert sorted((a.sku, a.location_id, a.quantity) for a in stored.allocations) == [
        (FLOUR, "UTR-A01", 4),
        (YEAST, "UTR-B01", 10),
    ]
    assert [h.state.value for h in stored.history] == ["SUBMITTED", "ACCEPTED", "RESERVED"]

    accepted = accepted_event(hub, order_id)
    (reserved,) = outbox(hub, ORDER_RESERVED)
    event = reserved["event"]
    assert reserved["outbox_status"] == "PENDING"
    assert event["event_type"] == "OrderReserved"
    assert event["entity_id"] == order_id
    assert event["sequence"] == 2
    assert event["causation_id"] == accepted["event_id"]
    assert event["correlation_id"] == accepted["correlation_id"]
    assert event["data"]["order_id"] == order_id
    assert sorted((a["sku"], a["location_id"], a["quantity"]) for a in event["data"]["allocations"]) == [
        (FLOUR, "UTR-A01", 4),
        (YEAST, "UTR-B01", 10),
    ]
    assert stored.history[-1].event_id == event["event_id"]


def test_shortage_on_any_line_backorders_whole_order(hub: Hub, lambda_context: Any) -> None:
    from reservation.logic import ORDER_BACKORDERED, ORDER_RESERVED

    stock(FLOUR, "UTR-A01", on_hand=100)  # plenty for line 1
    stock(YEAST, "UTR-B01", on_hand=6, quality_hold=1)  # available 5 < 10 for line 2
    stock(YEAST, "UTR-B02", on_hand=2)  # available 2: still 7 < 10
    order_id = accept()
    before = positions(hub)

    result = publish_and_run(hub, lambda_context)

    assert result["batchItemFailures"] == [] and hub.depth(QUEUE) == 0
    assert positions(hub) == before  # nothing reserved anywhere, not even for the line that fits
    stored = order(order_id)
    assert stored.state.value == "BACKORDERED" and stored.version == 2
    assert stored.allocations == []
    assert outbox(hub, ORDER_RESERVED) == []
    (backordered,) = outbox(hub, ORDER_BACKORDERED)
    event = backordered["event"]
    assert event["entity_id"] == order_id and event["sequence"] == 2
    assert event["causation_id"] == accepted_event(hub, order_id)["event_id"]
    assert event["data"] == {"order_id": order_id, "shortages": [{"sku": YEAST, "requested": 10, "available": 7}]}


def test_unknown_sku_backorders(hub: Hub, lambda_context: Any) -> None:
    from reservation.logic import ORDER_BACKORDERED

    stock(FLOUR, "UTR-A01", on_hand=100)
    order_id = accept([(FLOUR, 1), ("NEVER-STOCKED", 1)])
    publish_and_run(hub, lambda_context)
    assert order(order_id).state.value == "BACKORDERED"
    assert positions(hub)[(FLOUR, "UTR-A01")]["reserved"] == 0
    (backordered,) = outbox(hub, ORDER_BACKORDERED)
    assert backordered["event"]["data"]["shortages"] == [{"sku": "NEVER-STOCKED", "requested": 1, "available": 0}]


def test_stock_split_across_two_locations_is_allocated_from_both(hub: Hub, lambda_context: Any) -> None:
    stock(FLOUR, "UTR-A01", on_hand=3)
    stock(FLOUR, "UTR-A02", on_hand=5, quality_hold=1)  # available 4: the fuller one goes first
    stock(FLOUR, "UTR-A03", on_hand=1)
    order_id = accept([(FLOUR, 6)])

    publish_and_run(hub, lambda_context)

    stored = order(order_id)
    assert stored.state.value == "RESERVED"
    assert sorted((a.location_id, a.quantity) for a in stored.allocations) == [("UTR-A01", 2), ("UTR-A02", 4)]
    after = positions(hub)
    assert (after[(FLOUR, "UTR-A02")]["reserved"], after[(FLOUR, "UTR-A02")]["available"]) == (4, 0)
    assert (after[(FLOUR, "UTR-A01")]["reserved"], after[(FLOUR, "UTR-A01")]["available"]) == (2, 1)
    assert (after[(FLOUR, "UTR-A03")]["reserved"], after[(FLOUR, "UTR-A03")]["available"]) == (0, 1)


def test_a_line_is_never_split_over_more_than_two_locations(hub: Hub, lambda_context: Any) -> None:
    for loc in ("UTR-A01", "UTR-A02", "UTR-A03"):
        stock(FLOUR, loc, on_hand=2)
    order_id = accept([(FLOUR, 5)])  # 6 units exist, but the best two locations hold only 4
    before = positions(hub)

    publish_and_run(hub, lambda_context)

    assert order(order_id).state.value == "BACKORDERED"
    assert positions(hub) == before
    (backordered,) = outbox(hub, "OrderBackordered")
    (shortage,) = backordered["event"]["data"]["shortages"]
    assert (shortage["sku"], shortage["requested"]) == (FLOUR, 5)
    assert shortage["available"] == 4  # what the allocation rule could give, not the 6 on the shelves


def test_duplicate_delivery_reserves_once(hub: Hub, lambda_context: Any) -> None:
    from reservation.logic import ORDER_RESERVED

    stock(FLOUR, "UTR-A01", on_hand=50)
    stock(YEAST, "UTR-B01", on_hand=50)
    order_id = accept()
    assert hub.publish_outbox() == 1
    (message,) = receive_once(hub)
    # EventBridge delivers at least once: a second SQS message with the very same body
    hub.sqs.send_message(QueueUrl=hub.queue(QUEUE), MessageBody=message["Body"])
    assert hub.depth(QUEUE) == 2

    result = run(hub, lambda_context)  # both copies in one batch

    assert result["delivered"] == 2 and result["batchItemFailures"] == []
    assert hub.depth(QUEUE) == 0
    after = positions(hub)
    assert after[(FLOUR, "UTR-A01")]["reserved"] == 4 and after[(FLOUR, "UTR-A01")]["available"] == 46
    assert after[(YEAST, "UTR-B01")]["reserved"] == 10 and after[(YEAST, "UTR-B01")]["available"] == 40
    assert order(order_id).version == 2
    assert len(outbox(hub, ORDER_RESERVED)) == 1


def test_publishing_twice_reserves_once(hub: Hub, lambda_context: Any) -> None:
    """The stream publisher and the sweeper both publish the same outbox item."""
    from reservation.logic import ORDER_RESERVED

    stock(FLOUR, "UTR-A01", on_hand=50)
    stock(YEAST, "UTR-B01", on_hand=50)
    order_id = accept()
    (accepted,) = outbox(hub, "OrderAccepted")
    assert hub.publish_outbox() == 1
    first = run(hub, lambda_context)
    assert first["delivered"] == 1 and order(order_id).state.value == "RESERVED"
    state_after_first = (positions(hub), order(order_id).model_dump(), outbox(hub, ORDER_RESERVED))

    # put the OrderAccepted outbox item back to pending (its publication was not recorded)
    hub.ddb.update_item(
        TableName=hub.orders_table,
        Key={"pk": {"S": accepted["pk"]}, "sk": {"S": "OUTBOX"}},
        UpdateExpression="SET outbox_status = :p",
        ExpressionAttributeValues={":p": {"S": "PENDING"}},
    )
    second = publish_and_run(hub, lambda_context, expect_published=2)  # OrderAccepted again + OrderReserved

    assert second["delivered"] == 1 and second["batchItemFailures"] == []
    assert hub.depth(QUEUE) == 0
    assert (positions(hub), order(order_id).model_dump(), outbox(hub, ORDER_RESERVED)[0]["event"]) == (
        state_after_first[0],
        state_after_first[1],
        state_after_first[2][0]["event"],
    )
    assert len(outbox(hub, ORDER_RESERVED)) == 1


def test_retry_after_crash_before_delete_emits_nothing_new(hub: Hub, lambda_context: Any) -> None:
    from reservation.handler import lambda_handler
    from reservation.logic import ORDER_RESERVED
    from synchub_core.envelope import deterministic_event_id

    stock(FLOUR, "UTR-A01", on_hand=50)
    stock(YEAST, "UTR-B01", on_hand=50)
    order_id = accept()
    hub.publish_outbox()

    # the transaction commits, then the invocation dies before the poller deletes the message
    messages = receive_once(hub)
    assert len(messages) == 1
    assert lambda_handler(hub.sqs_event(QUEUE, messages), lambda_context) == {"batchItemFailures": []}
    (reserved,) = outbox(hub, ORDER_RESERVED)
    # the event id derives from (order, version reserved from): any retry would compute the same one
    assert reserved["event_id"] == deterministic_event_id("reservation", order_id, "1")
    assert reserved["event"]["event_id"] == reserved["event_id"]
    snapshot = (positions(hub), hub.ddb.scan(TableName=hub.orders_table, ConsistentRead=True)["Items"])

    retry = run(hub, lambda_context)  # the message became visible again

    assert retry["delivered"] == 1 and retry["batchItemFailures"] == []
    assert hub.depth(QUEUE) == 0
    assert positions(hub) == snapshot[0]
    assert sorted(
        hub.ddb.scan(TableName=hub.orders_table, ConsistentRead=True)["Items"],
        key=lambda i: (i["pk"]["S"], i["sk"]["S"]),
    ) == sorted(snapshot[1], key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def test_replanning_after_losing_a_race_produces_same_event_id_scheme(
    hub: Hub, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reservation that loses its transaction re-reads and re-plans; its event id still derives
    from the version it read, so the outcome event of a retried attempt cannot be doubled."""
    from reservation import logic
    from synchub_core import ddb
    from synchub_core.envelope import EventEnvelope, deterministic_event_id

    stock(FLOUR, "UTR-A01", on_hand=5)
    loser, winner = accept([(FLOUR, 4)]), accept([(FLOUR, 4)])
    loser_event = EventEnvelope.model_validate(accepted_event(hub, loser))
    winner_event = EventEnvelope.model_validate(accepted_event(hub, winner))

    real_transact = ddb.transact
    calls: list[str] = []

    def interleaved(ops: Any) -> None:
        # the first attempt of `loser` planned on 5 available; `winner` commits in between
        if not calls:
            calls.append("winner")
            assert logic.reserve(winner_event).result == "RESERVED"
        calls.append("tx")
        real_transact(ops)

    monkeypatch.setattr(ddb, "transact", interleaved)
    outcome = logic.reserve(loser_event)

    assert outcome.result == "BACKORDERED"
    assert calls == ["winner", "tx", "tx", "tx"]  # winner's tx, loser's failed tx, loser's re-planned tx
    flour = position(FLOUR, "UTR-A01")
    assert (flour["reserved"], flour["available"]) == (4, 1)
    assert order(winner).state.value == "RESERVED" and order(loser).state.value == "BACKORDERED"
    (backordered,) = outbox(hub, "OrderBackordered")
    assert backordered["event_id"] == deterministic_event_id("reservation", loser, "1")
    assert backordered["event"]["data"]["shortages"] == [{"sku": FLOUR, "requested": 4, "available": 1}]


def test_two_orders_competing_for_last_units(hub: Hub, lambda_context: Any) -> None:
    stock(FLOUR, "UTR-A01", on_hand=6, quality_hold=1)  # available 5
    first, second = accept([(FLOUR, 4)]), accept([(FLOUR, 4)])

    result = publish_and_run(hub, lambda_context, expect_published=2)

    assert result["delivered"] == 2 and result["batchItemFailures"] == []
    states = sorted(order(o).state.value for o in (first, second))
    assert states == ["BACKORDERED", "RESERVED"]
    flour = position(FLOUR, "UTR-A01")
    assert (flour["reserved"], flour["available"]) == (4, 1)
    assert len(outbox(hub, "OrderReserved")) == 1 and len(outbox(hub, "OrderBackordered")) == 1


def test_concurrent_reservations_never_oversell(hub: Hub, lambda_context: Any) -> None:
    from reservation import logic
    from synchub_core.envelope import EventEnvelope

    stock(FLOUR, "UTR-A01", on_hand=10)
    stock(FLOUR, "UTR-A02", on_hand=3)
    order_ids = [accept([(FLOUR, 3)]) for _ in range(6)]  # 18 wanted, 13 available
    envelopes = [EventEnvelope.model_validate(accepted_event(hub, o)) for o in order_ids]
    barrier = threading.Barrier(len(envelopes))
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def worker(env: EventEnvelope) -> None:
        try:
            barrier.wait()
            results[env.entity_id] = logic.reserve(env).result
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(e,)) for e in envelopes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    reserved = [o for o in order_ids if results[o] == "RESERVED"]
    assert all(results[o] in ("RESERVED", "BACKORDERED") for o in order_ids)
    after = positions(hub)
    total_reserved = sum(p["reserved"] for p in after.values())
    assert total_reserved == 3 * len(reserved)
    assert all(p["available"] >= 0 for p in after.values())
    assert all(p["available"] == p["on_hand"] - p["reserved"] - p["quality_hold"] for p in after.values())
    # 13 units fit four orders of 3 (one split over both locations); the rest backorder
    assert len(reserved) == 4
    allocated = sum(a.quantity for o in reserved for a in order(o).allocations)
    assert allocated == total_reserved == 12
    assert len(outbox(hub, "OrderReserved")) == 4 and len(outbox(hub, "OrderBackordered")) == 2


def test_unknown_order_is_a_batch_item_failure(hub: Hub, lambda_context: Any) -> None:
    stock(FLOUR, "UTR-A01", on_hand=50)
    stock(YEAST, "UTR-B01", on_hand=50)
    good = accept()
    hub.publish_outbox()
    ghost = send_envelope(hub, fake_accepted("ord_doesnotexist"))
    before = positions(hub)

    result = run(hub, lambda_context)

    assert result["delivered"] == 2
    assert result["batchItemFailures"] == [{"itemIdentifier": ghost}]
    assert order(good).state.value == "RESERVED"
    assert hub.depth(QUEUE) == 1  # left for the redrive policy
    assert positions(hub)[(FLOUR, "UTR-A01")]["reserved"] == before[(FLOUR, "UTR-A01")]["reserved"] + 4
    from orders.repository import load

    assert load("ord_doesnotexist") is None
    assert [i["event"]["entity_id"] for i in outbox(hub, "OrderReserved")] == [good]
    assert outbox(hub, "OrderBackordered") == []


def test_wrong_event_type_is_a_batch_item_failure(hub: Hub, lambda_context: Any) -> None:
    stock(FLOUR, "UTR-A01", on_hand=50)
    stock(YEAST, "UTR-B01", on_hand=50)
    good = accept()
    assert hub.publish_outbox() == 1
    other = accept()  # its own OrderAccepted stays unpublished in the outbox
    # a real order, but the wrong event: the worker must not reserve for it
    wrong = send_envelope(hub, fake_accepted(other, event_type="OrderCancelled"))
    malformed = hub.sqs.send_message(QueueUrl=hub.queue(QUEUE), MessageBody="{not json")["MessageId"]

    result = run(hub, lambda_context)

    assert result["delivered"] == 3
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == sorted([wrong, malformed])
    assert hub.depth(QUEUE) == 2
    assert order(good).state.value == "RESERVED"
    assert order(other).state.value == "ACCEPTED" and order(other).version == 1
    assert positions(hub)[(FLOUR, "UTR-A01")]["reserved"] == 4


def test_repeated_failures_end_in_dead_letter_queue(hub: Hub, lambda_context: Any) -> None:
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from reservation.handler import lambda_handler

    queue_url = hub.queue(QUEUE)
    attrs = hub.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 5
    assert redrive["deadLetterTargetArn"] == hub.dep.queues[DLQ]["arn"]

    ghost = send_envelope(hub, fake_accepted("ord_doesnotexist"))
    receives = 0
    while True:
        got = receive_once(hub)
        if not got:
            break
        receives += 1
        assert receives <= 5, "the message outlived maxReceiveCount"
        assert [m["MessageId"] for m in got] == [ghost]
        assert int(got[0]["Attributes"]["ApproximateReceiveCount"]) == receives
        with pytest.raises(BatchProcessingError):  # the whole (one-message) batch failed
            lambda_handler(hub.sqs_event(QUEUE, got), lambda_context)
        # not deleted: with VisibilityTimeout=0 it is visible again at once

    assert receives == 5
    assert hub.depth(QUEUE) == 0
    (dead,) = hub.receive(DLQ)
    assert dead["MessageId"] == ghost
    assert json.loads(dead["Body"])["detail"]["entity_id"] == "ord_doesnotexist"
    assert outbox(hub) == []


def test_order_no_longer_accepted_is_ignored(hub: Hub, lambda_context: Any) -> None:
    """An OrderAccepted arriving after the order moved on (here: already reserved) changes nothing."""
    from reservation import logic
    from synchub_core.envelope import EventEnvelope

    stock(FLOUR, "UTR-A01", on_hand=50)
    order_id = accept([(FLOUR, 2)])
    env = EventEnvelope.model_validate(accepted_event(hub, order_id))
    assert logic.reserve(env).result == "RESERVED"
    snapshot = (positions(hub), order(order_id).model_dump(), len(outbox(hub)))
    outcome = logic.reserve(env)
    assert outcome.result == "IGNORED" and outcome.detail == {"state": "RESERVED"}
    assert (positions(hub), order(order_id).model_dump(), len(outbox(hub))) == snapshot
