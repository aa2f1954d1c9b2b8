"""The legacy ERP connector against moto and the real ERP stand-in (``synchub.standins.erp``, run in
process: its ``poll_once`` is what its poller thread does every second).

Orders are accepted with the real intake code; their OrderAccepted goes through the outbox, the bus
and the rule to the ErpOrders queue; ``orders_handler`` writes the order files into the exchange
bucket, the stand-in books them and writes its acknowledgement files, whose S3 notifications reach
the ErpAcks queue and ``acks_handler``. The watchdog is called as its schedule would. Time is the
connector's clock (``erp.logic.clock``), moved on by the tests; parked messages are sent with no
delay (the delays the connector asked for are recorded) so that the tests do not sleep.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from helpers import Context, Hub, sample

ERP_QUEUE = "ConnectorsErpOrdersWorkerQueue"
ERP_DLQ = "ConnectorsErpOrdersWorkerDeadLetterQueue"
ACKS_QUEUE = "ConnectorsErpAcksQueue"
ACKS_DLQ = "ConnectorsErpAcksDeadLetterQueue"
ORDERS_HANDLER, ACKS_HANDLER, WATCHDOG_HANDLER = (
    "erp.handler.orders_handler",
    "erp.handler.acks_handler",
    "erp.handler.watchdog_handler",
)
BLOCKED = "CUST-0013"  # blocked in the stand-in's seed (credit hold)


class Clock:
    """The connector's time: starts at a minute boundary, moves only when told."""

    def __init__(self, start: float) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class World:
    """The provisioned hub, the ERP functions' environment, the stand-in and the helpers around them."""

    def __init__(self, hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clock: Clock) -> None:
        from synchub.standins.erp import Erp, ErpAdminApp, ErpStore

        self.hub, self.mp, self.clock = hub, monkeypatch, clock
        self.ctx = Context()
        self.s3 = boto3_client("s3")
        self.env = {f.handler: dict(f.environment) for f in hub.dep.functions.values() if f.handler.startswith("erp.")}
        self.bucket = self.env[ORDERS_HANDLER]["EXCHANGE_BUCKET"]
        self.overrides: dict[str, str] = {}
        self.erp = Erp(ErpStore(tmp_path / "erp.sqlite3"), self.s3, self.bucket, poll_interval=0)
        self.admin = ErpAdminApp(self.erp)
        self.delays: list[int] = []
        self.acked: Counter[str] = Counter()  # order id -> times the ledger moved it to ACKED
        self._use(ORDERS_HANDLER)

    # -- functions ---------------------------------------------------------------------------------

    def _use(self, handler: str) -> None:
        from synchub_core.config import reset_settings

        for key, value in {**self.env[handler], **self.overrides}.items():
            self.mp.setenv(key, value)
        reset_settings()

    def receive(self, queue: str, max_messages: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while len(out) < max_messages:
            got = self.hub.sqs.receive_message(
                QueueUrl=self.hub.queue(queue),
                MaxNumberOfMessages=min(10, max_messages - len(out)),
                VisibilityTimeout=30,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                break
            out.extend(got)
        return out

    def event(self, queue: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The SQS event Lambda would pass: message attributes in its camelCase form."""
        event = self.hub.sqs_event(queue, messages)
        for record, m in zip(event["Records"], messages, strict=True):
            record["messageAttributes"] = {
                name: {"dataType": a["DataType"], "stringValue": a.get("StringValue")}
                for name, a in (m.get("MessageAttributes") or {}).items()
            }
        return event

    def run(self, queue: str, handler_name: str, max_messages: int) -> dict[str, Any]:
        """Play the Lambda poller once: deliver up to ``max_messages``, delete what did not fail."""
        import erp.handler

        self._use(handler_name)
        messages = self.receive(queue, max_messages)
        if not messages:
            return {"batchItemFailures": [], "delivered": 0}
        handler = getattr(erp.handler, handler_name.rsplit(".", 1)[1])
        result = handler(self.event(queue, messages), self.ctx)
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                self.hub.sqs.delete_message(QueueUrl=self.hub.queue(queue), ReceiptHandle=m["ReceiptHandle"])
        return {**result, "delivered": len(messages)}

    def send_orders(self, max_messages: int = 100) -> dict[str, Any]:
        return self.run(ERP_QUEUE, ORDERS_HANDLER, max_messages)

    def apply_acks(self) -> int:
        """Run the acks worker until its queue is empty; how many notifications it took."""
        taken = 0
        while True:
            result = self.run(ACKS_QUEUE, ACKS_HANDLER, 10)
            assert result["batchItemFailures"] == []
            if not result["delivered"]:
                return taken
            taken += result["delivered"]

    def watchdog(self) -> dict[str, Any]:
        import erp.handler

        self._use(WATCHDOG_HANDLER)
        result: dict[str, Any] = erp.handler.watchdog_handler({}, self.ctx)
        return result

    # -- the hub's side ----------------------------------------------------------------------------

    def accept(self, n: int = 1, customer: str = "CUST-8812") -> list[str]:
        from orders.logic import accept
        from orders.models import OrderIn

        ids = []
        for _ in range(n):
            body = sample("api-post-order.json")
            body["channel_order_ref"] = f"WS-{uuid.uuid4().hex[:10]}"
            body["customer"]["customer_id"] = customer
            result = accept(OrderIn.model_validate(body), f"idem-{uuid.uuid4().hex}", correlation_id="corr-erp")
            ids.append(result.order_id)
        self.hub.publish_outbox()
        return ids

    def ledger(self, order_id: str) -> dict[str, Any]:
        from erp import api

        return api.acknowledgements([order_id]).get(order_id, {})

    def file_item(self, name: str) -> dict[str, Any]:
        from erp import repository

        return repository.load_file(name) or {}

    def open_files(self) -> list[str]:
        from erp import repository

        return repository.overdue_files("9999")  # every OPEN one

    def breaker(self) -> dict[str, Any]:
        from connectors import api as connectors

        state: dict[str, Any] = connectors.Breaker.from_env("erp").state()
        return state

    def depth(self, queue: str) -> int:
        attrs = self.hub.sqs.get_queue_attributes(
            QueueUrl=self.hub.queue(queue),
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(v) for v in attrs.values())

    def keys(self, prefix: str) -> list[str]:
        resp = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for o in resp.get("Contents", []))

    def order_files(self) -> list[str]:
        """Every order file the connector wrote (waiting, or moved aside by the ERP once processed)."""
        return sorted(k.rsplit("/", 1)[1] for k in self.keys("to-erp/orders/") + self.keys("to-erp/processed/"))

    def circuit_events(self) -> list[dict[str, Any]]:
        from synchub_core.ddb import from_ddb

        items = [from_ddb(i) for i in self.hub.ddb.scan(TableName=self.hub.orders_table)["Items"]]
        events = [json.loads(i["detail"]) for i in items if i.get("detail_type") == "CircuitStateChanged"]
        return sorted((e["data"] for e in events), key=lambda d: d["changed_at"])

    # -- the ERP's side ----------------------------------------------------------------------------

    def admin_call(self, method: str, path: str, body: Any = None) -> Any:
        from synchub.standins.common import Request

        raw = json.dumps(body).encode() if body is not None else b""
        response = self.admin.handle(Request(method, path, {}, Message(), raw))
        assert response.status < 300, response.body
        return response.body

    def fault(self, mode: str) -> None:
        self.admin_call("POST", "/_admin/fault", {"mode": mode})

    def erp_poll(self) -> int:
        """The stand-in looks at the bucket once: books every waiting file and writes its acks."""
        return self.erp.poll_once()


def boto3_client(service: str) -> Any:
    import boto3

    return boto3.client(service, region_name="eu-west-1")


@pytest.fixture
def world(hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[World]:
    import time

    import connectors.logic as connectors_logic
    import erp.logic
    import erp.repository

    clock = Clock((int(time.time()) // 60 + 1) * 60)
    monkeypatch.setattr(erp.logic, "clock", clock)
    w = World(hub, monkeypatch, tmp_path, clock)

    def park_delay(seconds: float) -> int:  # what the connector asked for, recorded; sent undelayed
        w.delays.append(max(1, min(900, int(seconds + 0.999))))
        return 0

    monkeypatch.setattr(connectors_logic, "park_delay", park_delay)
    mark_acked = erp.repository.mark_acked

    def counting_mark_acked(row: Any, file: str, at: str) -> bool:
        moved = mark_acked(row, file, at)
        if moved:
            w.acked[row.order_id] += 1
        return moved

    monkeypatch.setattr(erp.repository, "mark_acked", counting_mark_acked)
    w.apply_acks()  # S3's s3:TestEvent, sent when the bucket's notifications were configured
    assert w.depth(ACKS_DLQ) == 0
    yield w
    w.erp.store.close()


# ------------------------------------------------------------------------------------------------ tests


def test_orders_go_out_in_one_file_per_batch_and_come_back_acknowledged_once(world: World) -> None:
    from erp import files

    ids = world.accept(25)
    result = world.send_orders()
    assert result["batchItemFailures"] == [] and result["delivered"] == 25

    (name,) = world.order_files()
    assert files.is_order_file_name(name)
    body = world.s3.get_object(Bucket=world.bucket, Key=f"to-erp/orders/{name}")["Body"].read()
    rows = list(files.read_orders([body]))
    assert [r.order_id for r in rows] == [i for i in ids for _ in range(2)]  # both lines of each, together
    assert {r.customer_id for r in rows} == {"CUST-8812"}
    assert b"Bakkerij" not in body and b"Kerkstraat" not in body  # no names or addresses go to the ERP
    assert world.file_item(name)["file_status"] == "OPEN" and world.file_item(name)["order_ids"] == ids
    assert world.open_files() == [name]
    assert {world.ledger(i)["status"] for i in ids} == {"SENT"}
    assert {int(world.ledger(i)["attempts"]) for i in ids} == {1}

    assert world.erp_poll() == 1
    assert world.apply_acks() == 1
    for order_id in ids:
        ledger = world.ledger(order_id)
        assert ledger["status"] == "ACKED" and ledger["erp_order_number"].startswith("SO-")
        assert (str(ledger["ack_net_total"]), ledger["ack_currency"], int(ledger["ack_line_count"])) == (
            "113.10",
            "EUR",
            2,
        )
    assert len({world.ledger(i)["erp_order_number"] for i in ids}) == 25
    closed = world.file_item(name)
    assert "file_status" not in closed and closed["ack_file"] == f"ACK-{name}"
    assert world.open_files() == []
    assert world.acked == Counter(dict.fromkeys(ids, 1))

    # a duplicate acknowledgement file (the ERP's duplicate-accept) changes nothing
    before = [world.ledger(i) for i in ids], world.file_item(name), world.breaker()
    world.s3.copy_object(
        Bucket=world.bucket,
        Key=f"from-erp/acks/ACK-{name[:-4]}-2.csv",
        CopySource={"Bucket": world.bucket, "Key": f"from-erp/acks/ACK-{name}"},
    )
    assert world.apply_acks() == 1
    assert ([world.ledger(i) for i in ids], world.file_item(name), world.breaker()) == before
    assert world.acked == Counter(dict.fromkeys(ids, 1))

    # an acknowledged order delivered again writes no file; S3's test event is ignored
    from erp import api

    for order_id in ids[:3]:
        from orders import api as orders

        stored = orders.load(order_id)
        assert stored is not None
        world.hub.sqs.send_message(QueueUrl=world.hub.queue(ERP_QUEUE), MessageBody=api.resend_message(stored))
    assert world.send_orders()["delivered"] == 3
    world.hub.sqs.send_message(
        QueueUrl=world.hub.queue(ACKS_QUEUE),
        MessageBody=json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": world.bucket}),
    )
    assert world.apply_acks() == 1
    assert world.order_files() == [name]
    assert world.depth(ERP_DLQ) == 0 and world.depth(ACKS_DLQ) == 0
    assert world.admin_call("GET", "/_admin/status")["orders_booked"] == 25


def test_a_rejected_order_becomes_an_exception_resubmitted_after_the_customer_is_unblocked(world: World) -> None:
    from connectors import api as connectors

    (good,) = world.accept(1)
    (blocked,) = world.accept(1, customer=BLOCKED)
    world.send_orders()
    world.erp_poll()
    world.apply_acks()

    assert world.ledger(good)["status"] == "ACKED"
    rejected = world.ledger(blocked)
    assert (
        rejected["status"] == "REJECTED" and rejected["reason"] == f"customer {BLOCKED} is blocked in ERP (credit hold)"
    )
    items, _ = connectors.list_exceptions(status="OPEN", target="erp")
    (exc,) = items
    assert exc["exception_id"] == rejected["exception_id"]
    assert (exc["entity_type"], exc["entity_id"], exc["code"]) == ("order", blocked, "erp-rejected")
    assert f"The ERP rejected order {blocked}" in exc["reason"]
    assert f"customer {BLOCKED} is blocked in ERP (credit hold)" in exc["reason"]
    assert exc["refs"]["order_id"] == blocked and exc["refs"]["customer_id"] == BLOCKED
    assert exc["resubmit_queue_url"] == world.hub.queue(ERP_QUEUE)
    payload = json.loads(exc["payload"])
    assert (payload["source"], payload["detail-type"], payload["detail"]["data"]["order_id"]) == (
        "synchub.orders",
        "OrderAccepted",
        blocked,
    )
    # a rejection is not a failure of the ERP: it answered
    assert world.breaker()["state"] == "CLOSED" and world.breaker()["failures"] == 0

    # resubmitted while the customer is still blocked: rejected again, the same exception open again
    connectors.resubmit(exc["exception_id"], by="operator-1")
    world.send_orders()
    world.erp_poll()
    world.apply_acks()
    again = connectors.get_exception(exc["exception_id"])
    assert again["status"] == "OPEN" and int(again["attempts"]) >= 2
    assert world.ledger(blocked)["status"] == "REJECTED" and int(world.ledger(blocked)["attempts"]) == 2

    # the customer is unblocked in the ERP, the order resubmitted: acknowledged, the exception RESOLVED
    world.admin_call("POST", f"/_admin/customers/{BLOCKED}", {"status": "ACTIVE"})
    connectors.resubmit(exc["exception_id"], by="operator-1")
    assert world.send_orders()["delivered"] == 1
    world.erp_poll()
    world.apply_acks()
    ledger = world.ledger(blocked)
    assert ledger["status"] == "ACKED" and ledger["erp_order_number"].startswith("SO-") and "reason" not in ledger
    assert connectors.get_exception(exc["exception_id"])["status"] == "RESOLVED"
    assert connectors.list_exceptions(status="OPEN", target="erp")[0] == []
    assert world.acked == Counter({good: 1, blocked: 1})
    assert world.depth(ERP_DLQ) == 0 and world.depth(ACKS_DLQ) == 0


def test_a_file_the_erp_refuses_whole_is_resent_and_counts_as_a_failure(world: World) -> None:
    ids = world.accept(4)
    world.fault("flaky")  # the stand-in refuses the 1st, 4th, 7th ... file whole
    world.send_orders()
    (first,) = world.order_files()
    world.erp_poll()
    world.apply_acks()

    refused = world.file_item(first)
    assert "file_status" not in refused and "locked by another job" in refused["rejected_reason"]
    assert world.breaker()["failures"] == 1 and world.breaker()["state"] == "CLOSED"
    assert world.depth(ERP_QUEUE) == 4  # the file's orders are back on the queue
    assert {world.ledger(i)["status"] for i in ids} == {"SENT"}

    # the same refusal again (a duplicate ack file): nothing is resent, nothing counted again
    world.s3.copy_object(
        Bucket=world.bucket,
        Key=f"from-erp/acks/ACK-{first[:-4]}-2.csv",
        CopySource={"Bucket": world.bucket, "Key": f"from-erp/acks/ACK-{first}"},
    )
    world.apply_acks()
    assert world.depth(ERP_QUEUE) == 4 and world.breaker()["failures"] == 1

    world.send_orders()
    world.erp_poll()  # the 2nd file goes through
    world.apply_acks()
    assert len(world.order_files()) == 2
    assert {world.ledger(i)["status"] for i in ids} == {"ACKED"}
    assert {int(world.ledger(i)["attempts"]) for i in ids} == {2}
    assert world.breaker()["failures"] == 0  # an acknowledgement is the ERP's success
    assert world.acked == Counter(dict.fromkeys(ids, 1))
    assert world.depth(ERP_QUEUE) == 0 and world.depth(ERP_DLQ) == 0


def test_erp_down_the_breaker_opens_orders_park_then_a_probe_closes_it_and_the_backlog_drains(world: World) -> None:
    per_minute = 3
    world.overrides["ERP_FILES_PER_MINUTE"] = str(per_minute)
    world.fault("down")

    # five files go out while the breaker is closed; the ERP picks none of them up
    first = world.accept(10)
    for _ in range(5):
        assert world.send_orders(max_messages=2)["batchItemFailures"] == []
        world.clock.advance(20)
    assert len(world.order_files()) == 5 and world.erp_poll() == 0
    assert world.watchdog() == {"overdue": 0, "resent": 0}  # not overdue yet

    # past the acknowledgement timeout: each file overdue once, a failure each; the fifth opens the breaker
    world.clock.advance(121 - 20)
    assert world.watchdog() == {"overdue": 5, "resent": 10}
    breaker = world.breaker()
    assert breaker["state"] == "OPEN" and breaker["failures"] == 5
    assert "has not acknowledged ORD-" in breaker["last_reason"]
    assert [(e["previous"], e["state"]) for e in world.circuit_events()] == [("CLOSED", "OPEN")]
    assert all(world.file_item(n)["overdue"] for n in world.order_files())
    assert world.open_files() == []
    assert world.watchdog() == {"overdue": 0, "resent": 0}  # once

    # new orders keep coming; nothing reaches the ERP while the breaker is open: every record parks
    second = world.accept(10)
    assert world.depth(ERP_QUEUE) == 20
    result = world.send_orders()
    assert result["delivered"] == 20 and result["batchItemFailures"] == []
    assert world.delays == [15] * 20  # until the breaker's open period ends
    assert world.depth(ERP_QUEUE) == 20 and world.depth(ERP_DLQ) == 0
    world.clock.advance(10)
    world.send_orders()
    parked = world.receive(ERP_QUEUE, 100)
    assert len(parked) == 20
    assert {m["MessageAttributes"]["synchub-parked"]["StringValue"] for m in parked} == {"2"}
    assert {m["MessageAttributes"]["synchub-parked-reason"]["StringValue"] for m in parked} == {"erp circuit open"}
    assert {int(m["Attributes"]["ApproximateReceiveCount"]) for m in parked} == {1}  # no retry spent
    for m in parked:
        world.hub.sqs.change_message_visibility(
            QueueUrl=world.hub.queue(ERP_QUEUE), ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
        )
    assert len(world.order_files()) == 5

    # the open period is over: one file goes out as the probe, the rest wait for it
    world.clock.advance(10)
    world.delays.clear()
    world.send_orders(max_messages=5)
    assert world.breaker()["state"] == "HALF_OPEN"
    # the probe is a file: its lease lasts until it is answered or overdue (timeout + a watchdog round)
    assert world.breaker()["probe_until"] == world.clock() + 120 + 60
    probe = [n for n in world.order_files() if world.file_item(n).get("probe")]
    assert len(probe) == 1 and len(world.order_files()) == 6
    world.send_orders()
    assert world.delays == [5] * 15 and len(world.order_files()) == 6

    # the ERP is back: it books every waiting file (the old ones too), its acknowledgements close the breaker
    world.fault("recover")
    assert world.erp_poll() == 6
    world.apply_acks()
    assert world.breaker()["state"] == "CLOSED" and world.breaker()["failures"] == 0
    assert [(e["previous"], e["state"]) for e in world.circuit_events()] == [
        ("CLOSED", "OPEN"),
        ("OPEN", "HALF_OPEN"),
        ("HALF_OPEN", "CLOSED"),
    ]
    assert {world.ledger(i)["status"] for i in first} == {"ACKED"}

    # the backlog drains at most ERP_FILES_PER_MINUTE files a minute
    for _ in range(20):
        if world.depth(ERP_QUEUE) == 0:
            break
        while world.depth(ERP_QUEUE):
            before = len(world.delays)
            world.send_orders(max_messages=2)
            if len(world.delays) > before:  # the minute's files are out: the rest waits for the next
                break
        world.clock.advance(60)
    assert world.depth(ERP_QUEUE) == 0
    per_window = Counter(name[4:16] for name in world.order_files()[6:])  # ORD-<YYYYMMDDHHMM>...
    assert per_window and max(per_window.values()) <= per_minute
    assert len(per_window) >= 2  # it took more than one minute

    world.erp_poll()
    world.apply_acks()
    everything = first + second
    assert {world.ledger(i)["status"] for i in everything} == {"ACKED"}
    assert world.acked == Counter(dict.fromkeys(everything, 1))  # each acknowledged exactly once
    numbers = defaultdict(set)
    for i in everything:
        numbers[world.ledger(i)["erp_order_number"]].add(i)
    assert len(numbers) == 20  # one ERP order per hub order
    status = world.admin_call("GET", "/_admin/status")
    assert status["orders_booked"] == 20 and status["files_pending"] == 0
    assert world.open_files() == []
    assert world.depth(ERP_DLQ) == 0 and world.depth(ACKS_DLQ) == 0


def test_what_the_connector_refuses_fails_or_does_not_know(world: World) -> None:
    from erp import api, files
    from erp import repository as erp_repository
    from erp.models import AckRow, AckStatus

    # a bare envelope on the bus-fed queue and an event of another source are dead-lettered with the reason
    (order_id,) = world.accept(1)
    event = json.loads(world.receive(ERP_QUEUE, 1)[0]["Body"])
    world.hub.sqs.purge_queue(QueueUrl=world.hub.queue(ERP_QUEUE))
    world.hub.sqs.send_message(QueueUrl=world.hub.queue(ERP_QUEUE), MessageBody=json.dumps(event["detail"]))
    world.hub.sqs.send_message(
        QueueUrl=world.hub.queue(ERP_QUEUE), MessageBody=json.dumps({**event, "source": "wms.x"})
    )
    assert world.send_orders()["batchItemFailures"] == []
    reasons = sorted(
        m["MessageAttributes"]["synchub-refusal-reason"]["StringValue"] for m in world.receive(ERP_DLQ, 10)
    )
    assert len(reasons) == 2
    assert any("bare message on a bus-fed queue" in r for r in reasons)
    assert any("from source 'wms.x'" in r for r in reasons)
    assert world.order_files() == []

    # the file cannot be written: a failure of the target, every record fails (SQS delivers it again)
    world.hub.sqs.send_message(QueueUrl=world.hub.queue(ERP_QUEUE), MessageBody=json.dumps(event))

    def broken(*_: Any) -> None:
        raise RuntimeError("bucket unavailable")

    world.mp.setattr(erp_repository, "put_file", broken)
    result = world.send_orders()
    assert len(result["batchItemFailures"]) == 1 and world.breaker()["failures"] == 1
    assert world.ledger(order_id) == {}

    # an acknowledgement for an order the hub does not know is kept for reconciliation
    name = "ORD-20261201090000-0a1b2c3d.csv"
    world.s3.put_object(
        Bucket=world.bucket,
        Key=files.ack_file_key(name),
        Body=files.render_acks([AckRow(1, "ord_unknown", AckStatus.ACCEPTED, "SO-9999999", "", "EUR", None, 1)]),
    )
    world.apply_acks()
    from datetime import UTC, datetime

    unknown = api.unknown_acks(datetime.fromtimestamp(world.clock(), UTC).date())
    assert [(u["order_id"], u["erp_order_number"], u["file"]) for u in unknown] == [("ord_unknown", "SO-9999999", name)]

    # an object under the acks prefix that is no acknowledgement file is dead-lettered with the reason
    world.s3.put_object(Bucket=world.bucket, Key="from-erp/acks/notes.txt", Body=b"hello")
    world.apply_acks()
    (dead,) = world.receive(ACKS_DLQ, 10)
    assert "is not named ACK-ORD-" in dead["MessageAttributes"]["synchub-refusal-reason"]["StringValue"]


def test_an_acknowledgement_faster_than_the_ledger_write_still_counts(world: World) -> None:
    """The ERP answers the file between its PutObject and the connector's ledger writes: the ledger
    keeps what the acknowledgement said (ACKED, REJECTED), the file is recorded answered."""
    from erp import repository as erp_repository

    (good,) = world.accept(1)
    (blocked,) = world.accept(1, customer=BLOCKED)
    put_file = erp_repository.put_file

    def answered_at_once(bucket: str, key: str, body: bytes) -> None:
        put_file(bucket, key, body)
        assert world.erp_poll() == 1
        world.apply_acks()
        world._use(ORDERS_HANDLER)

    world.mp.setattr(erp_repository, "put_file", answered_at_once)
    assert world.send_orders()["batchItemFailures"] == []
    (name,) = world.order_files()
    assert world.ledger(good)["status"] == "ACKED"
    assert world.ledger(blocked)["status"] == "REJECTED" and world.ledger(blocked)["file"] == name
    recorded = world.file_item(name)
    assert "file_status" not in recorded and recorded["acked_at"] and recorded["answered_before_recorded"]
    assert world.open_files() == [] and world.acked == Counter({good: 1})


def test_a_refusal_faster_than_the_ledger_write_fails_the_records_for_another_try(world: World) -> None:
    from erp import repository as erp_repository

    world.accept(2)
    world.fault("flaky")
    put_file = erp_repository.put_file

    def refused_at_once(bucket: str, key: str, body: bytes) -> None:
        put_file(bucket, key, body)
        assert world.erp_poll() == 1
        world.apply_acks()
        world._use(ORDERS_HANDLER)

    world.mp.setattr(erp_repository, "put_file", refused_at_once)
    result = world.send_orders()
    assert len(result["batchItemFailures"]) == 2  # SQS delivers them again: they go out in a new file
    (name,) = world.order_files()
    assert "file_status" not in world.file_item(name) and world.file_item(name)["rejected_reason"]
    assert world.breaker()["failures"] == 1
