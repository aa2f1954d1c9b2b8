"""What the hub sends the warehouses, on the local runtime: the synthesized stack provisioned on the
emulator (moto over HTTP, as the local hub runs it), the hub's events put on its bus, and each site's
outbound queue (infra/constructs/warehouses.py) holding exactly the events that name its
``warehouse_id`` in ``detail.data.warehouse_ids``. The rules are matched by the emulator's own
EventBridge (moto), not by synchub/local: this checks that the patterns route there as on AWS."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from helpers import REGION, sample

SITES = {"UTR": "Utrecht", "TLB": "Tilburg"}  # cdk.json's sites: warehouse_id -> construct name
RELEASED = "eventbridge-order-released.json"
CANCELLATION = "eventbridge-order-cancellation-requested.json"
RETURN = "eventbridge-return-authorized.json"


def outbound(site: str) -> str:
    return f"Warehouses{site}OutboundQueue"


def outbound_dlq(site: str) -> str:
    return f"Warehouses{site}OutboundDeadLetterQueue"


@pytest.fixture
def stack(moto_server: Any, cdk_out: Path) -> Any:
    from synchub.local.provision import provision
    from synchub.local.template import Template

    return provision(Template.load(cdk_out, "Synchub", REGION), moto_server, "x")


def put(clients: Any, bus: str, event: dict[str, Any]) -> None:
    """Put a sample on the bus as the outbox publisher does (its detail is the envelope)."""
    result = clients("events").put_events(
        Entries=[
            {
                "EventBusName": bus,
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
            }
        ]
    )
    assert result["FailedEntryCount"] == 0, result


def for_warehouses(name: str, ids: list[str], entity: str) -> dict[str, Any]:
    """The sample, for these warehouses, with its own entity id (to tell the deliveries apart)."""
    event = copy.deepcopy(sample(name))
    event["detail"]["data"]["warehouse_ids"] = ids
    event["detail"]["entity_id"] = entity
    return event


def drain(clients: Any, url: str) -> list[dict[str, Any]]:
    """Every message in the queue (received and deleted), without waiting on an empty queue (the
    outbound queues long-poll 20 s by default)."""
    sqs = clients("sqs")
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_each_site_receives_only_the_events_naming_its_warehouse(moto_server: Any, stack: Any) -> None:
    queues = {site: stack.queues[outbound(site)]["url"] for site in SITES.values()}
    sent = [
        (RELEASED, ["UTR"], "released-utr"),
        (RELEASED, ["TLB"], "released-tlb"),
        (CANCELLATION, ["UTR"], "cancel-utr"),
        (CANCELLATION, ["TLB"], "cancel-tlb"),
        (RETURN, ["TLB"], "return-tlb"),
        (RETURN, ["UTR"], "return-utr"),
        # an order released to both sites (pick lines at each): both get it
        (RELEASED, ["UTR", "TLB"], "released-both"),
        # no registered site, or none at all: nobody
        (RELEASED, ["XXX"], "released-unknown"),
        (CANCELLATION, [], "cancel-none"),
    ]
    for name, ids, entity in sent:
        put(moto_server, stack.bus_name, for_warehouses(name, ids, entity))

    got = {site: drain(moto_server, url) for site, url in queues.items()}
    entities = {site: sorted(e["detail"]["entity_id"] for e in events) for site, events in got.items()}
    assert entities == {
        "Utrecht": sorted(["released-utr", "cancel-utr", "return-utr", "released-both"]),
        "Tilburg": sorted(["released-tlb", "cancel-tlb", "return-tlb", "released-both"]),
    }
    # the whole EventBridge event, as the bus has it: the WMS reads detail-type, source and the envelope
    by_entity = {e["detail"]["entity_id"]: e for events in got.values() for e in events}
    assert by_entity["released-utr"]["detail-type"] == "OrderReleased"
    assert by_entity["released-utr"]["source"] == "synchub.fulfilment"
    assert by_entity["cancel-tlb"]["detail-type"] == "OrderCancellationRequested"
    assert by_entity["return-utr"]["detail-type"] == "ReturnAuthorized"
    assert by_entity["return-utr"]["source"] == "synchub.orders"
    assert by_entity["released-utr"]["detail"]["data"] == {
        **sample(RELEASED)["detail"]["data"],
        "warehouse_ids": ["UTR"],
    }
    for site in SITES.values():  # nothing dead-lettered
        assert drain(moto_server, stack.queues[outbound_dlq(site)]["url"]) == []


def test_only_the_owner_of_an_event_reaches_the_warehouses(moto_server: Any, stack: Any) -> None:
    """OrderReleased is fulfilment's, the cancellation and the return are orders': the same event
    from another source, or another event type naming a warehouse, is delivered to nobody."""
    released = for_warehouses(RELEASED, ["UTR"], "released-from-orders")
    released["source"] = "synchub.orders"
    put(moto_server, stack.bus_name, released)
    cancellation = for_warehouses(CANCELLATION, ["UTR"], "cancel-from-fulfilment")
    cancellation["source"] = "synchub.fulfilment"
    put(moto_server, stack.bus_name, cancellation)
    other = for_warehouses(RELEASED, ["UTR"], "cancelled")
    other["detail-type"] = "OrderCancelled"
    other["source"] = "synchub.orders"
    put(moto_server, stack.bus_name, other)
    forged = for_warehouses(RETURN, ["UTR"], "return-from-a-wms")
    forged["source"] = "wms.utrecht"
    put(moto_server, stack.bus_name, forged)
    for site in SITES.values():
        assert drain(moto_server, stack.queues[outbound(site)]["url"]) == [], site


def test_replay_lists_the_outbound_dlqs_and_redrives_to_the_outbound_queue(
    moto_server: Any, stack: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A message the WMS could not process (received maxReceiveCount times) waits in the site's DLQ:
    `synchub replay --list` shows the DLQ, and a replay sends it back to the site's outbound queue."""
    from synchub import cli

    sqs = moto_server("sqs")
    endpoint = sqs.meta.endpoint_url
    state = {
        "endpoint": endpoint,
        "region": REGION,
        "queues": {k: v["url"] for k, v in stack.queues.items()},
        "tables": stack.tables,
        "event_bus": stack.bus_name,
    }
    (tmp_path / "local.json").write_text(json.dumps(state))
    queue, dlq = stack.queues[outbound("Utrecht")]["url"], stack.queues[outbound_dlq("Utrecht")]["url"]
    put(moto_server, stack.bus_name, for_warehouses(RELEASED, ["UTR"], "poison"))
    # the WMS receives it five times without deleting it: the sixth receive finds it in the DLQ
    for _ in range(5):
        (m,) = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)["Messages"]
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages", []) == []

    assert cli.main(["replay", "--list", "--state-dir", str(tmp_path)]) == 0
    listed = {line.split()[0]: int(line.split()[1]) for line in capsys.readouterr().out.splitlines()}
    assert listed[outbound_dlq("Utrecht")] == 1 and listed[outbound_dlq("Tilburg")] == 0

    assert cli.main(["replay", outbound_dlq("Utrecht"), "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.strip()
    assert out == f"{outbound_dlq('Utrecht')}: 1 message(s) moved back to {stack.queues[outbound('Utrecht')]['name']}"
    (event,) = drain(moto_server, queue)
    assert event["detail"]["entity_id"] == "poison" and event["detail-type"] == "OrderReleased"
    assert drain(moto_server, dlq) == []
