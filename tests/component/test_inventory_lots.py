"""Inventory by lot, returns and ``StockAvailable`` against moto: lots reported through the WMS
queue's worker (each lot a position with its own version), the transaction items other domains
commit (``return_op``, ``ship_op`` with ``release``) racing WMS reports, and the ``StockAvailable``
event a report writes to the outbox, in its own transaction, when it makes stock available."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest

from helpers import Hub, sample
from helpers.reservation import deployed

QUEUE = "WorkersInventoryWorkerQueue"
DLQ = "WorkersInventoryWorkerDeadLetterQueue"
SAMPLE = sample("sqs-inventory-position-reported.json")
SKU = "MILK-UHT-1L"
LOC = "UTR-C01"
T0, T1, T2, T3 = (f"2026-11-23T{h:02d}:00:00.000Z" for h in (7, 8, 9, 10))


def envelope(sequence: int, *, lot: str | None = None, location_id: str = LOC, **data: Any) -> dict[str, Any]:
    env = copy.deepcopy(SAMPLE)
    env.update(event_id=str(uuid.uuid4()), sequence=sequence, entity_id=f"{SKU}@{location_id}")
    env["data"] = {"sku": SKU, "location_id": location_id, "on_hand": 10, "as_of": T0, **data}
    if lot is not None:
        env["data"]["lot"] = lot
    return env


def deliver(hub: Hub, ctx: Any, *bodies: dict[str, Any]) -> None:
    from inventory.handler import lambda_handler

    for body in bodies:
        hub.sqs.send_message(QueueUrl=hub.queue(QUEUE), MessageBody=json.dumps(body))
    result = hub.run_worker(QUEUE, deployed(hub, QUEUE, lambda_handler), ctx)
    assert result["delivered"] == len(bodies) and result["batchItemFailures"] == []


def apply(sequence: int, *, lot: str | None = None, event_id: str | None = None, **data: Any) -> bool:
    from inventory.logic import apply_report
    from inventory.models import PositionReport

    report = PositionReport.model_validate(
        {"sku": SKU, "location_id": LOC, "on_hand": 10, "as_of": T0, "lot": lot} | data
    )
    return apply_report(report, sequence, event_id or str(uuid.uuid4()), "corr-stock")


def item(lot: str | None = None, sku: str = SKU, location_id: str = LOC) -> dict[str, Any]:
    from inventory.api import get_position

    found = get_position(sku, location_id, lot=lot)
    assert found is not None
    return found


def quantities(lot: str | None = None) -> tuple[int, int, int, int]:
    i = item(lot)
    return int(i["on_hand"]), int(i["reserved"]), int(i["quality_hold"]), int(i["available"])


def stock_events(hub: Hub) -> list[dict[str, Any]]:
    items = hub.ddb.scan(TableName=hub.orders_table, ConsistentRead=True)["Items"]
    details = [json.loads(i["detail"]["S"]) for i in items if i["pk"]["S"].startswith("OUTBOX#")]
    return sorted((d for d in details if d["event_type"] == "StockAvailable"), key=lambda d: d["sequence"])


def transact(*ops: dict[str, Any]) -> None:
    from synchub_core import ddb

    ddb.transact(list(ops))


# -- lots ----------------------------------------------------------------------------------------------
def test_each_lot_is_a_position_with_its_own_version(hub: Hub, lambda_context: Any) -> None:
    from inventory.api import positions_for

    deliver(
        hub,
        lambda_context,
        envelope(5, lot="L1", on_hand=30, best_before="2027-01-31"),
        envelope(3, lot="L2", on_hand=12, best_before="2027-03-01", in_transit=6, in_transit_expected_at="2026-11-25"),
        envelope(1, on_hand=4),  # the same SKU and location without a lot: as today
    )
    keys = {i["sk"]["S"] for i in hub.ddb.scan(TableName=hub.inventory_table)["Items"]}
    assert keys == {f"LOC#{LOC}#LOT#L1", f"LOC#{LOC}#LOT#L2", f"LOC#{LOC}"}
    assert (item("L1")["lot"], item("L1")["best_before"], item("L1")["available"]) == ("L1", "2027-01-31", 30)
    assert item("L2")["in_transit_expected_at"] == "2026-11-25"
    assert {"lot", "best_before", "in_transit_expected_at"}.isdisjoint(item())  # nothing new without lots

    # sequence 4 is stale for L1 (at 5) and new for L2 (at 3): versions are per lot
    deliver(hub, lambda_context, envelope(4, lot="L1", on_hand=1), envelope(4, lot="L2", on_hand=9, in_transit=0))
    assert (item("L1")["on_hand"], item("L1")["wms_sequence"]) == (30, 5)
    assert (item("L2")["on_hand"], item("L2")["wms_sequence"]) == (9, 4)
    assert "in_transit_expected_at" not in item("L2")  # nothing in transit any more
    assert "best_before" not in item("L2")  # the WMS no longer reports one for the lot

    by_lot = {p.lot: p for p in positions_for(SKU)}
    assert set(by_lot) == {"L1", "L2", None}
    assert str(by_lot["L1"].best_before) == "2027-01-31" and by_lot[None].best_before is None


def test_a_best_before_date_without_a_lot_is_refused_with_the_reason(hub: Hub, lambda_context: Any) -> None:
    bad = envelope(1, best_before="2027-01-31")
    deliver(hub, lambda_context, bad)
    (dead,) = hub.receive(DLQ)
    assert dead["MessageAttributes"]["synchub-refusal-reason"]["StringValue"] == (
        "invalid PositionReport: best_before is given only with a lot: a best-before date belongs to a lot, "
        "report the lot it is printed on"
    )
    assert hub.ddb.scan(TableName=hub.inventory_table)["Items"] == []


def test_reserve_and_release_address_the_lot(hub: Hub) -> None:
    from inventory.api import release_op, reserve_op

    apply(1, lot="L1", on_hand=10)
    apply(1, on_hand=7)
    transact(reserve_op(SKU, LOC, 4, lot="L1"))
    assert quantities("L1") == (10, 4, 0, 6) and quantities() == (7, 0, 0, 7)
    transact(release_op(SKU, LOC, 3, lot="L1"))
    assert quantities("L1") == (10, 1, 0, 9)


# -- returns -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("damaged", [False, True], ids=["resaleable", "damaged"])
def test_a_return_counts_until_a_report_after_its_receipt_includes_it(hub: Hub, damaged: bool) -> None:
    from inventory.api import return_op

    apply(1, on_hand=10, quality_hold=1, as_of=T0)
    transact(return_op(SKU, LOC, 3, damaged=damaged, received_at=T2, ref="RMA-1"))
    on_hand, hold, available = (13, 4, 9) if damaged else (13, 1, 12)
    assert quantities() == (on_hand, 0, hold, available)
    pending = item()["pending_shipments"]
    assert pending == [{"shipment_id": "RMA-1", "shipped_at": T2, "quantity": -3} | ({"hold": -3} if damaged else {})]

    apply(2, on_hand=10, quality_hold=1, as_of=T1)  # counted before the return arrived: still added
    assert quantities() == (on_hand, 0, hold, available)
    assert len(item()["pending_shipments"]) == 1

    apply(3, on_hand=13, quality_hold=4 if damaged else 1, as_of=T3)  # counted after: not twice
    assert quantities() == (on_hand, 0, hold, available)
    assert item()["pending_shipments"] == []


def test_a_return_the_last_report_already_counts_changes_nothing(hub: Hub) -> None:
    from inventory.api import return_op

    apply(1, on_hand=13, as_of=T3)
    before = item()
    op = return_op(SKU, LOC, 3, damaged=False, received_at=T2, ref="RMA-1")
    assert set(op) == {"ConditionCheck"}
    transact(op)
    assert item() == before


def test_a_return_creates_a_lot_the_hub_did_not_know(hub: Hub) -> None:
    from datetime import date

    from inventory.api import positions_for, return_op

    transact(return_op(SKU, LOC, 2, lot="L9", best_before=date(2027, 2, 1), damaged=False, received_at=T2, ref="R"))
    assert quantities("L9") == (2, 0, 0, 2)
    (position,) = positions_for(SKU)
    assert (position.lot, str(position.best_before), position.as_of, position.wms_sequence) == (
        "L9",
        "2027-02-01",
        "",
        -1,
    )
    assert apply(1, lot="L9", on_hand=5, as_of=T1)  # the WMS's first report, before the receipt
    assert quantities("L9") == (7, 0, 0, 7)


def test_a_return_racing_a_report_is_refused_and_retried(hub: Hub) -> None:
    from inventory.api import return_op
    from synchub_core.ddb import TransactionCancelled

    apply(1, on_hand=10, as_of=T0)
    op = return_op(SKU, LOC, 3, damaged=False, received_at=T2, ref="RMA-1")
    apply(2, on_hand=13, as_of=T3)  # the WMS counted the return meanwhile
    with pytest.raises(TransactionCancelled):
        transact(op)
    transact(return_op(SKU, LOC, 3, damaged=False, received_at=T2, ref="RMA-1"))  # re-read: nothing to add
    assert quantities() == (13, 0, 0, 13)


# -- shipments that give the rest back -----------------------------------------------------------------
def test_a_short_shipment_consumes_and_releases_in_one_update(hub: Hub) -> None:
    from inventory.api import get_position, reserve_op, ship_op

    apply(1, on_hand=10, as_of=T0)
    transact(reserve_op(SKU, LOC, 5))
    transact(ship_op(get_position(SKU, LOC), 3, T2, "SHP-1", release=2))  # the report is older: pending
    assert quantities() == (7, 0, 0, 7)
    assert item()["pending_shipments"] == [{"shipment_id": "SHP-1", "shipped_at": T2, "quantity": 3}]

    apply(2, on_hand=7, as_of=T3)
    transact(reserve_op(SKU, LOC, 5))
    transact(ship_op(get_position(SKU, LOC), 1, T2, "SHP-2", release=4))  # the report already counts it
    assert quantities() == (7, 0, 0, 7)
    with pytest.raises(Exception, match="ConditionalCheckFailed"):
        transact(ship_op(get_position(SKU, LOC), 1, T3, "SHP-3", release=1))  # nothing reserved


def test_a_shipment_from_a_lot_no_report_reached_yet(hub: Hub) -> None:
    from inventory.api import get_position, reserve_op, return_op, ship_op

    transact(return_op(SKU, LOC, 4, lot="L9", damaged=False, received_at=T1, ref="R"))
    transact(reserve_op(SKU, LOC, 4, lot="L9"))
    transact(ship_op(get_position(SKU, LOC, lot="L9"), 4, T2, "SHP-1"))
    assert quantities("L9") == (0, 0, 0, 0)


# -- StockAvailable ------------------------------------------------------------------------------------
def test_stock_available_is_written_once_when_a_report_raises_available(hub: Hub) -> None:
    from inventory.api import reserve_op

    first = str(uuid.uuid4())
    assert apply(1, on_hand=10, event_id=first)
    (event,) = stock_events(hub)
    assert event["source_system"] == "synchub.inventory" and event["entity_id"] == SKU
    assert event["data"]["skus"] == [SKU] and event["data"]["cause"] == "report"
    assert (event["correlation_id"], event["causation_id"], event["sequence"]) == ("corr-stock", first, 1)
    outbox = hub.ddb.get_item(
        TableName=hub.orders_table, Key={"pk": {"S": f"OUTBOX#{event['event_id']}"}, "sk": {"S": "OUTBOX"}}
    )
    assert outbox["Item"]["source"]["S"] == "synchub.inventory"

    assert not apply(1, on_hand=50)  # a duplicate: nothing
    assert not apply(0, on_hand=50)  # stale: nothing
    assert apply(2, on_hand=10)  # unchanged: nothing
    assert apply(3, on_hand=6)  # falls: nothing
    transact(reserve_op(SKU, LOC, 6))
    assert apply(4, on_hand=4, as_of=T1)  # oversold, available -2: rises but no stock to sell
    assert len(stock_events(hub)) == 1
    assert apply(5, on_hand=9, quality_hold=1, as_of=T2)  # 9 - 1 - 6 = 2 > 0
    assert [e["sequence"] for e in stock_events(hub)] == [1, 5]
    assert apply(1, lot="L1", on_hand=3)  # a new lot with stock
    assert len(stock_events(hub)) == 3


def test_a_report_without_stock_writes_no_event(hub: Hub) -> None:
    assert apply(1, on_hand=5, quality_hold=5)
    assert stock_events(hub) == []


def test_a_report_outraced_by_a_shipment_retries_and_writes_its_event_once(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transaction with the event is cancelled (a shipment landed between read and write): the
    report re-reads, and the one event is written by the retry."""
    from inventory import repository
    from inventory.api import get_position, reserve_op, ship_op

    apply(1, on_hand=4, as_of=T0)
    transact(reserve_op(SKU, LOC, 4))
    real_state, raced = repository.report_state, []

    def state_then_ship(*args: Any) -> Any:
        seen = real_state(*args)
        if not raced:
            raced.append(True)
            transact(ship_op(get_position(SKU, LOC), 2, T2, "SHP-1", release=0))  # pending_rev moves
        return seen

    monkeypatch.setattr(repository, "report_state", state_then_ship)
    assert apply(2, on_hand=20, as_of=T1)  # before the shipment: 20 - 2 pending = 18 on hand
    assert quantities() == (18, 2, 0, 16)
    assert [e["sequence"] for e in stock_events(hub)] == [1, 2]
