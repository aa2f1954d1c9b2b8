"""Master data persistence: the MasterDataTable (env ``MASTERDATA_TABLE``) and the exchange bucket.

| pk                          | sk       | what                                                        |
|-----------------------------|----------|-------------------------------------------------------------|
| PRODUCT#<sku>               | PRODUCT  | a product: description, unit_of_measure, status             |
| CUSTOMER#<customer_id>      | CUSTOMER | a customer: name, country, status, price_group              |
| PRICE#<sku>#<currency>      | PRICE    | the SKU's price list in one currency: one attribute per row, |
|                             |          | ``P#<price_group>#<valid_from>`` = {unit_price, valid_to, ...} |
| MDFILE#<object key>         | MDFILE   | a file: ETag, status, counts, the first 1000 rejects         |
| META#<kind>                 | META     | the last file of a kind applied (enforcement starts with it) |

Every row item carries where it came from: ``source_file_ts`` (the file name's timestamp),
``source_attempt`` (the run over the file) and ``source_row``. A row is written with a condition:
no item yet, or one from an older file, or one from an earlier run over a file with the same
timestamp (a redelivered or resumed file writes its rows again: idempotent). A row whose item comes
from a newer file is skipped; one whose item this very run wrote is a duplicate key. BatchWriteItem
takes no conditions, so rows are single conditional writes, several at a time (a thread pool; rows
of one item in sequence).

Prices are kept per SKU and currency, every price row of the pair in one item, so the order check
finds the price of any customer's group with the other keys of the order in ONE BatchGetItem (the
currency is the order's; the group is known only once the customer is read, which is in that same
call). An item holds the pair's rows of all groups and periods (tens of rows, a few KB); the cost
is that a row write rewrites that item (WCU by item size), paid once per file instead of a Query
per line on every order.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import IO, Any

from synchub_core import ddb
from synchub_core.aws import client
from synchub_core.config import settings

from .models import (
    MAX_REJECTS_STORED,
    Applied,
    Counts,
    CustomerRow,
    Duplicate,
    FileStatus,
    Kind,
    PriceEntry,
    PriceRow,
    ProductRow,
    Reject,
    Row,
    SourceFile,
    WriteResult,
)

BUCKET_ENV = "EXCHANGE_BUCKET"
CONCURRENCY_ENV = "MASTERDATA_WRITE_CONCURRENCY"
DEFAULT_CONCURRENCY = 8  # under botocore's 10 pooled connections per client
CHUNK_BYTES = 64 * 1024
PRICE_ATTRIBUTE = "P#"
MAX_REASON_STORED = 200
_BATCH_GET_ATTEMPTS = 8


def table() -> str:
    """The MasterDataTable's name (env ``MASTERDATA_TABLE``); fails loudly where the stack did not set it."""
    return settings().require("masterdata_table")


def exchange_bucket() -> str:
    name = os.environ.get(BUCKET_ENV, "")
    if not name:
        raise RuntimeError(f"synchub function misconfigured: {BUCKET_ENV} not set (the CDK stack sets it)")
    return name


def product_key(sku: str) -> dict[str, str]:
    return {"pk": f"PRODUCT#{sku}", "sk": "PRODUCT"}


def customer_key(customer_id: str) -> dict[str, str]:
    return {"pk": f"CUSTOMER#{customer_id}", "sk": "CUSTOMER"}


def price_key(sku: str, currency: str) -> dict[str, str]:
    return {"pk": f"PRICE#{sku}#{currency}", "sk": "PRICE"}


def meta_key(kind: Kind) -> dict[str, str]:
    return {"pk": f"META#{kind.value}", "sk": "META"}


def file_key(key: str) -> dict[str, str]:
    return {"pk": f"MDFILE#{key}", "sk": "MDFILE"}


# -- the exchange bucket -------------------------------------------------------------------------------


@dataclass
class ObjectStream:
    """An object being read: its ETag and its body in chunks (never read whole)."""

    etag: str
    chunks: Iterator[bytes]
    close: Callable[[], None]


