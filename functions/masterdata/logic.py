"""Master data rules: how a file is applied row by row, and what an order must satisfy.

Applying a file (:func:`load`):

* the file's name gives its kind and timestamp; its header is checked before any row (a wrong
  name or header rejects the file as a whole, with the reason, and applies nothing);
* every data row is validated on its own (:mod:`masterdata.models`); a bad row is rejected with
  its row number, key and reason, the good rows are applied;
* a key a file repeats is applied from its first row, the later ones are rejected;
* a row never overwrites a row from a file with a later timestamp (skipped, counted);
* a file (its key and ETag) is applied once: the same file again is a no-op; a run that stopped
  half way is run again from the start (the row writes are idempotent);
* memory does not grow with the file: it is streamed, and rows go out in windows.

The order check (:func:`check`) enforces a kind only once a file of that kind was applied, so a
hub with no ERP connected keeps taking orders. Price rule (:func:`erp_price`): a line the channel
priced keeps its price; a line without one gets the ERP price list's price for the customer's
price group (else STANDARD) in the order's currency, valid on the day the order is accepted
(``valid_from <= day <= valid_to``, an empty ``valid_to`` open ended; of several the latest
``valid_from``), and that price is fixed on the order line.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from synchub_core.envelope import now_iso

from . import files, repository
from .files import FileRefused, ObjectCreated, RawRow
from .models import (
    CUSTOMER_BLOCKED,
    MASTER_PREFIX,
    MAX_REJECTS_STORED,
    NO_PRICE,
    REPORT_PREFIX,
    ROW_MODELS,
    STANDARD_PRICE_GROUP,
    UNKNOWN_CUSTOMER,
    UNKNOWN_SKU,
    Applied,
    Counts,
    Duplicate,
    FileOutcome,
    FileStatus,
    Kind,
    OrderCheck,
    PriceEntry,
    Reject,
    Row,
    SourceFile,
    WriteResult,
    reasons,
    row_key,
)

WINDOW = 256  # rows validated, then written together (what the loader holds at a time)

Writer = Callable[[list[tuple[int, Row]]], list[WriteResult]]


# -- rows ----------------------------------------------------------------------------------------------


def validate(kind: Kind, raw: RawRow) -> Row | Reject:
    """A data row as its kind's model, or why it is rejected."""
    if raw.values is None or raw.problem is not None:
        return Reject(raw.number, row_key(kind, raw.values or {}), raw.problem or "the row could not be read")
    try:
        return ROW_MODELS[kind].model_validate(raw.values)
    except ValidationError as exc:
        return Reject(raw.number, row_key(kind, raw.values), reasons(exc))


def _what(kind: Kind) -> str:
    return {Kind.PRODUCTS: "sku", Kind.CUSTOMERS: "customer_id"}.get(
        kind, "price (sku/price_group/currency/valid_from)"
    )


def duplicate_reason(kind: Kind, key: str, first_row: int) -> str:
    return f"{_what(kind)} {key} is in the file already (row {first_row}): only the first row of a key is applied"


def apply_rows(
    kind: Kind, rows: Iterable[RawRow], write: Writer, on_reject: Callable[[Reject], None]
) -> tuple[Counts, list[Reject]]:
    """Validate ``rows`` one by one and ``write`` the good ones in windows of :data:`WINDOW`.

    Every rejected row goes to ``on_reject`` in row order; returns the counts and the first
    :data:`MAX_REJECTS_STORED` rejects."""
    counts = Counts()
    head: list[Reject] = []

    def reject(r: Reject) -> None:
        counts.rejected += 1
        if len(head) < MAX_REJECTS_STORED:
            head.append(r)
        on_reject(r)

    for window in _windows(rows):
        valid: list[tuple[int, Row]] = []
        rejected: list[Reject] = []
        first: dict[str, int] = {}  # a key twice in one window: the later row is a duplicate
        for raw in window:
            counts.rows += 1
            checked = validate(kind, raw)
            if isinstance(checked, Reject):
                rejected.append(checked)
            elif checked.key in first:
                rejected.append(
                    Reject(raw.number, checked.key, duplicate_reason(kind, checked.key, first[checked.key]))
                )
            else:
                first[checked.key] = raw.number
                valid.append((raw.number, checked))
        for (number, row), result in zip(valid, write(valid) if valid else [], strict=True):
            if isinstance(result, Duplicate):  # a key an earlier window of this run wrote
                rejected.append(Reject(number, row.key, duplicate_reason(kind, row.key, result.first_row)))
            elif result is Applied.OLDER:
                counts.skipped_older += 1
            else:
                counts.applied += 1
        for r in sorted(rejected, key=lambda r: r.row):
            reject(r)
    return counts, head


def _windows(rows: Iterable[RawRow]) -> Iterator[list[RawRow]]:
    window: list[RawRow] = []
    for raw in rows:
        window.append(raw)
        if len(window) >= WINDOW:
            yield window
            window = []
    if window:
        yield window


# -- files ---------------------------------------------------------------------------------------------


def _done(previous: dict[str, Any] | None, etag: str | None) -> bool:
    return bool(
        previous
        and etag
        and previous.get("etag") == etag
        and previous.get("status") in (FileStatus.APPLIED.value, FileStatus.REJECTED.value)
    )


def _refuse_file(bucket: str, key: str, kind: Kind | None, etag: str, reason: str, at: str) -> FileOutcome:
    """Record a file refused as a whole, and put its report (one line, row 0) into the bucket."""
    report_key = f"{REPORT_PREFIX}{files.stem_of(key)}.report.csv"
    with files.ReportWriter() as report:
        report.add(Reject(0, "", reason))
        repository.put_report(bucket, report_key, report.body())
    repository.finish_file(
        key=key,
        kind=kind,
        etag=etag,
        status=FileStatus.REJECTED,
        at=at,
        counts=Counts(),
        rejects=[Reject(0, "", reason)],
        report_key=report_key,
        reason=reason,
    )
    return FileOutcome(key, kind, FileStatus.REJECTED, reason=reason, report_key=report_key)


