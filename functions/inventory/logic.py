"""Warehouse position reports: version-aware per position (sku, location, lot), aware of the shipments and
returns the WMS has not counted yet, and announcing stock that became available (``StockAvailable``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from synchub_core.config import WarehouseSite
from synchub_core.envelope import EventEnvelope, Refused, deterministic_event_id, iso, new_event, utcnow

from . import repository
from .models import (
    INVENTORY_SOURCE,
    MAX_REPORT_ATTEMPTS,
    STOCK_AVAILABLE,
    PendingShipment,
    PositionContention,
    PositionReport,
    ReportState,
    StockAvailableData,
)


def still_pending(pending: list[PendingShipment], as_of: str) -> list[PendingShipment]:
    """Shipments (and returns) after the report's ``as_of`` are not in its numbers yet; those at or
    before are."""
    return [p for p in pending if p.shipped_at > as_of]


def reported_on_hand(report: PositionReport, pending: list[PendingShipment]) -> int:
    """The report's on_hand less what the hub shipped since the report's ``as_of`` (plus what came
    back since: a return is pending with a negative quantity)."""
    return report.on_hand - sum(p.quantity for p in pending)


def reported_quality_hold(report: PositionReport, pending: list[PendingShipment]) -> int:
    """The report's quality_hold plus the damaged returns received since its ``as_of``."""
    return report.quality_hold - sum(p.hold for p in pending)


def stock_rises(seen: ReportState | None, free: int) -> bool:
    """Whether a report leaving ``free`` (on_hand - quality_hold) makes stock available: the
    position's available ends above 0 and above what it was (a new position: above 0). ``reserved``
    is the hub's: the report moves available only through on_hand and quality_hold."""
    if seen is None:
        return free > 0
    new_available = free - seen.reserved
    return new_available > 0 and new_available > seen.available


def stock_event_id(report: PositionReport, sequence: int) -> str:
    return deterministic_event_id("stock", report.sku, report.location_id, report.lot or "", str(sequence))


def stock_available_event(
    skus: Iterable[str],
    cause: str,
    correlation_id: str,
    causation_id: str | None,
    event_id: str,
    *,
    at: datetime | None = None,
    sequence: int = 0,
) -> EventEnvelope:
    """``StockAvailable`` for ``skus`` (deduplicated and sorted; the first names the event's entity):
    backorders waiting on them are worth retrying. ``event_id`` derives from the cause, so a
    retried handler writes the same event (the outbox takes it once)."""
    when = at or utcnow()
    data = StockAvailableData.model_validate({"skus": sorted(set(skus)), "cause": cause, "at": when})
    return new_event(
        STOCK_AVAILABLE,
        entity_id=data.skus[0],
        sequence=sequence,
        data=data.model_dump(mode="json"),
        correlation_id=correlation_id,
        causation_id=causation_id,
        source_system=INVENTORY_SOURCE,
        event_id=event_id,
        occurred_at=when,
    )


def apply_report(report: PositionReport, sequence: int, event_id: str, correlation_id: str | None = None) -> bool:
    """Apply a WMS report if it is newer than what the position (sku, location, lot) has seen.

    Returns False for a duplicate or stale report (nothing is changed). ``reserved`` belongs to
    the hub and survives reports; ``available`` is on_hand - reserved - quality_hold. Shipments
    the hub confirmed after the report's ``as_of`` are subtracted from its on_hand and stay
    pending (returns received after it are added back); those at or before ``as_of`` are in it and
    are dropped from the list. A report that makes stock available writes ``StockAvailable``
    (cause ``report``) in the same transaction as the position.
    """
    as_of = iso(report.as_of)
    for _ in range(MAX_REPORT_ATTEMPTS):
        seen = repository.report_state(report.sku, report.location_id, report.lot)
        if seen is not None and seen.wms_sequence >= sequence:
            return False
        pending = still_pending(seen.pending_shipments if seen else [], as_of)
        on_hand = reported_on_hand(report, pending)
        hold = reported_quality_hold(report, pending)
        event = None
        if stock_rises(seen, on_hand - hold):
            event = stock_available_event(
                [report.sku],
                "report",
                correlation_id or event_id,
                event_id,
                stock_event_id(report, sequence),
                sequence=sequence,
            )
        if repository.write_report(report, sequence, event_id, on_hand, pending, seen, hold, event):
            return True
    raise PositionContention(f"{report.sku}@{report.location_id}" + (f"#{report.lot}" if report.lot else ""))


