"""``python -m benchmarks.bill``: what one order costs in AWS requests, from intake to the posted
invoice, counted from the calls the real handlers make, and priced per 1 million orders.

The stack is provisioned into moto in-process (``benchmarks.harness.provisioned``: the synthesized
template in ``cdk.out``). One order at a time is driven through its whole life, every function run
in this process by its template handler, with its template environment, in the order the deployed
stack runs them:

1. **Intake**: the channel's TOKEN authorizer (``channels.handler.authorizer_handler``; the
   template's ``AuthorizerResultTtlInSeconds`` is 0, so API Gateway calls it for every request),
   its answer checked as API Gateway checks it (``synchub.local.authorizer``), then the orders
   function with the REST API proxy event of ``events/samples/apigw-post-order-event.json`` carrying
   an order of N lines.
2. **The outbox**: the orders table's stream is read as the Lambda event source reads it
   (``synchub.local.pollers.StreamPoller``: the template's batch size and filter), and
   ``outbox.handler.stream_handler`` gets the real DynamoDB-stream event. Its ``PutEvents`` go to
   the bus; moto delivers to the rules' SQS targets at once.
3. **The workers**: for every SQS queue with an event source mapping in the template, what is
   visible is received as the mapping receives it (``synchub.local.pollers.SqsPoller``: batch size,
   batching window, partial batch failures) and handed to that function's handler; then the
   stream again; until nothing moves.
4. **The partners**: the warehouse (Utrecht) reads ``OrderReleased`` from its outbound queue,
   answers ``ReleaseAcknowledged`` and one ``ShipmentConfirmed`` for every line at the locations
   it was told to pick (the shapes of ``events/samples``), put on the bus as a WMS does; once the
   hub is quiet it reports each picked position's new stock on the inventory queue (as of after
   the pick: this clears the shipment the hub remembers on the position). The legacy ERP
   (``synchub.standins.erp``, in process) books the order file the ERP sender wrote and answers
   with an acknowledgement file (S3 notification -> acks queue -> acks function). Cloud finance
   is the finance stand-in (``synchub.standins.finance``) on 127.0.0.1, reached through the SSM
   parameter and the secret the template provisions, as in tests/helpers/finance.py.

Before the first order: a channel is registered (``synchub.channels.add_channel``) and gets a
token from the token function, the ERP's master data is loaded through the master data queue,
and the WMS reports stock for every SKU. Then, for 2, 10 and 40 lines (40 is
``orders.models.MAX_LINES``): one order warms every function (its caches: the signing key,
the finance credentials and base URL, the finance OAuth token), then ``BENCH_BILL_ROUNDS``
(default 3) orders are counted; their counts must be equal (deterministic), and a last 2-line
order, counted after 10,000 more items were put in the orders table, must count the same
(independent of the table's size).

**Counted** (``botocore.client.BaseClient._make_api_call`` patched in-process: every call any
function makes through any client, attributed to the function running; the driver's own clients
are excluded, and its stream/queue reads are charged by the event source rules below):

* DynamoDB: request units from the items before and after each write (read from the emulator
  uncounted): 1 WRU per KB of the larger image per item, 2x in a transaction; a secondary index
  write (1 WRU per KB of the index entry) when the written item has the index's key attributes
  before or after (2 when an index key changes: delete + put; none when only attributes outside a
  KEYS_ONLY projection change); reads 1 RRU per 4 KB strongly consistent, half eventually, 2x in
  a transaction, a Query/Scan on the total size of the items it evaluated (re-run uncounted
  without filter and projection).
* EventBridge: ``PutEvents`` entries, one event per 64 KB chunk; every event also goes to the
  bus archive (its pattern is the account): GB archived.
* SQS: requests in 64 KB chunks; each message a rule or an S3 notification delivers is one
  ``SendMessage`` (counted in moto's delivery); the Lambda event source's ``ReceiveMessage`` and
  ``DeleteMessageBatch`` as it makes them for each batch it delivers (an idle mapping's long
  polling is a fixed monthly cost, not an order's); the warehouse's read of its outbound queue as
  one receive and one delete per message (its idle polling: the same).
* Lambda: invocations, and GB-seconds from the template's ``MemorySize`` and ``Architectures``
  with the in-process handler time billed per started 1 ms. That time is the emulator's (moto
  answers in-process instead of over the network): a proxy, not AWS time (median of the rounds).
* API Gateway: one REST API request per order (the template's ``AWS::ApiGateway::RestApi``), one
  WAF inspection (the web ACL is associated with the stage).
* CloudWatch Logs: the bytes each invocation writes to stdout/stderr (captured at the file
  descriptors, with ``POWERTOOLS_LOG_LEVEL`` as deployed and metrics enabled), plus Lambda's
  START/END/REPORT lines, plus the API stage's access log line rendered from its template format.
* X-Ray: one trace per entry point (the API request, and each stream- or queue-triggered
  invocation: an upper bound, since a trace header carried across EventBridge and SQS joins them),
  5% of them recorded (the default sampling rule's rate; its 1 trace/s reservoir is a fixed monthly
  cost).
* S3, Secrets Manager, SSM: requests as made (the caches of the functions warm: a cold container's
  extra calls are printed apart); the ERP's requests on the hub's bucket are billed to the hub
  (bucket owner), except its polling LISTs (fixed); KMS: none (tables and queues use AWS owned keys,
  buckets SSE-S3).

Not per order, and left out (printed): idle polling, schedules (outbox and backorder sweeps, ERP
watchdog, reconciliation), cold starts (init is billed; see ``benchmarks.coldstart``), storage
(DynamoDB, PITR, logs, S3, archive), metrics (custom metrics are billed per metric-month), data
transfer to cloud finance, the channel's token (one per ``TOKEN_TTL_SECONDS``, printed apart).

:func:`bill` returns a :class:`Bill` (per (service, operation): requests and priced quantities);
``benchmarks.prices.price(bill.counts())`` prices it, and prices any other bill (a floor) alike.
``BENCH_BILL=0`` skips it in ``make bench``; ``BENCH_BILL_SIZES`` (default ``2,10,40``) and
``BENCH_BILL_ROUNDS`` change what is counted.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [p for p in (str(ROOT / "functions"), str(ROOT)) if p not in sys.path]

from benchmarks import prices  # noqa: E402

SIZES = tuple(int(s) for s in os.environ.get("BENCH_BILL_SIZES", "2,10,40").split(",") if s.strip())
ROUNDS = max(1, int(os.environ.get("BENCH_BILL_ROUNDS", "3")))
FILLER_ITEMS = int(os.environ.get("BENCH_BILL_FILLER", "10000"))
DETAIL = os.environ.get("BENCH_BILL_DETAIL", "0") == "1"  # every actor's calls under each table
LOG_DIR = os.environ.get("BENCH_BILL_LOGS")  # keep what each invocation logged here (to read it)
CHANNEL = "webshop-nl"  # the sample order's channel
SITE_SOURCE, SITE_ID, LOCATION = "wms.utrecht", "UTR", "UTR-A01"
STOCK = 10_000_000
XRAY_SAMPLING = 0.05  # the default sampling rule: 1 request/s reservoir, then 5 %
KB, KB4, CHUNK = 1024, 4096, 65536
MEASURED = ("lambda.gbs.x86_64", "lambda.gbs.arm64")  # time, not counts: the median of the rounds
# what Lambda writes around every invocation in the text log format (tracing active: an XRAY line)
PLATFORM_LINES = (
    "START RequestId: {rid} Version: $LATEST\n"
    "END RequestId: {rid}\n"
    "REPORT RequestId: {rid}\tDuration: {ms:.2f} ms\tBilled Duration: {billed} ms\tMemory Size: {mem} MB\t"
    "Max Memory Used: 120 MB\t\nXRAY TraceId: 1-6741c7a2-3f1c2a9b8d7e6f5a4b3c2d1e\tSegmentId: 3f1c2a9b8d7e6f5a\t"
    "Sampled: true\t\n"
)


# -- item sizes (DynamoDB's rules, on the wire format) ---------------------------------------------
def _number_size(text: str) -> int:
    digits = re.sub(r"[^0-9]", "", text.lower().split("e")[0]).strip("0") or "0"
    return 1 + math.ceil(len(digits) / 2)


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value as DynamoDB sizes it (strings UTF-8, numbers ~1 byte per two
    significant digits + 1, lists and maps 3 bytes + 1 per element)."""
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return _number_size(v)
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(_number_size(n) for n in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "L":
        return 3 + sum(1 + value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(e) for k, e in v.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Any] | None) -> int:
    return sum(len(k.encode()) + value_size(v) for k, v in (item or {}).items())


