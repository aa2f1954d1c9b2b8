"""Availability-to-promise: what a channel may count on before it orders (``GET /availability``,
``POST /availability/query``, served by the orders API function through ``inventory.api``).

It reads the positions themselves, the projection the WMS reports and the hub's reservations keep
current: one eventually consistent Query per SKU (its partition, ``pk = SKU#<sku>``), never a scan.
The answer is an inquiry, not a promise kept: only reservation holds stock.

Per position: ``available = max(0, on_hand - reserved - quality_hold)`` if it is sellable to the
caller (a lot whose ``best_before`` is before today + the channel's ``min_shelf_life_days`` is not:
it counts 0), ``available_by(d) = available + in_transit`` expected on or before ``d``. A position
is ``stale`` when its report is older than ``AVAILABILITY_STALE_AFTER_SECONDS`` (default 3600), or
the WMS never reported it. The warehouse of a location is the registered site whose
``location_prefix`` it starts with (None where the function has no site registry).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from synchub_core.config import WarehousesUnavailable, warehouse_sites

from . import repository
from .models import (
    AvailabilityLine,
    AvailabilityQuery,
    AvailabilityRequestInvalid,
    LineAnswer,
    LocationAvailability,
    Position,
    Quantities,
    QueryAnswer,
    SkuAvailability,
)

STALE_AFTER_ENV = "AVAILABILITY_STALE_AFTER_SECONDS"
DEFAULT_STALE_AFTER_SECONDS = 3600
MAX_SKUS = 50  # GET /availability
MAX_LINES = 100  # POST /availability/query


# -- configuration -----------------------------------------------------------------------------------
def stale_after() -> timedelta:
    """``AVAILABILITY_STALE_AFTER_SECONDS`` (the stack sets it from ``synchub:availabilityStaleAfterMinutes``)."""
    raw = os.environ.get(STALE_AFTER_ENV) or str(DEFAULT_STALE_AFTER_SECONDS)
    try:
        seconds = int(raw)
    except ValueError:
        seconds = -1
    if seconds < 1:
        raise RuntimeError(
            f"synchub function misconfigured: {STALE_AFTER_ENV}={raw!r} is not a whole number of seconds above 0"
        )
    return timedelta(seconds=seconds)


def site_prefixes() -> dict[str, str]:
    """location_prefix -> warehouse_id of the registered sites; empty without a registry."""
    try:
        return {s.location_prefix: s.warehouse_id for s in warehouse_sites().values()}
    except WarehousesUnavailable:
        return {}


# -- the pure part -----------------------------------------------------------------------------------
def warehouse_of(location_id: str, prefixes: Mapping[str, str]) -> str | None:
    for prefix, warehouse_id in prefixes.items():
        if location_id.startswith(prefix):
            return warehouse_id
    return None


def sellable(best_before: date | None, today: date, min_shelf_life_days: int) -> bool:
    """A lot may be promised to a channel while it has at least the channel's minimum shelf life
    left; stock without a best-before date always may."""
    return best_before is None or best_before >= today + timedelta(days=min_shelf_life_days)


def is_stale(as_of: str, now: datetime, threshold: timedelta) -> bool:
    """A report older than ``threshold`` (or none at all) is stale."""
    if not as_of:
        return True
    return now - datetime.fromisoformat(as_of) > threshold


def location_availability(
    position: Position,
    *,
    by: date | None,
    min_shelf_life_days: int,
    now: datetime,
    threshold: timedelta,
    prefixes: Mapping[str, str],
) -> LocationAvailability:
    ok = sellable(position.best_before, now.date(), min_shelf_life_days)
    available = max(0, position.on_hand - position.reserved - position.quality_hold) if ok else 0
    available_by = None
    if by is not None:
        eta = position.in_transit_expected_at
        arriving = position.in_transit if ok and eta is not None and eta <= by else 0
        available_by = available + arriving
    return LocationAvailability(
        location_id=position.location_id,
        warehouse_id=warehouse_of(position.location_id, prefixes),
        lot=position.lot,
        best_before=position.best_before,
        on_hand=position.on_hand,
        reserved=position.reserved,
        quality_hold=position.quality_hold,
        in_transit=position.in_transit,
        in_transit_expected_at=position.in_transit_expected_at,
        available=available,
        available_by=available_by,
        as_of=position.as_of or None,
        stale=is_stale(position.as_of, now, threshold),
        sellable=ok,
    )


def sku_availability(
    sku: str,
    positions: Iterable[Position],
    *,
    by: date | None,
    min_shelf_life_days: int,
    now: datetime,
    threshold: timedelta,
    prefixes: Mapping[str, str],
) -> SkuAvailability:
    """A SKU in total and per position (by location, then lot). A SKU no warehouse reported has
    zeros, no locations, ``as_of`` None and is not stale (there is no old report)."""
    locations = [
        location_availability(
            p, by=by, min_shelf_life_days=min_shelf_life_days, now=now, threshold=threshold, prefixes=prefixes
        )
        for p in sorted(positions, key=lambda p: (p.location_id, p.lot or ""))
    ]
    total = Quantities(
        on_hand=sum(loc.on_hand for loc in locations),
        reserved=sum(loc.reserved for loc in locations),
        quality_hold=sum(loc.quality_hold for loc in locations),
        in_transit=sum(loc.in_transit for loc in locations),
        available=sum(loc.available for loc in locations),
        available_by=None if by is None else sum(loc.available_by or 0 for loc in locations),
    )
    reported = [loc.as_of for loc in locations if loc.as_of]
    oldest = min(reported, key=datetime.fromisoformat) if reported else None
    return SkuAvailability(
        sku=sku,
        total=total,
        locations=locations,
        as_of=oldest,
        stale=any(loc.stale for loc in locations),
    )


def answer_lines(
    lines: Sequence[AvailabilityLine], by: date | None, skus: Mapping[str, SkuAvailability]
) -> QueryAnswer:
    """Each line against its SKU's availability; a SKU on several lines is judged by the basket's
    total of it (two lines of 5 are not promised from 8)."""
    wanted: dict[str, int] = {}
    for line in lines:
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
    answers = []
    for line in lines:
        total = skus[line.sku].total
        answers.append(
            LineAnswer(
                sku=line.sku,
                quantity=line.quantity,
                available=total.available,
                available_by=total.available_by,
                promise_now=wanted[line.sku] <= total.available,
                promise_by=None if total.available_by is None else wanted[line.sku] <= total.available_by,
                stale=skus[line.sku].stale,
            )
        )
    return QueryAnswer(lines=answers, by=by)


def _errors(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    return [{"pointer": prefix + "".join(f"/{part}" for part in e["loc"]), "detail": e["msg"]} for e in exc.errors()]


def checked_skus(skus: Iterable[str]) -> list[str]:
    """The inquiry's SKUs, duplicates dropped (first order kept); :class:`AvailabilityRequestInvalid`
    for none, more than :data:`MAX_SKUS` or one that is no SKU."""
    unique = list(dict.fromkeys(skus))
    if not unique:
        raise AvailabilityRequestInvalid("Name at least one SKU: GET /availability?sku=<sku>[&sku=<sku>...].")
    if len(unique) > MAX_SKUS:
        raise AvailabilityRequestInvalid(
            f"{len(unique)} SKUs asked for; at most {MAX_SKUS} per request: split the inquiry, or send a basket "
            f"of up to {MAX_LINES} lines to POST /availability/query."
        )
    bad = []
    for n, sku in enumerate(unique):
        try:
            AvailabilityLine(sku=sku, quantity=1)
        except ValidationError:
            bad.append({"pointer": f"/sku/{n}", "detail": f"{sku!r} is not a SKU"})
    if bad:
        raise AvailabilityRequestInvalid(f"{len(bad)} of the SKUs asked for are not SKUs (A-Z, 0-9, -_.).", bad)
    return unique


def _check_call(min_shelf_life_days: int, now: datetime) -> None:
    if min_shelf_life_days < 0:
        raise AvailabilityRequestInvalid(f"min_shelf_life_days cannot be negative ({min_shelf_life_days})")
    if now.tzinfo is None:
        raise ValueError("now must carry a timezone")


# -- the inquiries ---------------------------------------------------------------------------------
def _read(
    skus: Iterable[str], *, by: date | None, min_shelf_life_days: int, now: datetime
) -> dict[str, SkuAvailability]:
    threshold, prefixes = stale_after(), site_prefixes()
    return {
        sku: sku_availability(
            sku,
            repository.inquiry_positions(sku),
            by=by,
            min_shelf_life_days=min_shelf_life_days,
            now=now,
            threshold=threshold,
            prefixes=prefixes,
        )
        for sku in skus
    }


def availability(
    skus: Iterable[str], *, by: date | None, min_shelf_life_days: int, now: datetime
) -> list[SkuAvailability]:
    """``GET /availability``: each SKU (1..50, duplicates answered once, in the order asked), one
    Query each. Raises :class:`AvailabilityRequestInvalid`."""
    _check_call(min_shelf_life_days, now)
    unique = checked_skus(skus)
    found = _read(unique, by=by, min_shelf_life_days=min_shelf_life_days, now=now)
    return [found[sku] for sku in unique]


def query(
    lines: Iterable[AvailabilityLine | Mapping[str, Any]],
    *,
    by: date | None,
    min_shelf_life_days: int,
    now: datetime,
) -> QueryAnswer:
    """``POST /availability/query``: a basket of 1..100 lines ``{sku, quantity}``, one Query per
    distinct SKU. Raises :class:`AvailabilityRequestInvalid` (``errors`` point into the body)."""
    _check_call(min_shelf_life_days, now)
    raw = [line.model_dump() if isinstance(line, AvailabilityLine) else line for line in lines]
    try:
        request = AvailabilityQuery.model_validate({"lines": raw, "by": by})
    except ValidationError as exc:
        too_many = len(raw) > MAX_LINES
        message = (
            f"{len(raw)} lines; at most {MAX_LINES} per query: split the basket."
            if too_many
            else "The basket is not valid: send 1 to 100 lines of {sku, quantity >= 1}."
        )
        raise AvailabilityRequestInvalid(message, _errors(exc)) from None
    found = _read(
        dict.fromkeys(line.sku for line in request.lines), by=by, min_shelf_life_days=min_shelf_life_days, now=now
    )
    return answer_lines(request.lines, by, found)


def answer(request: AvailabilityQuery, *, min_shelf_life_days: int, now: datetime) -> QueryAnswer:
    """:func:`query` for a parsed request body."""
    return query(request.lines, by=request.by, min_shelf_life_days=min_shelf_life_days, now=now)