def open_object(bucket: str, key: str) -> ObjectStream | None:
    """The object, streamed; None when it is gone (deleted since its notification)."""
    s3 = client("s3")
    try:
        resp = s3.get_object(Bucket=bucket, Key=key)
    except s3.exceptions.NoSuchKey:
        return None
    body = resp["Body"]
    return ObjectStream(str(resp.get("ETag", "")).strip('"'), body.iter_chunks(CHUNK_BYTES), body.close)


def put_report(bucket: str, key: str, body: IO[bytes]) -> None:
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv; charset=utf-8")


# -- file records --------------------------------------------------------------------------------------


def file_record(key: str) -> dict[str, Any] | None:
    return ddb.get(table(), file_key(key))


def start_file(src: SourceFile, at: str) -> None:
    client("dynamodb").put_item(
        TableName=table(),
        Item=ddb.to_ddb(
            {
                **file_key(src.key),
                "item_type": "MDFILE",
                "file": src.key,
                "kind": src.kind.value,
                "etag": src.etag,
                "source_file_ts": src.ts,
                "attempt": src.attempt,
                "status": FileStatus.PROCESSING.value,
                "started_at": at,
                "report_key": src.report_key,
            }
        ),
    )


def finish_file(
    *,
    key: str,
    kind: Kind | None,
    etag: str,
    status: FileStatus,
    at: str,
    counts: Counts,
    rejects: list[Reject],
    report_key: str,
    reason: str | None = None,
    src: SourceFile | None = None,
) -> None:
    """The file's record as it ends: its counts, the first rejects, where its report is."""
    item: dict[str, Any] = {
        **file_key(key),
        "item_type": "MDFILE",
        "file": key,
        "kind": kind.value if kind else None,
        "etag": etag,
        "status": status.value,
        "finished_at": at,
        "rows": counts.rows,
        "applied": counts.applied,
        "rejected": counts.rejected,
        "skipped_older": counts.skipped_older,
        "rejects": [
            {"row": r.row, "key": r.key, "reason": r.reason[:MAX_REASON_STORED]} for r in rejects[:MAX_REJECTS_STORED]
        ],
        "rejects_truncated": counts.rejected > MAX_REJECTS_STORED,
        "report_key": report_key,
        "reason": reason,
    }
    if src is not None:
        item.update(source_file_ts=src.ts, attempt=src.attempt)
    previous = file_record(key)
    if previous and previous.get("started_at"):
        item["started_at"] = previous["started_at"]
    client("dynamodb").put_item(TableName=table(), Item=ddb.to_ddb(item))


def mark_loaded(src: SourceFile, at: str) -> bool:
    """Record that a file of ``src.kind`` was applied (the order check enforces the kind from now
    on). An older file than the one recorded leaves the record as it is; returns whether it moved."""
    try:
        client("dynamodb").update_item(
            TableName=table(),
            Key=ddb.to_ddb(meta_key(src.kind)),
            UpdateExpression="SET kind = :kind, loaded_at = :at, last_file = :file, last_file_ts = :ts, "
            "last_etag = :etag, item_type = :type",
            ConditionExpression="attribute_not_exists(pk) OR last_file_ts <= :ts",
            ExpressionAttributeValues=ddb.values(
                kind=src.kind.value, at=at, file=src.key, ts=src.ts, etag=src.etag, type="META"
            ),
        )
    except client("dynamodb").exceptions.ConditionalCheckFailedException:
        return False
    return True


def meta(kind: Kind) -> dict[str, Any] | None:
    return ddb.get(table(), meta_key(kind))


# -- rows ----------------------------------------------------------------------------------------------

# a row is written unless its item comes from a newer file, or from this very run (a duplicate key)
_NEWER_OR_SAME_RUN = (
    "attribute_not_exists(pk) OR source_file_ts < :ts OR (source_file_ts = :ts AND source_attempt <> :attempt)"
)
_PRICE_NEWER_OR_SAME_RUN = "attribute_not_exists(#p) OR #p.#ts < :ts OR (#p.#ts = :ts AND #p.#attempt <> :attempt)"


def _price_attribute(row: PriceRow) -> str:
    return f"{PRICE_ATTRIBUTE}{row.price_group}#{row.valid_from.isoformat()}"


