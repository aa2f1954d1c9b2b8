"""OrderAccepted -> reservation worker: every line reserved (RESERVED) or none (BACKORDERED).

Orders are created through ``orders.logic.accept``, stock is seeded through
``inventory.repository.apply_report``; ``hub.publish_outbox()`` pushes OrderAccepted to
EventBridge, whose rule delivers it to WorkersReservationWorkerQueue, and ``hub.run_worker``
plays the Lambda SQS poller.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from helpers import Hub
from helpers.reservation import (
    DLQ,
    FLOUR,
    QUEUE,
    YEAST,
    accept,
    accepted_event,
    bus_event,
    fake_accepted,
    handler,
    order,
    order_body,
    outbox,
    position,
    positions,
    publish_and_run,
    receive_once,
    run,
    send_envelope,
    stock,
)


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
    from reservation.logic import ORDER_RESERVED
    from synchub_core.envelope import deterministic_event_id

    stock(FLOUR, "UTR-A01", on_hand=50)
    stock(YEAST, "UTR-B01", on_hand=50)
    order_id = accept()
    hub.publish_outbox()

    # the transaction commits, then the invocation dies before the poller deletes the message
    messages = receive_once(hub)
    assert len(messages) == 1
    assert handler(hub)(hub.sqs_event(QUEUE, messages), lambda_context) == {"batchItemFailures": []}
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


def refused(hub: Hub) -> dict[str, str]:
    """What the DLQ holds: body -> refusal reason (a refused message is a new SQS message there)."""
    return {
        m["Body"]: m["MessageAttributes"]["synchub-refusal-reason"]["StringValue"]
        for m in hub.receive(DLQ, max_messages=50)
    }


def test_wrong_event_type_and_malformed_messages_are_refused(hub: Hub, lambda_context: Any) -> None:
    stock(FLOUR, "UTR-A01", on_hand=50)
    stock(YEAST, "UTR-B01", on_hand=50)
    good = accept()
    assert hub.publish_outbox() == 1
    other = accept()  # its own OrderAccepted stays unpublished in the outbox
    # a real order, but the wrong event: the worker must not reserve for it
    wrong = fake_accepted(other, event_type="OrderCancelled")
    send_envelope(hub, wrong)
    hub.sqs.send_message(QueueUrl=hub.queue(QUEUE), MessageBody="{not json")

    result = run(hub, lambda_context)

    assert result["delivered"] == 3
    # they can never succeed: dead-lettered at once with the reason, not retried five times
    assert result["batchItemFailures"] == [] and hub.depth(QUEUE) == 0
    reasons = refused(hub)
    assert len(reasons) == 2 and reasons["{not json"].startswith("not JSON: ")
    (wrong_body,) = [b for b in reasons if b != "{not json"]
    assert json.loads(wrong_body)["detail"] == wrong
    assert reasons[wrong_body] == f"the reservation queue does not take OrderCancelled (event {wrong['event_id']})"
    assert order(good).state.value == "RESERVED"
    assert order(other).state.value == "ACCEPTED" and order(other).version == 1
    assert positions(hub)[(FLOUR, "UTR-A01")]["reserved"] == 4


def test_only_whole_eventbridge_events_from_the_orders_domain_are_taken(hub: Hub, lambda_context: Any) -> None:
    """The queue is fed by its rule only: a bare envelope (sent to the queue, bypassing the bus and
    its source check), another source, or a detail-type that is not the envelope's are refused."""
    stock(FLOUR, "UTR-A01", on_hand=50)
    stock(YEAST, "UTR-B01", on_hand=50)
    order_id = accept()
    envelope = accepted_event(hub, order_id)
    incomplete = bus_event(envelope)
    del incomplete["region"]
    bodies = {
        "bare": envelope,
        "other-source": bus_event(envelope, source="wms.utrecht"),
        "channel-source": bus_event(envelope, source="webshop-nl"),
        "detail-type": bus_event(envelope, **{"detail-type": "OrderReserved"}),
        "incomplete": incomplete,
        "list": [envelope],
    }
    for body in bodies.values():
        hub.sqs.send_message(QueueUrl=hub.queue(QUEUE), MessageBody=json.dumps(body))

    result = run(hub, lambda_context)

    assert result["delivered"] == len(bodies) and result["batchItemFailures"] == []
    event_id = envelope["event_id"]
    assert refused(hub) == {
        json.dumps(bodies["bare"]): f"bare message on a bus-fed queue: OrderAccepted {event_id} was sent "
        "straight to the queue; it takes only whole EventBridge events delivered by its rule",
        json.dumps(bodies["other-source"]): f"OrderAccepted {event_id} from source 'wms.utrecht': the reservation "
        "queue takes OrderAccepted only from synchub.orders",
        json.dumps(bodies["channel-source"]): f"OrderAccepted {event_id} from source 'webshop-nl': the reservation "
        "queue takes OrderAccepted only from synchub.orders",
        json.dumps(bodies["detail-type"]): "detail-type OrderReserved does not match the envelope's event_type "
        f"OrderAccepted (event {event_id})",
        json.dumps(bodies["incomplete"]): "not an EventBridge event: region missing",
        json.dumps(bodies["list"]): "not an EventBridge event: the body is a JSON list, not an object",
    }
    assert order(order_id).state.value == "ACCEPTED" and positions(hub)[(FLOUR, "UTR-A01")]["reserved"] == 0
    # the genuine delivery, from the bus, still reserves
    assert publish_and_run(hub, lambda_context, expect_published=1)["batchItemFailures"] == []
    assert order(order_id).state.value == "RESERVED"


