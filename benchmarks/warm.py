"""``python -m benchmarks.warm``: the warm overhead of the orders API function, as a ratio of a
minimal hand-written handler that makes the same DynamoDB calls.

The stack is provisioned into moto in-process (``benchmarks.harness.provisioned``: the same
template as ``make run``), and both handlers run against that one emulator:

* **subject**: ``orders.handler.lambda_handler``, invoked in-process with the sample API Gateway
  event (``events/samples/apigw-post-order-event.json``, ``POST /orders``), each invocation a new
  order (fresh ``Idempotency-Key``, ``channel_order_ref``, correlation and request ids) and a
  Lambda context stub (name, ARN, memory and timeout of the template's orders function, a fresh
  request id). Powertools runs as deployed as far as it can locally: the function's environment
  from the template (``POWERTOOLS_LOG_LEVEL=INFO``, service name, metrics namespace), Metrics
  enabled; the Logger's JSON lines and the Metrics' EMF blob go to stdout as in Lambda, here an
  in-memory sink that counts the characters and discards them (serialization is paid, the write to
  the runtime's pipe is not). The Tracer is disabled: there is no X-Ray daemon locally (the stack
  deploys the function with Active tracing, so AWS adds the X-Ray SDK's per-call subsegments);
* **baseline**: :func:`make_baseline_handler`, a minimal handler with plain boto3 and json: it
  parses the body, checks the few fields it needs, reads the authorizer context and makes the same
  DynamoDB calls (operations, tables, item kinds and sizes, conditions) on a plain boto3 client:
  the strongly consistent idempotency read, the master data BatchGetItem (customer, products, which
  ERP files are loaded), the 5-item intake transaction, then answers ``202`` in JSON. No logging,
  no metrics: the floor a handler of the same guarantees can reach.

Which calls the orders handler makes is recorded, not assumed (every botocore API call of any
client, by wrapping ``BaseClient._make_api_call``): the sequence of each handler's calls is
printed and checked to be the same before anything is timed, and every timed invocation must
make that sequence again. The ERP's master data (the sample's customer and SKUs, every kind
loaded) is written first through ``masterdata.repository``, so the master data check does real
work in both.

After warm-ups, ``BENCH_ROUNDS`` invocations of each (default 200), interleaved (alternating which
goes first) to cancel drift. Printed: median and p95 ms of each, the ratio of medians (the goal:
<= 1.5x), the time spent inside AWS calls (botocore + emulator) and outside them, and the DynamoDB
requests per invocation. Above the goal (or with ``BENCH_WARM_PROFILE=1``; ``=0`` never) the
orders handler's warm path is profiled (cProfile) and its hot spots printed. Absolute ms are
emulator ms, not AWS ms. ``BENCH_WARM=0`` skips it in ``make bench``.
"""

from __future__ import annotations

import cProfile
import hashlib
import io
import itertools
import json
import logging
import os
import pstats
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "200"))
WARMUP = 10
PROFILE_INVOCATIONS = 200
PROFILE_TOP = 40
GOAL = 1.5
HANDLER = "orders.handler.lambda_handler"
SAMPLE_EVENT = ROOT / "events/samples/apigw-post-order-event.json"


# -- the calls actually made -------------------------------------------------------------------
@dataclass
class Call:
    service: str
    operation: str
    params: dict[str, Any]
    seconds: float
    response: dict[str, Any] | None = None


