"""Reconciliation logic against fakes of every side (reconciliation.logic.Ports): the categories,
the repairs, the window, the match rates, streaming (memory flat) and the stored result's caps."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from reconciliation import logic
from reconciliation.logic import HubOrder, Ports, RunConfig, match_rate, window
from reconciliation.models import MAX_LISTED, ReconciliationCompletedData, WindowInvalid
from synchub_core.envelope import EventEnvelope, deterministic_event_id

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY = NOW.date()
CFG = RunConfig(window_hours=24, grace=timedelta(minutes=5), finance_queue_url="q-finance", erp_queue_url="q-erp")


def invoice(n: int, *, issued_at: datetime | None = None, gross: str = "123.28", **extra: Any) -> dict[str, Any]:
    at = issued_at or NOW - timedelta(hours=1)
    return {
        "invoice_id": f"inv_{n:024d}",
        "invoice_number": f"SH-202611-{n:010d}",
        "issued_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "currency": "EUR",
        "customer": {"customer_id": "CUST-8812", "name": "Bakkerij de Vries"},
        "references": {"order_id": f"ord_{n}", "shipment_id": f"SHP-{n}", "channel": "webshop-nl"},
        "lines": [
            {"line_id": "1", "sku": "FLOUR-T55-25KG", "quantity": 4, "unit_price": "18.40", "tax_rate": "0.09",
             "net_amount": "73.60", "tax_amount": "6.62", "gross_amount": "80.22"},
        ],
        "net_total": "113.10",
        "tax_total": "10.18",
        "gross_total": gross,
        **extra,
    }  # fmt: skip


def document(inv: dict[str, Any]) -> dict[str, Any]:
    """What the fake finance.api.invoice_document makes of a hub invoice."""
    return {
        "external_reference": inv["invoice_id"],
        "document_type": "invoice",
        "document_number": inv["invoice_number"],
        "customer_account": inv["customer"]["customer_id"],
        "issue_date": inv["issued_at"][:10],
        "currency": inv["currency"],
        "lines": [{k: v for k, v in line.items() if k != "gross_amount"} for line in inv["lines"]],
        "net_total": inv["net_total"],
        "tax_total": inv["tax_total"],
        "gross_total": inv["gross_total"],
    }


def differences(inv: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    out = []
    for name in ("gross_total", "currency"):
        a, b = inv[name], doc.get(name)
        same = Decimal(a) == Decimal(b) if name == "gross_total" else a == b
        if not same:
            out.append(f"{name} {a} in the hub, {b} in finance")
    return out


@dataclass
class World:
    """The hub, finance and the ERP as the fakes see them, and what the run did to them."""

    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    finance: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, HubOrder] = field(default_factory=dict)
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    unknown: dict[date, list[dict[str, Any]]] = field(default_factory=dict)
    sent: dict[str, list[str]] = field(default_factory=dict)
    exceptions: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    stored: list[tuple[dict[str, Any], EventEnvelope]] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)
    ack_calls: list[list[str]] = field(default_factory=list)
    refuse_sends: set[str] = field(default_factory=set)
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    open_circuits: set[str] = field(default_factory=set)
    circuit_asked: list[str] = field(default_factory=list)

    def add_invoice(self, inv: dict[str, Any], *, in_finance: bool = True, **changes: Any) -> dict[str, Any]:
        self.invoices[inv["invoice_id"]] = inv
        if in_finance:
            self.finance[inv["invoice_id"]] = {**document(inv), "id": f"FIN-{len(self.finance):08d}", **changes}
        return inv

    def add_order(self, n: int, *, ack: dict[str, Any] | None = None, age: timedelta = timedelta(hours=1)) -> str:
        order_id = f"ord_{n:032d}"
        created = (NOW - age).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.orders[order_id] = HubOrder({"order_id": order_id, "channel": "webshop-nl", "currency": "EUR",
                                          "net_total": "100.00", "lines": [{"line_id": "1"}]}, created)  # fmt: skip
        if ack is not None:
            self.acks[order_id] = {"order_id": order_id, **ack}
        return order_id

    def ports(self) -> Ports:
        def issued_between(start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
            for inv in sorted(self.invoices.values(), key=lambda i: i["issued_at"]):
                yield dict(inv)

        def load_invoice(invoice_id: str, shipment_id: str) -> dict[str, Any] | None:
            self.loads.append(invoice_id)
            inv = self.invoices.get(invoice_id)
            return dict(inv) if inv and inv["references"]["shipment_id"] == shipment_id else None

        def finance_documents(first: date, last: date) -> Iterator[dict[str, Any]]:
            for ref in sorted(self.finance):
                doc = self.finance[ref]
                if first.isoformat() <= doc["issue_date"] <= last.isoformat():
                    yield dict(doc)

        def acknowledgements(ids: list[str]) -> dict[str, dict[str, Any]]:
            self.ack_calls.append(list(ids))
            return {i: dict(self.acks[i]) for i in ids if i in self.acks}

        def erp_differences(order: dict[str, Any], ack: dict[str, Any]) -> list[str]:
            if Decimal(ack.get("ack_net_total", "0")) != Decimal(order["net_total"]):
                return [f"net_total {order['net_total']} in the hub, {ack['ack_net_total']} in the ERP"]
            return []

        def raise_exception(**kw: Any) -> str:
            key = (kw["target"], kw["entity_type"], kw["entity_id"])
            self.exceptions.setdefault(key, kw)  # one per entity, as connectors' store does
            return f"exc_{kw['entity_id']}"

        def send(queue_url: str, bodies: list[str], attributes: dict[str, str]) -> list[bool]:
            assert 1 <= len(bodies) <= 10
            self.attributes.setdefault(queue_url, attributes)
            self.sent.setdefault(queue_url, []).extend(b for b in bodies if b not in self.refuse_sends)
            return [b not in self.refuse_sends for b in bodies]

        def store(result: dict[str, Any], event: EventEnvelope) -> dict[str, Any]:
            self.stored.append((result, event))
            return json.loads(json.dumps(result))

        return Ports(
            issued_between=issued_between,
            load_invoice=load_invoice,
            finance_documents=finance_documents,
            invoice_document=document,
            finance_differences=differences,
            repost_message=lambda inv: json.dumps({"repost": inv["invoice_id"]}),
            accepted_between=lambda start, end: iter(sorted(self.orders)),
            load_order=lambda order_id: self.orders.get(order_id),
            acknowledgements=acknowledgements,
            unknown_acks=lambda day: list(self.unknown.get(day, [])),
            erp_differences=erp_differences,
            resend_message=lambda order: json.dumps({"resend": order["order_id"]}),
            raise_exception=raise_exception,
            send=send,
            store=store,
            circuit_open=lambda target: self.circuit_asked.append(target) or target in self.open_circuits,
        )

    def run(self, **kw: Any) -> dict[str, Any]:
        kw.setdefault("now", NOW)
        return logic.run(ports=self.ports(), config=CFG, run_id=kw.pop("run_id", "rec-test"), **kw)


def refs(result: dict[str, Any], side: str, category: str) -> list[str]:
    return result["references"][side][category]["references"]


# -- invoices -----------------------------------------------------------------------------------


def test_everything_matched_is_100_percent_and_repairs_nothing() -> None:
    w = World()
    for n in range(5):
        w.add_invoice(invoice(n))
    result = w.run()
    assert result["invoices"] == {"hub": 5, "finance": 5, "matched": 5, "missing": 0, "in_flight": 0, "rejected": 0,
                                  "extra": 0, "mismatched": 0, "reposted": 0}  # fmt: skip
    assert result["invoice_match_rate"] == "100.00"
    assert w.sent == {} and w.exceptions == {}
    assert w.loads == []  # a matched invoice costs no second read


def test_a_missing_invoice_is_reposted_and_a_young_one_is_in_flight() -> None:
    w = World()
    w.add_invoice(invoice(1))
    missing = w.add_invoice(invoice(2), in_finance=False)
    young = w.add_invoice(invoice(3, issued_at=NOW - timedelta(minutes=2)), in_finance=False)
    result = w.run()
    counts = result["invoices"]
    assert [counts[k] for k in ("hub", "matched", "missing", "in_flight", "reposted")] == [3, 1, 1, 1, 1]
    assert refs(result, "invoices", "missing") == [missing["invoice_id"]]
    assert refs(result, "invoices", "in_flight") == [young["invoice_id"]]
    assert w.sent == {"q-finance": [json.dumps({"repost": missing["invoice_id"]})]}
    # the poster posts it again although its ledger says POSTED (finance dedupes by reference)
    assert w.attributes["q-finance"] == {
        "synchub-resubmit-of": "reconciliation:rec-test",
        "synchub-reconciliation-run": "rec-test",
    }
    assert result["invoice_match_rate"] == "50.00"  # 1 matched of the 2 past the grace period


def test_an_extra_document_is_listed_and_changes_nothing() -> None:
    w = World()
    w.add_invoice(invoice(1))
    w.finance["EXT-unknown-1"] = {**document(invoice(9)), "external_reference": "EXT-unknown-1"}
    result = w.run()
    assert result["invoices"]["extra"] == 1 and result["invoices"]["finance"] == 2
    assert refs(result, "invoices", "extra") == ["EXT-unknown-1"]
    assert result["invoice_match_rate"] == "100.00"
    assert w.sent == {} and w.exceptions == {}


def test_a_mismatch_becomes_a_business_exception_with_the_repost_as_payload() -> None:
    w = World()
    inv = w.add_invoice(invoice(1), gross_total="40.00")
    result = w.run()
    assert result["invoices"]["mismatched"] == 1 and result["invoices"]["matched"] == 0
    assert result["differences"]["invoices"] == [
        {"reference": inv["invoice_id"], "differences": "gross_total 123.28 in the hub, 40.00 in finance"}
    ]
    exc = w.exceptions[("finance", "invoice", inv["invoice_id"])]
    assert exc["code"] == "reconciliation-mismatch"
    assert exc["reason"] == "reconciliation rec-test: gross_total 123.28 in the hub, 40.00 in finance"
    assert exc["payload"] == json.dumps({"repost": inv["invoice_id"]})
    assert exc["resubmit_queue_url"] == "q-finance"
    assert exc["refs"]["order_id"] == "ord_1" and exc["refs"]["reconciliation_run"] == "rec-test"
    assert result["exceptions_raised"] == {"invoices": 1, "erp_orders": 0}
    assert w.sent == {}  # a mismatch is not re-posted: finance would refuse another content for the reference


def test_numbers_written_differently_are_the_same_and_need_no_exception() -> None:
    w = World()
    inv = w.add_invoice(invoice(1), gross_total="123.280", net_total="113.1")
    result = w.run()
    assert result["invoices"]["matched"] == 1
    assert w.loads == []  # the digest normalizes numbers: not even looked at twice
    w.finance[inv["invoice_id"]]["document_number"] = "OTHER"  # differs, but not in what differences() compares
    result = w.run()
    assert result["invoices"]["matched"] == 1 and w.loads == [inv["invoice_id"]] and w.exceptions == {}


def test_no_repair_reports_only() -> None:
    w = World()
    w.add_invoice(invoice(1), in_finance=False)
    w.add_invoice(invoice(2), gross_total="1.00")
    w.add_order(1)  # no ack
    w.add_order(2, ack={"status": "ACKED", "ack_net_total": "99.00"})
    result = w.run(repair=False)
    assert result["repair"] is False
    assert result["invoices"]["missing"] == 1 and result["invoices"]["mismatched"] == 1
    assert result["erp_orders"]["missing"] == 1 and result["erp_orders"]["mismatched"] == 1
    assert result["invoices"]["reposted"] == 0 and result["erp_orders"]["resent"] == 0
    assert w.sent == {} and w.exceptions == {}


def test_invoices_finance_refused_are_rejected_not_reposted() -> None:
    w = World()
    w.add_invoice(invoice(1, posting_status="REJECTED"), in_finance=False)
    w.add_invoice(invoice(2))
    result = w.run()
    assert result["invoices"]["rejected"] == 1 and result["invoices"]["missing"] == 0
    assert w.sent == {}
    assert result["invoice_match_rate"] == "100.00"


def test_invoices_outside_the_window_are_not_counted() -> None:
    w = World()
    w.add_invoice(invoice(1, issued_at=datetime(2026, 11, 20, 8, tzinfo=UTC)))
    w.add_invoice(invoice(2))
    result = w.run(window_from=DAY, window_to=DAY)
    assert result["invoices"]["hub"] == 1 and result["invoices"]["finance"] == 1


def test_a_second_run_repairs_nothing_twice() -> None:
    """Re-posting is idempotent (the same message, deduped downstream); once finance holds the
    invoice again, the next run finds nothing missing and sends nothing."""
    w = World()
    inv = w.add_invoice(invoice(1), in_finance=False)
    mismatch = w.add_invoice(invoice(2), gross_total="1.00")
    first = w.run(run_id="rec-1")
    second = w.run(run_id="rec-2")  # before the poster drained: the same re-post again
    assert first["invoices"]["reposted"] == second["invoices"]["reposted"] == 1
    assert w.sent["q-finance"] == [json.dumps({"repost": inv["invoice_id"]})] * 2
    assert list(w.exceptions) == [("finance", "invoice", mismatch["invoice_id"])]  # one exception, not two
    w.finance[inv["invoice_id"]] = document(inv)  # the poster posted it
    third = w.run(run_id="rec-3")
    assert third["invoices"]["missing"] == 0 and third["invoices"]["reposted"] == 0
    assert len(w.sent["q-finance"]) == 2


def test_while_a_circuit_is_open_what_waits_in_its_buffer_is_not_sent_twice() -> None:
    """A missing invoice never posted has its InvoiceIssued parked in the poster's buffer while the
    finance circuit is open (an order never sent, in the ERP connector's): a re-send would only
    double the backlog. One POSTED and then lost by finance has nothing waiting: it is re-posted."""
    w = World(open_circuits={"finance", "erp"})
    waiting = w.add_invoice(invoice(1), in_finance=False)
    lost = w.add_invoice(invoice(2, posting_status="POSTED"), in_finance=False)
    never_sent = w.add_order(1)
    stale_sent = w.add_order(2, ack={"status": "SENT", "sent_at": "2026-11-23T10:00:00.000Z"})
    result = w.run()
    assert result["invoices"]["missing"] == 2 and result["invoices"]["reposted"] == 1
    assert refs(result, "invoices", "deferred") == [waiting["invoice_id"]]
    assert w.sent["q-finance"] == [json.dumps({"repost": lost["invoice_id"]})]
    assert result["erp_orders"]["missing"] == 2 and result["erp_orders"]["resent"] == 1
    assert refs(result, "erp_orders", "deferred") == [never_sent]
    assert w.sent["q-erp"] == [json.dumps({"resend": stale_sent})]
    assert w.circuit_asked == ["finance", "erp"]  # once per target


def test_circuits_are_not_asked_when_nothing_needs_repair() -> None:
    w = World()
    w.add_invoice(invoice(1))
    w.run()
    w.add_invoice(invoice(2), in_finance=False)
    w.run(repair=False)
    assert w.circuit_asked == []


def test_a_repost_sqs_refuses_is_listed_as_failed() -> None:
    w = World()
    ok = w.add_invoice(invoice(1), in_finance=False)
    bad = w.add_invoice(invoice(2), in_finance=False)
    w.refuse_sends.add(json.dumps({"repost": bad["invoice_id"]}))
    result = w.run()
    assert result["invoices"]["missing"] == 2 and result["invoices"]["reposted"] == 1
    assert refs(result, "invoices", "repair_failed") == [bad["invoice_id"]]
    assert w.sent["q-finance"] == [json.dumps({"repost": ok["invoice_id"]})]


def test_references_are_capped_per_category_and_every_missing_one_is_reposted() -> None:
    w = World()
    for n in range(MAX_LISTED + 100):
        w.add_invoice(invoice(n), in_finance=False)
    result = w.run()
    listed = result["references"]["invoices"]["missing"]
    assert listed["count"] == MAX_LISTED + 100 and len(listed["references"]) == MAX_LISTED and listed["truncated"]
    assert result["invoices"]["reposted"] == MAX_LISTED + 100
    assert len(w.sent["q-finance"]) == MAX_LISTED + 100
    assert result["invoice_match_rate"] == "0.00"


# -- ERP orders ---------------------------------------------------------------------------------


def test_erp_categories_repairs_and_rate() -> None:
    w = World()
    matched = w.add_order(1, ack={"status": "ACKED", "ack_net_total": "100.00", "erp_order_number": "SO-0000001"})
    mismatched = w.add_order(2, ack={"status": "ACKED", "ack_net_total": "90.00", "erp_order_number": "SO-0000002"})
    no_ack = w.add_order(3)
    stale_sent = w.add_order(4, ack={"status": "SENT", "sent_at": "2026-11-23T10:00:00.000Z"})
    young = w.add_order(5, age=timedelta(minutes=1))
    recently_sent = w.add_order(6, ack={"status": "SENT", "sent_at": "2026-11-23T11:58:00.000Z"})
    rejected = w.add_order(7, ack={"status": "REJECTED", "reason": "customer CUST-0013 is blocked in ERP"})
    w.unknown[DAY] = [{"order_id": "ord_not_ours", "status": "ACCEPTED"}]
    result = w.run()
    assert result["erp_orders"] == {"hub": 7, "acknowledged": 2, "matched": 1, "missing": 2, "in_flight": 2,
                                    "rejected": 1, "extra": 1, "mismatched": 1, "resent": 2}  # fmt: skip
    assert refs(result, "erp_orders", "missing") == [no_ack, stale_sent]
    assert refs(result, "erp_orders", "in_flight") == [young, recently_sent]
    assert refs(result, "erp_orders", "rejected") == [rejected]
    assert refs(result, "erp_orders", "extra") == ["ord_not_ours"]
    assert refs(result, "erp_orders", "mismatched") == [mismatched]
    assert w.sent["q-erp"] == [json.dumps({"resend": no_ack}), json.dumps({"resend": stale_sent})]
    assert w.attributes["q-erp"] == {"synchub-reconciliation-run": "rec-test"}
    exc = w.exceptions[("erp", "order", mismatched)]
    assert exc["code"] == "reconciliation-mismatch" and exc["resubmit_queue_url"] == "q-erp"
    assert exc["payload"] == json.dumps({"resend": mismatched})
    assert exc["refs"]["erp_order_number"] == "SO-0000002"
    assert "net_total 100.00 in the hub, 90.00 in the ERP" in exc["reason"]
    assert result["erp_match_rate"] == "25.00"  # 1 of 4 (in flight and rejected left out)
    assert matched not in str(w.sent)


def test_erp_orders_are_streamed_in_chunks_of_100() -> None:
    w = World()
    consumed: list[int] = []

    def ids() -> Iterator[str]:
        for n in range(250):
            consumed.append(n)
            yield w.add_order(n, ack={"status": "ACKED", "ack_net_total": "100.00"})

    ports = w.ports()
    ports.accepted_between = lambda start, end: ids()
    first_call: list[int] = []
    inner = ports.acknowledgements

    def acknowledgements(chunk: list[str]) -> Any:
        first_call.append(len(consumed))
        return inner(chunk)

    ports.acknowledgements = acknowledgements
    result = logic.run(ports=ports, config=CFG, now=NOW, run_id="rec-x")
    assert [len(c) for c in w.ack_calls] == [100, 100, 50]
    assert first_call[0] == 100  # the first chunk is compared before the index is read on
    assert result["erp_orders"]["matched"] == 250


# -- the window, the rate, the event ------------------------------------------------------------


@pytest.mark.parametrize(
    "now, hours, expected",
    [
        (datetime(2026, 11, 23, 12, 0, tzinfo=UTC), 24, (date(2026, 11, 22), date(2026, 11, 23))),
        (datetime(2026, 11, 23, 0, 30, tzinfo=UTC), 1, (date(2026, 11, 22), date(2026, 11, 23))),
        (datetime(2026, 11, 23, 5, 0, tzinfo=UTC), 1, (date(2026, 11, 23), date(2026, 11, 23))),
        (datetime(2026, 11, 23, 12, 0, tzinfo=UTC), 72, (date(2026, 11, 20), date(2026, 11, 23))),
    ],
)
def test_the_default_window_is_the_days_the_last_hours_touched(now: datetime, hours: int, expected: tuple) -> None:
    assert window(None, None, now, hours) == expected


def test_an_explicit_window() -> None:
    assert window(date(2026, 11, 1), date(2026, 11, 2), NOW, 24) == (date(2026, 11, 1), date(2026, 11, 2))
    assert window(date(2026, 11, 20), None, NOW, 24) == (date(2026, 11, 20), DAY)
    assert window(None, date(2026, 11, 2), NOW, 24) == (date(2026, 11, 2), date(2026, 11, 2))
    with pytest.raises(WindowInvalid, match="after its end"):
        window(date(2026, 11, 3), date(2026, 11, 2), NOW, 24)
    with pytest.raises(WindowInvalid, match="at most 31 days"):
        window(date(2026, 1, 1), date(2026, 11, 2), NOW, 24)


@pytest.mark.parametrize(
    "matched, compared, rate",
    [(0, 0, "100.00"), (2, 3, "66.67"), (1, 3, "33.33"), (1, 8, "12.50"), (1999, 2000, "99.95"), (5, 5, "100.00")],
)
def test_match_rate(matched: int, compared: int, rate: str) -> None:
    assert match_rate(matched, compared) == rate


def test_the_event_is_deterministic_per_run_and_valid() -> None:
    w = World()
    w.add_invoice(invoice(1), in_finance=False)
    result = w.run(run_id="rec-20261123T120000Z-abcdef12", causation_id="schedule-event-1")
    stored, event = w.stored[0]
    assert stored is not result and stored["run_id"] == result["run_id"]
    assert event.event_type == "ReconciliationCompleted"
    assert event.event_id == deterministic_event_id("reconciliation", "rec-20261123T120000Z-abcdef12")
    assert event.source_system == "synchub.connectors" and event.causation_id == "schedule-event-1"
    data = ReconciliationCompletedData.model_validate(event.data)
    assert data.invoices.missing == 1 and data.invoices.reposted == 1 and data.invoice_match_rate == "0.00"
    assert (data.window_from, data.window_to) == (date(2026, 11, 22), DAY)
    assert "references" not in event.data  # counts only on the bus; references in the stored result


def test_new_run_ids() -> None:
    a = logic.new_run_id(NOW, seed="event-1")
    assert a == logic.new_run_id(NOW, seed="event-1") and a.startswith("rec-20261123T120000Z-")
    assert logic.new_run_id(NOW) != logic.new_run_id(NOW)


# -- memory -------------------------------------------------------------------------------------


def test_memory_stays_flat_the_hub_side_is_ids_and_digests_only() -> None:
    """5,000 invoices streamed on both sides: the run holds ids and digests, not documents. Peak
    memory stays far below what the documents themselves take."""
    count = 5_000
    base = invoice(0)

    text = json.dumps(base)

    def make(n: int) -> dict[str, Any]:  # a document of its own, as the stream gives them
        doc: dict[str, Any] = json.loads(text)
        doc.update(invoice_id=f"inv_{n:024d}", invoice_number=f"SH-202611-{n:010d}")
        doc["references"]["shipment_id"] = f"SHP-{n}"
        return doc

    ports = World().ports()
    ports.issued_between = lambda start, end: (make(n) for n in range(count))
    ports.finance_documents = lambda first, last: (document(make(n)) for n in range(count))
    tracemalloc.start()
    try:
        result = logic.run(ports=ports, config=CFG, now=NOW, run_id="rec-volume")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        held = [make(n) for n in range(count // 10)]  # a tenth of the documents, held
        _, docs_peak = tracemalloc.get_traced_memory()
        del held
    finally:
        tracemalloc.stop()
    assert result["invoices"]["matched"] == count
    per_invoice = peak / count
    assert per_invoice < 400, f"{per_invoice:.0f} bytes per invoice held"
    assert peak < docs_peak * 10 / 2, (peak, docs_peak)  # less than half of what the documents would take


# -- finance's listing, resumed ----------------------------------------------------------------------


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("429")
        self.retry_after = retry_after


class Unavailable(Exception):
    pass


def test_a_listing_interrupted_by_429_or_an_outage_resumes_after_the_last_reference() -> None:
    docs = [{"external_reference": f"inv_{n:03d}"} for n in range(10)]
    failures = [RateLimited(3), Unavailable("finance answered 503")]
    slept: list[float] = []

    def listing() -> Iterator[dict[str, Any]]:
        for n, doc in enumerate(docs):
            if failures and n == 4:
                raise failures.pop(0)
            yield doc

    got = list(logic.resumable(listing, Unavailable, sleep=slept.append))
    assert got == docs  # each once, in order
    assert slept == [3.0, 4.0]  # finance's Retry-After, then a short back-off


def test_a_listing_that_keeps_failing_fails_the_run() -> None:
    def listing() -> Iterator[dict[str, Any]]:
        raise RateLimited(1)
        yield {}

    with pytest.raises(RateLimited):
        list(logic.resumable(listing, Unavailable, attempts=3, sleep=lambda s: None))
    calls: list[int] = []

    def broken() -> Iterator[dict[str, Any]]:
        calls.append(1)
        raise ValueError("finance answered 400 listing documents")
        yield {}

    with pytest.raises(ValueError):  # anything else is no reason to read again
        list(logic.resumable(broken, Unavailable, sleep=lambda s: None))
    assert calls == [1]


# -- the stored result ---------------------------------------------------------------------------------


def test_a_result_too_big_for_one_item_keeps_its_counts_and_fewer_references() -> None:
    from reconciliation import repository

    listed = {"count": 600, "references": [f"ord_{n:032d}-{'x' * 90}" for n in range(MAX_LISTED)], "truncated": True}
    result = {
        "run_id": "rec-1",
        "references": {side: {c: dict(listed) for c in ("missing", "extra", "mismatched")} for side in ("a", "b")},
        "differences": {"a": [{"reference": "r", "differences": "d" * 300}] * 100, "b": []},
    }
    text = repository._fit(result)
    assert len(text.encode()) <= repository.MAX_RESULT_BYTES
    stored = json.loads(text)
    kept = stored["references"]["a"]["missing"]
    assert kept["count"] == 600 and kept["truncated"] and 0 < len(kept["references"]) < MAX_LISTED
