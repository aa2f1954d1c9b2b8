"""Business exceptions in the provisioned ConnectorsTable (index ``exceptions-by-status``): raised
once per target and entity, listed newest first with a cursor, resubmitted (exactly once) to the
queue they came from, discarded, resolved, and re-opened when the resubmission is refused again."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from helpers import Hub

QUEUE = "ConnectorsFinancePostingWorkerQueue"


def raise_one(hub: Hub, entity_id: str, target: str = "finance", **overrides: Any) -> str:
    from connectors.api import raise_exception

    kwargs: dict[str, Any] = {
        "target": target,
        "entity_type": "invoice" if target == "finance" else "order",
        "entity_id": entity_id,
        "code": "unknown_account",
        "reason": f"finance has no customer account CUST-0199 (unknown_account): {entity_id}",
        "payload": json.dumps({"detail": {"entity_id": entity_id}}),
        "resubmit_queue_url": hub.queue(QUEUE),
        "refs": {"invoice_id": entity_id, "order_id": None},
        **overrides,
    }
    return raise_exception(**kwargs)


def test_raise_is_once_per_target_and_entity_and_lists_newest_first(hub: Hub) -> None:
    from connectors.api import exception_id, get_exception, list_exceptions

    first = raise_one(hub, "inv_a")
    assert first == exception_id("finance", "invoice", "inv_a") and first.startswith("exc_") and len(first) == 24
    time.sleep(0.002)
    assert raise_one(hub, "inv_a", reason="another reason") == first  # OPEN already: unchanged
    stored = get_exception(first)
    assert stored["attempts"] == 1 and stored["reason"].endswith("inv_a") and len(stored["history"]) == 1
    assert stored["refs"] == {"invoice_id": "inv_a"}  # empty references left out
    assert "pk" not in stored and "exception_status" not in stored

    for n in range(5):
        time.sleep(0.002)
        raise_one(hub, f"inv_{n}")
        raise_one(hub, f"ord_{n}", target="erp")
    page, cursor = list_exceptions(status="OPEN", target="finance", limit=4)
    assert [e["entity_id"] for e in page] == ["inv_4", "inv_3", "inv_2", "inv_1"]
    assert cursor is not None
    rest, end = list_exceptions(status="OPEN", target="finance", limit=4, cursor=cursor)
    assert [e["entity_id"] for e in rest] == ["inv_0", "inv_a"] and end is None
    everything, _ = list_exceptions(limit=100)
    assert len(everything) == 11
    assert list_exceptions(status="DISCARDED") == ([], None)
    for bad in ({"status": "WHATEVER"}, {"limit": 0}, {"limit": 101}, {"cursor": "not-a-cursor"}):
        with pytest.raises(ValueError):
            list_exceptions(**bad)


def test_resubmit_sends_once_and_a_second_refusal_reopens_it(hub: Hub) -> None:
    from connectors.api import ExceptionNotFound, ExceptionNotOpen, get_exception, resolve, resubmit

    exc_id = raise_one(hub, "inv_r")
    done = resubmit(exc_id, by="ops-anna")
    assert done["status"] == "RESUBMITTED"
    with pytest.raises(ExceptionNotOpen) as again:
        resubmit(exc_id, by="ops-bob")
    assert again.value.status == "RESUBMITTED"
    (message,) = hub.sqs.receive_message(QueueUrl=hub.queue(QUEUE), MessageAttributeNames=["All"])["Messages"]
    assert json.loads(message["Body"]) == {"detail": {"entity_id": "inv_r"}}
    assert message["MessageAttributes"]["synchub-resubmit-of"]["StringValue"] == exc_id

    # refused again: the same record re-opened, attempts counted, history kept
    raise_one(hub, "inv_r", reason="still no account")
    reopened = get_exception(exc_id)
    assert (reopened["status"], reopened["attempts"], reopened["reason"]) == ("OPEN", 2, "still no account")
    assert [h["status"] for h in reopened["history"]] == ["OPEN", "RESUBMITTED", "OPEN"]
    assert reopened["history"][1]["by"] == "ops-anna"

    resubmit(exc_id, by="ops-anna")
    assert resolve("finance", "invoice", "inv_r") is True
    assert get_exception(exc_id)["status"] == "RESOLVED"
    assert resolve("finance", "invoice", "inv_r") is False  # nothing left to resolve
    assert resolve("finance", "invoice", "inv_never_refused") is False
    with pytest.raises(ExceptionNotFound):
        resubmit("exc_00000000000000000000", by="ops-anna")
    with pytest.raises(ExceptionNotFound):
        get_exception("exc_00000000000000000000")


def test_a_resubmission_that_cannot_be_sent_is_put_back_to_open(hub: Hub) -> None:
    from connectors.api import get_exception, resubmit

    exc_id = raise_one(hub, "inv_s", resubmit_queue_url=hub.queue(QUEUE) + "-gone")
    with pytest.raises(Exception, match=r"(?i)queue"):
        resubmit(exc_id, by="ops-anna")
    back = get_exception(exc_id)
    assert back["status"] == "OPEN"
    assert [h["status"] for h in back["history"]] == ["OPEN", "RESUBMITTED", "OPEN"]


def test_discard_closes_it_for_good(hub: Hub) -> None:
    from connectors.api import ExceptionNotOpen, discard, get_exception, list_exceptions, resubmit

    exc_id = raise_one(hub, "inv_d")
    gone = discard(exc_id, by="ops-anna", reason="booked by hand in finance")
    assert gone["status"] == "DISCARDED" and gone["discard_reason"] == "booked by hand in finance"
    with pytest.raises(ExceptionNotOpen):
        discard(exc_id, by="ops-anna", reason="again")
    with pytest.raises(ExceptionNotOpen):
        resubmit(exc_id, by="ops-anna")
    assert [e["exception_id"] for e in list_exceptions(status="DISCARDED")[0]] == [exc_id]
    assert get_exception(exc_id)["history"][-1] == {
        "at": gone["updated_at"],
        "status": "DISCARDED",
        "by": "ops-anna",
        "reason": "booked by hand in finance",
    }
    # the same refusal again (the next reconciliation run, a redelivery) does not bring it back
    assert raise_one(hub, "inv_d") == exc_id
    assert get_exception(exc_id)["status"] == "DISCARDED" and list_exceptions(status="OPEN")[0] == []


def test_raise_with_a_ledger_entry_is_atomic(hub: Hub) -> None:
    from connectors.api import ExceptionNotFound, TransactionCancelled, exception_id, raise_exception
    from synchub_core import ddb
    from synchub_core.config import settings

    table = settings().require("connectors_table")
    entry = ddb.put(
        table, {"pk": "POSTING#inv_t", "sk": "POSTING", "status": "REJECTED"}, condition="attribute_not_exists(pk)"
    )
    raise_one(hub, "inv_t", also=[entry])
    assert ddb.get(table, {"pk": "POSTING#inv_t", "sk": "POSTING"}) is not None
    with pytest.raises(TransactionCancelled):  # the ledger entry's condition fails: nothing written
        raise_exception(
            target="finance",
            entity_type="invoice",
            entity_id="inv_u",
            code="x",
            reason="y",
            payload="{}",
            resubmit_queue_url=hub.queue(QUEUE),
            refs={},
            also=[entry],
        )
    from connectors.api import get_exception

    with pytest.raises(ExceptionNotFound):
        get_exception(exception_id("finance", "invoice", "inv_u"))
