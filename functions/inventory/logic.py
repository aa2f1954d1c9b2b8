"""Warehouse position reports: version-aware, and aware of shipments the WMS has not counted yet."""

from __future__ import annotations

from synchub_core.envelope import EventEnvelope, iso

from . import repository
from .models import MAX_REPORT_ATTEMPTS, PendingShipment, PositionContention, PositionReport


def still_pending(pending: list[PendingShipment], as_of: str) -> list[PendingShipment]:
    """Shipments after the report's ``as_of`` are not in its on_hand yet; those at or before are."""
    return [p for p in pending if p.shipped_at > as_of]


def reported_on_hand(report: PositionReport, pending: list[PendingShipment]) -> int:
    """The report's on_hand less what the hub shipped since the report's ``as_of``."""
    return report.on_hand - sum(p.quantity for p in pending)


def apply_report(report: PositionReport, sequence: int, event_id: str) -> bool:
    """Apply a WMS report if it is newer than what the position has seen.

    Returns False for a duplicate or stale report (nothing is changed). ``reserved`` belongs to
    the hub and survives reports; ``available`` is on_hand - reserved - quality_hold. Shipments
    the hub confirmed after the report's ``as_of`` are subtracted from its on_hand and stay
    pending; shipments at or before ``as_of`` are in it and are dropped from the list.
    """
    as_of = iso(report.as_of)
    for _ in range(MAX_REPORT_ATTEMPTS):
        seen = repository.report_state(report.sku, report.location_id)
        if seen is not None and seen.wms_sequence >= sequence:
            return False
        pending = still_pending(seen.pending_shipments if seen else [], as_of)
        on_hand = reported_on_hand(report, pending)
        if repository.write_report(report, sequence, event_id, on_hand, pending, seen):
            return True
    raise PositionContention(f"{report.sku}@{report.location_id}")


def apply(envelope: EventEnvelope) -> tuple[PositionReport, bool]:
    """An ``InventoryPositionReported`` envelope applied; the report and whether it changed anything."""
    report = PositionReport.model_validate(envelope.data)
    return report, apply_report(report, envelope.sequence, envelope.event_id)