@dataclass(frozen=True)
class Sender:
    """Who sent a report, as SQS tells it: the record's ``SenderId`` (``<RoleId>:<session>`` for an
    assumed role), the ``synchub-original-sender`` it carries (only a copy the ReplayRole sent is
    judged by it) and the ReplayRole's RoleId (``REPLAY_ROLE_ID``)."""

    sender_id: str | None
    recorded: str | None = None
    replay_role_id: str = ""


def _describe(sender_id: str | None, sites: Mapping[str, WarehouseSite]) -> str:
    """A sender for a refusal reason: a site's producer role, another role by its RoleId, or neither.
    Only the unique id before the colon is repeated (the session name after it is the caller's choice),
    and only a role's (a user's unique id, or an account id, is not)."""
    if not sender_id:
        return "an unidentified sender"
    role, session, _ = sender_id.partition(":")
    if not role.startswith("AROA"):
        return "a principal that is not a role"
    for other in sites.values():
        if session and other.producer_role_id and role == other.producer_role_id:
            return f"{other.source}'s producer role ({role})"
    return f"role {role}"


def check_sender(
    envelope: EventEnvelope, site: WarehouseSite, sender: Sender, sites: Mapping[str, WarehouseSite]
) -> None:
    """Raise :class:`Refused` unless ``site``'s producer role sent the report: its SenderId starts with
    ``<producer_role_id>:``, or the ReplayRole sent it and the sender it records does. A site without
    a ``producer_role_id`` (the local hub: IAM is not emulated) is not checked."""
    expected = site.producer_role_id
    if not expected:
        return
    replay = sender.replay_role_id
    replayed = bool(replay) and (sender.sender_id or "").startswith(f"{replay}:")
    judged = sender.recorded if replayed else sender.sender_id
    if judged is not None and judged.startswith(f"{expected}:"):
        return
    who = _describe(judged, sites)
    if replayed:
        who = f"the ReplayRole, replaying a report first sent by {who}"
    raise Refused(
        f"inventory report {envelope.event_id} from {site.source}: the sender is not {site.source}'s producer "
        f"role ({expected}) but {who}; a site's reports are taken only from its own producer role"
    )


def admit(envelope: EventEnvelope, sites: Mapping[str, WarehouseSite], sender: Sender | None = None) -> PositionReport:
    """The report of ``envelope`` if a registered site sent it about one of its own locations.

    Raises :class:`Refused` when ``source_system`` is no registered site (``wms.<site>``), the site
    has a ``producer_role_id`` and ``sender`` is not that role (:func:`check_sender`), or the
    location does not start with that site's ``location_prefix`` (one site cannot overwrite
    another's stock); pydantic's ``ValidationError`` when the report itself is invalid.
    """
    site = sites.get(envelope.source_system)
    if site is None:
        hint = ""
        respelled = envelope.source_system.replace("-", ".", 1)
        if respelled in sites:
            hint = f" (the site is spelled {respelled})"
        raise Refused(
            f"inventory report {envelope.event_id} from source_system {envelope.source_system!r}: "
            f"not a registered warehouse site{hint}; registered: {', '.join(sorted(sites)) or 'none'}"
        )
    check_sender(envelope, site, sender or Sender(None), sites)
    report = PositionReport.model_validate(envelope.data)
    if not report.location_id.startswith(site.location_prefix):
        raise Refused(
            f"inventory report {envelope.event_id} from {site.source} names location {report.location_id}, "
            f"which is not one of its own: {site.source} reports only locations starting with "
            f"{site.location_prefix}"
        )
    return report


def apply(envelope: EventEnvelope) -> tuple[PositionReport, bool]:
    """An ``InventoryPositionReported`` envelope applied; the report and whether it changed anything."""
    report = PositionReport.model_validate(envelope.data)
    return report, apply_report(report, envelope.sequence, envelope.event_id, envelope.correlation_id)