class Calls:
    """Every botocore API call made while installed, from any client (``BaseClient._make_api_call``
    wrapped), with its parameters and the time spent in it (client-side botocore + the emulator)."""

    def __init__(self) -> None:
        self.log: list[Call] = []

    @contextmanager
    def installed(self) -> Iterator[Calls]:
        from botocore.client import BaseClient

        original = vars(BaseClient)["_make_api_call"]  # what botocore (or X-Ray's patch) installed
        log = self.log

        def recorded(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            started = time.perf_counter()
            response = None
            try:
                response = original(client, operation_name, api_params)
                return response
            finally:
                seconds = time.perf_counter() - started
                service = client.meta.service_model.service_name
                log.append(Call(service, operation_name, api_params, seconds, response))

        setattr(BaseClient, "_make_api_call", recorded)  # noqa: B010 - a method patch, typed as such
        try:
            yield self
        finally:
            setattr(BaseClient, "_make_api_call", original)  # noqa: B010

    @staticmethod
    @contextmanager
    def answered(responses: dict[str, dict[str, Any]]) -> Iterator[None]:
        """No AWS at all: every call answered with ``responses[operation]`` (recorded from the
        emulator), so that a profile shows the handler's own work only."""
        from botocore.client import BaseClient

        original = vars(BaseClient)["_make_api_call"]  # what botocore (or X-Ray's patch) installed

        def canned(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            return responses[operation_name]  # the handlers only read it

        setattr(BaseClient, "_make_api_call", canned)  # noqa: B010
        try:
            yield
        finally:
            setattr(BaseClient, "_make_api_call", original)  # noqa: B010


def _kind(key: dict[str, Any]) -> str:
    """What an item is, from its keys: the prefixes of ``pk`` and ``sk`` (``ORDER/HIST``)."""
    pk = str(next(iter(key.get("pk", {}).values()), ""))
    sk = str(next(iter(key.get("sk", {}).values()), ""))
    return f"{pk.split('#', 1)[0]}/{sk.split('#', 1)[0]}"


def _item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it (attribute names + values, UTF-8; close enough for N)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        for kind, raw in value.items():
            size += len(str(raw).encode()) if kind in ("S", "N", "B") else len(json.dumps(raw))
    return size


def shape(call: Call) -> tuple[Any, ...]:
    """What must be the same for two calls to be the same DynamoDB work: service, operation, table,
    item kinds, consistency and conditions (not the values: every order is a new one)."""
    p = call.params
    detail: tuple[Any, ...] = ()
    if call.operation == "TransactWriteItems":
        detail = tuple(
            (
                action,
                body["TableName"],
                _kind(body.get("Item") or body.get("Key") or {}),
                body.get("ConditionExpression"),
            )
            for entry in p["TransactItems"]
            for action, body in entry.items()
        )
    elif call.operation == "BatchGetItem":
        detail = tuple(
            (table, tuple(sorted(_kind(k) for k in spec["Keys"])), spec.get("ConsistentRead", False))
            for table, spec in sorted(p["RequestItems"].items())
        )
    elif "TableName" in p:
        detail = (
            p["TableName"],
            _kind(p.get("Item") or p.get("Key") or {}),
            p.get("ConsistentRead", False),
            p.get("ConditionExpression"),
        )
    return (call.service, call.operation, detail)


def sizes(call: Call) -> list[tuple[str, int]]:
    """(item kind, bytes) of each item a write carries."""
    if call.operation == "TransactWriteItems":
        return [
            (_kind(body["Item"]), _item_bytes(body["Item"]))
            for entry in call.params["TransactItems"]
            for body in entry.values()
            if "Item" in body
        ]
    if "Item" in call.params:
        return [(_kind(call.params["Item"]), _item_bytes(call.params["Item"]))]
    return []


def describe(call: Call) -> str:
    service, operation, detail = shape(call)
    short = lambda table: str(table).removeprefix("Synchub-Data").removesuffix("Table")  # noqa: E731
    if operation == "TransactWriteItems":
        parts = ", ".join(
            f"{a} {k}" + (" if not exists" if c == "attribute_not_exists(pk)" else "") for a, _, k, c in detail
        )
        return f"TransactWriteItems({short(detail[0][1])}: {parts})"
    if operation == "BatchGetItem":
        return "BatchGetItem(" + "; ".join(f"{short(t)}: {', '.join(keys)}" for t, keys, _ in detail) + ")"
    if detail:
        table, kind, consistent, condition = detail
        extra = (", consistent" if consistent else "") + (f", if {condition}" if condition else "")
        return f"{operation}({short(table)}: {kind}{extra})"
    return f"{service}.{operation}"


# -- the baseline --------------------------------------------------------------------------------
def make_baseline_handler(client: Any = None) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A minimal ``POST /orders`` handler with plain boto3 and json, making the orders handler's
    DynamoDB calls for a new order: what its module would do at import happens here (the client,
    ``boto3.client("dynamodb")`` unless one is given, and the table names from the environment)."""
    import boto3

    ddb = client if client is not None else boto3.client("dynamodb")
    orders_table = os.environ["ORDERS_TABLE"]
    masterdata_table = os.environ["MASTERDATA_TABLE"]

    def answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        content_type = "application/json" if status < 400 else "application/problem+json"
        return {
            "statusCode": status,
            "headers": {"Content-Type": content_type, **(headers or {})},
            "body": json.dumps(body),
        }

    def refused(status: int, slug: str) -> dict[str, Any]:
        return answer(status, {"type": f"https://synchub.dev/problems/{slug}", "status": status})

    def accepted(request: dict[str, Any], order_id: str, replayed: bool) -> dict[str, Any]:
        url = f"/{request.get('stage', '')}/orders/{order_id}".replace("//", "/")
        body = {"order_id": order_id, "state": "ACCEPTED", "status_url": url}
        return answer(202, body, {"Location": url, "Idempotent-Replayed": "true" if replayed else "false"})

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        request = event.get("requestContext") or {}
        authorizer = request.get("authorizer") or {}
        channel = authorizer.get("channel")
        if not isinstance(channel, str) or not channel:
            return refused(401, "unauthorized")
        days = str(authorizer.get("min_shelf_life_days") or 0)
        shelf_life = int(days) if days.isdigit() else 0
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        key = headers.get("idempotency-key")
        if not isinstance(key, str) or not 8 <= len(key) <= 128:
            return refused(400, "idempotency-key-missing")
        try:
            order = json.loads(event.get("body") or "")
        except ValueError:
            return refused(400, "body-not-json")
        if not isinstance(order, dict) or order.get("channel", channel) != channel:
            return refused(400, "validation-error")
        ref, customer, lines = order.get("channel_order_ref"), order.get("customer") or {}, order.get("lines")
        if not isinstance(ref, str) or not isinstance(customer.get("customer_id"), str) or not isinstance(lines, list):
            return refused(400, "validation-error")
        if not lines or not all(
            isinstance(line, dict)
            and isinstance(line.get("sku"), str)
            and isinstance(line.get("quantity"), int)
            and line["quantity"] > 0
            and isinstance(line.get("unit_price"), str)  # no ERP pricing here: the sample prices every line
            for line in lines
        ):
            return refused(400, "validation-error")
        order["channel"] = channel
        digest = hashlib.sha256(json.dumps(order, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        idempotency = {"pk": {"S": f"IDEMP#{channel}#{key}"}, "sk": {"S": "IDEMP"}}

        previous = ddb.get_item(TableName=orders_table, Key=idempotency, ConsistentRead=True).get("Item")
        if previous is not None:
            if previous["request_hash"]["S"] != digest:
                return refused(422, "idempotency-key-reused")
            return accepted(request, previous["order_id"]["S"], True)

        customer_id = customer["customer_id"]
        skus = list(dict.fromkeys(line["sku"] for line in lines))
        keys = [f"CUSTOMER#{customer_id}|CUSTOMER", "META#products|META", "META#customers|META", "META#prices|META"]
        keys += [f"PRODUCT#{sku}|PRODUCT" for sku in skus]
        wanted: dict[str, Any] = {
            masterdata_table: {"Keys": [{"pk": {"S": k.split("|")[0]}, "sk": {"S": k.split("|")[1]}} for k in keys]}
        }
        found: dict[str, dict[str, Any]] = {}
        while wanted:
            response = ddb.batch_get_item(RequestItems=wanted)
            for item in response.get("Responses", {}).get(masterdata_table, []):
                found[item["pk"]["S"]] = item
            wanted = response.get("UnprocessedKeys") or {}
        if "META#customers" in found:
            known = found.get(f"CUSTOMER#{customer_id}")
            if known is None or known.get("status", {}).get("S") == "BLOCKED":
                return refused(422, "unknown-customer" if known is None else "customer-blocked")
        if "META#products" in found:
            for sku in skus:
                product = found.get(f"PRODUCT#{sku}")
                if product is None or product.get("status", {}).get("S") != "ACTIVE":
                    return refused(422, "unknown-sku")

        now = datetime.now(UTC)
        at = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        order_id, event_id = "ord_" + uuid.uuid4().hex, str(uuid.uuid4())
        correlation_id = headers.get("x-correlation-id") or request.get("requestId") or order_id
        order["lines"] = [{**line, "price_source": "channel"} for line in lines]
        detail = {
            "event_id": event_id,
            "event_type": "OrderAccepted",
            "event_version": "1",
            "occurred_at": now.isoformat().replace("+00:00", "Z"),
            "correlation_id": correlation_id,
            "causation_id": f"idempotency-key:{key}",
            "source_system": "synchub.orders",
            "entity_id": order_id,
            "sequence": 1,
            "data": {**order, "order_id": order_id, "min_shelf_life_days": shelf_life},
        }
        s = lambda value: {"S": value}  # noqa: E731
        order_pk = s(f"ORDER#{order_id}")
        items = [
            {
                **idempotency,
                "item_type": s("IDEMPOTENCY"),
                "request_hash": s(digest),
                "order_id": s(order_id),
                "created_at": s(at),
                "expires_at": {"N": str(int(now.timestamp()) + 30 * 86400)},
            },
            {
                "pk": s(f"CHANREF#{channel}#{ref}"),
                "sk": s("CHANREF"),
                "item_type": s("CHANNEL_REF"),
                "order_id": s(order_id),
                "created_at": s(at),
            },
            {
                "pk": order_pk,
                "sk": s("ORDER"),
                "item_type": s("ORDER"),
                "order_id": s(order_id),
                "state": s("ACCEPTED"),
                "version": {"N": "1"},
                "channel": s(channel),
                "channel_order_ref": s(ref),
                "doc": s(json.dumps(order, separators=(",", ":"), sort_keys=True)),
                "allocations": s("[]"),
                "shipped": s("{}"),
                "created_at": s(at),
                "updated_at": s(at),
                "correlation_id": s(correlation_id),
                "day_key": s(f"ORDER#{at[:10]}"),
                "day_at": s(f"{at}#{order_id}"),
            },
        ]
        entries = [
            {"M": {"state": s("SUBMITTED"), "at": s(at), "reason": s(f"received from channel {channel}")}},
            {"M": {"state": s("ACCEPTED"), "at": s(at), "reason": s("passed validation"), "event_id": s(event_id)}},
        ]
        items.append(
            {
                "pk": order_pk,
                "sk": s("HIST#00000001"),
                "item_type": s("HISTORY"),
                "at": s(at),
                "entries": {"L": entries},
            }
        )
        items.append(
            {
                "pk": s(f"OUTBOX#{event_id}"),
                "sk": s("OUTBOX"),
                "item_type": s("OUTBOX"),
                "event_id": s(event_id),
                "source": s("synchub.orders"),
                "detail_type": s("OrderAccepted"),
                "detail": s(json.dumps(detail, separators=(",", ":"))),
                "created_at": s(at),
                "outbox_status": s("PENDING"),
            }
        )
        conditional = {0, 1, 2, 4}  # the key, the channel reference, the order, the outbox event: once each
        guard = {"ConditionExpression": "attribute_not_exists(pk)", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        transaction = [
            {"Put": {"TableName": orders_table, "Item": item, **(guard if n in conditional else {})}}
            for n, item in enumerate(items)
        ]
        try:
            ddb.transact_write_items(TransactItems=transaction)
        except ddb.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons[:1] == ["ConditionalCheckFailed"]:  # a retry that raced past the read
                return accepted(request, exc.response["CancellationReasons"][0]["Item"]["order_id"]["S"], True)
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                return refused(409, "duplicate-channel-order")
            raise
        return accepted(request, order_id, False)

    return handler


# -- the subject's surroundings ------------------------------------------------------------------
@dataclass
class LambdaContext:
    """What the Lambda runtime passes as ``context`` (the attributes handlers and Powertools read)."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_seconds: int
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "2026/12/02/[$LATEST]0123456789abcdef0123456789abcdef"
    deadline: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class Sink(io.TextIOBase):
    """Stdout as the Lambda runtime has it, minus the pipe: counts the characters and drops them."""

    def __init__(self) -> None:
        self.chars = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)


_REFERENCES = itertools.count(random.randrange(100_000, 500_000))


def fresh_event(sample: dict[str, Any]) -> dict[str, Any]:
    """The sample event as a new order: new Idempotency-Key, channel order reference, correlation
    and request ids (the body keeps its size: the references are as long as the sample's)."""
    body = json.loads(sample["body"])
    ref = f"WS-{next(_REFERENCES)}"  # as long as the sample's WS-100045
    body["channel_order_ref"] = ref
    headers = {**sample["headers"], "Idempotency-Key": f"{body['channel']}-{ref}-1", "X-Correlation-Id": ref}
    context = {
        **sample["requestContext"],
        "requestId": str(uuid.uuid4()),
        "requestTimeEpoch": int(time.time() * 1000),
    }
    return {**sample, "headers": headers, "requestContext": context, "body": json.dumps(body, separators=(",", ":"))}


def seed_master_data(body: dict[str, Any]) -> None:
    """The ERP's master data for the sample order, written as the master data function writes it:
    the customer and the SKUs, ACTIVE, and every kind of file marked loaded (so the check enforces)."""
    from masterdata import repository
    from masterdata.models import CustomerRow, Kind, ProductRow, SourceFile

    at = "2026-12-01T06:00:00.000Z"
    for kind in Kind:
        src = SourceFile(
            "exchange", f"from-erp/master/{kind.value}/bench.csv", kind, "20261201060000", "bench", "e", "1"
        )
        if kind is Kind.CUSTOMERS:
            row: CustomerRow | ProductRow = CustomerRow(
                customer_id=body["customer"]["customer_id"],
                name=body["customer"]["name"],
                country="NL",
                status="ACTIVE",
                price_group="STANDARD",
            )
            repository.write_row(row, 1, src, at)
        elif kind is Kind.PRODUCTS:
            for n, line in enumerate(body["lines"], start=1):
                row = ProductRow(sku=line["sku"], description=line["sku"], unit_of_measure="EA", status="ACTIVE")
                repository.write_row(row, n, src, at)
        repository.mark_loaded(src, at)


# -- measuring -----------------------------------------------------------------------------------
@dataclass
class Series:
    name: str
    times: list[float] = field(default_factory=list)
    in_calls: list[float] = field(default_factory=list)
    operations: Counter[str] = field(default_factory=Counter)
    invocations: int = 0

    def median_ms(self) -> float:
        return statistics.median(self.times) * 1000

    def p95_ms(self) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000

    def median_in_calls_ms(self) -> float:
        return statistics.median(self.in_calls) * 1000

    def median_own_ms(self) -> float:
        return statistics.median(t - c for t, c in zip(self.times, self.in_calls, strict=True)) * 1000


def invoke(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    event: dict[str, Any],
    context: Any,
    calls: Calls,
) -> tuple[float, list[Call], str]:
    """Time one invocation; check it accepted a new order; return its time, the calls it made and
    the order's id."""
    first = len(calls.log)
    started = time.perf_counter()
    response = handler(event, context)
    elapsed = time.perf_counter() - started
    made = calls.log[first:]
    if response.get("statusCode") != 202 or '"state":"ACCEPTED"' not in response.get("body", "").replace(" ", ""):
        raise AssertionError(f"expected a 202 for a new order, got {response}")
    return elapsed, made, json.loads(response["body"])["order_id"]


def _stored(order_id: str) -> Counter[str]:
    """What an order's intake left in the orders table, by item kind, read back with plain boto3:
    its partition (the order, its history), its channel reference and its outbox event."""
    import boto3

    ddb, table = boto3.client("dynamodb"), os.environ["ORDERS_TABLE"]
    items = ddb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"ORDER#{order_id}"}},
        ConsistentRead=True,
    )["Items"]
    order = next(item for item in items if item["sk"]["S"] == "ORDER")
    event_ids = [item["event_id"]["S"] for item in items if "event_id" in item]
    keys = [(f"CHANREF#{order['channel']['S']}#{order['channel_order_ref']['S']}", "CHANREF")]
    keys += [(f"OUTBOX#{event_id}", "OUTBOX") for event_id in event_ids]
    for pk, sk in keys:
        found = ddb.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
        items += [found["Item"]] if "Item" in found else []
    return Counter(_kind(item) for item in items)