def load(obj: ObjectCreated, *, workers: int | None = None) -> FileOutcome:
    """Apply the master data file ``obj`` announces (see the module docstring)."""
    if not files.is_master_data_key(obj.key):
        return FileOutcome(obj.key, None, None, reason=f"{obj.key} is not in {MASTER_PREFIX}: ignored")
    previous = repository.file_record(obj.key)
    if _done(previous, obj.etag):
        return FileOutcome(obj.key, None, None, already_applied=True)
    try:
        name = files.file_name(obj.key)
    except FileRefused as refused:
        return _refuse_file(obj.bucket, obj.key, None, obj.etag or "", refused.reason, now_iso())
    stream = repository.open_object(obj.bucket, obj.key)
    if stream is None:
        return FileOutcome(obj.key, name.kind, None, reason=f"{obj.key} is gone (deleted since it was dropped)")
    try:
        if _done(previous, stream.etag):  # the notification named no ETag, or the object changed since
            return FileOutcome(obj.key, name.kind, None, already_applied=True)
        at = now_iso()
        src = SourceFile(obj.bucket, obj.key, name.kind, name.ts, name.stem, stream.etag, uuid.uuid4().hex[:16])
        repository.start_file(src, at)
        with files.ReportWriter() as report, repository.RowWriter(src, at, workers) as writer:
            try:
                counts, head = apply_rows(
                    name.kind, files.read_rows(files.lines_of(stream.chunks), name.kind), writer.write, report.add
                )
            except FileRefused as refused:
                return _refuse_file(obj.bucket, obj.key, name.kind, stream.etag, refused.reason, now_iso())
            repository.put_report(obj.bucket, src.report_key, report.body())
        finished = now_iso()
        repository.finish_file(
            key=obj.key,
            kind=name.kind,
            etag=stream.etag,
            status=FileStatus.APPLIED,
            at=finished,
            counts=counts,
            rejects=head,
            report_key=src.report_key,
            src=src,
        )
        if counts.applied or counts.skipped_older:  # an empty or wholly rejected file starts no enforcement
            repository.mark_loaded(src, finished)
        return FileOutcome(obj.key, name.kind, FileStatus.APPLIED, counts, report_key=src.report_key)
    finally:
        stream.close()


# -- the order check -----------------------------------------------------------------------------------


def erp_price(entries: Iterable[PriceEntry], price_group: str, day: date) -> Decimal | None:
    """The ERP price on ``day`` for ``price_group``, else for STANDARD (see the module docstring)."""
    entries = list(entries)
    for group in dict.fromkeys((price_group, STANDARD_PRICE_GROUP)):
        valid = [
            e
            for e in entries
            if e.price_group == group and e.valid_from <= day and (e.valid_to is None or day <= e.valid_to)
        ]
        if valid:
            return max(valid, key=lambda e: e.valid_from).unit_price
    return None


def check(
    customer_id: str,
    currency: str,
    lines: list[dict[str, Any]],
    day: date,
    customer: dict[str, Any] | None,
    products: dict[str, dict[str, Any]],
    prices: dict[str, list[PriceEntry]],
    loaded: set[Kind],
) -> OrderCheck:
    """The verdict on an order from what was read of the master data (pure)."""
    problems: list[tuple[str, str | None, str]] = []
    group = STANDARD_PRICE_GROUP
    if customer is not None:
        group = str(customer.get("price_group") or STANDARD_PRICE_GROUP)
    if Kind.CUSTOMERS in loaded:
        if customer is None:
            problems.append((UNKNOWN_CUSTOMER, None, f"Customer {customer_id} is not in the ERP customer list"))
        elif customer.get("status") == "BLOCKED":
            problems.append((CUSTOMER_BLOCKED, None, f"Customer {customer_id} is blocked in the ERP"))
    found: dict[str, Decimal] = {}
    for line in lines:
        line_id, sku = str(line["line_id"]), str(line["sku"])
        if Kind.PRODUCTS in loaded:
            product = products.get(sku)
            if product is None:
                problems.append((UNKNOWN_SKU, line_id, f"SKU {sku} is not in the ERP product list"))
                continue
            if product.get("status") != "ACTIVE":
                problems.append((UNKNOWN_SKU, line_id, f"SKU {sku} is discontinued in the ERP product list"))
                continue
        if line.get("unit_price") is not None:
            continue  # the channel's price stands
        price = erp_price(prices.get(sku, []), group, day)
        if price is None:
            groups = group if group == STANDARD_PRICE_GROUP else f"{group} or {STANDARD_PRICE_GROUP}"
            problems.append(
                (
                    NO_PRICE,
                    line_id,
                    f"SKU {sku} has no unit_price and the ERP price list has no {currency} price for it "
                    f"(price group {groups}) valid on {day.isoformat()}",
                )
            )
            continue
        found[line_id] = price
    return OrderCheck(problems=problems, prices=found if not problems else {}, price_group=group)


def check_order(customer_id: str, currency: str, lines: list[dict[str, Any]], at: date) -> OrderCheck:
    """Read what the order touches (one BatchGetItem) and judge it with :func:`check`."""
    skus = list(dict.fromkeys(str(line["sku"]) for line in lines))
    priced = list(dict.fromkeys(str(line["sku"]) for line in lines if line.get("unit_price") is None))
    data = repository.order_data(customer_id, skus, priced, currency)
    return check(customer_id, currency, lines, at, data.customer, data.products, data.prices, data.loaded)