def test_a_refusal_names_fields_not_the_customer(
    hub: Hub, lambda_context: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Reasons and logs carry ids and field names, never the values of an invalid order event."""
    from reservation.handler import pt

    envelope = fake_accepted("ord_pii") | {"sequence": -1, "occurred_at": "not a time"}
    send_envelope(hub, envelope)
    with caplog.at_level("INFO"):
        assert run(hub, lambda_context)["batchItemFailures"] == []
    (reason,) = refused(hub).values()
    assert reason == (
        "invalid BusEvent: detail.occurred_at: Input should be a valid datetime or date, invalid character in year; "
        "detail.sequence: Input should be greater than or equal to 0"
    )
    logged = "\n".join(pt.logger.registered_formatter.format(r) for r in caplog.records)
    assert '"message":"message refused"' in logged and reason in logged
    customer = envelope["data"]["customer"]
    for value in (customer["name"], customer["email"], envelope["data"]["ship_to"]["line1"]):
        assert value not in reason and value not in logged


def test_repeated_failures_end_in_dead_letter_queue(hub: Hub, lambda_context: Any) -> None:
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    lambda_handler = handler(hub)
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


def test_lots_are_reserved_first_expiring_first_within_the_channels_shelf_life(hub: Hub, lambda_context: Any) -> None:
    """FEFO over lot positions, never a lot that expires before the order's date plus its channel's
    minimum shelf life; the lot and its best-before date go with the allocation and the event."""
    from datetime import date, timedelta

    from orders.logic import accept as accept_order
    from orders.models import OrderIn
    from reservation.logic import ORDER_RESERVED

    today = date.today()
    soon, later, latest = (today + timedelta(days=d) for d in (5, 40, 90))
    stock(FLOUR, "UTR-A01", 10, lot="L-SOON", best_before=soon.isoformat())  # too short for 30 days
    stock(FLOUR, "UTR-A02", 3, lot="L-LATER", best_before=later.isoformat())
    stock(FLOUR, "UTR-A03", 10, lot="L-LATEST", best_before=latest.isoformat())
    stock(YEAST, "UTR-B01", 20)
    body = order_body()
    result = accept_order(OrderIn.model_validate(body), "idem-fefo-1", "corr-fefo", min_shelf_life_days=30)
    publish_and_run(hub, lambda_context)

    stored = order(result.order_id)
    assert stored.state.value == "RESERVED"
    assert sorted((a.sku, a.location_id, a.lot, a.best_before, a.quantity) for a in stored.allocations) == [
        (FLOUR, "UTR-A02", "L-LATER", later, 3),
        (FLOUR, "UTR-A03", "L-LATEST", latest, 1),
        (YEAST, "UTR-B01", None, None, 10),
    ]
    after = positions(hub)
    assert after[(FLOUR, "UTR-A01#L-SOON")]["reserved"] == 0  # short-dated: untouched
    assert after[(FLOUR, "UTR-A02#L-LATER")]["reserved"] == 3
    assert after[(FLOUR, "UTR-A03#L-LATEST")]["reserved"] == 1
    (reserved,) = outbox(hub, ORDER_RESERVED)
    assert sorted(
        (a["location_id"], a.get("lot"), a.get("best_before")) for a in reserved["event"]["data"]["allocations"]
    ) == [
        ("UTR-A02", "L-LATER", later.isoformat()),
        ("UTR-A03", "L-LATEST", latest.isoformat()),
        ("UTR-B01", None, None),
    ]
