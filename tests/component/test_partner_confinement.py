"""Warehouse sites (partner producers) are confined to their own warehouse.

A site publishes as ``wms.<site>`` (the EventBridge ``source`` IAM lets only its producer role use,
and the ``source_system`` of its SQS inventory reports). The invoicing worker takes a
ShipmentConfirmed only from a registered site naming its own ``warehouse_id``, and only as a whole
EventBridge event delivered by the rule; the inventory worker takes a report only from a
registered site about a location under its ``location_prefix``. Anything else is *refused*: sent at
once to the worker's own DLQ with the reason in the ``synchub-refusal-reason`` attribute, reported
handled (no retries burned), nothing written. ``synchub replay`` shows the reason; replaying a
refused message gets it refused again.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from helpers import Hub, sample
from helpers.reservation import WAREHOUSES, accept, deployed, publish_and_run, stock, worker_environment
from helpers.shipments import DLQ as INVOICING_DLQ
from helpers.shipments import QUEUE as INVOICING_QUEUE
from helpers.shipments import handler as invoicing_worker
from helpers.shipments import put_shipment, shipment_detail
from synchub import replay
from synchub.environment import HubEnvironment

INVENTORY_QUEUE = "WorkersInventoryWorkerQueue"
INVENTORY_DLQ = "WorkersInventoryWorkerDeadLetterQueue"
RESERVATION_QUEUE = "WorkersReservationWorkerQueue"
REASON, REFUSED_BY, SOURCE_QUEUE = "synchub-refusal-reason", "synchub-refused-by", "synchub-source-queue"
FLOUR, YEAST = "FLOUR-T55-25KG", "YEAST-DRY-500G"


# --------------------------------------------------------------------------------------------- helpers


def scan(hub: Hub, table: str) -> list[dict[str, Any]]:
    items = hub.ddb.scan(TableName=table, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def snapshot(hub: Hub) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Everything the hub stores: orders table (orders, invoices, outbox) and inventory positions."""
    return scan(hub, hub.orders_table), scan(hub, hub.inventory_table)


def invoices(hub: Hub) -> list[str]:
    return [i["pk"]["S"] for i in scan(hub, hub.orders_table) if i["pk"]["S"].startswith("INVOICE#")]