def units(size: int, per: int) -> int:
    return max(1, math.ceil(size / per))


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]
    projection: str  # KEYS_ONLY | ALL | INCLUDE
    include: tuple[str, ...] = ()

    def entry(self, item: Mapping[str, Any] | None, table_keys: tuple[str, ...]) -> dict[str, Any] | None:
        """The item's entry in the index (None: not in it, a key attribute is missing)."""
        if not item or any(k not in item for k in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        names = {*table_keys, *self.keys, *self.include}
        return {k: v for k, v in item.items() if k in names}


@dataclass(frozen=True)
class Table:
    name: str
    keys: tuple[str, ...]
    indexes: tuple[Index, ...]

    def key(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: item[k] for k in self.keys}

    def index_writes(self, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[tuple[str, int]]:
        """(index, WRU) for each index write a change from ``old`` to ``new`` makes."""
        out = []
        for index in self.indexes:
            before, after = index.entry(old, self.keys), index.entry(new, self.keys)
            if before is None and after is None:
                continue
            if before is None or after is None:
                out.append((index.name, units(item_size(before or after), KB)))
            elif any(before[k] != after[k] for k in index.keys):
                out += [(index.name, units(item_size(before), KB)), (index.name, units(item_size(after), KB))]
            elif before != after:
                out.append((index.name, units(max(item_size(before), item_size(after)), KB)))
        return out


def tables_of(template: Any, names: Mapping[str, str]) -> dict[str, Table]:
    """The template's tables by physical name (``names``: friendly logical id -> name)."""
    from synchub.local.template import friendly

    out = {}
    for lid, res in template.of_type("AWS::DynamoDB::Table").items():
        props = res["Properties"]
        name = names.get(friendly(lid))
        if not name:
            continue
        indexes = [
            Index(
                gsi["IndexName"],
                tuple(k["AttributeName"] for k in gsi["KeySchema"]),
                gsi["Projection"].get("ProjectionType", "ALL"),
                tuple(gsi["Projection"].get("NonKeyAttributes", [])),
            )
            for gsi in (props.get("GlobalSecondaryIndexes") or []) + (props.get("LocalSecondaryIndexes") or [])
        ]
        out[name] = Table(name, tuple(k["AttributeName"] for k in props["KeySchema"]), tuple(indexes))
    return out


# -- the bill ---------------------------------------------------------------------------------------
@dataclass
class Row:
    requests: float = 0.0
    charges: dict[str, float] = field(default_factory=dict)

    def add(self, requests: float, charges: Mapping[str, float]) -> None:
        self.requests += requests
        for key, quantity in charges.items():
            self.charges[key] = self.charges.get(key, 0.0) + quantity


@dataclass
class Bill:
    """One order's AWS usage: per (service, operation) the requests made and the priced quantities
    (price keys of ``benchmarks.prices``); per actor (function, rule, partner) the same quantities."""

    lines: int
    rows: dict[tuple[str, str], Row] = field(default_factory=dict)
    by_actor: dict[str, dict[tuple[str, str], Row]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # every DynamoDB write: (actor, operation, [(kind, table, key, bytes before, bytes after, WRU)])
    writes: list[tuple[str, str, list[tuple[str, str, str, int, int, int]]]] = field(default_factory=list)

    def add(self, service: str, operation: str, actor: str, requests: float, charges: Mapping[str, float]) -> None:
        self.rows.setdefault((service, operation), Row()).add(requests, charges)
        self.by_actor.setdefault(actor, {}).setdefault((service, operation), Row()).add(requests, charges)

    def actor_dollars(self, actor: str) -> float:
        return sum(prices.price(row.charges) for row in self.by_actor.get(actor, {}).values())

    def counts(self) -> dict[str, float]:
        """Quantities per price key, per order: what :func:`benchmarks.prices.price` prices."""
        out: dict[str, float] = defaultdict(float)
        for row in self.rows.values():
            for key, quantity in row.charges.items():
                out[key] += quantity
        return dict(out)

    def dollars(self, sheet: Mapping[str, prices.Price] = prices.SHEET) -> float:
        return prices.price(self.counts(), sheet)

    def as_dict(self) -> dict[str, Any]:
        """Machine-readable: the counts per price key and every row (service, operation, requests,
        priced quantities), per order."""
        return {
            "lines": self.lines,
            "counts": self.counts(),
            "dollars_per_order": self.dollars(),
            "rows": [
                {"service": service, "operation": operation, "requests": row.requests, "charges": dict(row.charges)}
                for (service, operation), row in self.rows.items()
            ],
        }


SIZES_KEYS = ("logs.ingest_gb", "events.archive_gb")  # bytes: a digit more in a counter is not a new request
SIZE_TOLERANCE = 0.02


def differences(a: Bill, b: Bill) -> list[str]:
    """Where two bills' counts differ (empty: the same). Requests and units must be equal; logged and
    archived bytes within 2 %; measured time is not compared."""
    out = []
    for key in sorted({*a.rows, *b.rows}):
        ra, rb = a.rows.get(key, Row()), b.rows.get(key, Row())
        if round(ra.requests, 6) != round(rb.requests, 6):
            out.append(f"{key[0]} {key[1]}: {ra.requests:g} -> {rb.requests:g} requests")
        for charge in sorted({*ra.charges, *rb.charges} - set(MEASURED)):
            qa, qb = ra.charges.get(charge, 0.0), rb.charges.get(charge, 0.0)
            if charge in SIZES_KEYS:
                if abs(qa - qb) > SIZE_TOLERANCE * max(qa, qb):
                    out.append(f"{key[0]} {key[1]}: {qa * 1e9:,.0f} -> {qb * 1e9:,.0f} bytes")
            elif round(qa, 9) != round(qb, 9):
                out.append(f"{key[0]} {key[1]}: {qa:g} -> {qb:g} {charge}")
    return out


def median_bill(bills: list[Bill]) -> Bill:
    """The counts of the first (all equal) with the median of the measured quantities."""
    first = bills[0]
    out = Bill(first.lines, notes=list(first.notes), writes=list(first.writes))
    for key, row in first.rows.items():
        charges = dict(row.charges)
        for measured in MEASURED:
            if measured in charges:
                charges[measured] = statistics.median(b.rows[key].charges.get(measured, 0.0) for b in bills)
        out.rows[key] = Row(row.requests, charges)
    for actor, rows in first.by_actor.items():
        for key, row in rows.items():
            charges = dict(row.charges)
            for measured in MEASURED:
                if measured in charges:
                    charges[measured] = statistics.median(
                        b.by_actor[actor][key].charges.get(measured, 0.0) for b in bills
                    )
            out.by_actor.setdefault(actor, {})[key] = Row(row.requests, charges)
    return out


# -- counting every call ----------------------------------------------------------------------------
DDB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
DDB_READS = {"GetItem", "BatchGetItem", "TransactGetItems", "Query", "Scan"}
S3_TIER1 = {"PutObject", "CopyObject", "PostObject", "ListObjects", "ListObjectsV2", "CreateMultipartUpload"}
S3_FREE = {"DeleteObject", "DeleteObjects"}
_QUERY_DROP = ("ProjectionExpression", "FilterExpression", "Select", "ReturnConsumedCapacity", "AttributesToGet")


class Meter:
    """Counts every AWS call made in this process while ``recording``, by the actor running."""

    def __init__(self, tables: Mapping[str, Table], driver_ddb: Any) -> None:
        self.tables, self.driver_ddb = dict(tables), driver_ddb
        self.recording: Bill | None = None
        self.actor = "driver"
        self._installed: list[tuple[Any, str, Any]] = []

    # - installation
    def install(self) -> None:
        import moto.events.models as events_models
        import moto.s3.notifications as s3_notifications
        from botocore.client import BaseClient

        meter = self
        original_call = getattr(BaseClient, "_make_api_call")  # noqa: B009  (private: mypy does not see it)

        def make_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if meter.recording is None or getattr(client, "_bench_driver", False):
                return original_call(client, operation, params)
            actor = getattr(client, "_bench_actor", None) or meter.actor
            return meter.call(lambda: original_call(client, operation, params), client, operation, params, actor)

        original_rule_send = events_models.Rule._send_to_sqs_queue

        def rule_send(rule: Any, resource_id: str, event: dict[str, Any], group_id: str | None = None) -> None:
            original_rule_send(rule, resource_id, event, group_id)
            body = json.dumps(event)
            meter.charge("SQS", "SendMessage (EventBridge rule target)", "EventBridge rules", sqs_chunks(len(body)))

        original_s3_send = s3_notifications._send_sqs_message

        def s3_send(account_id: str, event_body: Any, queue_name: str, region_name: str) -> None:
            original_s3_send(account_id, event_body, queue_name, region_name)
            body = json.dumps(event_body)
            meter.charge("SQS", "SendMessage (S3 event notification)", "S3 notifications", sqs_chunks(len(body)))

        for owner, name, new in (
            (BaseClient, "_make_api_call", make_api_call),
            (events_models.Rule, "_send_to_sqs_queue", rule_send),
            (s3_notifications, "_send_sqs_message", s3_send),
        ):
            self._installed.append((owner, name, getattr(owner, name)))
            setattr(owner, name, new)

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._installed):
            setattr(owner, name, original)
        self._installed.clear()

    @contextmanager
    def recorded(self, lines: int) -> Iterator[Bill]:
        bill = Bill(lines)
        self.recording = bill
        try:
            yield bill
        finally:
            self.recording = None

    @contextmanager
    def acting(self, actor: str) -> Iterator[None]:
        previous, self.actor = self.actor, actor
        try:
            yield
        finally:
            self.actor = previous

    def charge(
        self, service: str, operation: str, actor: str, requests: float, charges: Mapping[str, float] | None = None
    ) -> None:
        if self.recording is None:
            return
        if charges is None:
            charges = {SERVICE_KEYS[service]: requests}
        self.recording.add(service, operation, actor, requests, charges)

    # - one call
    def call(self, send: Callable[[], Any], client: Any, operation: str, params: dict[str, Any], actor: str) -> Any:
        service = client.meta.service_model.service_name
        if service == "dynamodb" and operation in DDB_WRITES:
            return self._ddb_write(send, operation, params, actor)
        response = send()
        if service == "dynamodb":
            self._ddb_read(operation, params, response, actor)
        elif service == "sqs":
            self.charge("SQS", operation, actor, sqs_request_chunks(operation, params, response))
        elif service == "events":
            self._put_events(operation, params, actor)
        elif service == "s3":
            key = "free" if operation in S3_FREE else "s3.tier1" if operation in S3_TIER1 else "s3.tier2"
            self.charge("S3", operation, actor, 1, {key: 1})
        elif service == "secretsmanager":
            self.charge("Secrets Manager", operation, actor, 1)
        elif service == "ssm":
            self.charge("SSM Parameter Store", operation, actor, 1)
        elif service == "kms":
            self.charge("KMS", operation, actor, 1)
        else:
            self.charge(service, operation, actor, 1, {"free": 1})
            if self.recording is not None:
                self.recording.notes.append(f"{service}:{operation} by {actor} is not priced")
        return response

    def _put_events(self, operation: str, params: dict[str, Any], actor: str) -> None:
        if operation != "PutEvents":
            self.charge("EventBridge", operation, actor, 1, {"free": 1})
            return
        events = sum(units(entry_size(e), CHUNK) for e in params.get("Entries", []))
        archived = sum(len(archived_event(e)) for e in params.get("Entries", [])) / 1e9
        who = "WMS" if actor.startswith("WMS") else "the hub"
        self.charge("EventBridge", f"PutEvents entries (by {who})", actor, 1, {"events.custom": events})
        self.charge("EventBridge", "archive (every event on the bus)", actor, 0, {"events.archive_gb": archived})

    # - DynamoDB
    def _image(self, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        item = self.driver_ddb.get_item(TableName=table, Key=dict(key), ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def _targets(self, operation: str, params: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        """(kind, table, key) of every item a write names."""
        if operation == "TransactWriteItems":
            out = []
            for entry in params["TransactItems"]:
                ((kind, body),) = entry.items()
                table = self.tables[body["TableName"]]
                out.append((kind, table.name, table.key(body["Item"]) if kind == "Put" else dict(body["Key"])))
            return out
        if operation == "BatchWriteItem":
            out = []
            for name, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        out.append(("Put", name, self.tables[name].key(request["PutRequest"]["Item"])))
                    else:
                        out.append(("Delete", name, dict(request["DeleteRequest"]["Key"])))
            return out
        table = self.tables[params["TableName"]]
        kind = operation.removesuffix("Item")
        return [(kind, table.name, table.key(params["Item"]) if kind == "Put" else dict(params["Key"]))]

    def _ddb_write(self, send: Callable[[], Any], operation: str, params: dict[str, Any], actor: str) -> Any:
        targets = self._targets(operation, params)
        before = [self._image(table, key) for _, table, key in targets]
        factor = 2 if operation == "TransactWriteItems" else 1
        try:
            response = send()
        except Exception as exc:  # a refused condition still consumes the write (of the item as it is)
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            wru = sum(factor * units(item_size(old), KB) for old in before)
            self.charge("DynamoDB", f"{operation} refused ({code})", actor, 1, {"dynamodb.wru": wru})
            raise
        wru, index_writes = 0, defaultdict[str, int](int)
        items = []
        for (kind, table, key), old in zip(targets, before, strict=True):
            if kind == "ConditionCheck":  # assumed priced as a transactional write of the item checked
                item_wru = factor * units(item_size(old), KB)
                new = old
            else:
                new = None if kind == "Delete" else self._image(table, key)
                item_wru = factor * units(max(item_size(old), item_size(new)), KB)
                for index, index_wru in self.tables[table].index_writes(old, new):
                    index_writes[f"{friendly_table(table)}.{index}"] += index_wru
            wru += item_wru
            shown = "/".join(str(next(iter(v.values()))) for v in key.values())
            items.append((kind, friendly_table(table), shown, item_size(old), item_size(new), item_wru))
        if self.recording is not None:
            self.recording.writes.append((actor, operation, items))
        self.charge("DynamoDB", operation, actor, 1, {"dynamodb.wru": wru})
        for index, index_wru in sorted(index_writes.items()):
            self.charge("DynamoDB", f"index writes ({index})", actor, 0, {"dynamodb.wru": index_wru})
        return response

    def _ddb_read(self, operation: str, params: dict[str, Any], response: Any, actor: str) -> None:
        if operation == "GetItem":
            size = item_size(self._image(params["TableName"], params["Key"]))
            rru = units(size, KB4) * (1.0 if params.get("ConsistentRead") else 0.5)
        elif operation == "BatchGetItem":
            rru = 0.0
            for table, spec in params["RequestItems"].items():
                factor = 1.0 if spec.get("ConsistentRead") else 0.5
                rru += sum(units(item_size(self._image(table, key)), KB4) * factor for key in spec["Keys"])
        elif operation == "TransactGetItems":
            rru = sum(
                2.0 * units(item_size(self._image(e["Get"]["TableName"], e["Get"]["Key"])), KB4)
                for e in params["TransactItems"]
            )
        elif operation in ("Query", "Scan"):
            rru = units(self._evaluated_size(operation, params), KB4) * (1.0 if params.get("ConsistentRead") else 0.5)
        else:
            self.charge("DynamoDB", operation, actor, 1, {"free": 1})
            return
        self.charge("DynamoDB", operation, actor, 1, {"dynamodb.rru": rru})

    def _evaluated_size(self, operation: str, params: dict[str, Any]) -> int:
        """The size of the items a Query/Scan evaluated: the same page again without the filter and
        the projection (which do not lower its cost), uncounted."""
        again = {k: v for k, v in params.items() if k not in _QUERY_DROP}
        used = " ".join(str(again.get(k, "")) for k in ("KeyConditionExpression",))
        if "ExpressionAttributeNames" in again:
            names = {k: v for k, v in again["ExpressionAttributeNames"].items() if k in used}
            again["ExpressionAttributeNames"] = names
            if not names:
                del again["ExpressionAttributeNames"]
        if "ExpressionAttributeValues" in again:
            values = {k: v for k, v in again["ExpressionAttributeValues"].items() if k in used}
            again["ExpressionAttributeValues"] = values
            if not values:
                del again["ExpressionAttributeValues"]
        call = self.driver_ddb.query if operation == "Query" else self.driver_ddb.scan
        return sum(item_size(i) for i in call(**again).get("Items", []))


SERVICE_KEYS = {
    "SQS": "sqs.request",
    "Secrets Manager": "secretsmanager.api",
    "SSM Parameter Store": "ssm.standard",
    "KMS": "kms.request",
    "EventBridge": "events.custom",
}


def friendly_table(name: str) -> str:
    return name.removeprefix("Synchub-").removeprefix("Data").removesuffix("Table")


def sqs_chunks(size: int) -> int:
    return units(size, CHUNK)


def message_size(body: str, attributes: Mapping[str, Any] | None) -> int:
    size = len(body.encode())
    for name, value in (attributes or {}).items():
        data = value.get("StringValue") or value.get("stringValue") or value.get("BinaryValue") or ""
        size += len(name.encode()) + len(str(value.get("DataType") or value.get("dataType") or "")) + len(data)
    return size


def sqs_request_chunks(operation: str, params: dict[str, Any], response: Any) -> int:
    if operation == "SendMessage":
        return sqs_chunks(message_size(params["MessageBody"], params.get("MessageAttributes")))
    if operation == "SendMessageBatch":
        total = sum(message_size(e["MessageBody"], e.get("MessageAttributes")) for e in params["Entries"])
        return sqs_chunks(total)
    if operation == "ReceiveMessage":
        total = sum(message_size(m["Body"], m.get("MessageAttributes")) for m in response.get("Messages", []))
        return sqs_chunks(total)
    return 1


def entry_size(entry: Mapping[str, Any]) -> int:
    """A PutEvents entry's size as EventBridge bills it (Source, DetailType, Detail, Resources, Time)."""
    size = sum(len(str(entry.get(k, "")).encode()) for k in ("Source", "DetailType", "Detail"))
    size += sum(len(r.encode()) for r in entry.get("Resources", []))
    return size + (14 if entry.get("Time") else 0)


def archived_event(entry: Mapping[str, Any]) -> str:
    """The event as the bus (and its archive) holds it."""
    return (
        f'{{"version": "0", "id": "{uuid.UUID(int=0)}", "detail-type": {json.dumps(entry.get("DetailType", ""))}, '
        f'"source": {json.dumps(entry.get("Source", ""))}, "account": "123456789012", '
        f'"time": "2026-12-02T00:00:00Z", "region": "eu-west-1", "resources": [], "detail": {entry.get("Detail", "")}}}'
    )


# -- a function, run in this process as Lambda runs it ----------------------------------------------
class Function:
    """One function of the template: its handler, environment, memory and architecture. Has the
    ``invoke(event)`` of ``synchub.local.functions.FunctionPool`` so the local runtime's pollers drive it."""

    def __init__(self, spec: Any, template: Any, meter: Meter, base_env: Mapping[str, str]) -> None:
        props = template.resources[spec.logical_id]["Properties"]
        self.spec, self.meter, self.base_env = spec, meter, dict(base_env)
        self.name = spec.handler.replace(".handler.", ".")
        self.memory = int(props.get("MemorySize") or 128)
        self.arch = (props.get("Architectures") or ["x86_64"])[0]
        self.traced = (props.get("TracingConfig") or {}).get("Mode") == "Active"
        logging_config = props.get("LoggingConfig") or {}
        # Lambda's START/END/REPORT lines are INFO system logs: a JSON-format function whose system log
        # level is WARN or above has none (the text format always has them; JSON at INFO: counted as text)
        self.platform_lines = not (
            logging_config.get("LogFormat") == "JSON"
            and logging_config.get("SystemLogLevel") in ("WARN", "ERROR", "FATAL")
        )
        self.arn = template.physical.get(spec.logical_id, {}).get("Arn", f"arn:aws:lambda:::function:{spec.name}")
        self.env = {
            **{k: str(v) for k, v in spec.environment.items()},
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        }
        if logging_config.get("LogFormat"):  # what Lambda's advanced logging controls set (Powertools reads them)
            self.env["AWS_LAMBDA_LOG_FORMAT"] = str(logging_config["LogFormat"])
        if logging_config.get("ApplicationLogLevel"):
            self.env["AWS_LAMBDA_LOG_LEVEL"] = str(logging_config["ApplicationLogLevel"])
        if self.traced:  # Lambda sets it on every traced invocation (Powertools puts it on every log line)
            self.env["_X_AMZN_TRACE_ID"] = "Root=1-6741c7a2-3f1c2a9b8d7e6f5a4b3c2d1e;Parent=3f1c2a9b8d7e6f5a;Sampled=1"
        self._handler: Callable[[dict, Any], Any] | None = None
        self.invocations = 0

    def handler(self) -> Callable[[dict, Any], Any]:
        if self._handler is None:
            import importlib

            module, attr = self.spec.handler.rsplit(".", 1)
            with self.environment():
                self._handler = getattr(importlib.import_module(module), attr)
        return self._handler

    @contextmanager
    def environment(self) -> Iterator[None]:
        from synchub_core.config import reset_settings

        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update({**self.base_env, **self.env})
        reset_settings()
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)
            reset_settings()

    def invoke(self, event: dict[str, Any]) -> Any:
        from synchub.local.functions import InvocationError
        from synchub.local.worker import LambdaContext

        handler = self.handler()
        request_id = str(uuid.uuid4())
        context = LambdaContext(self.spec.name, self.memory, self.arn, request_id, self.spec.timeout * 1000)
        self.invocations += 1
        error: dict[str, Any] | None = None
        result: Any = None
        with self.environment(), self.meter.acting(self.name), captured() as log:
            started = time.perf_counter()
            try:
                result = handler(event, context)
            except Exception as exc:
                import traceback

                traceback.print_exc()
                error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            elapsed_ms = (time.perf_counter() - started) * 1000
        billed = max(1, math.ceil(elapsed_ms))
        platform = (
            PLATFORM_LINES.format(rid=request_id, ms=elapsed_ms, billed=billed, mem=self.memory)
            if self.platform_lines
            else ""
        )
        logged = log.size + len(platform.encode())
        if LOG_DIR:
            with open(Path(LOG_DIR) / f"{self.name}.log", "ab") as kept:
                kept.write(log.text + platform.encode())
        gbs = self.memory / 1024 * billed / 1000
        self.meter.charge(
            "Lambda",
            f"{self.name} ({self.memory} MB {self.arch})",
            self.name,
            1,
            {"lambda.request": 1, f"lambda.gbs.{self.arch}": gbs},
        )
        self.meter.charge("CloudWatch Logs", f"{self.name} log", self.name, 0, {"logs.ingest_gb": logged / 1e9})
        if error is not None:
            if self.meter.recording is not None:
                self.meter.recording.notes.append(f"{self.name} failed: {error['errorType']}: {error['errorMessage']}")
            raise InvocationError(self.spec.name, error)
        return result


@dataclass
class Captured:
    size: int = 0
    text: bytes = b""


@contextmanager
def captured() -> Iterator[Captured]:
    """What is written to stdout and stderr (file descriptors 1 and 2: what Lambda sends to
    CloudWatch Logs) while inside, counted and swallowed."""
    out = Captured()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield out
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            out.size = os.fstat(sink.fileno()).st_size
            if LOG_DIR:
                sink.seek(0)
                out.text = sink.read()


# -- the event sources ------------------------------------------------------------------------------
class EventSourceSqs:
    """The SQS client an SQS poller uses, charging what Lambda's event source mapping pays for each
    batch it delivers: its ReceiveMessage (64 KB chunks) and its DeleteMessageBatch."""

    def __init__(self, sqs: Any, meter: Meter, actor: str) -> None:
        self.sqs, self.meter, self.actor = sqs, meter, actor

    def receive_message(self, **kwargs: Any) -> Any:
        response = self.sqs.receive_message(**kwargs)
        if response.get("Messages"):
            chunks = sqs_request_chunks("ReceiveMessage", kwargs, response)
            self.meter.charge("SQS", "ReceiveMessage (Lambda event source)", self.actor, chunks)
        return response

    def delete_message_batch(self, **kwargs: Any) -> Any:
        self.meter.charge("SQS", "DeleteMessageBatch (Lambda event source)", self.actor, 1)
        return self.sqs.delete_message_batch(**kwargs)

    def change_message_visibility(self, **kwargs: Any) -> Any:
        self.meter.charge("SQS", "ChangeMessageVisibility (Lambda event source)", self.actor, 1)
        return self.sqs.change_message_visibility(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sqs, name)


class MotoStreams:
    """The emulator's DynamoDB Streams, read from its backend (moto in-process does not route the
    ``dynamodbstreams`` endpoint): the three calls ``StreamPoller`` makes, answered as boto3 would.
    Reading the stream costs nothing: Lambda's stream event sources read it free of charge."""

    def __init__(self, region: str) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodbstreams.models import dynamodbstreams_backends

        self.backend = dynamodbstreams_backends[DEFAULT_ACCOUNT_ID][region]

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": self.backend.describe_stream(StreamArn)}

    def get_shard_iterator(
        self,
        StreamArn: str,
        ShardId: str,
        ShardIteratorType: str,
        SequenceNumber: str | None = None,
    ) -> dict[str, Any]:
        number: Any = int(SequenceNumber) if SequenceNumber is not None else None  # moto takes an int
        return {"ShardIterator": self.backend.get_shard_iterator(StreamArn, ShardId, ShardIteratorType, number).arn}

    def get_records(self, ShardIterator: str, Limit: int = 1000) -> dict[str, Any]:
        return dict(self.backend.get_records(ShardIterator, Limit))


class ErpS3:
    """The ERP's S3 client: its polling (LIST every second) is the driver's, uncounted (a fixed cost);
    what it does with a file (GET, PUT of the ack, COPY, DELETE) is counted as the ERP's."""

    def __init__(self, counted: Any, driver: Any) -> None:
        self.counted, self.driver = counted, driver

    def get_paginator(self, name: str) -> Any:
        return self.driver.get_paginator(name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.counted, name)


# -- the hub around one order -----------------------------------------------------------------------
class Hub:
    """The provisioned stack, the functions, their event sources and the partners, in this process."""

    def __init__(self, dep: Any, template: Any, workdir: Path) -> None:
        import boto3

        from synchub.local.pollers import SqsPoller, StreamPoller

        self.dep, self.template, self.workdir = dep, template, workdir
        self.region = template.region

        def client(service: str, actor: str | None = None) -> Any:
            made = boto3.client(service, region_name=self.region)
            if actor is None:
                made._bench_driver = True
            else:
                made._bench_actor = actor
            return made

        self.client = client
        self.ddb, self.sqs, self.streams = client("dynamodb"), client("sqs"), MotoStreams(self.region)
        self.meter = Meter(tables_of(template, dep.tables), self.ddb)
        self.meter.install()
        base_env = dict(os.environ)
        self.functions = {lid: Function(spec, template, self.meter, base_env) for lid, spec in dep.functions.items()}
        self.by_handler = {f.spec.handler: f for f in self.functions.values()}
        self.sqs_pollers: list[Any] = []
        self.stream_pollers: list[Any] = []
        for source in dep.event_sources:
            fn = self.functions[source.function]
            if source.kind == "sqs":
                sqs = EventSourceSqs(self.sqs, self.meter, f"event source of {fn.name}")
                self.sqs_pollers.append(SqsPoller(source, cast(Any, fn), sqs, self.region, retry_delay=0))
            else:
                dlq = dep.queue_by_arn(source.on_failure_arn)["url"] if source.on_failure_arn else None
                poller = StreamPoller(
                    source, cast(Any, fn), self.streams, self.sqs, self.region, dlq, fn.arn, retry_delay=0
                )
                poller.stopping.set()  # its idle wait returns at once (it never runs as a thread here)
                self.stream_pollers.append(poller)
        self.outbound = [q["url"] for name, q in dep.queues.items() if name.endswith("OutboundQueue")]
        self.inventory_queue = next(q["url"] for name, q in dep.queues.items() if name == "WorkersInventoryWorkerQueue")
        self.wms_events, self.wms_sqs = client("events", "WMS (wms.utrecht)"), client("sqs", "WMS (wms.utrecht)")
        self.wms_stock: dict[tuple[str, str], int] = defaultdict(int)
        self.wms_reports: list[tuple[str, str]] = []
        self.sequence = 10**12
        self.erp: Any = None
        self.finance: Any = None
        self.token = ""
        self.token_at = 0.0
        self.api_key_id = ""
        route = next(r for r in dep.routes if r.method == "POST" and r.resource == "/orders")
        self.orders_fn = self.functions[route.function]
        self.authorizer = route.authorizer
        self.authorizer_fn = self.functions[route.authorizer.function] if route.authorizer else None
        from synchub.local.authorizer import ResultCache

        self.authorizer_cache = ResultCache()  # as API Gateway caches answers (per token, for the TTL)
        self.api_kind = "REST" if template.of_type("AWS::ApiGateway::RestApi") else "HTTP"
        stages = list(template.of_type("AWS::ApiGateway::Stage").values())
        self.stage = stages[0]["Properties"] if stages else {}
        self.waf = bool(template.of_type("AWS::WAFv2::WebACLAssociation"))

    def describe_stack(self) -> list[str]:
        """What the template says that the bill depends on (it changes as the stack does)."""
        shapes = defaultdict(list)
        for fn in self.functions.values():
            logs = "" if fn.platform_lines else ", JSON logs without platform lines"
            shapes[f"{fn.memory} MB {fn.arch}{' traced' if fn.traced else ''}{logs}"].append(fn.name)
        functions = "; ".join(f"{len(names)} at {shape}" for shape, names in sorted(shapes.items()))
        ttl = self.authorizer.ttl if self.authorizer is not None else None
        built = time.strftime("%Y-%m-%d %H:%M", time.gmtime(self.template.path.stat().st_mtime))
        return [
            f"template {self.template.path.relative_to(ROOT)} (synthesized {built} UTC): functions {functions}",
            f"{self.api_kind} API, TOKEN authorizer cache TTL {ttl} s, WAF {'on' if self.waf else 'off'}, "
            f"{len(self.sqs_pollers)} SQS and {len(self.stream_pollers)} stream event sources",
        ]

    # - set-up (not counted)
    def start_partners(self) -> None:
        """The finance stand-in (HTTP, this process) behind the SSM parameter and the secret the
        template provisions; the ERP stand-in on the exchange bucket."""
        from synchub.standins.common import Server
        from synchub.standins.erp import Erp, ErpStore
        from synchub.standins.finance import FinanceApp, FinanceStore

        finance_env = self.by_handler["finance.handler.lambda_handler"].env
        secret = self.client("secretsmanager").get_secret_value(SecretId=finance_env["FINANCE_CREDENTIALS_SECRET_ARN"])
        credentials = json.loads(secret["SecretString"])
        self.finance_store = FinanceStore(self.workdir / "finance.sqlite3")
        app = FinanceApp(self.finance_store, credentials["client_id"], credentials["client_secret"])
        self.finance = Server(0, app)
        threading.Thread(target=self.finance.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.client("ssm").put_parameter(
            Name=finance_env["FINANCE_BASE_URL_PARAMETER"], Value=self.finance.url, Type="String", Overwrite=True
        )
        bucket = self.by_handler["erp.handler.orders_handler"].env["EXCHANGE_BUCKET"]
        s3 = ErpS3(self.client("s3", "ERP (legacy, on the hub's bucket)"), self.client("s3"))
        self.erp = Erp(ErpStore(self.workdir / "erp.sqlite3"), s3, bucket, poll_interval=0)

    def stop_partners(self) -> None:
        if self.finance is not None:
            self.finance.shutdown()
            self.finance.server_close()
            self.finance_store.close()

    def register_channel(self) -> None:
        from synchub import channels
        from synchub.environment import HubEnvironment

        env = HubEnvironment(
            endpoint=None,
            region=self.region,
            queues={},
            tables=self.dep.tables,
            event_bus=self.dep.bus_name,
            api_url="https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/v1",
            api_id=self.dep.api_id,
            stage=self.dep.stage,
            token_url="https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/v1/oauth2/token",
        )
        token_fn = self.by_handler["channels.handler.token_handler"]
        with token_fn.environment():
            self.credentials = channels.add_channel(env, CHANNEL)
            stored = channels.store(env).get(CHANNEL)
        self.api_key_id = (stored.api_key_id if stored else None) or ""

    def new_token(self) -> None:
        import base64

        fn = self.by_handler["channels.handler.token_handler"]
        basic = base64.b64encode(f"{self.credentials.client_id}:{self.credentials.client_secret}".encode()).decode()
        event = self._api_event("POST", "/oauth2/token", "grant_type=client_credentials")
        event["headers"] = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"}
        event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
        event["requestContext"].pop("authorizer", None)
        response = fn.invoke(event)
        self.gateway_charges("POST /oauth2/token", response)
        if response.get("statusCode") != 200:
            raise RuntimeError(f"no token: {response}")
        self.token = json.loads(response["body"])["access_token"]
        self.token_ttl = int(fn.env.get("TOKEN_TTL_SECONDS") or 3600)
        self.token_at = time.monotonic()

    def load_master_data(self) -> None:
        """The ERP exports its products, customers and prices (S3 -> notifications -> the master data
        queue -> its loader), as it does before the hub takes orders."""
        from synchub.standins.erp import KINDS

        self.erp.export(list(KINDS))
        self.settle()

    def stock(self, skus: list[str]) -> None:
        for sku in skus:
            self.wms_stock[(sku, LOCATION)] = STOCK
            self.report(sku, LOCATION)
        self.settle()

    # - the partners
    def report(self, sku: str, location: str) -> None:
        """The WMS's InventoryPositionReported on the inventory queue (a bare envelope, as the sample)."""
        self.sequence += 1
        envelope = json.loads((ROOT / "events/samples/sqs-inventory-position-reported.json").read_text())
        now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        envelope.update(
            event_id=str(uuid.uuid4()),
            occurred_at=f"{now}.000Z",
            correlation_id=f"wms-{self.sequence}",
            entity_id=f"{sku}@{location}",
            sequence=self.sequence,
            data={
                "sku": sku,
                "location_id": location,
                "on_hand": self.wms_stock[(sku, location)],
                "quality_hold": 0,
                "in_transit": 0,
                "as_of": f"{now}Z",
            },
        )
        self.wms_sqs.send_message(QueueUrl=self.inventory_queue, MessageBody=json.dumps(envelope))

    def _wms_put(self, detail_type: str, entity_id: str, data: dict[str, Any], correlation_id: str) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        envelope = {
            "event_id": str(uuid.uuid4()),
            "event_type": detail_type,
            "event_version": "1",
            "occurred_at": f"{now}.000Z",
            "correlation_id": correlation_id,
            "causation_id": None,
            "source_system": SITE_SOURCE,
            "entity_id": entity_id,
            "sequence": 1,
            "data": data,
        }
        response = self.wms_events.put_events(
            Entries=[
                {
                    "Source": SITE_SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(envelope),
                    "EventBusName": self.dep.bus_name,
                }
            ]
        )
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"the bus refused the WMS's {detail_type}: {response}")

    def warehouse(self) -> bool:
        """The WMS reads its outbound queue; for an OrderReleased it acknowledges the release and
        ships every pick line at once (one ShipmentConfirmed), and remembers the positions to report."""
        moved = False
        for url in self.outbound:
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                "Messages", []
            )
            for m in messages:
                moved = True
                size = message_size(m["Body"], None)
                self.meter.charge(
                    "SQS", "ReceiveMessage (WMS, its outbound queue)", "WMS (wms.utrecht)", sqs_chunks(size)
                )
                self.meter.charge("SQS", "DeleteMessage (WMS, its outbound queue)", "WMS (wms.utrecht)", 1)
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                event = json.loads(m["Body"])
                if event.get("detail-type") != "OrderReleased":
                    continue
                data = event["detail"]["data"]
                order_id, correlation = data["order_id"], event["detail"]["correlation_id"]
                picks = [p for w in data["warehouses"] if w["warehouse_id"] == SITE_ID for p in w["pick_lines"]]
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                self._wms_put(
                    "ReleaseAcknowledged",
                    order_id,
                    {
                        "order_id": order_id,
                        "warehouse_id": SITE_ID,
                        "acknowledged_at": now,
                        "warehouse_order_ref": f"UTR-PICK-{uuid.uuid4().hex[:6].upper()}",
                    },
                    correlation,
                )
                shipment_id = f"SHP-{uuid.uuid4().hex[:12].upper()}"
                lines = [{"sku": p["sku"], "quantity": p["quantity"], "location_id": p["location_id"]} for p in picks]
                self._wms_put(
                    "ShipmentConfirmed",
                    shipment_id,
                    {
                        "shipment_id": shipment_id,
                        "order_id": order_id,
                        "warehouse_id": SITE_ID,
                        "shipped_at": now,
                        "carrier": "PostNL",
                        "tracking_number": f"3S{uuid.uuid4().hex[:11].upper()}",
                        "lines": lines,
                    },
                    correlation,
                )
                for p in picks:
                    self.wms_stock[(p["sku"], p["location_id"])] -= p["quantity"]
                    self.wms_reports.append((p["sku"], p["location_id"]))
        return moved

    # - running what is due
    def visible(self, url: str) -> int:
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    def settle(self, max_rounds: int = 200) -> None:
        """Run every event source, the warehouse and the ERP until nothing moves; then the WMS sends
        its position reports of what it picked, and again until nothing moves."""
        for _ in range(max_rounds):
            moved = False
            for stream in self.stream_pollers:
                while stream.poll_once():
                    moved = True
            for poller in self.sqs_pollers:
                while self.visible(poller.spec.queue_url):
                    moved = poller.poll_once() or moved
            moved = self.warehouse() or moved
            if self.erp is not None:
                moved = bool(self.erp.poll_once()) or moved
            if not moved and self.wms_reports:
                time.sleep(1.1)  # the report is as of a later second than the pick
                for sku, location in dict.fromkeys(self.wms_reports):
                    self.report(sku, location)
                self.wms_reports.clear()
                moved = True
            if not moved:
                return
        raise RuntimeError("the hub did not settle")

    # - one order
    def _api_event(self, method: str, path: str, body: str) -> dict[str, Any]:
        event: dict[str, Any] = json.loads((ROOT / "events/samples/apigw-post-order-event.json").read_text())
        event.update(httpMethod=method, path=path, resource=path, body=body, isBase64Encoded=False)
        context = dict(event["requestContext"])
        context.update(
            httpMethod=method,
            resourcePath=path,
            path=f"/{self.dep.stage or 'v1'}{path}",
            requestId=str(uuid.uuid4()),
            requestTimeEpoch=int(time.time() * 1000),
        )
        event["requestContext"] = context
        return event

    def order_body(self, lines: int, skus: list[str], ref: str) -> str:
        body = json.loads((ROOT / "events/samples/api-post-order.json").read_text())
        template = body["lines"][0]
        body["channel_order_ref"] = ref
        body["lines"] = [{**template, "line_id": str(n + 1), "sku": skus[n], "quantity": 2} for n in range(lines)]
        return json.dumps(body, separators=(",", ":"))

    def post_order(self, lines: int, skus: list[str], number: int) -> str:
        """Intake as API Gateway runs it: the authorizer (unless its answer is cached: the template's
        TTL), then the orders function; the order id."""
        from synchub.local.authorizer import ALLOW, evaluate, method_arn, parse_result, token_event

        ref = f"WS-{number:08d}"
        event = self._api_event("POST", "/orders", self.order_body(lines, skus, ref))
        arn = method_arn(self.region, self.template.account, self.dep.api_id or "a1b2c3d4e5", "v1", "POST", "/orders")
        authorized = None
        if self.authorizer_fn is not None and self.authorizer is not None:
            token = f"Bearer {self.token}"
            authorized = self.authorizer_cache.get(self.authorizer.logical_id, token)
            if authorized is None:
                authorized = parse_result(self.authorizer_fn.invoke(token_event(token, arn)))
                self.authorizer_cache.put(self.authorizer.logical_id, token, authorized, self.authorizer.ttl)
            if evaluate(authorized.policy, arn) != ALLOW:
                raise RuntimeError("the authorizer denied the channel")
        headers = dict(event["headers"])
        headers.update(
            {"Authorization": f"Bearer {self.token}", "Idempotency-Key": f"{CHANNEL}-{ref}-1", "X-Correlation-Id": ref}
        )
        event["headers"], event["multiValueHeaders"] = headers, {k: [v] for k, v in headers.items()}
        context = event["requestContext"]
        context["identity"] = {
            **context["identity"],
            "apiKey": authorized.usage_identifier_key if authorized else None,
            "apiKeyId": self.api_key_id or None,
        }
        if authorized is not None:
            context["authorizer"] = {
                **authorized.context,
                "principalId": authorized.principal_id,
                "integrationLatency": 12,
            }
        response = self.orders_fn.invoke(event)
        self.gateway_charges("POST /orders", response)
        if response.get("statusCode") != 202:
            raise RuntimeError(f"POST /orders answered {response.get('statusCode')}: {response.get('body')}")
        return str(json.loads(response["body"])["order_id"])

    def gateway_charges(self, route: str, response: Mapping[str, Any]) -> None:
        """What API Gateway itself bills for one request: the request, the WAF inspection of the web
        ACL associated with the stage, the stage's access log line."""
        key = "apigw.rest" if self.api_kind == "REST" else "apigw.http"
        self.meter.charge("API Gateway", f"{self.api_kind} API request ({route})", "API Gateway", 1, {key: 1})
        if self.waf:
            self.meter.charge("WAF", "web ACL request (the API stage)", "WAF", 1, {"waf.request": 1})
        access = self.access_log_line(route, response)
        if access:
            logged = {"logs.ingest_gb": access / 1e9}
            self.meter.charge("CloudWatch Logs", "API Gateway access log", "API Gateway", 0, logged)

    def access_log_line(self, route: str, response: Mapping[str, Any]) -> int:
        """Bytes of the stage's access log line for this request (its template format, typical values)."""
        fmt = (self.stage.get("AccessLogSetting") or {}).get("Format")
        if not fmt:
            return 0
        values = {
            "requestId": str(uuid.uuid4()),
            "extendedRequestId": "Bx1YfHJ9DoEFabc=",
            "requestTime": "02/Dec/2026:08:12:44 +0000",
            "httpMethod": route.split()[0],
            "resourcePath": route.split()[-1],
            "status": str(response.get("statusCode", "")),
            "protocol": "HTTP/1.1",
            "responseLength": str(len(str(response.get("body") or ""))),
            "responseLatency": "123",
            "authorizer.principalId": CHANNEL,
            "authorizer.status": "200",
            "authorizer.latency": "38",
            "identity.apiKeyId": self.api_key_id or "a1b2c3d4e5",
            "integration.status": "200",
            "integration.latency": "80",
            "error.responseType": "-",
            "waf.status": "200",
            "xrayTraceId": "1-6741c7a2-3f1c2a9b8d7e6f5a4b3c2d1e",
        }
        line = re.sub(r"\$context\.([A-Za-z.]+)", lambda m: values.get(m.group(1), "-"), fmt)
        return len(line.encode()) + 1

    def one_order(self, lines: int, skus: list[str], number: int) -> tuple[Bill, str]:
        """One order from POST /orders to its posted invoice, counted."""
        if time.monotonic() - self.token_at > self.token_ttl / 2:
            self.new_token()
        invocations = {f.name: f.invocations for f in self.functions.values()}
        with self.meter.recorded(lines) as bill:
            order_id = self.post_order(lines, skus, number)
            self.settle()
            invoked = {f.name: f.invocations - invocations[f.name] for f in self.functions.values()}
            entry_points = 1 + sum(
                n
                for name, n in invoked.items()
                if name not in (self.orders_fn.name, getattr(self.authorizer_fn, "name", ""))
            )
            self.meter.charge(
                "X-Ray",
                f"traces ({entry_points} entry points, {XRAY_SAMPLING:.0%} sampled)",
                "X-Ray",
                entry_points,
                {"xray.trace": entry_points * XRAY_SAMPLING},
            )
        return bill, order_id

    # - checks
    def outcome(self, order_id: str) -> list[str]:
        """What did not happen that should have (empty: the order went all the way)."""
        from erp import api as erp_api
        from orders.repository import read

        missing = []
        fn = self.by_handler["orders.handler.lambda_handler"]
        with fn.environment():
            order = read(order_id)
        state = getattr(order, "state", None) if order is not None else None
        state = getattr(state, "value", state)
        if state != "INVOICED":
            missing.append(f"order {order_id} is {state}, not INVOICED")
        posted = list(self.finance.app.store.page("", "9999-99-99", "", 100_000))
        if not any(order_id in json.dumps(d) for d in posted):
            missing.append(f"no document of order {order_id} in cloud finance")
        with self.by_handler["erp.handler.acks_handler"].environment():
            ack = erp_api.acknowledgements([order_id]).get(order_id, {})
        if not ack:
            missing.append(f"the ERP did not acknowledge order {order_id}")
        return missing

    def fill_orders_table(self, items: int) -> None:
        """``items`` more items straight into the emulator's orders table (its size is the point)."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends
        from moto.dynamodb.models.dynamo_type import DynamoType, Item

        table = dynamodb_backends[DEFAULT_ACCOUNT_ID][self.region].tables[self.dep.tables["DataOrdersTable"]]
        filler = {"item_type": {"S": "BENCH"}, "doc": {"S": "x" * 1500}}
        for n in range(items):
            h, r = DynamoType({"S": f"BENCH#{n}"}), DynamoType({"S": "ORDER"})
            table.items[h][r] = Item(h, r, {"pk": {"S": f"BENCH#{n}"}, "sk": {"S": "ORDER"}, **filler})


def skus_for(lines: int) -> list[str]:
    """The sample's SKUs, then the ERP seed's SKU-00001...: all known to the master data."""
    return ["FLOUR-T55-25KG", "YEAST-DRY-500G", *(f"SKU-{n:05d}" for n in range(1, max(1, lines - 1)))][:lines]


@dataclass
class Run:
    bills: dict[int, Bill]  # per order size: the median of the counted orders
    cold: dict[int, Bill]  # per order size: the warm-up order (the functions' caches cold)
    token: Bill  # one POST /oauth2/token
    deterministic: dict[int, list[str]]  # differences between the counted orders of a size (empty: none)
    flat: list[str] | None  # differences after FILLER_ITEMS more items (None: not checked)
    missing: list[str]  # what an order did not reach (empty: every order was invoiced, posted, acknowledged)
    stack: list[str]  # what the template says that the bill depends on


def run(sizes: tuple[int, ...] = SIZES, rounds: int = ROUNDS, filler: int = FILLER_ITEMS) -> Run:
    """Every size's bill (the median of ``rounds`` counted orders after one warm-up order), counted
    in one provisioned stack; then, with ``filler`` more items in the orders table, one more order
    of the first size, which must count the same."""
    from benchmarks.harness import provisioned

    environment = {"POWERTOOLS_LOG_LEVEL": "INFO", "POWERTOOLS_METRICS_DISABLED": "false"}
    with tempfile.TemporaryDirectory(prefix="bench-bill-") as tmp, provisioned(**environment) as (dep, template):
        forget_caches()  # of earlier sections of `make bench`: clients, settings, a finance URL, a signing key
        hub = Hub(dep, template, Path(tmp))
        try:
            hub.start_partners()
            hub.register_channel()
            with hub.meter.recorded(0) as token_bill:
                hub.new_token()
            hub.load_master_data()
            hub.stock(skus_for(max(sizes)))
            number = 0
            bills: dict[int, Bill] = {}
            cold: dict[int, Bill] = {}
            deterministic: dict[int, list[str]] = {}
            missing: list[str] = []
            for lines in sizes:
                number += 1
                cold[lines], order_id = hub.one_order(lines, skus_for(lines), number)
                missing += hub.outcome(order_id)
                counted = []
                for _ in range(rounds):
                    number += 1
                    counted_bill, order_id = hub.one_order(lines, skus_for(lines), number)
                    missing += hub.outcome(order_id)
                    counted.append(counted_bill)
                deterministic[lines] = [d for b in counted[1:] for d in differences(counted[0], b)]
                bills[lines] = median_bill(counted)
            flat = None
            if filler:
                hub.fill_orders_table(filler)
                lines = sizes[0]
                number += 1
                later, order_id = hub.one_order(lines, skus_for(lines), number)
                missing += hub.outcome(order_id)
                flat = differences(bills[lines], later)
            return Run(bills, cold, token_bill, deterministic, flat, missing, hub.describe_stack())
        finally:
            hub.meter.uninstall()
            hub.stop_partners()


def forget_caches() -> None:
    """What the functions keep per process, forgotten: this run's stack is a new one."""
    from channels.repository import reset_caches
    from finance.client import reset
    from synchub_core.aws import reset_clients
    from synchub_core.config import reset_settings

    for forget in (reset_caches, reset, reset_clients, reset_settings):
        forget()


def bill(lines: int, rounds: int = ROUNDS) -> Bill:
    """The bill of one order of ``lines`` lines (a stack of its own; see :func:`run`). Its
    ``counts()`` are what ``benchmarks.prices.price`` prices, and ``as_dict()`` the whole of it."""
    return run((lines,), rounds, filler=0).bills[lines]


# -- printing ---------------------------------------------------------------------------------------
UNIT_LABELS = {
    "dynamodb.wru": ("WRU", 1.0),
    "dynamodb.rru": ("RRU", 1.0),
    "lambda.gbs.x86_64": ("GB-s", 1.0),
    "lambda.gbs.arm64": ("GB-s", 1.0),
    "logs.ingest_gb": ("KB", 1e6),
    "events.archive_gb": ("KB", 1e6),
    "events.custom": ("events", 1.0),
    "xray.trace": ("traces", 1.0),
}


def describe_units(charges: Mapping[str, float]) -> str:
    parts = []
    for key, quantity in charges.items():
        if key in UNIT_LABELS:
            label, scale = UNIT_LABELS[key]
            parts.append(f"{quantity * scale:,.4g} {label}")
    return ", ".join(parts)


def print_bill(bill: Bill, title: str) -> None:
    print(title)
    print(f"  {'service':20s} {'operation':58s} {'requests':>9s}  {'units':24s} {'$ / 1M orders':>13s}")
    order = sorted(bill.rows.items(), key=lambda kv: (kv[0][0], -prices.price(kv[1].charges), kv[0][1]))
    for (service, operation), row in order:
        dollars = prices.price(row.charges) * 1e6
        requests = f"{row.requests:,.4g}" if row.requests else ""
        units_text = describe_units(row.charges)[:24]
        print(f"  {service:20s} {operation[:58]:58s} {requests:>9s}  {units_text:24s} {dollars:13.2f}")
    by_service: dict[str, float] = defaultdict(float)
    for (service, _), row in bill.rows.items():
        by_service[service] += prices.price(row.charges) * 1e6
    total = bill.dollars() * 1e6
    print(f"  {'total':20s} {'':58s} {'':>9s}  {'':24s} {total:13.2f}   (${bill.dollars():.6f} per order)")
    shares = ", ".join(f"{s} {v / total:.0%}" for s, v in sorted(by_service.items(), key=lambda kv: -kv[1]) if v)
    print(f"  by service: {shares}")
    actors = sorted(bill.by_actor, key=lambda a: -bill.actor_dollars(a))
    top = ", ".join(f"{a} {bill.actor_dollars(a) * 1e6:,.2f}" for a in actors[:8] if bill.actor_dollars(a))
    print(f"  by who spends it ($ / 1M orders): {top}")
    for note in dict.fromkeys(bill.notes):
        print(f"  note: {note}")
    if DETAIL:
        print_detail(bill, actors)


def print_detail(bill: Bill, actors: list[str]) -> None:
    for actor in actors:
        print(f"    {actor}: ${bill.actor_dollars(actor) * 1e6:,.2f} / 1M orders")
        for (service, operation), row in sorted(bill.by_actor[actor].items()):
            requests = f"{row.requests:,.4g}" if row.requests else ""
            print(f"      {service:16s} {operation[:50]:50s} {requests:>6s}  {describe_units(row.charges)}")
    print("    DynamoDB writes, item by item (kind, table, key, bytes before -> after, WRU):")
    for actor, operation, items in bill.writes:
        print(f"      {actor}: {operation}, {sum(i[5] for i in items)} WRU")
        for kind, table, key, before, after, wru in items:
            print(f"        {kind:14s} {table:10s} {key[:60]:60s} {before:6d} -> {after:6d} B  {wru} WRU")


def extras(cold: Bill, warm: Bill) -> list[str]:
    """What the first (cold) order counted beyond a warm one: the caches' calls."""
    out = []
    for key, row in cold.rows.items():
        extra = row.requests - warm.rows.get(key, Row()).requests
        if extra > 0 and key[0] not in ("Lambda", "CloudWatch Logs", "X-Ray"):
            out.append(f"{key[0]} {key[1]} +{extra:g}")
    return out


def main() -> None:
    started = time.perf_counter()
    result = run()
    print(
        f"synchub: an order's AWS bill, counted from the calls the real handlers make (moto in-process; "
        f"{ROUNDS} orders per size after one warm-up order; $ per 1M orders, {prices.REGION} on-demand prices)"
    )
    for line in result.stack:
        print(f"  {line}")
    for lines, counted in result.bills.items():
        print()
        print_bill(counted, f"order of {lines} lines: intake -> reserved -> released -> shipped -> invoiced -> posted")
        cold = extras(result.cold[lines], counted)
        if cold:
            print(f"  the first order of a cold container also made: {'; '.join(cold)}")
        same = result.deterministic[lines]
        print(
            f"  counts equal in the {ROUNDS} orders (deterministic): {'yes' if not same else 'NO: ' + '; '.join(same)}"
        )
        print(f"  counts: {json.dumps({'lines': lines, **{k: round(v, 9) for k, v in counted.counts().items()}})}")
    print()
    summary = "  ".join(f"{lines} lines ${b.dollars() * 1e6:,.2f}" for lines, b in result.bills.items())
    print(f"$ per 1M orders: {summary}")
    from benchmarks.floor import floor, report

    print()
    for line in report({lines: floor(b) for lines, b in result.bills.items()}):
        print(line)
    print()
    if result.flat is not None:
        flat = "the same" if not result.flat else "DIFFERENT: " + "; ".join(result.flat)
        print(f"counts with {FILLER_ITEMS:,} more items in the orders table and the orders above in it: {flat}")
    print(
        "a channel's token (POST /oauth2/token, once per token lifetime per channel, not in the orders' bills): "
        f"${result.token.dollars() * 1e6:,.2f} per 1M tokens"
    )
    for line in dict.fromkeys(result.missing):
        print(f"NOT REACHED: {line}")
    for line in ASSUMPTIONS:
        print(f"* {line}")
    print()
    for line in prices.describe():
        print(line)
    print(f"({time.perf_counter() - started:.0f} s)")


ASSUMPTIONS = (
    "one order alone: every event source delivers a batch of one message (the outbox stream one record, "
    "the ERP sender one order per file); under load batches fill up and the per-batch requests "
    "(ReceiveMessage, DeleteMessageBatch, invocations, ERP files) are shared",
    "the WMS acknowledges the release, ships every line in one ShipmentConfirmed and then reports each "
    "picked position (one SendMessage per report); SQS and EventBridge bill the hub's account for "
    "partners' requests to its queues and bus, S3 the bucket owner for the ERP's requests",
    "DynamoDB: a ConditionCheck priced as a transactional write of the item checked; secondary index "
    "writes 1 WRU per KB of the index entry, not doubled in a transaction; TTL deletes and stream reads "
    "by Lambda are free",
    "X-Ray: an upper bound of one trace per entry point, 5 % recorded (the default rule above its 1/s "
    "reservoir); Lambda logs: Lambda's START/END/REPORT lines added where the function's logging config "
    "keeps them (text format, or JSON with system log level INFO)",
    "Lambda GB-s: the emulator's in-process time billed per 1 ms (median of the rounds): a proxy for AWS "
    "time, not a measurement of it; everything else is counted from the calls made",
    "not per order (fixed monthly, or per GB stored): idle polling of the event sources, the WMS and the "
    "ERP; schedules (sweeps, watchdog, reconciliation); cold starts (init is billed); custom metrics; "
    "storage (DynamoDB and PITR, S3, logs, the archive); data transfer to cloud finance; X-Ray's reservoir",
)


if __name__ == "__main__":
    main()