def _item_key(row: Row) -> tuple[str, ...]:
    if isinstance(row, ProductRow):
        return ("P", row.sku)
    if isinstance(row, CustomerRow):
        return ("C", row.customer_id)
    return ("R", row.sku, row.currency)


def _source(src: SourceFile, number: int, at: str) -> dict[str, Any]:
    return {
        "source_file": src.key,
        "source_file_ts": src.ts,
        "source_attempt": src.attempt,
        "source_row": number,
        "updated_at": at,
    }


def _classify(old: dict[str, Any] | None, src: SourceFile) -> WriteResult:
    """Why a row's condition failed: its item is from a newer file, or this run wrote it already."""
    if old and old.get("source_file_ts") == src.ts and old.get("source_attempt") == src.attempt:
        return Duplicate(int(old.get("source_row", 0)))
    return Applied.OLDER


def _failed_item(exc: Any) -> dict[str, Any] | None:
    raw = exc.response.get("Item") if hasattr(exc, "response") else None
    return ddb.from_ddb(raw) if raw else None


def _write_entity(name: str, row: ProductRow | CustomerRow, number: int, src: SourceFile, at: str) -> WriteResult:
    if isinstance(row, ProductRow):
        item = {**product_key(row.sku), "item_type": "PRODUCT", **row.model_dump()}
    else:
        item = {**customer_key(row.customer_id), "item_type": "CUSTOMER", **row.model_dump()}
    dynamodb = client("dynamodb")
    try:
        dynamodb.put_item(
            TableName=name,
            Item=ddb.to_ddb({**item, **_source(src, number, at)}),
            ConditionExpression=_NEWER_OR_SAME_RUN,
            ExpressionAttributeValues=ddb.values(ts=src.ts, attempt=src.attempt),
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException as exc:
        old = _failed_item(exc) or ddb.get(name, {"pk": item["pk"], "sk": item["sk"]})
        return _classify(old, src)
    return Applied.APPLIED


def _write_price(name: str, row: PriceRow, number: int, src: SourceFile, at: str) -> WriteResult:
    entry: dict[str, Any] = {
        "unit_price": str(row.unit_price),  # as the ERP spelled it (18.40, not 18.4): the order line shows it
        "valid_from": row.valid_from.isoformat(),
        "ts": src.ts,
        "attempt": src.attempt,
        "row": number,
        "file": src.key,
    }
    if row.valid_to is not None:
        entry["valid_to"] = row.valid_to.isoformat()
    key = price_key(row.sku, row.currency)
    dynamodb = client("dynamodb")
    try:
        dynamodb.update_item(
            TableName=name,
            Key=ddb.to_ddb(key),
            UpdateExpression="SET #p = :entry, item_type = :type, sku = :sku, currency = :currency, updated_at = :at",
            ConditionExpression=_PRICE_NEWER_OR_SAME_RUN,
            ExpressionAttributeNames={"#p": _price_attribute(row), "#ts": "ts", "#attempt": "attempt"},
            ExpressionAttributeValues=ddb.values(
                entry=entry, type="PRICE", sku=row.sku, currency=row.currency, at=at, ts=src.ts, attempt=src.attempt
            ),
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException as exc:
        old_item = _failed_item(exc) or ddb.get(name, key) or {}
        old = old_item.get(_price_attribute(row))
        if isinstance(old, dict):
            old = {"source_file_ts": old.get("ts"), "source_attempt": old.get("attempt"), "source_row": old.get("row")}
        return _classify(old if isinstance(old, dict) else None, src)
    return Applied.APPLIED


def write_row(row: Row, number: int, src: SourceFile, at: str) -> WriteResult:
    """Write one validated row (conditionally, see the module docstring)."""
    if isinstance(row, PriceRow):
        return _write_price(table(), row, number, src, at)
    return _write_entity(table(), row, number, src, at)


class RowWriter:
    """Writes windows of rows, several items at a time; the rows of one item in file order (so the
    first of two rows with one key is the one applied)."""

    def __init__(
        self,
        src: SourceFile,
        at: str,
        workers: int | None = None,
        write: Callable[[Row, int, SourceFile, str], WriteResult] | None = None,
    ) -> None:
        self.src, self.at = src, at
        self._write = write or write_row
        workers = workers or int(os.environ.get(CONCURRENCY_ENV) or DEFAULT_CONCURRENCY)
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="masterdata-write")

    def write(self, rows: list[tuple[int, Row]]) -> list[WriteResult]:
        """Results in the order of ``rows``."""
        groups: dict[tuple[str, ...], list[int]] = {}
        for index, (_, row) in enumerate(rows):
            groups.setdefault(_item_key(row), []).append(index)
        results: list[WriteResult | None] = [None] * len(rows)

        def run(indexes: list[int]) -> None:
            for i in indexes:
                number, row = rows[i]
                results[i] = self._write(row, number, self.src, self.at)

        for future in [self._pool.submit(run, indexes) for indexes in groups.values()]:
            future.result()
        return [r for r in results if r is not None]

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# -- reads for the order check -------------------------------------------------------------------------


@dataclass
class OrderData:
    """What the order check reads, in one BatchGetItem."""

    customer: dict[str, Any] | None
    products: dict[str, dict[str, Any]]
    prices: dict[str, list[PriceEntry]]  # by SKU, in the order's currency
    loaded: set[Kind]  # kinds with a file applied (META present)


def price_entries(item: dict[str, Any] | None) -> list[PriceEntry]:
    """The price rows of a ``PRICE#<sku>#<currency>`` item."""
    if not item:
        return []
    entries = []
    for name, value in item.items():
        if not name.startswith(PRICE_ATTRIBUTE) or not isinstance(value, dict):
            continue
        valid_to = value.get("valid_to")
        entries.append(
            PriceEntry(
                price_group=name.removeprefix(PRICE_ATTRIBUTE).rsplit("#", 1)[0],
                currency=str(item.get("currency", "")),
                unit_price=Decimal(str(value["unit_price"])),
                valid_from=date.fromisoformat(str(value["valid_from"])),
                valid_to=date.fromisoformat(str(valid_to)) if valid_to else None,
            )
        )
    return entries


def batch_get(keys: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
    """Items by pk, one BatchGetItem (at most 100 keys; unprocessed keys asked for again)."""
    if len(keys) > 100:
        raise ValueError(f"one BatchGetItem reads at most 100 keys, got {len(keys)}")
    name = table()
    unique = list({k["pk"]: k for k in keys}.values())
    request: dict[str, Any] = {name: {"Keys": [ddb.to_ddb(k) for k in unique]}}
    found: dict[str, dict[str, Any]] = {}
    dynamodb = client("dynamodb")
    for attempt in range(_BATCH_GET_ATTEMPTS):
        resp = dynamodb.batch_get_item(RequestItems=request)
        for raw in resp.get("Responses", {}).get(name, []):
            item = ddb.from_ddb(raw)
            found[item["pk"]] = item
        request = resp.get("UnprocessedKeys") or {}
        if not request:
            return found
        time.sleep(min(0.05 * 2**attempt, 1.0))
    raise RuntimeError("BatchGetItem left keys unprocessed after retries (throttled)")


def order_data(customer_id: str, skus: list[str], priced_skus: list[str], currency: str) -> OrderData:
    """The customer, the products, the price lists (in ``currency``) of ``priced_skus`` and which
    kinds are loaded: one BatchGetItem."""
    keys = [customer_key(customer_id), *(meta_key(k) for k in Kind)]
    keys += [product_key(s) for s in skus] + [price_key(s, currency) for s in priced_skus]
    found = batch_get(keys)
    return OrderData(
        customer=found.get(customer_key(customer_id)["pk"]),
        products={s: found[product_key(s)["pk"]] for s in skus if product_key(s)["pk"] in found},
        prices={s: price_entries(found.get(price_key(s, currency)["pk"])) for s in priced_skus},
        loaded={k for k in Kind if meta_key(k)["pk"] in found},
    )


def load_customer(customer_id: str) -> dict[str, Any] | None:
    return ddb.get(table(), customer_key(customer_id), consistent=False)


def load_product(sku: str) -> dict[str, Any] | None:
    return ddb.get(table(), product_key(sku), consistent=False)


def load_prices(sku: str, currency: str) -> list[PriceEntry]:
    return price_entries(ddb.get(table(), price_key(sku, currency), consistent=False))
