"""Backorders are tried again on a schedule and reserved once stock allows (oldest first, without
head-of-line blocking); nothing changes while stock is still short."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from helpers import Hub
from helpers.reservation import FLOUR, YEAST, accept, order, outbox, positions, publish_and_run, stock


def backordered(hub: Hub, ctx: Any, lines: list[tuple[str, int]]) -> str:
    time.sleep(0.002)  # backorder times have millisecond resolution: keep the test's order unambiguous
    order_id = accept(lines)
    assert publish_and_run(hub, ctx)["batchItemFailures"] == []
    assert order(order_id).state.value == "BACKORDERED"
    return order_id


def sweep() -> dict[str, int]:
    from reservation.logic import sweep_backorders

    return sweep_backorders(causation_id="schedule:test")


def open_backorders() -> list[str]:
    from reservation.repository import open_backorders as query

    return query(100)


def snapshot(hub: Hub) -> tuple[list[Any], list[Any]]:
    def scan(t: str) -> list[Any]:
        return sorted(
            hub.ddb.scan(TableName=t, ConsistentRead=True)["Items"],
            key=lambda i: (i["pk"]["S"], i["sk"]["S"]),
        )

    return scan(hub.orders_table), scan(hub.inventory_table)


def test_backorder_is_reserved_once_stock_arrives(hub: Hub, lambda_context: Any) -> None:
    order_id = backordered(hub, lambda_context, [(FLOUR, 4)])
    assert open_backorders() == [order_id]
    before = snapshot(hub)
    assert sweep() == {"tried": 1, "reserved": 0, "still_backordered": 1}
    assert snapshot(hub) == before  # still short: no write, no event

    stock(FLOUR, "UTR-A01", 6)
    assert sweep() == {"tried": 1, "reserved": 1, "still_backordered": 0}
    o = order(order_id)
    assert o.state.value == "RESERVED" and o.version == 3
    assert [h.state.value for h in o.history] == ["SUBMITTED", "ACCEPTED", "BACKORDERED", "RESERVED"]
    assert o.history[-1].reason.endswith("after stock arrived")
    assert [(a.sku, a.location_id, a.quantity) for a in o.allocations] == [(FLOUR, "UTR-A01", 4)]
    pos = positions(hub)[(FLOUR, "UTR-A01")]
    assert (pos["reserved"], pos["available"]) == (4, 2)
    (reserved,) = outbox(hub, "OrderReserved")
    assert reserved["event"]["entity_id"] == order_id and reserved["event"]["sequence"] == 3
    assert reserved["event"]["causation_id"] == "schedule:test"
    # it left the index, and another sweep changes nothing
    assert open_backorders() == []
    after = snapshot(hub)
    assert sweep() == {"tried": 0, "reserved": 0, "still_backordered": 0}
    assert snapshot(hub) == after


def test_oldest_first_without_head_of_line_blocking(hub: Hub, lambda_context: Any) -> None:
    big = backordered(hub, lambda_context, [(YEAST, 50)])
    small = backordered(hub, lambda_context, [(YEAST, 5)])
    later = backordered(hub, lambda_context, [(YEAST, 5)])
    assert open_backorders() == [big, small, later]
    stock(YEAST, "UTR-B01", 8)
    assert sweep() == {"tried": 3, "reserved": 1, "still_backordered": 2}
    # the big one cannot be served; the oldest of the small ones gets the stock, not the youngest
    assert [order(o).state.value for o in (big, small, later)] == ["BACKORDERED", "RESERVED", "BACKORDERED"]
    assert open_backorders() == [big, later]


def test_concurrent_sweeps_reserve_an_order_once(hub: Hub, lambda_context: Any) -> None:
    order_id = backordered(hub, lambda_context, [(FLOUR, 4)])
    stock(FLOUR, "UTR-A01", 4)
    results: list[dict[str, int]] = []
    threads = [threading.Thread(target=lambda: results.append(sweep())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["reserved"] for r in results) == 1
    assert order(order_id).state.value == "RESERVED"
    assert positions(hub)[(FLOUR, "UTR-A01")]["reserved"] == 4
    assert len(outbox(hub, "OrderReserved")) == 1


def test_scheduled_handler_reports_what_it_did(hub: Hub, lambda_context: Any) -> None:
    from reservation.handler import backorder_handler

    order_id = backordered(hub, lambda_context, [(FLOUR, 2)])
    stock(FLOUR, "UTR-A02", 2)
    event = {"version": "0", "id": "sched-1", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
    assert backorder_handler(event, lambda_context) == {"tried": 1, "reserved": 1, "still_backordered": 0}
    (reserved,) = outbox(hub, "OrderReserved")
    assert reserved["event"]["causation_id"] == "schedule:sched-1"
    assert order(order_id).state.value == "RESERVED"


def test_a_backordered_orders_shipment_waits_for_its_reservation(hub: Hub, lambda_context: Any) -> None:
    """The hold rule: a shipment for a BACKORDERED order is held (never invoiced without consuming
    stock); once stock arrives and the backorder is reserved, the shipment invoices it."""
    import pytest

    from helpers import sample
    from invoicing.logic import ShipmentHeld, issue
    from synchub_core.envelope import EventEnvelope

    order_id = backordered(hub, lambda_context, [(FLOUR, 4), (YEAST, 10)])
    shipment = sample("eventbridge-shipment-confirmed.json")["detail"]
    shipment["data"]["order_id"] = order_id
    before = snapshot(hub)
    with pytest.raises(ShipmentHeld, match="BACKORDERED"):
        issue(EventEnvelope.model_validate(shipment))
    assert snapshot(hub) == before  # held: nothing written
    assert open_backorders() == [order_id]

    stock(FLOUR, "UTR-A01", 3)  # the sample shipment picks 3 + 1 flour at A01 / A02 and 10 yeast at B01
    stock(FLOUR, "UTR-A02", 1)
    stock(YEAST, "UTR-B01", 10)
    assert sweep()["reserved"] == 1
    assert open_backorders() == []  # reserved: the backorder is closed
    assert issue(EventEnvelope.model_validate(shipment)).created
    stored = order(order_id)
    assert stored.state.value == "INVOICED" and stored.shipped == {FLOUR: 4, YEAST: 10}
    after = positions(hub)
    for key in ((FLOUR, "UTR-A01"), (FLOUR, "UTR-A02"), (YEAST, "UTR-B01")):
        assert (after[key]["on_hand"], after[key]["reserved"], after[key]["available"]) == (0, 0, 0)


def test_replaying_the_backorder_dlq_runs_the_sweep(hub: Hub, lambda_context: Any) -> None:
    from synchub import replay
    from synchub.environment import HubEnvironment

    order_id = backordered(hub, lambda_context, [(FLOUR, 1)])
    stock(FLOUR, "UTR-A01", 1)
    dlq = "WorkersBackorderDeadLetterQueue"
    hub.sqs.send_message(QueueUrl=hub.queue(dlq), MessageBody=json.dumps({"detail-type": "Scheduled Event"}))
    env = HubEnvironment(
        endpoint=None,
        region="eu-west-1",
        queues={k: v["url"] for k, v in hub.dep.queues.items()},
        tables=hub.dep.tables,
        event_bus=hub.dep.bus_name,
    )
    report = replay.replay(env, dlq)
    assert (report.target, report.moved, report.swept) == ("backorders", 1, 1)
    assert str(report) == f"{dlq}: 1 DLQ record(s) cleared, 1 backordered order(s) reserved"
    assert order(order_id).state.value == "RESERVED"
    assert replay.replay(env, dlq).moved == 0