def main() -> None:
    from benchmarks.harness import provisioned

    saved = dict(os.environ)
    try:
        with provisioned() as (dep, _):
            _run(dep)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from synchub_core.config import reset_settings

        reset_settings()  # the next section reads its own environment


def _run(dep: Any) -> None:
    spec = next(f for f in dep.functions.values() if f.handler == HANDLER)
    # the function's environment as the stack sets it (resolved in the emulator), and what the
    # runtime adds; metrics on as deployed (QUIET turns them off), tracing off (no X-Ray daemon)
    os.environ.update(spec.environment)
    os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
    os.environ.update(
        POWERTOOLS_TRACE_DISABLED="true",
        AWS_LAMBDA_FUNCTION_NAME=spec.name,
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(spec.memory),
    )
    from synchub_core.config import reset_settings

    reset_settings()
    sample = json.loads(SAMPLE_EVENT.read_text())
    seed_master_data(json.loads(sample["body"]))

    imported_before = "orders.handler" in sys.modules
    sink = Sink()
    with redirect_stdout(sink):
        from orders import handler as orders  # reads the environment above at import (a cold start)
    # imported earlier in this process (under the benchmarks' quiet settings): as deployed from here on
    previous_level = orders.logger.log_level
    orders.logger.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"))
    stream = orders.logger.registered_handler
    previous_stream = stream.setStream(sink) if isinstance(stream, logging.StreamHandler) else None
    baseline = make_baseline_handler()

    def context() -> LambdaContext:
        arn = f"arn:aws:lambda:{os.environ['AWS_REGION']}:123456789012:function:{spec.name}"
        return LambdaContext(spec.name, spec.memory, arn, str(uuid.uuid4()), spec.timeout)

    subject = Series(f"{HANDLER} (Powertools)")
    floor = Series("baseline: boto3 + json")
    runs: list[tuple[Series, Callable[[dict[str, Any], Any], dict[str, Any]]]] = [
        (floor, baseline),
        (subject, orders.lambda_handler),
    ]
    calls = Calls()
    try:
        with calls.installed(), redirect_stdout(sink):
            last: dict[str, list[Call]] = {}
            for _ in range(WARMUP):
                for series, handler in runs:
                    _, last[series.name], _ = invoke(handler, fresh_event(sample), context(), calls)
            expected = {series.name: [shape(c) for c in last[series.name]] for series, _ in runs}
            if expected[subject.name] != expected[floor.name]:
                raise AssertionError(
                    "the baseline must make the orders handler's calls:\n"
                    f"  orders:   {expected[subject.name]}\n  baseline: {expected[floor.name]}"
                )
            chars_before = sink.chars
            written: dict[str, str] = {}
            for n in range(ROUNDS):
                for series, handler in runs if n % 2 == 0 else runs[::-1]:
                    elapsed, made, written[series.name] = invoke(handler, fresh_event(sample), context(), calls)
                    if [shape(c) for c in made] != expected[series.name]:
                        raise AssertionError(f"{series.name} made other calls: {[describe(c) for c in made]}")
                    series.times.append(elapsed)
                    series.in_calls.append(sum(c.seconds for c in made))
                    series.operations.update(c.operation for c in made)
                    series.invocations += 1
                calls.log.clear()
            stdout_per_invocation = (sink.chars - chars_before) / subject.invocations
            stored = {name: _stored(order_id) for name, order_id in written.items()}
            if stored[floor.name] != stored[subject.name] or not stored[floor.name]:
                raise AssertionError(f"the handlers stored different orders: {stored}")
        # the handlers' own work: every AWS call answered at once with what the emulator answered
        responses = {c.operation: c.response or {} for c in last[subject.name]}
        own = {series.name: Series(series.name) for series, _ in runs}
        with Calls.answered(responses), redirect_stdout(sink):
            for n in range(ROUNDS):
                for series, handler in runs if n % 2 == 0 else runs[::-1]:
                    own[series.name].times.append(invoke(handler, fresh_event(sample), context(), calls)[0])
            ratio = subject.median_ms() / floor.median_ms()
            wanted = os.environ.get("BENCH_WARM_PROFILE", "")
            profile = None
            if wanted == "1" or (wanted != "0" and ratio > GOAL):
                profile = _profile(orders.lambda_handler, sample, context)
    finally:
        if previous_stream is not None and isinstance(stream, logging.StreamHandler):
            stream.setStream(previous_stream)
        level = logging.getLevelName(orders.logger.log_level)
        orders.logger.setLevel(previous_level)

    print(
        f"warm overhead: POST /orders in-process, {ROUNDS} invocations each, interleaved after {WARMUP} warm-ups "
        "(moto in-process; ratio vs the baseline)"
    )
    print(
        f"  {HANDLER} as deployed but for X-Ray: Logger {level}, Metrics on ({stdout_per_invocation:,.0f} chars of "
        "stdout per invocation, to a counting sink), Tracer off (no X-Ray daemon locally; the stack enables "
        "Active tracing)" + ("; module imported earlier in this process, log level set" if imported_before else "")
    )
    print(
        f"  {'handler':44s} {'median ms':>9s} {'p95 ms':>8s} {'time x':>7s} "
        f"{'in AWS calls':>12s} {'outside':>8s} {'requests':>8s}"
    )
    for series in (floor, subject):
        requests = sum(series.operations.values()) / series.invocations
        print(
            f"  {series.name:44s} {series.median_ms():9.2f} {series.p95_ms():8.2f} "
            f"{series.median_ms() / floor.median_ms():7.2f} {series.median_in_calls_ms():12.2f} "
            f"{series.median_own_ms():8.2f} {requests:8.1f}"
        )
    verdict = "within" if ratio <= GOAL else "ABOVE"
    base_own, subject_own = own[floor.name].median_ms(), own[subject.name].median_ms()
    print(
        f"  ratio of medians {ratio:.2f}x ({verdict} the goal of {GOAL}x); "
        f"p95 {subject.p95_ms() / floor.p95_ms():.2f}x; "
        f"outside the AWS calls {subject.median_own_ms() / floor.median_own_ms():.1f}x "
        f"(+{subject.median_own_ms() - floor.median_own_ms():.2f} ms per invocation)"
    )
    print(
        f"  own work alone (AWS answered at once from the emulator's recorded answers, no botocore): "
        f"baseline {base_own:.2f} ms, orders {subject_own:.2f} ms ({subject_own / base_own:.1f}x, "
        f"+{subject_own - base_own:.2f} ms)"
    )
    for series in (floor, subject):
        counted = ", ".join(f"{op} {n / series.invocations:g}" for op, n in series.operations.items())
        print(f"  requests per invocation, {series.name}: {counted} (counted over the timed invocations)")
    print("  the sequence, the same for both (checked on every invocation):")
    for n, call in enumerate(last[subject.name], start=1):
        print(f"    {n}. {describe(call)}")
    print(
        "  stored by each (read back, last order): "
        + ", ".join(f"{kind} x{n}" for kind, n in sorted(stored[subject.name].items()))
    )
    pairs = zip(
        [s for c in last[floor.name] for s in sizes(c)], [s for c in last[subject.name] for s in sizes(c)], strict=True
    )
    print("  item bytes written (baseline / orders): " + ", ".join(f"{k} {b}/{o}" for (k, b), (_, o) in pairs))
    if profile is not None:
        print()
        print(profile)


