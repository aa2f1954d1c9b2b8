"""The floor of an order's bill: what the hub's guarantees need, computed from a counted bill.

``benchmarks.bill`` counts what one order costs today, call by call. This module takes that bill
and removes, step by step, what the guarantees do not need, each step computed from the very calls
and DynamoDB items the bill recorded (never a guessed figure) and priced with the same sheet
(``benchmarks.prices``). What stays is the floor: per state change one transaction with the items
its readers and its guards need (the idempotency and channel-reference guards, the positions at
the transaction's double price so nothing is oversold, the gap-free counter, the outbox item in the
same transaction), one event per state change, the reads each decision needs, one invocation per
batch of work.

The steps are changes the design could make, not settings: each names what it would take and
what it would cost the hub (docs/decisions/0012-lean-functions-and-the-order-bill.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks import prices
from benchmarks.bill import Bill

OUTBOX_PUBLISHER = "outbox.stream_handler"
OUTBOX_INDEX = "index writes (Orders.outbox-pending)"
AUTHORIZER = "channels.authorizer_handler"
EVENT_SOURCE = "event source of "
ERP_ACTORS = ("erp.orders_handler", "erp.acks_handler", "ERP (legacy", "S3 notifications")
ORDER_REWRITERS = ("fulfilment.release_handler", "fulfilment.warehouse_handler")
FINANCE = "finance.lambda_handler"
BATCH = 10  # messages per event-source batch under load (the template's batch size)
ERP_FILE_ORDERS = 100  # orders per ERP file under load (erp sender: window 5 s, up to 100)
AUTHORIZER_CACHE_S = 300  # with a channel sending at least one request a second
HEADER_WRU = 2  # a state header item of at most 1 KB, written in a transaction


@dataclass(frozen=True)
class Step:
    name: str
    why: str
    delta: dict[str, float]  # price key -> change in quantity per order (negative: saved)

    @property
    def dollars(self) -> float:
        return prices.price(self.delta)


@dataclass
class Floor:
    now: Bill
    steps: list[Step] = field(default_factory=list)

    def counts(self) -> dict[str, float]:
        out = defaultdict(float, self.now.counts())
        for step in self.steps:
            for key, quantity in step.delta.items():
                out[key] += quantity
        return {k: v for k, v in out.items() if abs(v) > 1e-12}

    def dollars(self) -> float:
        return prices.price(self.counts())


def _charges(bill: Bill, actor_matches: Callable[[str], bool], keys: Callable[[str, str], bool]) -> dict[str, float]:
    """The quantities ``bill`` charged to the actors matched, for the (operation, price key) pairs matched."""
    out: dict[str, float] = defaultdict(float)
    for actor, rows in bill.by_actor.items():
        if not actor_matches(actor):
            continue
        for (_service, operation), row in rows.items():
            for key, quantity in row.charges.items():
                if keys(operation, key):
                    out[key] += quantity
    return dict(out)


def _scaled(charges: dict[str, float], factor: float) -> dict[str, float]:
    return {k: v * factor for k, v in charges.items()}


def _ddb_writes(bill: Bill, actors: tuple[str, ...], key_matches: Callable[[str], bool]) -> list[int]:
    """The WRU of each DynamoDB item (by key) that ``actors`` wrote in ``bill``."""
    return [
        wru
        for actor, _operation, items in bill.writes
        if actor in actors
        for _kind, _table, key, _before, _after, wru in items
        if key_matches(key)
    ]


def floor(bill: Bill) -> Floor:
    out = Floor(bill)

    # 1. the outbox retired by EventBridge Pipes (stream -> bus) instead of a function that reads,
    #    publishes and marks each item published (and the sparse index that finds the unpublished)
    publisher = _charges(bill, lambda a: a == OUTBOX_PUBLISHER, lambda op, key: True)
    events = publisher.get("events.custom", 0.0)
    kept = {"events.custom", "events.archive_gb"}
    delta = {k: -v for k, v in publisher.items() if k not in kept}
    index = _charges(bill, lambda a: a != OUTBOX_PUBLISHER, lambda op, key: op == OUTBOX_INDEX)
    for key, quantity in index.items():
        delta[key] = delta.get(key, 0.0) - quantity
    delta["pipes.request"] = events
    out.steps.append(
        Step(
            "outbox by EventBridge Pipes",
            "a pipe from the orders table's stream to the bus (its DLQ keeps the no-loss guarantee, outbox "
            "items expire by TTL): no publisher invocation, read, mark-published write or pending index. Takes "
            "the envelope stored as the event's detail object (a pipe cannot parse the JSON text the outbox "
            "item holds) and a Pipes emulation in the local hub",
            delta,
        )
    )

    # 2. the order's state in a small header item: release and the warehouse's acknowledgement change
    #    the state and its releases only, yet rewrite the whole order (lines, allocations) at 2x
    rewrites = _ddb_writes(bill, ORDER_REWRITERS, lambda key: key.endswith("/ORDER"))
    out.steps.append(
        Step(
            "order state in a header item",
            "release and acknowledgement write a <= 1 KB header (state, version, releases) instead of the whole "
            "order item; lines, allocations and shipments stay in items written when they change",
            {"dynamodb.wru": -(sum(rewrites) - HEADER_WRU * len(rewrites))},
        )
    )

    # 3. the invoice is not rewritten to say POSTED: the POSTING item written in the same transaction says it
    posted = sum(_ddb_writes(bill, (FINANCE,), lambda key: key.startswith("INVOICE#")))
    out.steps.append(
        Step(
            "no POSTED rewrite of the invoice",
            "the finance posting's ledger item (same transaction) is the record; readers of an invoice's "
            "posting status read it instead of the invoice item",
            {"dynamodb.wru": -posted},
        )
    )

    # 4. batches full under load: the event sources' receive/delete and the workers' invocations per
    #    10 messages, one ERP file per 100 orders
    sources = _charges(bill, lambda a: a.startswith(EVENT_SOURCE), lambda op, key: key == "sqs.request")
    workers = {a.removeprefix(EVENT_SOURCE) for a in bill.by_actor if a.startswith(EVENT_SOURCE)}
    invocations = _charges(bill, lambda a: a in workers, lambda op, key: key == "lambda.request")
    erp = _charges(
        bill, lambda a: a.startswith(ERP_ACTORS), lambda op, key: key.startswith("s3.") or key == "sqs.request"
    )
    delta = _scaled(sources, -(1 - 1 / BATCH))
    for key, quantity in _scaled(invocations, -(1 - 1 / BATCH)).items():
        delta[key] = delta.get(key, 0.0) + quantity
    for key, quantity in _scaled(erp, -(1 - 1 / ERP_FILE_ORDERS)).items():
        delta[key] = delta.get(key, 0.0) + quantity
    out.steps.append(
        Step(
            "full batches (load, not design)",
            f"under load an event source delivers {BATCH} messages a batch (one receive, one delete, one "
            f"invocation) and the ERP sender puts up to {ERP_FILE_ORDERS} orders in a file: what one order "
            "alone pays whole is shared",
            delta,
        )
    )

    # 5. the authorizer's decision cached (a setting: synchub:authorizerCacheSeconds)
    authorizer = _charges(bill, lambda a: a == AUTHORIZER, lambda op, key: True)
    out.steps.append(
        Step(
            f"authorizer cache {AUTHORIZER_CACHE_S} s (a setting)",
            f"synchub:authorizerCacheSeconds={AUTHORIZER_CACHE_S}: one authorizer call per token per "
            f"{AUTHORIZER_CACHE_S} s for a channel sending a request a second or more; a revoked token then "
            "works up to that long (the default 0 checks every request)",
            _scaled(authorizer, -(1 - 1 / AUTHORIZER_CACHE_S)),
        )
    )
    return out


def report(floors: dict[int, Floor]) -> list[str]:
    """The floor of each order size, step by step, as printed by ``make bench``."""
    lines = ["the floor: what the guarantees need (benchmarks/floor.py), $ per 1M orders"]
    sizes = list(floors)
    lines.append(f"  {'':44s}" + "".join(f"{f'{n} lines':>12s}" for n in sizes))
    lines.append(f"  {'now':44s}" + "".join(f"{floors[n].now.dollars() * 1e6:12.2f}" for n in sizes))
    for i, step in enumerate(floors[sizes[0]].steps):
        saved = [floors[n].steps[i].dollars * 1e6 for n in sizes]
        lines.append(f"  {'- ' + step.name:44s}" + "".join(f"{s:12.2f}" for s in saved))
    lines.append(f"  {'floor':44s}" + "".join(f"{floors[n].dollars() * 1e6:12.2f}" for n in sizes))
    lines.append(
        f"  {'now / floor':44s}" + "".join(f"{floors[n].now.dollars() / floors[n].dollars():11.2f}x" for n in sizes)
    )
    for step in floors[sizes[0]].steps:
        lines.append(f"  * {step.name}: {step.why}")
    return lines
