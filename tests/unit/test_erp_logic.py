"""The ERP connector's pure rules (functions/erp/logic.py): what goes into a file, what an
acknowledgement row does, what is resent, how reasons read, how an order and its acknowledgement
compare, and the resend message (an OrderAccepted as the rule delivers it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from erp import logic
from erp.logic import AckAction
from erp.models import AckRow, AckStatus, ErpOrder, LedgerEntry, LedgerStatus
from helpers import sample
from synchub_core.envelope import from_bus_message

FILE, OTHER = "ORD-20261201090000-0a1b2c3d.csv", "ORD-20261201091000-ffffffff.csv"


def entry(status: LedgerStatus, file: str = FILE, exception_id: str | None = None) -> LedgerEntry:
    return LedgerEntry("ord_1", status, file, 1, exception_id)


def row(status: AckStatus = AckStatus.ACCEPTED) -> AckRow:
    return AckRow(1, "ord_1", status, "SO-0000001" if status is AckStatus.ACCEPTED else "", "")


def test_only_acknowledged_orders_stay_out_of_a_file_each_order_once() -> None:
    ledger = {"a": entry(LedgerStatus.ACKED), "b": entry(LedgerStatus.SENT), "c": entry(LedgerStatus.REJECTED)}
    assert logic.to_send(["a", "b", "c", "d", "b", "a"], ledger) == (["b", "c", "d"], ["a"])


@pytest.mark.parametrize(
    ("status", "ledger", "action"),
    [
        (AckStatus.ACCEPTED, None, AckAction.CHECK_KNOWN),
        (AckStatus.REJECTED, None, AckAction.CHECK_KNOWN),
        (AckStatus.ACCEPTED, entry(LedgerStatus.SENT), AckAction.ACCEPT),
        (AckStatus.ACCEPTED, entry(LedgerStatus.SENT, OTHER), AckAction.ACCEPT),  # booked from an older file
        (AckStatus.ACCEPTED, entry(LedgerStatus.REJECTED), AckAction.ACCEPT),
        (AckStatus.ACCEPTED, entry(LedgerStatus.ACKED), AckAction.DUPLICATE),
        (AckStatus.REJECTED, entry(LedgerStatus.SENT), AckAction.REJECT),
        (AckStatus.REJECTED, entry(LedgerStatus.SENT, OTHER), AckAction.DUPLICATE),  # resent since: stale
        (AckStatus.REJECTED, entry(LedgerStatus.REJECTED), AckAction.DUPLICATE),
        (AckStatus.REJECTED, entry(LedgerStatus.ACKED), AckAction.DUPLICATE),
    ],
)
def test_what_an_acknowledgement_row_does(status: AckStatus, ledger: LedgerEntry | None, action: AckAction) -> None:
    assert logic.ack_action(row(status), ledger, FILE) is action


def test_only_orders_still_waiting_on_the_file_are_resent() -> None:
    assert logic.resendable(entry(LedgerStatus.SENT), FILE)
    assert not logic.resendable(entry(LedgerStatus.SENT, OTHER), FILE)
    assert not logic.resendable(entry(LedgerStatus.ACKED), FILE)
    assert not logic.resendable(entry(LedgerStatus.REJECTED), FILE)
    assert not logic.resendable(None, FILE)


def test_reasons_read_as_business_sentences_with_ids_only() -> None:
    reason = logic.rejection_reason("ord_1", "webshop-nl", "WS-1", "customer CUST-1 is blocked in ERP (credit hold)\n")
    assert reason == (
        "The ERP rejected order ord_1 (webshop-nl order WS-1): customer CUST-1 is blocked in ERP (credit hold). "
        "Fix the customer or product in the ERP, then resubmit the order."
    )
    assert "no reason given" in logic.rejection_reason("ord_1", "c", "r", "  ")
    assert logic.overdue_reason(FILE, 120) == f"the ERP has not acknowledged {FILE} after 120 s"
    assert logic.file_rejected_reason(FILE, "bad checksum") == f"the ERP refused {FILE} as a whole: bad checksum"


def order_data(**changes: Any) -> dict[str, Any]:
    body = sample("api-post-order.json")
    return {**body, "order_id": "ord_1", **changes}


def test_net_total_as_the_erp_computes_it_and_the_differences() -> None:
    order = ErpOrder.model_validate(order_data())
    assert logic.net_total(order) == Decimal("113.10")  # 4 x 18.40 + 10 x 3.95
    same = {"ack_net_total": Decimal("113.10"), "ack_currency": "EUR", "ack_line_count": 2}
    assert logic.differences(order, same) == []
    assert (
        logic.differences(order, {"ack_net_total": "113.1", "ack_currency": "EUR", "ack_line_count": Decimal(2)}) == []
    )
    assert logic.differences(order, {**same, "ack_net_total": Decimal("100.00")}) == [
        "net_total 113.10 in the hub, 100.00 in the ERP"
    ]
    assert logic.differences(order, {**same, "ack_currency": "USD", "ack_line_count": 1}) == [
        "currency EUR in the hub, USD in the ERP",
        "2 lines in the hub, 1 in the ERP",
    ]
    half = ErpOrder.model_validate(
        order_data(lines=[{"line_id": "1", "sku": "S", "quantity": 1, "unit_price": "0.005"}])
    )
    assert logic.net_total(half) == Decimal("0.01")  # half up


def test_the_resend_message_is_an_order_accepted_as_the_rule_delivers_it() -> None:
    class Stored:  # orders.api.StoredOrder's shape
        order_id = "ord_1"
        doc = sample("api-post-order.json")
        created_at = "2026-12-01T23:30:00.000Z"
        correlation_id = "corr-1"

    now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    for given in (
        Stored(),
        {
            "order_id": "ord_1",
            "doc": json.dumps(Stored.doc),
            "created_at": Stored.created_at,
            "correlation_id": "corr-1",
        },
        {**order_data(), "created_at": Stored.created_at, "correlation_id": "corr-1"},
    ):
        event = logic.resend_event(given, "eu-west-1", "123456789012", now)
        bus = from_bus_message(json.dumps(event))
        assert (bus.source, bus.detail_type, bus.region, bus.account) == (
            "synchub.orders",
            "OrderAccepted",
            "eu-west-1",
            "123456789012",
        )
        assert event["time"] == "2026-12-02T08:00:00Z" and event["resources"] == []
        envelope = bus.detail
        assert envelope.entity_id == "ord_1" and envelope.correlation_id == "corr-1"
        assert envelope.data == order_data()  # the OrderAccepted data: the accepted request + its id
        assert logic.order_date(envelope.occurred_at) == "2026-12-01"  # the day the hub accepted it
        assert envelope.event_id == logic.resend_event(given, "eu-west-1", "1", now)["detail"]["event_id"]


def test_s3_notifications_name_their_objects_url_decoded_and_the_test_event_nothing() -> None:
    from erp.handler import s3_objects
    from synchub_core.envelope import Refused

    def note(key: str, event: str = "ObjectCreated:Put") -> str:
        return json.dumps({"Records": [{"eventName": event, "s3": {"bucket": {"name": "b"}, "object": {"key": key}}}]})

    assert s3_objects(note("from-erp/acks/ACK-ORD-20261201090507-0a1b2c3d.csv")) == [
        ("b", "from-erp/acks/ACK-ORD-20261201090507-0a1b2c3d.csv")
    ]
    assert s3_objects(note("from-erp/acks/a+copy%C3%A9%2B.csv")) == [("b", "from-erp/acks/a copyé+.csv")]
    assert s3_objects(note("from-erp/acks/x.csv", "ObjectRemoved:Delete")) == []
    assert s3_objects(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})) == []
    for bad in ("[]", "{}", json.dumps({"Records": [{"s3": {}}]})):
        with pytest.raises(Refused):
            s3_objects(bad)
    with pytest.raises(ValueError):
        s3_objects("not json")