def lambda_event(hub: Hub, queue: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The SQS event Lambda hands the worker, message attributes included (as Lambda spells them)."""
    event = hub.sqs_event(queue, messages)
    for record, m in zip(event["Records"], messages, strict=True):
        record["messageAttributes"] = {
            name: {"stringValue": a.get("StringValue"), "dataType": a["DataType"]}
            for name, a in m.get("MessageAttributes", {}).items()
        }
    return event


def deliver(hub: Hub, queue: str, handler: Any, ctx: Any) -> dict[str, Any]:
    """Play the Lambda SQS poller once, passing message attributes; delete what was not reported failed."""
    messages = hub.receive(queue)
    assert messages, f"nothing on {queue}"
    result = handler(lambda_event(hub, queue, messages), ctx)
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    for m in messages:
        if m["MessageId"] not in failed:
            hub.sqs.delete_message(QueueUrl=hub.queue(queue), ReceiptHandle=m["ReceiptHandle"])
    return {**result, "delivered": len(messages), "messages": messages}


def dead_letters(hub: Hub, dlq: str) -> list[dict[str, Any]]:
    """What the DLQ holds, left visible."""
    got = hub.sqs.receive_message(
        QueueUrl=hub.queue(dlq),
        MaxNumberOfMessages=10,
        VisibilityTimeout=0,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    return got


def attribute(message: dict[str, Any], name: str) -> str:
    return str(message["MessageAttributes"][name]["StringValue"])


def inventory_report(source_system: str, location_id: str, sequence: int, on_hand: int = 30) -> dict[str, Any]:
    report = sample("sqs-inventory-position-reported.json")
    report.update(
        event_id=str(uuid.uuid4()), source_system=source_system, sequence=sequence, entity_id=f"{FLOUR}@{location_id}"
    )
    report["data"].update(location_id=location_id, on_hand=on_hand, quality_hold=0)
    return report


def inventory_worker(hub: Hub) -> Any:
    from inventory.handler import lambda_handler

    return deployed(hub, INVENTORY_QUEUE, lambda_handler)


@pytest.fixture
def reserved_order(hub: Hub, lambda_context: Any) -> str:
    """The sample order (4 x FLOUR, 10 x YEAST) reserved at Utrecht where the sample shipment picks it:
    3 x FLOUR at UTR-A01 and 1 at UTR-A02 (the most available first), 10 x YEAST at UTR-B01."""
    stock(FLOUR, "UTR-A01", on_hand=3)
    stock(FLOUR, "UTR-A02", on_hand=1)
    stock(YEAST, "UTR-B01", on_hand=50)
    order_id = accept()
    assert publish_and_run(hub, lambda_context, expect_published=1)["batchItemFailures"] == []
    return order_id


FORGED_REASON = (
    "ShipmentConfirmed {event_id} (shipment SHP-FORGED-1) from wms.tilburg names warehouse UTR, which is not "
    "its own: wms.tilburg confirms shipments from TLB only"
)


# --------------------------------------------------------------------------------------------- shipments


def test_forged_shipment_from_another_site_is_refused_into_the_dlq_and_changes_nothing(
    hub: Hub, lambda_context: Any, reserved_order: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tilburg confirms a shipment of Utrecht's warehouse: no invoice, no stock consumed, the order
    stays RESERVED; the event waits in the invoicing DLQ saying why."""
    detail = shipment_detail(reserved_order, "SHP-FORGED-1")  # warehouse_id UTR, as the sample
    before = snapshot(hub)
    put_shipment(hub, detail, source="wms.tilburg")
    assert hub.depth(INVOICING_QUEUE) == 1  # the rule routes every wms.* source: the worker decides
    capsys.readouterr()

    result = deliver(hub, INVOICING_QUEUE, invoicing_worker(hub), lambda_context)

    assert result["delivered"] == 1 and result["batchItemFailures"] == []  # handled: not retried
    assert hub.depth(INVOICING_QUEUE) == 0
    assert snapshot(hub) == before  # no invoice, no order change, no outbox event, stock untouched
    (dead,) = dead_letters(hub, INVOICING_DLQ)
    assert dead["Body"] == result["messages"][0]["Body"]  # the event as delivered, unchanged
    assert json.loads(dead["Body"])["source"] == "wms.tilburg"
    assert attribute(dead, REASON) == FORGED_REASON.format(event_id=detail["event_id"])
    assert attribute(dead, REFUSED_BY) == "invoicing"
    assert attribute(dead, SOURCE_QUEUE) == hub.dep.queues[INVOICING_QUEUE]["arn"]
    assert '"MessageRefused":[1.0]' in capsys.readouterr().out  # the metric the DLQ alarm's runbook reads


def test_replaying_a_refused_shipment_gets_it_refused_again(
    hub: Hub,
    env: HubEnvironment,
    lambda_context: Any,
    reserved_order: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(replay, "WAIT_SECONDS", 0)  # moto answers from the whole queue: no long poll needed
    detail = shipment_detail(reserved_order, "SHP-FORGED-1")
    put_shipment(hub, detail, source="wms.tilburg")
    deliver(hub, INVOICING_QUEUE, invoicing_worker(hub), lambda_context)
    before = snapshot(hub)
    reason = FORGED_REASON.format(event_id=detail["event_id"])
    capsys.readouterr()  # the worker's metrics

    # the dry run shows why the message is there
    listed = replay.replay(env, INVOICING_DLQ, dry_run=True)
    assert listed.refusals == [f"refused by invoicing: {reason}"]
    replay.main_print(listed, dry_run=True)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{INVOICING_DLQ}: 1 message(s) would be replayed to")
    assert out[2] == f"      refused by invoicing: {reason}"

    # replayed: back on the invoicing queue, refused again by the same check, back in the DLQ
    moved = replay.replay(env, INVOICING_DLQ)
    assert (moved.moved, moved.refused) == (1, 1)
    assert "1 had been refused by the worker" in str(moved)
    assert hub.depth(INVOICING_DLQ) == 0
    result = deliver(hub, INVOICING_QUEUE, invoicing_worker(hub), lambda_context)
    assert result["batchItemFailures"] == []
    (dead,) = dead_letters(hub, INVOICING_DLQ)
    assert attribute(dead, REASON) == reason
    assert attribute(dead, replay.REPLAY_ATTRIBUTE) == "1"  # the replay count travels with it
    assert snapshot(hub) == before  # nothing changed


def test_bare_envelope_sent_straight_to_the_invoicing_queue_is_refused(
    hub: Hub, lambda_context: Any, reserved_order: str
) -> None:
    """Sent to the queue, not the bus, a shipment bypasses the bus policy's source check: only
    whole EventBridge events are taken (even a genuine Utrecht envelope)."""
    detail = shipment_detail(reserved_order, "SHP-BARE-1")
    hub.sqs.send_message(QueueUrl=hub.queue(INVOICING_QUEUE), MessageBody=json.dumps(detail))
    before = snapshot(hub)

    result = deliver(hub, INVOICING_QUEUE, invoicing_worker(hub), lambda_context)

    assert result["batchItemFailures"] == [] and hub.depth(INVOICING_QUEUE) == 0
    assert snapshot(hub) == before
    (dead,) = dead_letters(hub, INVOICING_DLQ)
    assert json.loads(dead["Body"]) == detail
    assert attribute(dead, REASON) == (
        f"bare message on a bus-fed queue: ShipmentConfirmed {detail['event_id']} was sent straight to the "
        "queue; it takes only whole EventBridge events delivered by its rule"
    )


@pytest.mark.parametrize(
    "source, reason",
    [
        ("wms.eindhoven", "from source 'wms.eindhoven': not a registered warehouse site"),
        ("wms.utrecht-2", "from source 'wms.utrecht-2': not a registered warehouse site"),
    ],
)
def test_shipment_from_an_unregistered_site_is_refused(
    hub: Hub, lambda_context: Any, reserved_order: str, source: str, reason: str
) -> None:
    detail = shipment_detail(reserved_order, "SHP-UNKNOWN-1")
    before = snapshot(hub)
    put_shipment(hub, detail, source=source)
    assert deliver(hub, INVOICING_QUEUE, invoicing_worker(hub), lambda_context)["batchItemFailures"] == []
    assert snapshot(hub) == before
    (dead,) = dead_letters(hub, INVOICING_DLQ)
    assert attribute(dead, REASON) == (
        f"ShipmentConfirmed {detail['event_id']} {reason}; registered: wms.tilburg, wms.utrecht"
    )


def test_genuine_shipments_from_each_site_are_invoiced(hub: Hub, lambda_context: Any, reserved_order: str) -> None:
    put_shipment(hub, shipment_detail(reserved_order, "SHP-UTR-1"))  # wms.utrecht, warehouse UTR
    assert deliver(hub, INVOICING_QUEUE, invoicing_worker(hub), lambda_context)["batchItemFailures"] == []
    assert invoices(hub) == ["INVOICE#SHP-UTR-1"]

    # Tilburg ships an order reserved at Tilburg, naming its own warehouse
    stock("SUGAR-1KG", "TLB-A01", on_hand=10)
    tilburg_order = accept([("SUGAR-1KG", 2)])
    publish_and_run(hub, lambda_context)
    detail = shipment_detail(tilburg_order, "SHP-TLB-1", [{"sku": "SUGAR-1KG", "quantity": 2}])
    detail["source_system"] = "wms.tilburg"
    detail["data"]["warehouse_id"] = "TLB"
    put_shipment(hub, detail, source="wms.tilburg")
    assert deliver(hub, INVOICING_QUEUE, invoicing_worker(hub), lambda_context)["batchItemFailures"] == []
    assert invoices(hub) == ["INVOICE#SHP-TLB-1", "INVOICE#SHP-UTR-1"]
    assert hub.depth(INVOICING_DLQ) == 0


# --------------------------------------------------------------------------------------------- inventory


def test_inventory_report_from_tilburg_about_an_utrecht_location_is_refused(hub: Hub, lambda_context: Any) -> None:
    utrecht = inventory_report("wms.utrecht", "UTR-A01", sequence=1, on_hand=30)
    hub.sqs.send_message(QueueUrl=hub.queue(INVENTORY_QUEUE), MessageBody=json.dumps(utrecht))
    assert deliver(hub, INVENTORY_QUEUE, inventory_worker(hub), lambda_context)["batchItemFailures"] == []
    before = snapshot(hub)

    forged = inventory_report("wms.tilburg", "UTR-A01", sequence=2, on_hand=0)  # "Utrecht's shelf is empty"
    hub.sqs.send_message(QueueUrl=hub.queue(INVENTORY_QUEUE), MessageBody=json.dumps(forged))
    result = deliver(hub, INVENTORY_QUEUE, inventory_worker(hub), lambda_context)

    assert result["batchItemFailures"] == [] and hub.depth(INVENTORY_QUEUE) == 0
    assert snapshot(hub) == before  # Utrecht's position keeps its 30 units and sequence 1
    (dead,) = dead_letters(hub, INVENTORY_DLQ)
    assert json.loads(dead["Body"]) == forged
    assert attribute(dead, REASON) == (
        f"inventory report {forged['event_id']} from wms.tilburg names location UTR-A01, which is not one of "
        "its own: wms.tilburg reports only locations starting with TLB-"
    )
    assert attribute(dead, REFUSED_BY) == "inventory"


def test_a_reason_quoting_unsendable_characters_is_still_dead_lettered(hub: Hub, lambda_context: Any) -> None:
    """Reasons quote ids the producer chose; characters SQS refuses in an attribute are escaped."""
    forged = inventory_report("wms.tilburg", "UTR-A01", sequence=1) | {"event_id": "e\x07vil\x1b"}
    hub.sqs.send_message(QueueUrl=hub.queue(INVENTORY_QUEUE), MessageBody=json.dumps(forged))
    assert deliver(hub, INVENTORY_QUEUE, inventory_worker(hub), lambda_context)["batchItemFailures"] == []
    (dead,) = dead_letters(hub, INVENTORY_DLQ)
    assert attribute(dead, REASON).startswith("inventory report e\\x07vil\\x1b from wms.tilburg names location")


def test_genuine_reports_from_each_site_are_applied(hub: Hub, lambda_context: Any) -> None:
    for report in (inventory_report("wms.utrecht", "UTR-A01", 1), inventory_report("wms.tilburg", "TLB-A01", 1)):
        hub.sqs.send_message(QueueUrl=hub.queue(INVENTORY_QUEUE), MessageBody=json.dumps(report))
    assert deliver(hub, INVENTORY_QUEUE, inventory_worker(hub), lambda_context)["batchItemFailures"] == []
    assert sorted(i["sk"]["S"] for i in scan(hub, hub.inventory_table)) == ["LOC#TLB-A01", "LOC#UTR-A01"]
    assert hub.depth(INVENTORY_DLQ) == 0


# --------------------------------------------------------------------------------------------- the DLQ path


def test_a_refusal_the_dlq_cannot_take_is_a_batch_item_failure(
    hub: Hub, lambda_context: Any, reserved_order: str, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """Nothing is lost: if the refused message cannot be put in the DLQ, the record is reported
    failed and SQS keeps it (retried, then moved to the same DLQ by the redrive policy)."""
    from synchub_core import lambda_support

    real = lambda_support.client

    class BrokenSqs:
        def send_message(self, **kwargs: Any) -> Any:
            raise ConnectionError("the DLQ is unreachable")

    genuine = shipment_detail(reserved_order, "SHP-OK-1")
    put_shipment(hub, shipment_detail(reserved_order, "SHP-FORGED-1"), source="wms.tilburg")
    put_shipment(hub, genuine)
    messages = hub.receive(INVOICING_QUEUE)
    forged_id = next(m["MessageId"] for m in messages if json.loads(m["Body"])["source"] == "wms.tilburg")

    monkeypatch.setattr(lambda_support, "client", lambda s: BrokenSqs() if s == "sqs" else real(s))
    result = invoicing_worker(hub)(lambda_event(hub, INVOICING_QUEUE, messages), lambda_context)

    assert result["batchItemFailures"] == [{"itemIdentifier": forged_id}]
    assert invoices(hub) == ["INVOICE#SHP-OK-1"]  # the genuine one next to it went through
    assert hub.depth(INVOICING_DLQ) == 0
    assert any(
        r.getMessage() == "refused message could not be dead-lettered: left on the queue to be retried"
        for r in caplog.records
    )

    # once the DLQ is reachable again, the retried message is refused into it
    monkeypatch.setattr(lambda_support, "client", real)
    hub.sqs.change_message_visibility(
        QueueUrl=hub.queue(INVOICING_QUEUE),
        ReceiptHandle=next(m["ReceiptHandle"] for m in messages if m["MessageId"] == forged_id),
        VisibilityTimeout=0,
    )
    assert deliver(hub, INVOICING_QUEUE, invoicing_worker(hub), lambda_context)["batchItemFailures"] == []
    assert len(dead_letters(hub, INVOICING_DLQ)) == 1


def test_without_a_dlq_to_refuse_into_a_refusal_is_a_batch_item_failure(
    hub: Hub, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inventory.handler import lambda_handler

    monkeypatch.setenv("WAREHOUSES", json.dumps(WAREHOUSES))
    monkeypatch.delenv("DEAD_LETTER_QUEUE_URL", raising=False)
    good = inventory_report("wms.utrecht", "UTR-A01", 1)
    forged = inventory_report("wms.tilburg", "UTR-A02", 1)
    event = hub.sqs_event(
        INVENTORY_QUEUE,
        [
            {"MessageId": "m-good", "ReceiptHandle": "rh-1", "Body": json.dumps(good)},
            {"MessageId": "m-forged", "ReceiptHandle": "rh-2", "Body": json.dumps(forged)},
        ],
    )
    assert lambda_handler(event, lambda_context) == {"batchItemFailures": [{"itemIdentifier": "m-forged"}]}
    assert [i["sk"]["S"] for i in scan(hub, hub.inventory_table)] == ["LOC#UTR-A01"]


# --------------------------------------------------------------------------------------------- the template


@pytest.mark.parametrize("queue", [INVENTORY_QUEUE, RESERVATION_QUEUE, INVOICING_QUEUE])
def test_each_worker_refuses_into_its_own_redrive_dlq(hub: Hub, queue: str) -> None:
    """One DLQ per worker for refusals and exhausted retries alike, so one replay serves both."""
    arn = hub.dep.queues[queue]["arn"]
    (mapping,) = [s for s in hub.dep.event_sources if s.kind == "sqs" and s.source_arn == arn]
    if "DEAD_LETTER_QUEUE_URL" not in hub.dep.functions[mapping.function].environment:
        pytest.skip("the synthesized template does not set DEAD_LETTER_QUEUE_URL yet (infra in progress)")
    worker_environment(hub, queue)  # asserts the template's DLQ is the redrive policy's


@pytest.mark.parametrize("queue", [INVENTORY_QUEUE, INVOICING_QUEUE])
def test_the_warehouse_workers_get_the_registered_sites(hub: Hub, queue: str) -> None:
    from synchub_core.config import _parse_warehouses

    arn = hub.dep.queues[queue]["arn"]
    (mapping,) = [s for s in hub.dep.event_sources if s.kind == "sqs" and s.source_arn == arn]
    raw = hub.dep.functions[mapping.function].environment.get("WAREHOUSES")
    if raw is None:
        pytest.skip("the synthesized template does not set WAREHOUSES yet (infra in progress)")
    registry = json.loads(raw)
    if queue == INVENTORY_QUEUE:
        # the producer roles' RoleIds, which resolve to "" locally (IAM is not emulated: no sender check)
        assert {site: entry.pop("producer_role_id") for site, entry in registry.items()} == {
            "wms.tilburg": "",
            "wms.utrecht": "",
        }
        env = hub.dep.functions[mapping.function].environment
        assert env["REPLAY_ROLE_ID"] == ""
    assert registry == WAREHOUSES
    assert sorted(_parse_warehouses(raw)) == ["wms.tilburg", "wms.utrecht"]


# --------------------------------------------------------------------------------------------- sender identity

# On AWS the inventory queue takes messages from every producer role (and the ReplayRole): the worker
# tells the sites apart by the record's SenderId, <RoleId>:<session>. moto has no IAM (the local hub's
# registry has empty producer_role_ids), so these records are built by hand with the SenderId AWS sets.
UTR_ROLE, TLB_ROLE, REPLAY_ROLE = "AROAUTRECHTPRODUCER01", "AROATILBURGPRODUCER01", "AROAREPLAYROLE000001"
ORIGINAL_SENDER = "synchub-original-sender"


@pytest.fixture
def sender_checked(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The inventory worker with the environment it has on AWS: each site's producer_role_id, the
    ReplayRole's id, its own DLQ. Returns ``run(messages)``, each message ``(report, sender_id,
    original_sender)``, which hands the worker one SQS event of them."""
    from inventory.handler import lambda_handler

    roles = {"wms.utrecht": UTR_ROLE, "wms.tilburg": TLB_ROLE}
    registry = {source: {**site, "producer_role_id": roles[source]} for source, site in WAREHOUSES.items()}
    for key, value in worker_environment(hub, INVENTORY_QUEUE).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WAREHOUSES", json.dumps(registry))
    monkeypatch.setenv("REPLAY_ROLE_ID", REPLAY_ROLE)

    def run(messages: list[tuple[dict[str, Any], str, str | None]], ctx: Any) -> dict[str, Any]:
        records = [
            {
                "MessageId": f"m-{n}",
                "ReceiptHandle": f"rh-{n}",
                "Body": json.dumps(report),
                "Attributes": {"SenderId": sender, "SentTimestamp": "1700000000000", "ApproximateReceiveCount": "1"},
                "MessageAttributes": {}
                if original is None
                else {ORIGINAL_SENDER: {"DataType": "String", "StringValue": original}},
            }
            for n, (report, sender, original) in enumerate(messages)
        ]
        result: dict[str, Any] = lambda_handler(lambda_event(hub, INVENTORY_QUEUE, records), ctx)
        return result

    return run


def not_its_producer(report: dict[str, Any], who: str) -> str:
    return (
        f"inventory report {report['event_id']} from wms.utrecht: the sender is not wms.utrecht's producer role "
        f"({UTR_ROLE}) but {who}; a site's reports are taken only from its own producer role"
    )


def test_tilburgs_role_claiming_to_be_utrecht_is_refused(hub: Hub, lambda_context: Any, sender_checked: Any) -> None:
    """Right source_system, right location: only the sender gives Tilburg away."""
    genuine = inventory_report("wms.utrecht", "UTR-A01", sequence=1, on_hand=30)
    assert sender_checked([(genuine, f"{UTR_ROLE}:wms-utrecht", None)], lambda_context)["batchItemFailures"] == []
    before = snapshot(hub)

    forged = inventory_report("wms.utrecht", "UTR-A01", sequence=2, on_hand=0)
    result = sender_checked([(forged, f"{TLB_ROLE}:wms-tilburg", None)], lambda_context)

    assert result["batchItemFailures"] == []  # refused: dead-lettered at once, not retried
    assert snapshot(hub) == before  # Utrecht keeps its 30 units
    (dead,) = dead_letters(hub, INVENTORY_DLQ)
    assert json.loads(dead["Body"]) == forged
    assert attribute(dead, REASON) == not_its_producer(forged, f"wms.tilburg's producer role ({TLB_ROLE})")
    assert attribute(dead, REFUSED_BY) == "inventory"
    # the DLQ copy's own SenderId is the worker's: who really sent it travels along (for a replay)
    assert attribute(dead, ORIGINAL_SENDER) == f"{TLB_ROLE}:wms-tilburg"


def test_a_report_from_its_own_producer_role_is_applied(hub: Hub, lambda_context: Any, sender_checked: Any) -> None:
    utrecht = inventory_report("wms.utrecht", "UTR-A01", sequence=1)
    tilburg = inventory_report("wms.tilburg", "TLB-A01", sequence=1)
    result = sender_checked(
        [(utrecht, f"{UTR_ROLE}:wms-utrecht", None), (tilburg, f"{TLB_ROLE}:wms-tilburg", None)], lambda_context
    )
    assert result["batchItemFailures"] == []
    assert sorted(i["sk"]["S"] for i in scan(hub, hub.inventory_table)) == ["LOC#TLB-A01", "LOC#UTR-A01"]
    assert hub.depth(INVENTORY_DLQ) == 0


def test_a_replayed_report_is_judged_by_the_sender_it_records(
    hub: Hub, lambda_context: Any, sender_checked: Any
) -> None:
    """synchub replay sends as the ReplayRole and records who first sent the message: Utrecht's own
    report is taken, Tilburg's forgery stays refused."""
    replayed = f"{REPLAY_ROLE}:synchub-replay"
    genuine = inventory_report("wms.utrecht", "UTR-A01", sequence=1, on_hand=30)
    forged = inventory_report("wms.utrecht", "UTR-A02", sequence=1, on_hand=0)

    result = sender_checked(
        [(genuine, replayed, f"{UTR_ROLE}:wms-utrecht"), (forged, replayed, f"{TLB_ROLE}:wms-tilburg")], lambda_context
    )

    assert result["batchItemFailures"] == []
    assert [i["sk"]["S"] for i in scan(hub, hub.inventory_table)] == ["LOC#UTR-A01"]
    (dead,) = dead_letters(hub, INVENTORY_DLQ)
    assert json.loads(dead["Body"]) == forged
    assert attribute(dead, REASON) == not_its_producer(
        forged, f"the ReplayRole, replaying a report first sent by wms.tilburg's producer role ({TLB_ROLE})"
    )
    assert attribute(dead, ORIGINAL_SENDER) == f"{TLB_ROLE}:wms-tilburg"  # still Tilburg, not the ReplayRole


def test_a_recorded_sender_counts_only_on_a_copy_the_replay_role_sent(
    hub: Hub, lambda_context: Any, sender_checked: Any
) -> None:
    """Anyone can set the attribute: on Tilburg's own message it is a claim, judged by the real sender,
    and the DLQ copy records the real sender instead of the claim (a replay cannot launder it)."""
    forged = inventory_report("wms.utrecht", "UTR-A01", sequence=1, on_hand=0)
    result = sender_checked([(forged, f"{TLB_ROLE}:wms-tilburg", f"{UTR_ROLE}:wms-utrecht")], lambda_context)
    assert result["batchItemFailures"] == []
    assert scan(hub, hub.inventory_table) == []
    (dead,) = dead_letters(hub, INVENTORY_DLQ)
    assert attribute(dead, REASON) == not_its_producer(forged, f"wms.tilburg's producer role ({TLB_ROLE})")
    assert attribute(dead, ORIGINAL_SENDER) == f"{TLB_ROLE}:wms-tilburg"


def test_replaying_a_refused_forgery_keeps_the_forgers_identity(
    hub: Hub, env: HubEnvironment, lambda_context: Any, sender_checked: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused, replayed (the copy records the forger from the DLQ message), delivered as the
    ReplayRole's: refused again for the same reason."""
    monkeypatch.setattr(replay, "WAIT_SECONDS", 0)
    forged = inventory_report("wms.utrecht", "UTR-A01", sequence=1, on_hand=0)
    sender_checked([(forged, f"{TLB_ROLE}:wms-tilburg", None)], lambda_context)

    assert replay.replay(env, INVENTORY_DLQ).moved == 1
    (copy,) = hub.receive(INVENTORY_QUEUE)
    assert attribute(copy, ORIGINAL_SENDER) == f"{TLB_ROLE}:wms-tilburg"
    hub.sqs.delete_message(QueueUrl=hub.queue(INVENTORY_QUEUE), ReceiptHandle=copy["ReceiptHandle"])

    result = sender_checked(
        [(json.loads(copy["Body"]), f"{REPLAY_ROLE}:synchub-replay", attribute(copy, ORIGINAL_SENDER))],
        lambda_context,
    )
    assert result["batchItemFailures"] == []
    assert scan(hub, hub.inventory_table) == []
    (dead,) = dead_letters(hub, INVENTORY_DLQ)
    assert attribute(dead, REASON) == not_its_producer(
        forged, f"the ReplayRole, replaying a report first sent by wms.tilburg's producer role ({TLB_ROLE})"
    )
