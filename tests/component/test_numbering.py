"""Gap-free document numbers (``invoicing.numbering``) against moto: sequential per document kind,
legal entity and year, a number taken only by the transaction that writes its document, and no
gap or duplicate when issuers race."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

from helpers import Hub

KIND, ENTITY, YEAR = "INV", "SH01", 2026


def document_op(hub: Hub, numbered: Any, doc_id: str) -> dict[str, Any]:
    """A stand-in for the invoice a number is taken for: one item per document id, written once."""
    from synchub_core import ddb

    return ddb.put(
        hub.orders_table,
        {"pk": f"NUMBERED#{doc_id}", "sk": "DOC", "number": numbered.number, "sequence": numbered.sequence},
        condition="attribute_not_exists(pk)",
    )


def documents(hub: Hub) -> list[dict[str, Any]]:
    from synchub_core.ddb import from_ddb

    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": hub.orders_table, "ConsistentRead": True}
    while True:
        resp = hub.ddb.scan(**kwargs)
        items.extend(from_ddb(i) for i in resp["Items"])
        if "LastEvaluatedKey" not in resp:
            break
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    return [i for i in items if i["pk"].startswith("NUMBERED#")]


def test_numbers_are_sequential_from_one(hub: Hub) -> None:
    from invoicing.numbering import issue_numbered, last_number, next_number
    from synchub_core.ddb import get

    assert last_number(KIND, ENTITY, YEAR) == 0
    first = next_number(KIND, ENTITY, YEAR)
    assert (first.number, first.sequence) == ("INV-SH01-2026-000001", 1)
    assert first.op["Update"]["ConditionExpression"] == "attribute_not_exists(pk)"
    assert last_number(KIND, ENTITY, YEAR) == 0  # reading takes nothing: only the transaction does

    taken = [issue_numbered(KIND, ENTITY, YEAR, lambda n, i=i: [document_op(hub, n, f"d{i}")]) for i in range(3)]
    assert [n.number for n in taken] == [f"INV-SH01-2026-00000{i}" for i in (1, 2, 3)]
    assert last_number(KIND, ENTITY, YEAR) == 3
    counter = get(hub.orders_table, {"pk": "COUNTER#INV#SH01#2026", "sk": "COUNTER"})
    assert counter is not None
    assert (counter["last"], counter["item_type"], counter["kind"], counter["legal_entity"], counter["year"]) == (
        3,
        "COUNTER",
        "INV",
        "SH01",
        2026,
    )
    again = next_number(KIND, ENTITY, YEAR)
    assert again.sequence == 4
    assert again.op["Update"]["ConditionExpression"] == "#last = :prev"


def test_the_loser_of_a_race_is_cancelled_on_the_counter_and_takes_the_next(hub: Hub) -> None:
    from invoicing.numbering import is_counter_conflict, next_number
    from synchub_core import ddb

    a, b = next_number(KIND, ENTITY, YEAR), next_number(KIND, ENTITY, YEAR)  # both read "none taken"
    assert a.number == b.number == "INV-SH01-2026-000001"
    ddb.transact([a.op, document_op(hub, a, "a")])
    with pytest.raises(ddb.TransactionCancelled) as lost:
        ddb.transact([document_op(hub, b, "b"), b.op])
    assert is_counter_conflict(lost.value, 1) and not is_counter_conflict(lost.value, 0)
    assert [d["pk"] for d in documents(hub)] == ["NUMBERED#a"]  # b wrote nothing
    retry = next_number(KIND, ENTITY, YEAR)
    ddb.transact([retry.op, document_op(hub, retry, "b")])
    assert sorted((d["pk"], d["number"]) for d in documents(hub)) == [
        ("NUMBERED#a", "INV-SH01-2026-000001"),
        ("NUMBERED#b", "INV-SH01-2026-000002"),
    ]

    # the same once the counter exists: the condition is on the value read
    c, d = next_number(KIND, ENTITY, YEAR), next_number(KIND, ENTITY, YEAR)
    ddb.transact([c.op])
    with pytest.raises(ddb.TransactionCancelled) as lost_again:
        ddb.transact([d.op])
    assert is_counter_conflict(lost_again.value, 0)


def test_a_cancelled_transaction_consumes_no_number(hub: Hub) -> None:
    from invoicing.numbering import issue_numbered, last_number
    from synchub_core import ddb

    issue_numbered(KIND, ENTITY, YEAR, lambda n: [document_op(hub, n, "first")])
    # the document is refused (written already: a duplicate shipment): the number goes back unused
    with pytest.raises(ddb.TransactionCancelled) as refused:
        issue_numbered(KIND, ENTITY, YEAR, lambda n: [document_op(hub, n, "first")])
    assert refused.value.failed(1) and not refused.value.failed(0)
    assert last_number(KIND, ENTITY, YEAR) == 1
    taken = issue_numbered(KIND, ENTITY, YEAR, lambda n: [document_op(hub, n, "second")])
    assert taken.number == "INV-SH01-2026-000002"  # no gap


def test_racing_issuers_take_every_number_once_without_gaps(hub: Hub) -> None:
    """8 threads, 10 documents each, all on one sequence: 80 documents numbered 1..80, each once,
    the counter at 80; the retries (conflicts on the counter) consumed nothing."""
    from invoicing import numbering
    from synchub_core import ddb

    threads_n, per_thread = 8, 10
    ddb.get(hub.orders_table, {"pk": "warm", "sk": "up"})  # the shared client made before the threads
    conflicts: Counter[str] = Counter()
    errors: list[BaseException] = []
    start = threading.Barrier(threads_n)
    original = numbering.is_counter_conflict

    def counting(cancelled: ddb.TransactionCancelled, index: int) -> bool:
        lost = original(cancelled, index)
        if lost:
            conflicts[threading.current_thread().name] += 1
        return lost

    numbering.is_counter_conflict = counting  # type: ignore[assignment]

    def issuer(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                numbering.issue_numbered(
                    KIND, ENTITY, YEAR, lambda n, doc=f"t{t}-{i}": [document_op(hub, n, doc)], attempts=200
                )
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    try:
        threads = [threading.Thread(target=issuer, args=(t,), name=f"issuer-{t}") for t in range(threads_n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        numbering.is_counter_conflict = original  # type: ignore[assignment]
    assert errors == []
    docs = documents(hub)
    assert len(docs) == threads_n * per_thread
    assert sorted(int(d["sequence"]) for d in docs) == list(range(1, threads_n * per_thread + 1))
    assert len({d["number"] for d in docs}) == len(docs)
    assert all(d["number"] == f"INV-SH01-2026-{int(d['sequence']):06d}" for d in docs)
    assert numbering.last_number(KIND, ENTITY, YEAR) == threads_n * per_thread
    print(f"counter conflicts retried: {sum(conflicts.values())}")


def test_each_kind_entity_and_year_has_its_own_sequence(hub: Hub) -> None:
    from invoicing.numbering import issue_numbered, last_number

    def take(kind: str, entity: str, year: int) -> str:
        return issue_numbered(kind, entity, year, lambda n: []).number

    assert [take("INV", "SH01", 2026), take("INV", "SH01", 2026)] == ["INV-SH01-2026-000001", "INV-SH01-2026-000002"]
    assert take("INV", "DE02", 2026) == "INV-DE02-2026-000001"
    assert take("INV", "SH01", 2027) == "INV-SH01-2027-000001"
    assert take("CM", "SH01", 2026) == "CM-SH01-2026-000001"
    assert take("INV", "SH01", 2026) == "INV-SH01-2026-000003"
    assert take("CM", "DE02", 2027) == "CM-DE02-2027-000001"
    assert (last_number("INV", "SH01", 2026), last_number("INV", "DE02", 2026), last_number("CM", "SH01", 2027)) == (
        3,
        1,
        0,
    )


@pytest.mark.parametrize(("kind", "entity", "year"), [("XX", "SH01", 2026), ("INV", "sh01", 2026), ("CM", "SH01", 26)])
def test_a_bad_sequence_name_is_refused_before_any_read(hub: Hub, kind: str, entity: str, year: int) -> None:
    from invoicing.numbering import next_number

    with pytest.raises(ValueError):
        next_number(kind, entity, year)