# -- profiling -------------------------------------------------------------------------------------
_PACKAGES = (
    ("/aws_lambda_powertools/event_handler/", "Powertools event handler (resolver, OpenAPI validation)"),
    ("/aws_lambda_powertools/logging/", "Powertools Logger"),
    ("/aws_lambda_powertools/metrics/", "Powertools Metrics"),
    ("/aws_lambda_powertools/", "Powertools (other)"),
    ("pydantic", "pydantic"),
    ("/functions/", "synchub functions code"),
    ("/botocore/", "boto3/botocore"),
    ("/boto3/", "boto3/botocore"),
    ("/logging/", "stdlib logging"),
    ("json", "stdlib json"),
    ("benchmarks/warm.py", "the stub answering AWS calls"),
)


def _package(filename: str, function: str) -> str:
    where = filename if filename != "~" else function
    return next((label for marker, label in _PACKAGES if marker in where), "other (stdlib, builtins)")


def _profile(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    sample: dict[str, Any],
    context: Callable[[], LambdaContext],
) -> str:
    """cProfile over ``PROFILE_INVOCATIONS`` warm invocations of ``handler`` with AWS answered by a
    stub (so the profile holds the handler's own work only): self time by package, and the
    functions with the most cumulative and self time (ms per invocation, under the profiler, which
    inflates code that makes many small calls)."""
    profiler = cProfile.Profile()
    events = [(fresh_event(sample), context()) for _ in range(PROFILE_INVOCATIONS)]
    started = time.perf_counter()
    profiler.enable()
    for event, ctx in events:
        handler(event, ctx)
    profiler.disable()
    wall = (time.perf_counter() - started) * 1000 / PROFILE_INVOCATIONS
    raw: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    per = 1000 / PROFILE_INVOCATIONS
    by_package: Counter[str] = Counter()
    for (filename, _, function), (_, _, tottime, _, _) in raw.items():
        by_package[_package(filename, function)] += tottime * per

    def where(filename: str, line: int, function: str) -> str:
        short = filename.split("/functions/")[-1].split("site-packages/")[-1]
        return f"{function} ({short}:{line})" if filename != "~" else function

    lines = [
        f"profile of the orders handler's warm path, AWS answered by a stub ({PROFILE_INVOCATIONS} invocations, "
        f"{wall:.2f} ms each under the profiler)",
        "  self time by package (ms per invocation):",
    ]
    lines += [f"    {ms:7.2f}  {label}" for label, ms in by_package.most_common()]
    lines.append("  functions by cumulative time (ms per invocation):")
    ranked = sorted(raw.items(), key=lambda kv: kv[1][3], reverse=True)
    lines += [f"    {stats[3] * per:7.2f}  {where(*key)}" for key, stats in ranked[:PROFILE_TOP]]
    lines.append("  functions by self time (ms per invocation, calls per invocation):")
    ranked = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)
    lines += [
        f"    {stats[2] * per:7.2f}  {stats[1] / PROFILE_INVOCATIONS:6.0f}  {where(*key)}"
        for key, stats in ranked[:PROFILE_TOP]
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
