"""An order's history: one item per change (issue 10: one transaction item fewer where a change
records two transitions), and the per-transition items of orders stored before still read."""

from __future__ import annotations

from orders.repository import history_of
from synchub_core.vocabulary import OrderState


def test_history_reads_one_item_per_change_and_the_per_transition_items_stored_before() -> None:
    at = "2026-12-02T10:00:00.000Z"
    items = [
        {"pk": "ORDER#o", "sk": "ORDER", "state": "INVOICED"},
        # stored before: one item per transition
        {"pk": "ORDER#o", "sk": "HIST#00000001#1", "state": "ACCEPTED", "at": at, "reason": "passed validation"},
        {"pk": "ORDER#o", "sk": "HIST#00000001#0", "state": "SUBMITTED", "at": at, "reason": "received"},
        # now: one item per change, its transitions in order
        {
            "pk": "ORDER#o",
            "sk": "HIST#00000004",
            "at": at,
            "entries": [
                {"state": "SHIPPED", "at": at, "reason": "shipment SHP-1", "event_id": "e4"},
                {"state": "INVOICED", "at": at, "reason": "invoice INV-1", "event_id": "e4"},
            ],
        },
        {"pk": "ORDER#o", "sk": "HIST#00000002", "at": at, "entries": [{"state": "RESERVED", "at": at, "reason": "r"}]},
    ]
    history = history_of(items)
    assert [h.state for h in history] == [
        OrderState.SUBMITTED,
        OrderState.ACCEPTED,
        OrderState.RESERVED,
        OrderState.SHIPPED,
        OrderState.INVOICED,
    ]
    assert history[3].event_id == "e4" and history[2].event_id is None
