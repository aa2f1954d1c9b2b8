"""CDK assertion tests on the synchub stack.

The stack is built in-process once per module (``infra.app.build``) into a temporary cloud
assembly and inspected through ``aws_cdk.assertions.Template``. Most checks iterate the template
generically (every queue, every rule target, every function ...) and follow references between
resources instead of hard-coding logical ids, so they keep working when constructs are renamed but
fail when the wiring regresses. One test runs cfn-lint on cdk.out/Synchub.template.json (the
``template``/``cdk_out`` fixtures) and one re-synthesizes in a subprocess with a booby-trapped
``docker`` to prove synth never needs Docker. A second synthesis (``synth_alt``) checks what the
context switches change: the WAF off, another authorizer cache TTL, other warehouse sites, no
API Gateway account role.

The per-function permissions are pinned in test_least_privilege.py, cdk-nag in test_nag.py.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, sample

FUNCTIONS_DIR = ROOT / "functions"
STACK = "Synchub"
BUS_NAME = "synchub-bus"
FUNCTION_TIMEOUT_S = 30
MAX_RECEIVE_COUNT = 5
FUNCTION_PACKAGES = {
    "orders",
    "outbox",
    "inventory",
    "reservation",
    "invoicing",
    "fulfilment",
    "channels",
    "connectors",
    "finance",
    "erp",
    "masterdata",
    "reconciliation",
    "operations",
    "synchub_core",
}
EXPECTED_HANDLERS = {
    "orders.handler.lambda_handler",
    "channels.handler.token_handler",
    "channels.handler.authorizer_handler",
    "outbox.handler.stream_handler",
    "outbox.handler.sweep_handler",
    "inventory.handler.lambda_handler",
    "reservation.handler.lambda_handler",
    "invoicing.handler.lambda_handler",
    "reservation.handler.backorder_handler",
    "reservation.handler.stock_available_handler",
    "fulfilment.handler.release_handler",
    "fulfilment.handler.warehouse_handler",
    "invoicing.handler.returns_handler",
    "finance.handler.lambda_handler",
    "erp.handler.orders_handler",
    "erp.handler.acks_handler",
    "erp.handler.watchdog_handler",
    "masterdata.handler.lambda_handler",
    "reconciliation.handler.lambda_handler",
    "operations.handler.lambda_handler",
}
# the queue workers' function timeouts (seconds): the default, or what the connectors need
WORKER_TIMEOUTS = {
    "inventory.handler.lambda_handler": FUNCTION_TIMEOUT_S,
    "reservation.handler.lambda_handler": FUNCTION_TIMEOUT_S,
    "invoicing.handler.lambda_handler": FUNCTION_TIMEOUT_S,
    "invoicing.handler.returns_handler": FUNCTION_TIMEOUT_S,
    "fulfilment.handler.release_handler": FUNCTION_TIMEOUT_S,
    "fulfilment.handler.warehouse_handler": FUNCTION_TIMEOUT_S,
    # a batch of StockAvailable may retry many backorders, a transaction each
    "reservation.handler.stock_available_handler": 60,
    "finance.handler.lambda_handler": 60,
    "erp.handler.orders_handler": 60,
    "erp.handler.acks_handler": 60,
    "masterdata.handler.lambda_handler": 300,
}
# CDK's singleton behind the exchange bucket's notifications (Custom::S3BucketNotifications): inline
# code run at deploy time, not one of the hub's functions (tests/infra/test_least_privilege.py pins
# its role; the local hub applies the notification configuration itself)
NOTIFICATIONS_HANDLER = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"
POWERTOOLS_LAYER = re.compile(
    r"^arn:aws:lambda:\$\{AWS::Region\}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-arm64:\d+$"
)
# cdk.json's default sites; the alternative synthesis swaps them for ALT_WAREHOUSES
WAREHOUSES = {"utrecht": ("UTR", "UTR-"), "tilburg": ("TLB", "TLB-")}
ALT_WAREHOUSES = {
    # a site whose shipments another legal entity invoices (its own invoice numbers)
    "utrecht": {"warehouse_id": "UTR", "location_prefix": "UTR-", "legal_entity": "NL02"},
    "den-bosch": {"warehouse_id": "DBS", "location_prefix": "DBS-"},
    "venlo": {"warehouse_id": "VNL", "location_prefix": "VNL-A"},
}
ALT_CONTEXT = {
    "synchub:waf": "false",  # as `-c synchub:waf=false` passes it: a string
    "synchub:authorizerCacheSeconds": "120",
    "synchub:apiGatewayCloudWatchRole": False,
    "synchub:warehouses": json.dumps(ALT_WAREHOUSES),
    # the connectors' tunables (infra/context.py), as strings like `-c key=value` passes them
    "synchub:financeBaseUrl": "https://finance.example.test/tenant-7/",
    "synchub:breakerFailureThreshold": "3",
    "synchub:breakerOpenSeconds": "20",
    "synchub:breakerMaxOpenSeconds": "600",
    "synchub:financeRatePerSecond": "8",
    "synchub:erpFilesPerMinute": "12",
    "synchub:erpAckTimeoutSeconds": "300",
    "synchub:reconcileWindowHours": "48",
    # the order-to-cash lifecycle
    "synchub:legalEntity": "SH02",
    "synchub:availabilityStaleAfterMinutes": "15",
    "synchub:shipmentHoldMaxHours": "72",
}
HUB_SOURCES = [
    "synchub.connectors",
    "synchub.fulfilment",
    "synchub.inventory",
    "synchub.invoicing",
    "synchub.orders",
    "synchub.reservation",
]


# --------------------------------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------------------------------


@dataclass
class Synth:
    outdir: Path
    template: Any  # aws_cdk.assertions.Template
    json: dict[str, Any]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.json["Resources"]

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        """Resources of ``cfn_type``; CDK's bucket notifications handler (function and role) is left
        out: it is not one of the hub's functions (see ``notifications_handler``)."""
        return {
            k: v for k, v in self.resources.items() if v["Type"] == cfn_type and not k.startswith(NOTIFICATIONS_HANDLER)
        }

    def notifications_handler(self) -> str:
        (found,) = [
            k
            for k, v in self.resources.items()
            if v["Type"] == "AWS::Lambda::Function" and k.startswith(NOTIFICATIONS_HANDLER)
        ]
        return found

    def props(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id].get("Properties", {})

    def function_by_handler(self, handler: str) -> str:
        found = [
            k for k, v in self.of_type("AWS::Lambda::Function").items() if v["Properties"].get("Handler") == handler
        ]
        assert len(found) == 1, f"expected exactly one function with handler {handler}, found {found}"
        return found[0]

    def table_with_index(self, index_name: str) -> str:
        found = [
            k
            for k, v in self.of_type("AWS::DynamoDB::Table").items()
            if any(g["IndexName"] == index_name for g in v["Properties"].get("GlobalSecondaryIndexes", []))
        ]
        assert len(found) == 1, f"expected one table carrying GSI {index_name}, found {found}"
        return found[0]

    def table_by_env(self, variable: str) -> str:
        """The table a function environment variable (ORDERS_TABLE, INVENTORY_TABLE, CHANNELS_TABLE) names."""
        found = {
            ref_target(f["Properties"]["Environment"]["Variables"][variable])
            for f in self.of_type("AWS::Lambda::Function").values()
            if variable in f["Properties"]["Environment"]["Variables"]
        }
        assert len(found) == 1, f"{variable} names {found}"
        table = found.pop()
        assert table is not None and self.resources[table]["Type"] == "AWS::DynamoDB::Table", table
        return table

    def env(self, function_id: str) -> dict[str, Any]:
        return self.props(function_id)["Environment"]["Variables"]

    def policy_statements(self, function_id: str) -> list[dict[str, Any]]:
        """Every statement of every AWS::IAM::Policy attached to the function's execution role."""
        role = ref_target(self.props(function_id)["Role"])
        assert role in self.of_type("AWS::IAM::Role"), f"{function_id} role {role} is not a role in the stack"
        statements: list[dict[str, Any]] = []
        for policy in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": role} in policy["Properties"].get("Roles", []):
                statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
        for inline in self.props(role).get("Policies", []):
            statements.extend(inline["PolicyDocument"]["Statement"])
        return statements


def ref_target(value: Any) -> str | None:
    """The logical id a ``{"Ref": id}`` or ``{"Fn::GetAtt": [id, attr]}`` points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            return att[0] if isinstance(att, list) else att.split(".", 1)[0]
    return None


def render(value: Any) -> str:
    """Flatten a string built with Fn::Join/Ref into text, e.g. ``arn:aws:lambda:${AWS::Region}:...``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(render(p) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        return "${" + value["Ref"] + "}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        att = value["Fn::GetAtt"]
        return "${" + (".".join(att) if isinstance(att, list) else att) + "}"
    if isinstance(value, dict) and "Fn::Sub" in value:
        return value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
    raise AssertionError(f"cannot render {value!r}")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def references(value: Any, logical_id: str) -> bool:
    """Whether a (possibly nested) CloudFormation value refers to ``logical_id``."""
    if isinstance(value, dict):
        if ref_target(value) == logical_id:
            return True
        return any(references(v, logical_id) for v in value.values())
    if isinstance(value, list):
        return any(references(v, logical_id) for v in value)
    return False


def action_matches(pattern: str, action: str) -> bool:
    regex = "^" + re.escape(pattern.lower()).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(regex, action.lower()) is not None


def allows(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [
        s
        for s in statements
        if s.get("Effect") == "Allow" and any(action_matches(a, action) for a in as_list(s.get("Action", [])))
    ]


def filter_matches(pattern: Any, event: Any) -> bool:
    """Minimal Lambda event-filtering matcher: nested objects of lists of exact values, which is all
    the stack uses. Anything fancier (prefix, anything-but, numeric ...) is rejected loudly so this
    test gets extended instead of silently passing."""
    if isinstance(pattern, dict):
        if not isinstance(event, dict):
            return False
        return all(key in event and filter_matches(sub, event[key]) for key, sub in pattern.items())
    assert isinstance(pattern, list), f"unsupported filter pattern {pattern!r}"
    for alternative in pattern:
        assert not isinstance(alternative, (dict, list)), f"unsupported filter operator {alternative!r}"
    return event in pattern


def _synthesize(outdir: Path, context: dict[str, Any] | None = None) -> Synth:
    from aws_cdk.assertions import Template

    from infra.app import build

    app = build(outdir=outdir, context=context)
    assembly = app.synth()
    template = Template.from_stack(app.node.find_child(STACK))
    return Synth(outdir=Path(assembly.directory), template=template, json=template.to_json())


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="module")
def synth_alt(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack with every context switch turned (ALT_CONTEXT)."""
    return _synthesize(tmp_path_factory.mktemp("cdk.out.alt"), ALT_CONTEXT)


# --------------------------------------------------------------------------------------------------
# DynamoDB
# --------------------------------------------------------------------------------------------------


def test_orders_table_shape(synth: Synth) -> None:
    from aws_cdk.assertions import Match

    table = synth.table_with_index("outbox-pending")
    synth.template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    "AttributeDefinitions": Match.array_with(
                        [
                            {"AttributeName": "pk", "AttributeType": "S"},
                            {"AttributeName": "sk", "AttributeType": "S"},
                            {"AttributeName": "outbox_status", "AttributeType": "S"},
                            {"AttributeName": "created_at", "AttributeType": "S"},
                            {"AttributeName": "backorder_status", "AttributeType": "S"},
                            {"AttributeName": "backordered_at", "AttributeType": "S"},
                            {"AttributeName": "day_key", "AttributeType": "S"},
                            {"AttributeName": "day_at", "AttributeType": "S"},
                        ]
                    ),
                    "BillingMode": "PAY_PER_REQUEST",
                    "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
                    "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": "outbox-pending",
                            "KeySchema": [
                                {"AttributeName": "outbox_status", "KeyType": "HASH"},
                                {"AttributeName": "created_at", "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "KEYS_ONLY"},
                        },
                        {
                            "IndexName": "backorders",
                            "KeySchema": [
                                {"AttributeName": "backorder_status", "KeyType": "HASH"},
                                {"AttributeName": "backordered_at", "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "KEYS_ONLY"},
                        },
                        {
                            "IndexName": "by-day",
                            "KeySchema": [
                                {"AttributeName": "day_key", "KeyType": "HASH"},
                                {"AttributeName": "day_at", "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "KEYS_ONLY"},
                        },
                    ],
                }
            ),
        },
    )
    # the match above could be satisfied by any table: pin it to the one carrying the GSI
    resource = synth.resources[table]
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["Properties"]["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    assert resource["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


@pytest.mark.parametrize("variable", ["INVENTORY_TABLE", "CHANNELS_TABLE", "MASTERDATA_TABLE"])
def test_inventory_channels_and_masterdata_table_shape(synth: Synth, variable: str) -> None:
    tables = synth.of_type("AWS::DynamoDB::Table")
    assert len(tables) == 5, f"expected orders, inventory, channels, connectors, master data tables: {sorted(tables)}"
    table = synth.table_by_env(variable)
    assert table != synth.table_with_index("outbox-pending")
    resource = tables[table]
    props = resource["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types == {"pk": "S", "sk": "S"}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert "GlobalSecondaryIndexes" not in props and "StreamSpecification" not in props
    assert resource["DeletionPolicy"] == "Retain" and resource["UpdateReplacePolicy"] == "Retain"


def test_channels_table_is_the_one_the_cli_reads(synth: Synth) -> None:
    channels = synth.table_by_env("CHANNELS_TABLE")
    assert synth.json["Outputs"]["ChannelsTableName"]["Value"] == {"Ref": channels}
    assert channels.startswith("DataChannelsTable"), "synchub.environment finds it as DataChannelsTable"


# --------------------------------------------------------------------------------------------------
# SQS
# --------------------------------------------------------------------------------------------------


def _dead_letter_queue_ids(synth: Synth) -> set[str]:
    """Queues used as a dead-letter target anywhere: SQS redrive, rule target DLQ, ESM on-failure."""
    dlqs: set[str] = set()
    for queue in synth.of_type("AWS::SQS::Queue").values():
        if "RedrivePolicy" in queue["Properties"]:
            dlqs.add(ref_target(queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]))
    for rule in synth.of_type("AWS::Events::Rule").values():
        for target in rule["Properties"].get("Targets", []):
            if "DeadLetterConfig" in target:
                dlqs.add(ref_target(target["DeadLetterConfig"]["Arn"]))
    for esm in synth.of_type("AWS::Lambda::EventSourceMapping").values():
        destination = esm["Properties"].get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if destination is not None:
            dlqs.add(ref_target(destination))
    for config in synth.of_type("AWS::Lambda::EventInvokeConfig").values():
        destination = config["Properties"].get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if destination is not None:
            dlqs.add(ref_target(destination))
    return dlqs


def _sqs_mappings(synth: Synth) -> dict[str, dict[str, Any]]:
    queues = synth.of_type("AWS::SQS::Queue")
    return {
        k: v
        for k, v in synth.of_type("AWS::Lambda::EventSourceMapping").items()
        if ref_target(v["Properties"]["EventSourceArn"]) in queues
    }


def test_every_work_queue_redrives_to_a_dlq(synth: Synth) -> None:
    queues = synth.of_type("AWS::SQS::Queue")
    dlqs = _dead_letter_queue_ids(synth)
    assert dlqs <= set(queues), f"dead-letter targets that are not queues in the stack: {dlqs - set(queues)}"
    work_queues = set(queues) - dlqs
    # inventory (WMS feed), reservation, stock available, fulfilment release and warehouse answers,
    # invoicing, returns; finance posting, ERP orders, ERP acks, master data; one outbound queue per site
    assert len(work_queues) == 11 + len(WAREHOUSES), f"unexpected work queues: {sorted(work_queues)}"
    for queue_id in work_queues:
        redrive = queues[queue_id]["Properties"].get("RedrivePolicy")
        assert redrive, f"{queue_id} has no RedrivePolicy: poison messages would loop forever"
        assert redrive["maxReceiveCount"] == MAX_RECEIVE_COUNT, f"{queue_id}: {redrive}"
        target = ref_target(redrive["deadLetterTargetArn"])
        assert target in queues and target != queue_id, f"{queue_id} redrives to {target}, not another queue"
        assert "RedrivePolicy" not in queues[target]["Properties"], f"DLQ {target} must not redrive itself"
    # dead-letter queues keep messages for the maximum 14 days, longer than any source queue
    for dlq in dlqs:
        assert queues[dlq]["Properties"].get("MessageRetentionPeriod") == 14 * 24 * 3600, dlq


def test_every_lambda_consumed_queue_is_a_work_queue_with_long_enough_visibility(synth: Synth) -> None:
    queues = synth.of_type("AWS::SQS::Queue")
    mappings = _sqs_mappings(synth)
    dlqs = _dead_letter_queue_ids(synth)
    consumed = {ref_target(m["Properties"]["EventSourceArn"]) for m in mappings.values()}
    # the outbound queues are drained by their warehouse's WMS, not by a Lambda
    outbound = set(_outbound_queues(synth).values())
    assert outbound and not outbound & consumed
    assert consumed == set(queues) - dlqs - outbound, (
        "every work queue, and only work queues, must be drained by a Lambda"
    )
    for mapping_id, mapping in mappings.items():
        queue_id = ref_target(mapping["Properties"]["EventSourceArn"])
        function_id = ref_target(mapping["Properties"]["FunctionName"])
        timeout = synth.props(function_id).get("Timeout", 3)
        assert timeout == WORKER_TIMEOUTS[synth.props(function_id)["Handler"]], f"{function_id} timeout {timeout}"
        visibility = queues[queue_id]["Properties"].get("VisibilityTimeout", 30)
        assert visibility >= 6 * timeout, (
            f"{queue_id} VisibilityTimeout {visibility}s < 6 x {function_id} timeout {timeout}s ({mapping_id})"
        )


def test_all_queues_use_sqs_managed_encryption_and_tls(synth: Synth) -> None:
    queues = synth.of_type("AWS::SQS::Queue")
    assert queues
    policies = synth.of_type("AWS::SQS::QueuePolicy").values()
    for queue_id, queue in queues.items():
        assert queue["Properties"].get("SqsManagedSseEnabled") is True, f"{queue_id} not SQS-SSE encrypted"
        assert "KmsMasterKeyId" not in queue["Properties"], f"{queue_id}: KMS would need a key policy for EventBridge"
        deny_plain = [
            s
            for p in policies
            if {"Ref": queue_id} in p["Properties"]["Queues"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert deny_plain, f"{queue_id} does not enforce TLS"


# --------------------------------------------------------------------------------------------------
# EventBridge
# --------------------------------------------------------------------------------------------------


def test_every_rule_target_has_dlq_and_retry_policy(synth: Synth) -> None:
    rules = synth.of_type("AWS::Events::Rule")
    queues = synth.of_type("AWS::SQS::Queue")
    assert len(rules) == 4 + len(BUS_RULES) + len(OUTBOUND_EVENTS) * len(WAREHOUSES), (
        f"expected 4 schedules (outbox, backorders, ERP watchdog, reconcile) + {len(BUS_RULES)} bus rules "
        f"+ {len(OUTBOUND_EVENTS)} outbound rules per site, got {sorted(rules)}"
    )
    for rule_id, rule in rules.items():
        targets = rule["Properties"].get("Targets", [])
        assert targets, f"{rule_id} has no target"
        for target in targets:
            assert "DeadLetterConfig" in target, f"{rule_id}/{target['Id']} has no DeadLetterConfig"
            dlq = ref_target(target["DeadLetterConfig"]["Arn"])
            assert dlq in queues, f"{rule_id}/{target['Id']} dead-letters to {dlq}, not a queue"
            retry = target.get("RetryPolicy")
            assert retry and "MaximumRetryAttempts" in retry and "MaximumEventAgeInSeconds" in retry, (
                f"{rule_id}/{target['Id']} RetryPolicy {retry}"
            )
            assert 0 <= retry["MaximumRetryAttempts"] <= 185 and 60 <= retry["MaximumEventAgeInSeconds"] <= 86400
            # EventBridge can only dead-letter if the DLQ's policy lets this rule send to it
            granted = [
                s
                for p in synth.of_type("AWS::SQS::QueuePolicy").values()
                if {"Ref": dlq} in p["Properties"]["Queues"]
                for s in p["Properties"]["PolicyDocument"]["Statement"]
                if s["Effect"] == "Allow"
                and s.get("Principal") == {"Service": "events.amazonaws.com"}
                and "sqs:SendMessage" in as_list(s["Action"])
                and references(s.get("Condition"), rule_id)
            ]
            assert granted, f"DLQ {dlq} of {rule_id} does not allow events.amazonaws.com to SendMessage"


WMS = [{"prefix": "wms."}]
# (detail-types, sources, the worker whose queue the rule feeds): one row per rule
BUS_RULES: list[tuple[list[str], list[Any], str]] = [
    (["OrderAccepted"], ["synchub.orders"], "reservation.handler.lambda_handler"),
    (["ShipmentConfirmed"], WMS, "invoicing.handler.lambda_handler"),
    (["InvoiceIssued"], ["synchub.invoicing"], "finance.handler.lambda_handler"),
    # credit memos: a rule of their own onto the finance queue
    (["CreditMemoIssued"], ["synchub.invoicing"], "finance.handler.lambda_handler"),
    (["OrderAccepted"], ["synchub.orders"], "erp.handler.orders_handler"),
    # the order-to-cash lifecycle
    (
        ["StockAvailable"],
        ["synchub.inventory", "synchub.invoicing", "synchub.orders"],
        "reservation.handler.stock_available_handler",
    ),
    (["OrderReserved"], ["synchub.reservation"], "fulfilment.handler.release_handler"),
    (["OrderCancellationAnswered", "ReleaseAcknowledged"], WMS, "fulfilment.handler.warehouse_handler"),
    (["ReturnReceived"], WMS, "invoicing.handler.returns_handler"),
]


# what the hub sends a warehouse (infra/constructs/warehouses.py): owner -> its detail-types; per site one
# rule per owner onto the site's outbound queue, matching the site's id in detail.data.warehouse_ids
OUTBOUND_EVENTS: dict[str, list[str]] = {
    "synchub.fulfilment": ["OrderReleased"],
    "synchub.orders": ["OrderCancellationRequested", "ReturnAuthorized"],
}


def _pascal(site: str) -> str:
    return "".join(p.capitalize() for p in site.split("-"))


def _outbound_pattern(source: str, warehouse_id: str) -> dict[str, Any]:
    return {
        "detail-type": OUTBOUND_EVENTS[source],
        "source": [source],
        "detail": {"data": {"warehouse_ids": [warehouse_id]}},
    }


def _outbound_queues(s: Synth) -> dict[str, str]:
    """Site pascal name -> its outbound queue (the output OutboundQueueUrl<Site> is the queue's Ref)."""
    found = {
        k.removeprefix("OutboundQueueUrl"): ref_target(v["Value"]) or ""
        for k, v in s.json["Outputs"].items()
        if k.startswith("OutboundQueueUrl")
    }
    for queue in found.values():
        assert s.resources[queue]["Type"] == "AWS::SQS::Queue", queue
    return found


def _outbound_rules(s: Synth, queue: str) -> dict[str, dict[str, Any]]:
    """The bus rules targeting ``queue``."""
    return {
        k: v
        for k, v in s.of_type("AWS::Events::Rule").items()
        if any(ref_target(t["Arn"]) == queue for t in v["Properties"].get("Targets", []))
    }


def _rule_for(synth: Synth, handler: str, detail_type: str | None = None) -> tuple[str, dict[str, Any]]:
    """The bus rule whose target queue the function ``handler`` drains (the one matching
    ``detail_type`` where several feed it)."""
    function = synth.function_by_handler(handler)
    queues = {
        ref_target(m["Properties"]["EventSourceArn"])
        for m in _sqs_mappings(synth).values()
        if ref_target(m["Properties"]["FunctionName"]) == function
    }
    rules = [
        (k, v)
        for k, v in synth.of_type("AWS::Events::Rule").items()
        if "EventPattern" in v["Properties"]
        and {ref_target(t["Arn"]) for t in v["Properties"]["Targets"]} & queues
        and (detail_type is None or detail_type in v["Properties"]["EventPattern"]["detail-type"])
    ]
    assert len(rules) == 1, f"expected one rule feeding {handler} ({detail_type}), got {[k for k, _ in rules]}"
    return rules[0]


def _rules_for(synth: Synth, handler: str) -> list[str]:
    """Every bus rule feeding the worker ``handler``'s queue."""
    return sorted(_rule_for(synth, handler, detail_types[0])[0] for detail_types, _, h in BUS_RULES if h == handler)


def test_bus_rules(synth: Synth) -> None:
    patterns = sorted(
        json.dumps(v["Properties"]["EventPattern"], sort_keys=True)
        for v in synth.of_type("AWS::Events::Rule").values()
        if "EventPattern" in v["Properties"]
    )
    assert patterns == sorted(
        [json.dumps({"detail-type": dts, "source": sources}, sort_keys=True) for dts, sources, _ in BUS_RULES]
        + [
            json.dumps(_outbound_pattern(source, warehouse_id), sort_keys=True)
            for warehouse_id, _ in WAREHOUSES.values()
            for source in OUTBOUND_EVENTS
        ]
    )


@pytest.mark.parametrize(
    "detail_types, sources, handler",
    BUS_RULES,
    ids=[f"{'+'.join(dts)}->{h.split('.', 1)[0]}.{h.rsplit('.', 1)[1]}" for dts, _, h in BUS_RULES],
)
def test_bus_rule_routes_detail_type_to_worker_queue(
    synth: Synth, detail_types: list[str], sources: list[Any], handler: str
) -> None:
    rule_id, rule = _rule_for(synth, handler, detail_types[0])
    props = rule["Properties"]
    assert props["EventPattern"] == {"detail-type": detail_types, "source": sources}
    assert props.get("State", "ENABLED") == "ENABLED"
    bus = ref_target(props.get("EventBusName"))
    assert bus is not None, f"{rule_id} is on the default bus, not {BUS_NAME}"
    assert synth.resources[bus]["Type"] == "AWS::Events::EventBus"
    assert synth.props(bus)["Name"] == BUS_NAME
    assert len(props["Targets"]) == 1
    queue = ref_target(props["Targets"][0]["Arn"])
    assert synth.resources[queue]["Type"] == "AWS::SQS::Queue", f"{rule_id} targets {queue}, not a queue"
    # ... and that queue is drained by the right worker
    consumers = [
        ref_target(m["Properties"]["FunctionName"])
        for m in _sqs_mappings(synth).values()
        if ref_target(m["Properties"]["EventSourceArn"]) == queue
    ]
    assert consumers == [synth.function_by_handler(handler)]
    # ... and the queue policy lets this rule deliver
    granted = [
        s
        for p in synth.of_type("AWS::SQS::QueuePolicy").values()
        if {"Ref": queue} in p["Properties"]["Queues"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
        and "sqs:SendMessage" in as_list(s["Action"])
        and s.get("Principal") == {"Service": "events.amazonaws.com"}
        and references(s.get("Condition"), rule_id)
    ]
    assert granted, f"{queue} policy does not allow {rule_id} to send"


SCHEDULES = {
    "outbox.handler.sweep_handler": "rate(5 minutes)",
    "reservation.handler.backorder_handler": "rate(5 minutes)",
    "erp.handler.watchdog_handler": "rate(1 minute)",
    "reconciliation.handler.lambda_handler": "rate(1 hour)",
}


@pytest.mark.parametrize("handler", sorted(SCHEDULES))
def test_schedules_invoke_their_functions(synth: Synth, handler: str) -> None:
    sweeper = synth.function_by_handler(handler)
    scheduled = {k: v for k, v in synth.of_type("AWS::Events::Rule").items() if "ScheduleExpression" in v["Properties"]}
    assert len(scheduled) == len(SCHEDULES), sorted(scheduled)
    ((rule_id, rule),) = [
        (k, v) for k, v in scheduled.items() if [ref_target(t["Arn"]) for t in v["Properties"]["Targets"]] == [sweeper]
    ]
    assert rule["Properties"]["ScheduleExpression"] == SCHEDULES[handler]
    assert rule["Properties"].get("State", "ENABLED") == "ENABLED"
    permissions = [
        p
        for p in synth.of_type("AWS::Lambda::Permission").values()
        if ref_target(p["Properties"]["FunctionName"]) == sweeper
        and p["Properties"]["Principal"] == "events.amazonaws.com"
        and ref_target(p["Properties"].get("SourceArn")) == rule_id
    ]
    assert permissions, "EventBridge is not allowed to invoke the sweeper"
    assert permissions[0]["Properties"]["Action"] == "lambda:InvokeFunction"


def test_event_bus_and_archive(synth: Synth) -> None:
    synth.template.resource_count_is("AWS::Events::EventBus", 1)
    synth.template.has_resource_properties("AWS::Events::EventBus", {"Name": BUS_NAME})
    bus = next(iter(synth.of_type("AWS::Events::EventBus")))
    archives = [
        a for a in synth.of_type("AWS::Events::Archive").values() if ref_target(a["Properties"]["SourceArn"]) == bus
    ]
    assert len(archives) == 1 and archives[0]["Properties"]["RetentionDays"] == 90


# --------------------------------------------------------------------------------------------------
# Lambda event source mappings
# --------------------------------------------------------------------------------------------------


def test_every_sqs_mapping_reports_batch_item_failures(synth: Synth) -> None:
    mappings = _sqs_mappings(synth)
    assert len(mappings) == 11, sorted(mappings)
    for mapping_id, mapping in mappings.items():
        assert mapping["Properties"].get("FunctionResponseTypes") == ["ReportBatchItemFailures"], mapping_id
        assert mapping["Properties"].get("Enabled", True) is True, mapping_id


def test_dynamodb_stream_mapping(synth: Synth) -> None:
    orders_table = synth.table_with_index("outbox-pending")
    stream_mappings = {
        k: v
        for k, v in synth.of_type("AWS::Lambda::EventSourceMapping").items()
        if v["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [orders_table, "StreamArn"]}
    }
    assert len(stream_mappings) == 1, sorted(stream_mappings)
    props = next(iter(stream_mappings.values()))["Properties"]
    assert ref_target(props["FunctionName"]) == synth.function_by_handler("outbox.handler.stream_handler")
    assert props["BisectBatchOnFunctionError"] is True
    assert props["MaximumRetryAttempts"] == 5
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["StartingPosition"] == "TRIM_HORIZON"
    destination = ref_target(props["DestinationConfig"]["OnFailure"]["Destination"])
    assert synth.resources[destination]["Type"] == "AWS::SQS::Queue"
    # the publisher must be able to write its failures to that queue
    publisher = ref_target(props["FunctionName"])
    assert any(
        references(s["Resource"], destination) for s in allows(synth.policy_statements(publisher), "sqs:SendMessage")
    )

    filters = props["FilterCriteria"]["Filters"]
    assert len(filters) == 1, "several filters are OR-ed: each one would widen what gets through"
    pattern = json.loads(filters[0]["Pattern"])

    def record(event_name: str, item_type: str | None) -> dict[str, Any]:
        image = {"pk": {"S": "ORDER#1"}, "sk": {"S": "OUTBOX#1"}}
        if item_type is not None:
            image["item_type"] = {"S": item_type}
        return {"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": {"NewImage": image}}

    assert filter_matches(pattern, record("INSERT", "OUTBOX"))
    for event_name, item_type in [
        ("MODIFY", "OUTBOX"),
        ("REMOVE", "OUTBOX"),
        ("INSERT", "ORDER"),
        ("INSERT", "IDEMPOTENCY"),
        ("INSERT", None),
        ("MODIFY", "ORDER"),
    ]:
        assert not filter_matches(pattern, record(event_name, item_type)), (event_name, item_type, pattern)


# --------------------------------------------------------------------------------------------------
# Lambda functions
# --------------------------------------------------------------------------------------------------


def test_function_set(synth: Synth) -> None:
    handlers = sorted(f["Properties"]["Handler"] for f in synth.of_type("AWS::Lambda::Function").values())
    assert set(handlers) == EXPECTED_HANDLERS and len(handlers) == len(EXPECTED_HANDLERS), handlers


def test_every_function_runtime_tracing_env_layer_and_logs(synth: Synth) -> None:
    functions = synth.of_type("AWS::Lambda::Function")
    assert functions
    orders_table = synth.table_with_index("outbox-pending")
    inventory_table = synth.table_by_env("INVENTORY_TABLE")
    bus = next(iter(synth.of_type("AWS::Events::EventBus")))
    # the deployed Python is the one these tests (and the functions' tests) run on
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert runtime == "python3.11", f"tests run on {runtime}: move infra RUNTIME and the layer with it"
    for function_id, function in functions.items():
        props = function["Properties"]
        assert props["Runtime"] == runtime, function_id
        assert props.get("TracingConfig") == {"Mode": "Active"}, function_id
        assert props.get("Architectures") == ["arm64"], f"{function_id}: Graviton, and the layer is the arm64 build"
        env = props["Environment"]["Variables"]
        assert env.get("ORDERS_TABLE") == {"Ref": orders_table}, function_id
        assert env.get("INVENTORY_TABLE") == {"Ref": inventory_table}, function_id
        assert env.get("EVENT_BUS_NAME") == {"Ref": bus}, function_id
        assert env.get("POWERTOOLS_SERVICE_NAME") == props["Handler"].split(".")[0], function_id
        layers = [render(layer) for layer in props.get("Layers", [])]
        assert any(POWERTOOLS_LAYER.match(layer) for layer in layers), f"{function_id} layers {layers}"
        log_group = ref_target(props.get("LoggingConfig", {}).get("LogGroup"))
        assert log_group is not None, f"{function_id} logs to an unmanaged /aws/lambda group (no retention)"
        assert synth.resources[log_group]["Type"] == "AWS::Logs::LogGroup"
        assert synth.props(log_group).get("RetentionInDays", 0) > 0, f"{log_group} keeps logs forever"
        # JSON (Powertools' lines as they are), no START/END/REPORT lines (system INFO), application INFO
        logging = props["LoggingConfig"]
        assert (logging["LogFormat"], logging["SystemLogLevel"], logging["ApplicationLogLevel"]) == (
            "JSON",
            "WARN",
            "INFO",
        ), function_id


def test_every_handler_resolves_to_a_callable(synth: Synth) -> None:
    for function_id, function in synth.of_type("AWS::Lambda::Function").items():
        module_name, _, attribute = function["Properties"]["Handler"].rpartition(".")
        module = importlib.import_module(module_name)
        assert Path(module.__file__).resolve().is_relative_to(FUNCTIONS_DIR), (
            f"{module_name} imported from {module.__file__}, not from functions/"
        )
        handler = getattr(module, attribute, None)
        assert callable(handler), f"{function_id}: {module_name}.{attribute} is missing or not callable"


def test_every_function_uses_the_one_code_asset(synth: Synth) -> None:
    keys = {
        json.dumps(f["Properties"]["Code"], sort_keys=True) for f in synth.of_type("AWS::Lambda::Function").values()
    }
    assert len(keys) == 1, keys
    assert "ZipFile" not in next(iter(synth.of_type("AWS::Lambda::Function").values()))["Properties"]["Code"]


# --------------------------------------------------------------------------------------------------
# API Gateway
# --------------------------------------------------------------------------------------------------


# (path, method) -> (handler of the integration, authorization type, API key required)
ROUTES = {
    ("/oauth2/token", "POST"): ("channels.handler.token_handler", "NONE", False),
    ("/oauth2/token", "ANY"): ("channels.handler.token_handler", "NONE", False),
    ("/openapi.json", "GET"): ("orders.handler.lambda_handler", "NONE", False),
    ("/orders", "POST"): ("orders.handler.lambda_handler", "CUSTOM", True),
    ("/orders", "ANY"): ("orders.handler.lambda_handler", "CUSTOM", True),
    ("/orders/{order_id}", "GET"): ("orders.handler.lambda_handler", "CUSTOM", True),
    ("/orders/{order_id}", "ANY"): ("orders.handler.lambda_handler", "CUSTOM", True),
    # the order-to-cash lifecycle: cancel, returns, the order's documents, availability
    ("/orders/{order_id}/cancel", "POST"): ("orders.handler.lambda_handler", "CUSTOM", True),
    ("/orders/{order_id}/cancel", "ANY"): ("orders.handler.lambda_handler", "CUSTOM", True),
    ("/orders/{order_id}/returns", "POST"): ("orders.handler.lambda_handler", "CUSTOM", True),
    ("/orders/{order_id}/returns", "ANY"): ("orders.handler.lambda_handler", "CUSTOM", True),
    ("/invoices/{invoice_id}", "GET"): ("orders.handler.lambda_handler", "CUSTOM", True),
    ("/invoices/{invoice_id}", "ANY"): ("orders.handler.lambda_handler", "CUSTOM", True),
    ("/credit-memos/{credit_memo_id}", "GET"): ("orders.handler.lambda_handler", "CUSTOM", True),
    ("/credit-memos/{credit_memo_id}", "ANY"): ("orders.handler.lambda_handler", "CUSTOM", True),
    ("/availability", "GET"): ("orders.handler.lambda_handler", "CUSTOM", True),
    ("/availability", "ANY"): ("orders.handler.lambda_handler", "CUSTOM", True),
    ("/availability/query", "POST"): ("orders.handler.lambda_handler", "CUSTOM", True),
    ("/availability/query", "ANY"): ("orders.handler.lambda_handler", "CUSTOM", True),
    # the business-exceptions API: same authorizer and API key; the function answers operators only
    ("/exceptions", "GET"): ("operations.handler.lambda_handler", "CUSTOM", True),
    ("/exceptions", "ANY"): ("operations.handler.lambda_handler", "CUSTOM", True),
    ("/exceptions/{exception_id}", "GET"): ("operations.handler.lambda_handler", "CUSTOM", True),
    ("/exceptions/{exception_id}", "ANY"): ("operations.handler.lambda_handler", "CUSTOM", True),
    ("/exceptions/{exception_id}/resubmit", "POST"): ("operations.handler.lambda_handler", "CUSTOM", True),
    ("/exceptions/{exception_id}/resubmit", "ANY"): ("operations.handler.lambda_handler", "CUSTOM", True),
    ("/exceptions/{exception_id}/discard", "POST"): ("operations.handler.lambda_handler", "CUSTOM", True),
    ("/exceptions/{exception_id}/discard", "ANY"): ("operations.handler.lambda_handler", "CUSTOM", True),
}


def _api_paths(synth: Synth) -> dict[str, str]:
    """Resource logical id -> its path (/orders/{order_id}); the root is ''."""
    api = next(iter(synth.of_type("AWS::ApiGateway::RestApi")))
    resources = synth.of_type("AWS::ApiGateway::Resource")

    def path(resource_id: str) -> str:
        props = resources[resource_id]["Properties"]
        parent = props["ParentId"]
        prefix = "" if parent == {"Fn::GetAtt": [api, "RootResourceId"]} else path(ref_target(parent) or "")
        return f"{prefix}/{props['PathPart']}"

    return {k: path(k) for k in resources}


def _methods(synth: Synth) -> dict[tuple[str, str], dict[str, Any]]:
    paths = _api_paths(synth)
    return {
        (paths[ref_target(m["Properties"]["ResourceId"]) or ""], m["Properties"]["HttpMethod"]): m["Properties"]
        for m in synth.of_type("AWS::ApiGateway::Method").values()
    }


def test_api_resources_methods_and_stage(synth: Synth) -> None:
    apis = synth.of_type("AWS::ApiGateway::RestApi")
    assert len(apis) == 1
    api = next(iter(apis))
    assert synth.props(api)["ApiKeySourceType"] == "AUTHORIZER", "the authorizer names the channel's key"
    assert set(_api_paths(synth).values()) == {
        "/oauth2",
        "/oauth2/token",
        "/openapi.json",
        "/orders",
        "/orders/{order_id}",
        "/orders/{order_id}/cancel",
        "/orders/{order_id}/returns",
        "/invoices",
        "/invoices/{invoice_id}",
        "/credit-memos",
        "/credit-memos/{credit_memo_id}",
        "/availability",
        "/availability/query",
        "/exceptions",
        "/exceptions/{exception_id}",
        "/exceptions/{exception_id}/resubmit",
        "/exceptions/{exception_id}/discard",
    }
    methods = _methods(synth)
    assert set(methods) == set(ROUTES), sorted(methods)
    (authorizer,) = synth.of_type("AWS::ApiGateway::Authorizer")
    (stage,) = synth.of_type("AWS::ApiGateway::Stage")
    for key, method in methods.items():
        handler, authorization, api_key = ROUTES[key]
        fn = synth.function_by_handler(handler)
        assert method["AuthorizationType"] == authorization, key
        assert method.get("ApiKeyRequired", False) is api_key, key
        assert ref_target(method.get("AuthorizerId")) == (authorizer if authorization == "CUSTOM" else None), key
        integration = method["Integration"]
        assert integration["Type"] == "AWS_PROXY", key
        assert integration["IntegrationHttpMethod"] == "POST", key
        assert {"Fn::GetAtt": [fn, "Arn"]} in integration["Uri"]["Fn::Join"][1], key
        assert render(integration["Uri"]).endswith(f"/functions/${{{fn}.Arn}}/invocations"), key
        # API Gateway may invoke the function for this method (on the stage; ANY is `*`)
        path, verb = key
        assert any(
            ref_target(p["Properties"]["FunctionName"]) == fn
            and p["Properties"]["Principal"] == "apigateway.amazonaws.com"
            and render(p["Properties"]["SourceArn"]).endswith(
                f"/${{{stage}}}/{'*' if verb == 'ANY' else verb}{re.sub(r'{[a-z_]+}', '*', path)}"
            )
            for p in synth.of_type("AWS::Lambda::Permission").values()
        ), key

    synth.template.has_resource_properties(
        "AWS::ApiGateway::Stage", {"StageName": "v1", "TracingEnabled": True, "RestApiId": {"Ref": api}}
    )


# the POSTs that change an order: API Gateway refuses them without an Idempotency-Key (the queries,
# GET and POST /availability/query, change nothing and need none)
IDEMPOTENT_POSTS = {
    ("/orders", "POST"),
    ("/orders/{order_id}/cancel", "POST"),
    ("/orders/{order_id}/returns", "POST"),
}


def test_post_orders_requires_idempotency_key_via_a_parameters_only_validator(synth: Synth) -> None:
    methods = _methods(synth)
    validators = set()
    for key in IDEMPOTENT_POSTS:
        post = methods[key]
        assert post["RequestParameters"] == {"method.request.header.Idempotency-Key": True}, key
        validators.add(ref_target(post["RequestValidatorId"]) or "")
    assert len(validators) == 1, "one parameters-only validator"
    validator = synth.props(validators.pop())
    assert validator["ValidateRequestParameters"] is True
    assert validator["ValidateRequestBody"] is False, "bodies are the function's (problem+json with pointers)"
    # BAD_REQUEST_PARAMETERS answers `idempotency-key-missing`: true only while nothing else is required
    required = {
        (key, name) for key, m in methods.items() for name, req in m.get("RequestParameters", {}).items() if req
    }
    assert required == {(key, "method.request.header.Idempotency-Key") for key in IDEMPOTENT_POSTS}
    assert all("RequestValidatorId" not in m for key, m in methods.items() if key not in IDEMPOTENT_POSTS)
    # ... and its detail names every route that requires the key
    (response,) = [
        v["Properties"]
        for v in synth.of_type("AWS::ApiGateway::GatewayResponse").values()
        if v["Properties"]["ResponseType"] == "BAD_REQUEST_PARAMETERS"
    ]
    detail = json.loads(response["ResponseTemplates"]["application/json"].replace("$context.requestId", "r"))["detail"]
    for path, verb in IDEMPOTENT_POSTS:
        assert f"{verb} {path}" in detail, (path, detail)


def test_token_authorizer(synth: Synth) -> None:
    (authorizer,) = synth.of_type("AWS::ApiGateway::Authorizer").values()
    props = authorizer["Properties"]
    fn = synth.function_by_handler("channels.handler.authorizer_handler")
    assert props["Type"] == "TOKEN"
    assert props["IdentitySource"] == "method.request.header.Authorization"
    assert props["AuthorizerResultTtlInSeconds"] == 0, "default: no cache, a revocation takes effect at once"
    uri = props["AuthorizerUri"]["Fn::Join"][1]
    assert uri[-3:] == [":lambda:path/2015-03-31/functions/", {"Fn::GetAtt": [fn, "Arn"]}, "/invocations"], uri
    expression = re.compile(props["IdentityValidationExpression"])
    assert expression.match("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ3ZWJzaG9wLW5sIn0.c2lnbmF0dXJl_-")
    for bad in ("eyJ.eyJ.sig", "Basic d2Vic2hvcDpzZWNyZXQ=", "Bearer abc", "Bearer a.b.c.d", "bearer a.b.c"):
        assert not expression.match(bad), bad
    assert any(
        ref_target(p["Properties"]["FunctionName"]) == fn
        and p["Properties"]["Principal"] == "apigateway.amazonaws.com"
        and "/authorizers/" in render(p["Properties"]["SourceArn"])
        for p in synth.of_type("AWS::Lambda::Permission").values()
    )


def test_token_endpoint_and_authorizer_functions(synth: Synth) -> None:
    secret_id = ref_target(
        synth.env(synth.function_by_handler("channels.handler.token_handler"))["TOKEN_SIGNING_SECRET_ARN"]
    )
    assert secret_id is not None and synth.resources[secret_id]["Type"] == "AWS::SecretsManager::Secret"
    assert synth.props(secret_id)["GenerateSecretString"] == {"ExcludePunctuation": True, "PasswordLength": 64}
    for handler in ("channels.handler.token_handler", "channels.handler.authorizer_handler"):
        env = synth.env(synth.function_by_handler(handler))
        assert env["CHANNELS_TABLE"] == {"Ref": synth.table_by_env("CHANNELS_TABLE")}, handler
        assert env["TOKEN_SIGNING_SECRET_ARN"] == {"Ref": secret_id}, handler  # a secret's Ref is its ARN
        assert env["TOKEN_TTL_SECONDS"] == "3600", handler
        assert env["POWERTOOLS_SERVICE_NAME"] == "channels", handler
    for function_id in synth.of_type("AWS::Lambda::Function"):
        if synth.props(function_id)["Handler"].startswith("channels."):
            continue
        assert "TOKEN_SIGNING_SECRET_ARN" not in synth.env(function_id), "only the channels functions see the key"


def test_outputs_the_cli_reads(synth: Synth) -> None:
    outputs = synth.json["Outputs"]
    api = next(iter(synth.of_type("AWS::ApiGateway::RestApi")))
    (stage,) = synth.of_type("AWS::ApiGateway::Stage")
    expected = {
        "ApiUrl",
        "ApiId",
        "ApiStage",
        "TokenUrl",
        "ChannelsTableName",
        "EventBusName",
        "InventoryQueueUrl",
        "ReplayRoleArn",
        *(f"ProducerRoleArn{site.capitalize()}" for site in WAREHOUSES),
        *(f"OutboundQueueUrl{site.capitalize()}" for site in WAREHOUSES),
        "ExchangeBucketName",
        "FinanceBaseUrlParameter",
        "FinanceCredentialsSecretArn",
        "FinanceQueueUrl",
        "ErpQueueUrl",
        "ConnectorsTableName",
        "MasterDataTableName",
    }
    assert expected <= set(outputs), sorted(expected - set(outputs))
    assert outputs["ApiId"]["Value"] == {"Ref": api}
    assert outputs["ApiStage"]["Value"] == "v1"
    assert render(outputs["ApiUrl"]["Value"]).endswith(f"/${{{stage}}}/")
    assert render(outputs["TokenUrl"]["Value"]).endswith(f"/${{{stage}}}/oauth2/token")
    bus = next(iter(synth.of_type("AWS::Events::EventBus")))
    assert outputs["EventBusName"]["Value"] == {"Ref": bus}
    inventory_fn = synth.function_by_handler("inventory.handler.lambda_handler")
    (queue,) = [
        ref_target(m["Properties"]["EventSourceArn"])
        for m in _sqs_mappings(synth).values()
        if ref_target(m["Properties"]["FunctionName"]) == inventory_fn
    ]
    assert outputs["InventoryQueueUrl"]["Value"] == {"Ref": queue}
    for name in ["ReplayRoleArn", *(f"ProducerRoleArn{site.capitalize()}" for site in WAREHOUSES)]:
        role = ref_target(outputs[name]["Value"])
        assert role is not None and synth.resources[role]["Type"] == "AWS::IAM::Role", name
    assert set(_outbound_queues(synth)) == {site.capitalize() for site in WAREHOUSES}


def test_stage_access_logs_are_json_without_personal_data(synth: Synth) -> None:
    (stage,) = synth.of_type("AWS::ApiGateway::Stage").values()
    setting = stage["Properties"]["AccessLogSetting"]
    log_group = ref_target(setting["DestinationArn"])
    assert synth.resources[log_group]["Type"] == "AWS::Logs::LogGroup"
    assert synth.props(log_group).get("RetentionInDays", 0) > 0
    fields = json.loads(setting["Format"])  # JSON, one object per request
    assert {"requestId", "status", "httpMethod", "resourcePath", "channel", "errorType"} <= set(fields)
    variables = " ".join(fields.values())
    for personal in ("sourceIp", "userAgent", "caller", "identity.user", "cognito", "accountId", "clientCert"):
        assert personal not in variables, f"access log carries {personal}"
    # execution logs: errors only, never bodies; their group is the stack's, with a retention
    (settings,) = stage["Properties"]["MethodSettings"]
    assert settings["LoggingLevel"] == "ERROR" and settings["DataTraceEnabled"] is False
    assert (settings["HttpMethod"], settings["ResourcePath"]) == ("*", "/*")
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0
    api = next(iter(synth.of_type("AWS::ApiGateway::RestApi")))
    execution = [
        k
        for k, v in synth.of_type("AWS::Logs::LogGroup").items()
        if render(v["Properties"].get("LogGroupName", "")) == f"API-Gateway-Execution-Logs_${{{api}}}/v1"
    ]
    assert len(execution) == 1 and synth.props(execution[0]).get("RetentionInDays", 0) > 0
    stage_id = next(iter(synth.of_type("AWS::ApiGateway::Stage")))
    assert execution[0] in synth.resources[stage_id]["DependsOn"], "created before API Gateway would create it"
    # both need the region's API Gateway CloudWatch role, which the stack sets by default
    (account,) = synth.of_type("AWS::ApiGateway::Account").values()
    assert ref_target(account["Properties"]["CloudWatchRoleArn"]) in synth.of_type("AWS::IAM::Role")


def test_waf_web_acl_guards_the_stage(synth: Synth) -> None:
    ((acl_id, acl),) = synth.of_type("AWS::WAFv2::WebACL").items()
    props = acl["Properties"]
    assert props["Scope"] == "REGIONAL" and props["DefaultAction"] == {"Allow": {}}
    managed = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]: r
        for r in props["Rules"]
        if "ManagedRuleGroupStatement" in r["Statement"]
    }
    assert set(managed) == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    }
    for rule in managed.values():
        assert rule["Statement"]["ManagedRuleGroupStatement"]["VendorName"] == "AWS"
        assert rule["OverrideAction"] == {"None": {}}, "the groups block; they are not merely counted"
    (rate,) = [r for r in props["Rules"] if "RateBasedStatement" in r["Statement"]]
    assert rate["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    assert rate["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
    priorities = [r["Priority"] for r in props["Rules"]]
    assert len(set(priorities)) == len(priorities)
    (association,) = synth.of_type("AWS::WAFv2::WebACLAssociation").values()
    (stage,) = synth.of_type("AWS::ApiGateway::Stage")
    api = next(iter(synth.of_type("AWS::ApiGateway::RestApi")))
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    assert render(association["Properties"]["ResourceArn"]).endswith(f"::/restapis/${{{api}}}/stages/${{{stage}}}")
    assert stage in association["DependsOn"]


def test_context_switches(synth_alt: Synth) -> None:
    """synchub:waf=false drops the web ACL, synchub:authorizerCacheSeconds sets the authorizer's TTL,
    synchub:apiGatewayCloudWatchRole=false leaves the account's role alone."""
    assert not synth_alt.of_type("AWS::WAFv2::WebACL") and not synth_alt.of_type("AWS::WAFv2::WebACLAssociation")
    (authorizer,) = synth_alt.of_type("AWS::ApiGateway::Authorizer").values()
    assert authorizer["Properties"]["AuthorizerResultTtlInSeconds"] == 120
    assert not synth_alt.of_type("AWS::ApiGateway::Account")
    (stage,) = synth_alt.of_type("AWS::ApiGateway::Stage").values()
    assert "AccessLogSetting" in stage["Properties"], "access logs stay on"


def test_context_is_validated() -> None:
    from infra.app import build

    for bad in (
        {"synchub:waf": "maybe"},
        {"synchub:authorizerCacheSeconds": "7200"},
        {"synchub:warehouses": "{}"},
        {"synchub:warehouses": json.dumps({"Utrecht": {"warehouse_id": "UTR", "location_prefix": "UTR-"}})},
        {
            "synchub:warehouses": json.dumps(
                {
                    "a": {"warehouse_id": "X", "location_prefix": "X-"},
                    "b": {"warehouse_id": "X", "location_prefix": "Y-"},
                }
            )
        },
        {
            "synchub:warehouses": json.dumps(
                {
                    "a": {"warehouse_id": "A", "location_prefix": "A"},
                    "b": {"warehouse_id": "B", "location_prefix": "A-1"},
                }
            )
        },
        {"synchub:warehouses": json.dumps({"a": {"warehouse_id": "A"}})},
        {"synchub:financeBaseUrl": "finance.example.com"},
        {"synchub:financeBaseUrl": "https://finance.example.com/api?tenant=1"},
        {"synchub:breakerFailureThreshold": "0"},
        {"synchub:breakerOpenSeconds": "ten"},
        {"synchub:breakerOpenSeconds": "60", "synchub:breakerMaxOpenSeconds": "30"},
        {"synchub:financeRatePerSecond": "0"},
        {"synchub:erpFilesPerMinute": "-1"},
        {"synchub:erpAckTimeoutSeconds": "5"},
        {"synchub:reconcileWindowHours": "0"},
        {"synchub:legalEntity": "sh01"},
        {"synchub:legalEntity": "S"},
        {"synchub:legalEntity": "SH-01"},
        {"synchub:legalEntity": "TOOLONG123"},
        {"synchub:availabilityStaleAfterMinutes": "0"},
        {"synchub:availabilityStaleAfterMinutes": "an hour"},
        {"synchub:shipmentHoldMaxHours": "0"},
        {"synchub:shipmentHoldMaxHours": str(31 * 24)},
        {
            "synchub:warehouses": json.dumps(
                {"a": {"warehouse_id": "A", "location_prefix": "A-", "legal_entity": "nl02"}}
            )
        },
        {"synchub:warehouses": json.dumps({"a": {"warehouse_id": "A", "location_prefix": "A-", "legal_entity": 7}})},
        {"synchub:warehouses": json.dumps({"a": {"warehouse_id": "A", "location_prefix": "A-", "entity": "NL02"}})},
    ):
        with pytest.raises(ValueError, match="context synchub:"):
            build(context={**bad, "synchub:nag": False})


def test_api_gateways_own_errors_are_problem_json(synth: Synth) -> None:
    """Gateway responses: what API Gateway answers without a Lambda (unknown route, too large, throttled,
    5xx ...) is RFC 9457 problem+json like the function's problems; the local runtime renders the same."""
    from synchub.local.apigw import render_template
    from synchub_core.problem import PROBLEM_BASE, PROBLEM_CONTENT_TYPE

    api = next(iter(synth.of_type("AWS::ApiGateway::RestApi")))
    responses = {
        v["Properties"]["ResponseType"]: (k, v["Properties"])
        for k, v in synth.of_type("AWS::ApiGateway::GatewayResponse").items()
    }
    # status, extra headers (static values, single-quoted) and slug of each fixed-status response
    fixed: dict[str, tuple[int, dict[str, str], str]] = {
        "MISSING_AUTHENTICATION_TOKEN": (404, {}, "not-found"),  # an unknown route: not API Gateway's 403
        "REQUEST_TOO_LARGE": (413, {}, "payload-too-large"),
        "UNAUTHORIZED": (401, {"WWW-Authenticate": "'Bearer realm=\"synchub\"'"}, "unauthorized"),
        "ACCESS_DENIED": (403, {}, "access-denied"),
        "THROTTLED": (429, {"Retry-After": "'1'"}, "too-many-requests"),
        "QUOTA_EXCEEDED": (429, {"Retry-After": "'3600'"}, "quota-exceeded"),
        # the function answers a missing key with the same problem
        "BAD_REQUEST_PARAMETERS": (400, {}, "idempotency-key-missing"),
        "INVALID_API_KEY": (403, {}, "api-key-invalid"),
    }
    assert set(responses) == {*fixed, "DEFAULT_4XX", "DEFAULT_5XX"}
    statuses = {k: v[0] for k, v in fixed.items()}
    deployment = next(iter(synth.of_type("AWS::ApiGateway::Deployment").values()))
    message = 'Invalid "request" body'  # $context.error.messageString is the message as a JSON string
    context = {"error.message": message, "error.messageString": json.dumps(message), "requestId": "req-1"}
    for response_type, (logical_id, props) in responses.items():
        assert props["RestApiId"] == {"Ref": api}
        assert props.get("StatusCode") in (None, str(statuses.get(response_type)))
        if response_type in fixed and response_type != "REQUEST_TOO_LARGE":  # 413 is API Gateway's own status
            assert props["StatusCode"] == str(fixed[response_type][0]), response_type
        # header values are mapping expressions: a static value is single-quoted
        headers = {"Content-Type": f"'{PROBLEM_CONTENT_TYPE}'", **fixed.get(response_type, (0, {}, ""))[1]}
        assert props["ResponseParameters"] == {f"gatewayresponse.header.{k}": v for k, v in headers.items()}
        assert set(props["ResponseTemplates"]) == {PROBLEM_CONTENT_TYPE, "application/json"}
        for template in props["ResponseTemplates"].values():
            body = json.loads(render_template(template, {**context, "error.responseType": response_type}))
            assert body["type"].startswith(PROBLEM_BASE) and body["title"] and body["detail"], body
            assert body.get("status") == statuses.get(response_type), body  # only where the status is fixed
            assert body["requestId"] == "req-1"
            if response_type in fixed:
                assert body["type"] == PROBLEM_BASE + fixed[response_type][2], body
            if response_type.startswith("DEFAULT_"):
                assert body["detail"] == message and body["errorType"] == response_type
        # a change to a gateway response takes effect only with a new deployment of the stage
        assert logical_id in deployment["DependsOn"]


# --------------------------------------------------------------------------------------------------
# assets / Docker-free synth
# --------------------------------------------------------------------------------------------------


def _asset_dir(outdir: Path, template: dict[str, Any]) -> Path:
    functions = [v for v in template["Resources"].values() if v["Type"] == "AWS::Lambda::Function"]
    key = functions[0]["Properties"]["Code"]["S3Key"]
    assert key.endswith(".zip"), key
    manifest = json.loads((outdir / f"{STACK}.assets.json").read_text())
    source = manifest["files"][key.removesuffix(".zip")]["source"]
    assert source["packaging"] == "zip"
    return outdir / source["path"]


def _assert_asset_is_functions_dir(asset: Path) -> None:
    assert asset.is_dir(), asset
    assert {p.name for p in asset.iterdir() if p.is_dir()} == FUNCTION_PACKAGES
    for package in FUNCTION_PACKAGES:
        assert (asset / package / "__init__.py").is_file(), package
    for package in FUNCTION_PACKAGES - {"synchub_core"}:
        assert (asset / package / "handler.py").is_file(), package
    expected = {p.relative_to(FUNCTIONS_DIR) for p in FUNCTIONS_DIR.rglob("*.py") if "__pycache__" not in p.parts}
    assert {p.relative_to(asset) for p in asset.rglob("*.py")} == expected
    # every module ships its bytecode for the runtime's Python, unchecked-hash (PEP 552: valid whatever
    # the zip's timestamps, the same bytes on every synth): no cold start compiles the hub's code
    tag = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
    shipped = {p.relative_to(asset) for p in asset.rglob("*.pyc")}
    assert shipped == {m.parent / "__pycache__" / f"{m.stem}.{tag}.pyc" for m in expected}
    for pyc in asset.rglob("*.pyc"):
        header = pyc.read_bytes()[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER, f"{pyc}: bytecode of another Python"
        assert int.from_bytes(header[4:8], "little") == 0b01, f"{pyc}: not unchecked-hash bytecode"


def test_code_asset_is_plain_functions_dir_without_docker_bundling(synth: Synth) -> None:
    assert "aws:asset:is-bundled" not in json.dumps(synth.json)
    manifest = json.loads((synth.outdir / f"{STACK}.assets.json").read_text())
    assert manifest.get("dockerImages", {}) == {}
    assert [f for f in manifest["files"].values() if f["source"]["packaging"] == "zip"], "no Lambda code asset"
    _assert_asset_is_functions_dir(_asset_dir(synth.outdir, synth.json))


def test_cdk_out_asset_matches_functions_dir(cdk_out: Path, template: dict[str, Any]) -> None:
    assert "aws:asset:is-bundled" not in json.dumps(template)
    _assert_asset_is_functions_dir(_asset_dir(cdk_out, template))


def test_synth_never_calls_docker(tmp_path: Path) -> None:
    """Synthesize in a fresh process where ``docker`` is a trap that records any call and fails."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    marker = tmp_path / "docker-was-called"
    docker = fake_bin / "docker"
    docker.write_text(f'#!/bin/sh\necho "$@" >> {marker}\nexit 1\n')
    docker.chmod(0o755)
    outdir = tmp_path / "cdk.out"
    env = {
        **os.environ,
        "PATH": f"{fake_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "CDK_DOCKER": str(docker),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    code = textwrap.dedent(f"""
        from infra.app import build
        build({str(outdir)!r}).synth()
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert not marker.exists(), f"synth invoked docker: {marker.read_text()}"
    template = json.loads((outdir / f"{STACK}.template.json").read_text())
    _assert_asset_is_functions_dir(_asset_dir(outdir, template))


# --------------------------------------------------------------------------------------------------
# IAM least privilege
# --------------------------------------------------------------------------------------------------


def test_orders_function_can_use_orders_table_but_not_publish_events(synth: Synth) -> None:
    orders_fn = synth.function_by_handler("orders.handler.lambda_handler")
    orders_table = synth.table_with_index("outbox-pending")
    inventory_table = synth.table_by_env("INVENTORY_TABLE")
    statements = synth.policy_statements(orders_fn)
    # create, cancel, return: GetItem + TransactWriteItems of Puts; read: Query, BatchGetItem
    # (test_least_privilege.py pins the exact set)
    for action in ("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"):
        granted = allows(statements, action)
        assert any(references(s["Resource"], orders_table) for s in granted), f"orders fn lacks {action}"
    for action in ("dynamodb:DeleteItem", "dynamodb:Scan"):
        assert not allows(statements, action), f"orders fn never calls {action}"
    # batches only of the backorder hints a cancelled backorder leaves
    (batch,) = allows(statements, "dynamodb:BatchWriteItem")
    assert batch["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["WAITING#*"]}}
    # availability reads the positions (Query), a cancel gives reservations back (UpdateItem): nothing else
    inventory = {a for st in statements if references(st["Resource"], inventory_table) for a in as_list(st["Action"])}
    assert inventory == {"dynamodb:Query", "dynamodb:UpdateItem"}, inventory
    assert not allows(statements, "events:PutEvents"), "orders fn must publish via the outbox, not EventBridge"
    assert not allows(statements, "sqs:SendMessage"), "orders fn has no business sending to queues"
    channels = synth.table_by_env("CHANNELS_TABLE")
    assert not any(references(s["Resource"], channels) for s in statements), "orders fn can reach the channels"
    for statement in statements:
        if statement["Effect"] == "Allow" and statement["Resource"] == "*":
            assert all(a.startswith("xray:") for a in as_list(statement["Action"])), statement


@pytest.mark.parametrize("handler", ["outbox.handler.stream_handler", "outbox.handler.sweep_handler"])
def test_outbox_functions_can_put_events_on_the_bus(synth: Synth, handler: str) -> None:
    function = synth.function_by_handler(handler)
    bus = next(iter(synth.of_type("AWS::Events::EventBus")))
    granted = allows(synth.policy_statements(function), "events:PutEvents")
    assert granted, f"{handler} cannot events:PutEvents"
    assert all(s["Resource"] == {"Fn::GetAtt": [bus, "Arn"]} for s in granted), (
        f"{handler} PutEvents should be scoped to the synchub bus: {granted}"
    )
    # ... and to the hub's own sources: a wms.* event (a warehouse's) is never the outbox's to publish
    assert all(s.get("Condition") == {"StringEquals": {"events:source": HUB_SOURCES}} for s in granted), granted


def test_only_outbox_functions_publish_events(synth: Synth) -> None:
    publishers = {
        synth.props(k)["Handler"]
        for k in synth.of_type("AWS::Lambda::Function")
        if allows(synth.policy_statements(k), "events:PutEvents")
    }
    assert publishers == {"outbox.handler.stream_handler", "outbox.handler.sweep_handler"}


# --------------------------------------------------------------------------------------------------
# cfn-lint
# --------------------------------------------------------------------------------------------------


def _cfn_lint() -> list[str]:
    script = Path(sys.executable).parent / "cfn-lint"
    if script.exists():
        return [str(script)]
    found = shutil.which("cfn-lint")
    if found:
        return [found]
    pytest.skip("cfn-lint is not installed")  # pragma: no cover


@pytest.fixture(scope="module")
def cfn_lint_report(cdk_out: Path) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    template = cdk_out / f"{STACK}.template.json"
    result = subprocess.run(
        [*_cfn_lint(), "--format", "json", str(template)], capture_output=True, text=True, timeout=300
    )
    assert result.stdout.strip(), f"cfn-lint produced no report (rc={result.returncode}): {result.stderr}"
    yield result.returncode, json.loads(result.stdout)


def test_cfn_lint_reports_no_errors(cfn_lint_report: tuple[int, list[dict[str, Any]]]) -> None:
    returncode, matches = cfn_lint_report
    errors = [
        f"{m['Rule']['Id']} {'/'.join(map(str, m['Location']['Path']))}: {m['Message']}"
        for m in matches
        if m["Level"] == "Error"
    ]
    assert not errors, "\n".join(errors)
    assert returncode & 2 == 0, f"cfn-lint exit code {returncode} has the error bit set"
    assert returncode & 1 == 0, f"cfn-lint exit code {returncode}: cfn-lint itself failed"


def test_cfn_lint_warnings_are_only_cdk_dependson_noise(cfn_lint_report: tuple[int, list[dict[str, Any]]]) -> None:
    _, matches = cfn_lint_report
    unexpected = [
        f"{m['Rule']['Id']} {'/'.join(map(str, m['Location']['Path']))}: {m['Message']}"
        for m in matches
        if m["Level"] == "Warning" and m["Rule"]["Id"] != "W3005"
    ]
    assert not unexpected, "\n".join(unexpected)


def test_cdk_json_context_drives_the_python_synth(template: dict[str, Any]) -> None:
    """`python -m infra.app` reads cdk.json's context like the CDK CLI does."""
    import json as _json

    from infra.app import ROOT

    version = _json.loads((ROOT / "cdk.json").read_text())["context"]["synchub:powertoolsLayerVersion"]
    layers = {
        render(layer)
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        for layer in r["Properties"].get("Layers", [])
    }
    assert layers and all(layer.endswith(f":{version}") for layer in layers)


def test_every_dead_letter_queue_alarms_on_its_first_message(synth: Synth) -> None:
    dlqs = _dead_letter_queue_ids(synth)
    # 7 + 4 work queues' DLQs, the stream's, 4 schedules', one per site's outbound queue
    assert len(dlqs) == 16 + len(WAREHOUSES)
    topics = synth.of_type("AWS::SNS::Topic")
    assert len(topics) == 1
    alarmed: set[str] = set()
    for alarm in synth.of_type("AWS::CloudWatch::Alarm").values():
        p = alarm["Properties"]
        assert (p["Namespace"], p["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
        assert p["Threshold"] == 1 and p["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert p["EvaluationPeriods"] == 1 and p["Period"] == 60
        assert [ref_target(a) for a in p["AlarmActions"]] == list(topics)
        (dimension,) = p["Dimensions"]
        assert dimension["Name"] == "QueueName"
        alarmed.add(ref_target(dimension["Value"]))
    assert alarmed == dlqs


def test_api_function_times_out_before_api_gateway_does(synth: Synth) -> None:
    fn = synth.function_by_handler("orders.handler.lambda_handler")
    assert synth.props(fn)["Timeout"] < 29


def test_workers_only_listen_to_the_system_that_owns_the_event(synth: Synth) -> None:
    sources: dict[str, list[Any]] = {}
    outbound = set(_outbound_queues(synth).values())
    for rule in synth.of_type("AWS::Events::Rule").values():
        pattern = rule["Properties"].get("EventPattern")
        to_a_warehouse = {ref_target(t["Arn"]) for t in rule["Properties"]["Targets"]} <= outbound
        for detail_type in (pattern or {}).get("detail-type", []):
            assert sources.setdefault(detail_type, pattern["source"]) == pattern["source"], detail_type
            # a worker takes every event of its types; a warehouse's queue only those naming it
            assert set(pattern) == (
                {"detail-type", "source", "detail"} if to_a_warehouse else {"detail-type", "source"}
            )
    assert sources == {
        "OrderAccepted": ["synchub.orders"],
        "ShipmentConfirmed": WMS,
        "InvoiceIssued": ["synchub.invoicing"],
        "CreditMemoIssued": ["synchub.invoicing"],
        # the hub's own StockAvailable: a report (inventory), a cancellation (orders), a return or a
        # short close (invoicing); never a warehouse's
        "StockAvailable": ["synchub.inventory", "synchub.invoicing", "synchub.orders"],
        "OrderReserved": ["synchub.reservation"],
        # the warehouses' own events: any wms.<site> (the worker refuses an unregistered site)
        "ReleaseAcknowledged": WMS,
        "OrderCancellationAnswered": WMS,
        "ReturnReceived": WMS,
        # what the hub sends the warehouses, each from its owner only
        "OrderReleased": ["synchub.fulfilment"],
        "OrderCancellationRequested": ["synchub.orders"],
        "ReturnAuthorized": ["synchub.orders"],
    }


# --------------------------------------------------------------------------------------------------
# failure paths of the functions themselves
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("handler", sorted(SCHEDULES))
def test_scheduled_functions_fail_into_their_schedules_dlq(synth: Synth, handler: str) -> None:
    """A failed run (after Lambda's async retries) lands in the same DLQ as a failed delivery, so
    `synchub replay` of that DLQ (re-running the sweep) covers both."""
    sweeper = synth.function_by_handler(handler)
    configs = [
        c["Properties"]
        for c in synth.of_type("AWS::Lambda::EventInvokeConfig").values()
        if ref_target(c["Properties"]["FunctionName"]) == sweeper
    ]
    assert len(configs) == 1, f"{handler} has no EventInvokeConfig"
    config = configs[0]
    assert config["Qualifier"] == "$LATEST"
    assert config["MaximumRetryAttempts"] == 2 and config["MaximumEventAgeInSeconds"] == 3600
    destination = ref_target(config["DestinationConfig"]["OnFailure"]["Destination"])
    (rule,) = [
        r
        for r in synth.of_type("AWS::Events::Rule").values()
        if [ref_target(t["Arn"]) for t in r["Properties"]["Targets"]] == [sweeper]
    ]
    assert destination == ref_target(rule["Properties"]["Targets"][0]["DeadLetterConfig"]["Arn"])
    granted = allows(synth.policy_statements(sweeper), "sqs:SendMessage")
    assert any(references(s["Resource"], destination) for s in granted), "the destination is sent with its role"
    # only the schedules invoke anything asynchronously
    assert len(synth.of_type("AWS::Lambda::EventInvokeConfig")) == len(SCHEDULES)


def test_every_queue_worker_can_dead_letter_what_it_refuses(synth: Synth) -> None:
    queues = synth.of_type("AWS::SQS::Queue")
    workers = 0
    for mapping in _sqs_mappings(synth).values():
        function = ref_target(mapping["Properties"]["FunctionName"])
        queue = ref_target(mapping["Properties"]["EventSourceArn"])
        dlq = ref_target(queues[queue]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        assert synth.env(function).get("DEAD_LETTER_QUEUE_URL") == {"Ref": dlq}, function  # a queue's Ref: its URL
        sends = allows(synth.policy_statements(function), "sqs:SendMessage")
        assert any(s["Resource"] == {"Fn::GetAtt": [dlq, "Arn"]} for s in sends), (function, sends)
        # a DLQ is sent to by its own worker only (the others' sends are pinned by test_least_privilege)
        for other in _sqs_mappings(synth).values():
            other_queue = ref_target(other["Properties"]["EventSourceArn"])
            other_dlq = ref_target(queues[other_queue]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
            if other_dlq != dlq:
                assert not any(references(s["Resource"], other_dlq) for s in sends), (function, other_dlq)
        workers += 1
    assert workers == 11
    for function_id in synth.of_type("AWS::Lambda::Function"):
        if function_id not in {ref_target(m["Properties"]["FunctionName"]) for m in _sqs_mappings(synth).values()}:
            assert "DEAD_LETTER_QUEUE_URL" not in synth.env(function_id), function_id


def _expected_warehouses(sites: dict[str, Any]) -> dict[str, Any]:
    """The registry the functions get: a site's own legal entity only where it has one."""
    return {
        f"wms.{site}": {
            "warehouse_id": v["warehouse_id"],
            "location_prefix": v["location_prefix"],
            **({"legal_entity": v["legal_entity"]} if "legal_entity" in v else {}),
        }
        for site, v in sites.items()
    }


# the functions that tell warehouse events' sites apart, or a location's site, and read WAREHOUSES
WAREHOUSE_READERS = {
    "invoicing.handler.lambda_handler",
    "invoicing.handler.returns_handler",
    "fulfilment.handler.release_handler",
    "fulfilment.handler.warehouse_handler",
    "orders.handler.lambda_handler",
}


@pytest.mark.parametrize("alt", [False, True], ids=["cdk.json", "context"])
def test_warehouses_env_on_the_workers_that_check_sites(synth: Synth, synth_alt: Synth, alt: bool) -> None:
    s = synth_alt if alt else synth
    sites = (
        ALT_WAREHOUSES if alt else {k: {"warehouse_id": w, "location_prefix": p} for k, (w, p) in WAREHOUSES.items()}
    )
    roles = _roles(s)
    for function_id in s.of_type("AWS::Lambda::Function"):
        handler = s.props(function_id)["Handler"]
        env = s.env(function_id)
        if handler == "inventory.handler.lambda_handler":
            # each site's producer_role_id is its producer role's RoleId (a GetAtt inside the JSON's
            # Fn::Join): the worker takes a site's reports only from that role's SenderId
            expected = _expected_warehouses(sites)
            for site in sites:
                pascal = "".join(p.capitalize() for p in site.split("-"))
                role_id = roles[f"ProducerRoleArn{pascal}"].replace(".Arn}", ".RoleId}")
                expected[f"wms.{site}"]["producer_role_id"] = role_id
            assert json.loads(render(env["WAREHOUSES"])) == expected, handler
            replay_role = roles["ReplayRoleArn"].removeprefix("${").removesuffix(".Arn}")
            assert env["REPLAY_ROLE_ID"] == {"Fn::GetAtt": [replay_role, "RoleId"]}
        elif handler in WAREHOUSE_READERS:
            assert json.loads(env["WAREHOUSES"]) == _expected_warehouses(sites), handler
            assert "REPLAY_ROLE_ID" not in env
        else:
            assert "WAREHOUSES" not in env and "REPLAY_ROLE_ID" not in env, handler


def test_cdk_json_warehouses_are_the_code_default() -> None:
    from infra.app import ROOT
    from infra.context import DEFAULT_WAREHOUSES

    assert json.loads((ROOT / "cdk.json").read_text())["context"]["synchub:warehouses"] == DEFAULT_WAREHOUSES
    assert {k: (v["warehouse_id"], v["location_prefix"]) for k, v in DEFAULT_WAREHOUSES.items()} == WAREHOUSES


# --------------------------------------------------------------------------------------------------
# partner producers, the bus policy and the queue policies (evaluated, not just matched)
# --------------------------------------------------------------------------------------------------


def _holds(condition: dict[str, Any] | None, request: dict[str, str]) -> bool:
    """IAM condition evaluation for the operators the stack uses. Keys AND, values of a key OR; a
    negated operator is true when the request lacks the key (that is what makes the Denies bite)."""
    for operator, keys in (condition or {}).items():
        for key, expected in keys.items():
            values = [render(v) for v in as_list(expected)]
            actual = request.get(key)
            if operator in ("StringEquals", "ArnEquals", "Bool"):
                ok = actual is not None and actual in values
            elif operator in ("StringNotEquals", "ArnNotEquals"):
                ok = actual is None or actual not in values
            elif operator in ("StringLike", "ArnLike"):
                ok = actual is not None and any(re.fullmatch(re.escape(v).replace(r"\*", ".*"), actual) for v in values)
            else:
                raise AssertionError(f"extend _holds for {operator}")
            if not ok:
                return False
    return True


def _denied(statements: list[dict[str, Any]], action: str, request: dict[str, str]) -> bool:
    return any(
        s["Effect"] == "Deny"
        and s.get("Principal") in ("*", {"AWS": "*"})
        and any(action_matches(a, action) for a in as_list(s["Action"]))
        and _holds(s.get("Condition"), request)
        for s in statements
    )


def _roles(s: Synth) -> dict[str, str]:
    """Output name -> "${RoleLogicalId.Arn}" for the ReplayRole and the producer roles."""
    return {
        k: "${" + ref_target(v["Value"]) + ".Arn}"  # type: ignore[operator]
        for k, v in s.json["Outputs"].items()
        if k == "ReplayRoleArn" or k.startswith("ProducerRoleArn")
    }


def _role_arn(s: Synth, handler: str) -> str:
    """ "${RoleLogicalId.Arn}" of the function's execution role."""
    return "${" + (ref_target(s.props(s.function_by_handler(handler))["Role"]) or "") + ".Arn}"


def _queue_statements(s: Synth, queue: str) -> list[dict[str, Any]]:
    return [
        st
        for p in s.of_type("AWS::SQS::QueuePolicy").values()
        if {"Ref": queue} in p["Properties"]["Queues"]
        for st in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _rule_queue(s: Synth, handler: str) -> tuple[str, str]:
    """The bus rule feeding the worker ``handler`` and its queue."""
    rule_id, rule = _rule_for(s, handler)
    return rule_id, ref_target(rule["Properties"]["Targets"][0]["Arn"]) or ""


@pytest.mark.parametrize("alt", [False, True], ids=["cdk.json", "context"])
def test_producer_roles(synth: Synth, synth_alt: Synth, alt: bool) -> None:
    s = synth_alt if alt else synth
    sites = list(ALT_WAREHOUSES) if alt else list(WAREHOUSES)
    bus = next(iter(s.of_type("AWS::Events::EventBus")))
    inventory_queue = ref_target(s.json["Outputs"]["InventoryQueueUrl"]["Value"])
    roles = _roles(s)
    assert set(roles) == {
        "ReplayRoleArn",
        *(f"ProducerRoleArn{''.join(p.capitalize() for p in site.split('-'))}" for site in sites),
    }
    outbound = _outbound_queues(s)
    assert set(outbound) == {_pascal(site) for site in sites}
    for site in sites:
        role = ref_target(
            s.json["Outputs"][f"ProducerRoleArn{''.join(p.capitalize() for p in site.split('-'))}"]["Value"]
        )
        props = s.props(role or "")
        assert props["RoleName"] == f"synchub-wms-{site}-producer"
        (trust,) = props["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Action"] == "sts:AssumeRole" and render(trust["Principal"]["AWS"]).endswith(":root")
        statements = [
            st
            for p in s.of_type("AWS::IAM::Policy").values()
            if {"Ref": role} in p["Properties"]["Roles"]
            for st in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        assert not props.get("ManagedPolicyArns") and not props.get("Policies")
        assert sorted(
            (json.dumps(st["Action"]), json.dumps(st["Resource"]), json.dumps(st.get("Condition"))) for st in statements
        ) == sorted(
            [
                (
                    json.dumps("events:PutEvents"),
                    json.dumps({"Fn::GetAtt": [bus, "Arn"]}),
                    json.dumps({"StringEquals": {"events:source": f"wms.{site}"}}),
                ),
                (json.dumps("sqs:SendMessage"), json.dumps({"Fn::GetAtt": [inventory_queue, "Arn"]}), "null"),
                # its own outbound queue: receive, delete, extend the visibility, see the depth
                (
                    json.dumps(
                        [
                            "sqs:ChangeMessageVisibility",
                            "sqs:DeleteMessage",
                            "sqs:GetQueueAttributes",
                            "sqs:ReceiveMessage",
                        ]
                    ),
                    json.dumps({"Fn::GetAtt": [outbound[_pascal(site)], "Arn"]}),
                    "null",
                ),
            ]
        )


@pytest.mark.parametrize("alt", [False, True], ids=["cdk.json", "context"])
def test_bus_policy_keeps_wms_sources_to_their_producers(synth: Synth, synth_alt: Synth, alt: bool) -> None:
    s = synth_alt if alt else synth
    sites = list(ALT_WAREHOUSES) if alt else list(WAREHOUSES)
    bus = next(iter(s.of_type("AWS::Events::EventBus")))
    policies = s.of_type("AWS::Events::EventBusPolicy")
    statements = []
    for policy in policies.values():
        assert policy["Properties"]["EventBusName"] == {"Ref": bus}
        statement = policy["Properties"]["Statement"]
        assert statement["Sid"] == policy["Properties"]["StatementId"]
        assert statement["Resource"] == {"Fn::GetAtt": [bus, "Arn"]}
        statements.append(statement)
    # the statements of one bus policy are applied one after the other, never concurrently
    chained = [k for k, v in policies.items() if set(v.get("DependsOn", [])) & set(policies)]
    assert len(chained) == len(policies) - 1
    account = [st for st in statements if st["Effect"] == "Allow"]
    assert len(account) == 1 and render(account[0]["Principal"]["AWS"]).endswith(":root")
    roles = _roles(s)
    producer = {site: roles[f"ProducerRoleArn{''.join(p.capitalize() for p in site.split('-'))}"] for site in sites}
    other = "arn:aws:iam::123456789012:role/Admin"
    outbox = _role_arn(s, "outbox.handler.stream_handler")

    def denied(principal: str, source: str) -> bool:
        return _denied(statements, "events:PutEvents", {"aws:PrincipalArn": principal, "events:source": source})

    for site in sites:
        assert not denied(producer[site], f"wms.{site}"), site
        assert denied(other, f"wms.{site}"), site
        assert denied(roles["ReplayRoleArn"], f"wms.{site}"), site
        for other_site in sites:
            if other_site != site:
                assert denied(producer[other_site], f"wms.{site}"), (other_site, site)
    assert denied(other, "wms.unregistered")
    for source in HUB_SOURCES:
        assert not denied(outbox, source) and not denied(other, source), source


# the bus-fed workers of infra/constructs/workers.py -> who besides their rules and the ReplayRole may
# send to their queue (the invoicing worker parks held shipments on its own queue)
WORKER_QUEUE_SENDERS: dict[str, set[str]] = {
    "reservation.handler.lambda_handler": set(),
    "reservation.handler.stock_available_handler": set(),
    "fulfilment.handler.release_handler": set(),
    "fulfilment.handler.warehouse_handler": set(),
    "invoicing.handler.lambda_handler": {"invoicing.handler.lambda_handler"},
    "invoicing.handler.returns_handler": set(),
}


def test_work_queue_policies_admit_only_their_feeders(synth: Synth) -> None:
    roles = _roles(synth)
    replay = roles["ReplayRoleArn"]
    producers = [v for k, v in roles.items() if k.startswith("ProducerRoleArn")]
    admin = "arn:aws:iam::123456789012:role/Admin"
    worker_role = _role_arn(synth, "reservation.handler.lambda_handler")
    tls = {"aws:SecureTransport": "true"}

    def denied(queue: str, request: dict[str, str]) -> bool:
        return _denied(_queue_statements(synth, queue), "sqs:SendMessage", {**tls, **request})

    feeds = {h: (_rules_for(synth, h), _queue_of(synth, h)) for h in WORKER_QUEUE_SENDERS}
    every_rule = [k for k, v in synth.of_type("AWS::Events::Rule").items() if "EventPattern" in v["Properties"]]
    for handler, (own_rules, queue) in feeds.items():
        for rule in own_rules:
            assert not denied(queue, {"aws:SourceArn": f"${{{rule}.Arn}}"}), f"{rule} cannot deliver to {handler}"
            # ... and EventBridge still needs its Allow (the Deny only takes away)
            assert any(
                st["Effect"] == "Allow"
                and st.get("Principal") == {"Service": "events.amazonaws.com"}
                and _holds(st.get("Condition"), {"aws:SourceArn": f"${{{rule}.Arn}}"})
                for st in _queue_statements(synth, queue)
            ), (handler, rule)
        assert not denied(queue, {"aws:PrincipalArn": replay}), f"replay cannot send to {handler}'s queue"
        for other_rule in every_rule:
            if other_rule not in own_rules:
                assert denied(queue, {"aws:SourceArn": f"${{{other_rule}.Arn}}"}), (handler, other_rule)
        for principal in (admin, *producers):
            assert denied(queue, {"aws:PrincipalArn": principal}), (handler, principal)
        for sender in sorted(EXPECTED_HANDLERS):
            allowed = sender in WORKER_QUEUE_SENDERS[handler]
            assert denied(queue, {"aws:PrincipalArn": _role_arn(synth, sender)}) is not allowed, (handler, sender)
    inventory = ref_target(synth.json["Outputs"]["InventoryQueueUrl"]["Value"]) or ""
    for principal in (*producers, replay):
        assert not denied(inventory, {"aws:PrincipalArn": principal}), principal
    for principal in (admin, worker_role):
        assert denied(inventory, {"aws:PrincipalArn": principal}), principal
    for rule in every_rule:
        assert denied(inventory, {"aws:SourceArn": f"${{{rule}.Arn}}"}), "no rule feeds the inventory queue"
    # plain HTTP stays refused for everyone
    assert _denied(
        _queue_statements(synth, inventory),
        "sqs:SendMessage",
        {"aws:SecureTransport": "false", "aws:PrincipalArn": producers[0]},
    )
    # the DLQs keep only the TLS deny: the workers send their refusals there
    for mapping in _sqs_mappings(synth).values():
        queue = ref_target(mapping["Properties"]["EventSourceArn"]) or ""
        dlq = ref_target(synth.props(queue)["RedrivePolicy"]["deadLetterTargetArn"]) or ""
        worker = _role_arn(synth, synth.props(ref_target(mapping["Properties"]["FunctionName"]) or "")["Handler"])
        assert not denied(dlq, {"aws:PrincipalArn": worker}), dlq


# --------------------------------------------------------------------------------------------------
# what the hub sends the warehouses: an outbound queue per site (infra/constructs/warehouses.py)
# --------------------------------------------------------------------------------------------------

OUTBOUND_READ = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
# what only the site's producer role may do on its outbound queue (GetQueueAttributes stays open to
# whoever IAM allows: CloudFormation and the console read queue attributes)
OUTBOUND_CONSUME = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"]


@pytest.mark.parametrize("alt", [False, True], ids=["cdk.json", "context"])
def test_outbound_queue_per_site_fed_by_its_rules(synth: Synth, synth_alt: Synth, alt: bool) -> None:
    s = synth_alt if alt else synth
    sites = (
        {site: v["warehouse_id"] for site, v in ALT_WAREHOUSES.items()}
        if alt
        else {site: wid for site, (wid, _) in WAREHOUSES.items()}
    )
    bus = next(iter(s.of_type("AWS::Events::EventBus")))
    outbound = _outbound_queues(s)
    assert set(outbound) == {_pascal(site) for site in sites}
    for site, warehouse_id in sites.items():
        queue = outbound[_pascal(site)]
        props = s.props(queue)
        assert props["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert props["SqsManagedSseEnabled"] is True and "KmsMasterKeyId" not in props
        assert props["RedrivePolicy"]["maxReceiveCount"] == MAX_RECEIVE_COUNT
        assert props["ReceiveMessageWaitTimeSeconds"] == 20  # the WMS long-polls
        dlq = ref_target(props["RedrivePolicy"]["deadLetterTargetArn"]) or ""
        assert s.props(dlq)["MessageRetentionPeriod"] == 14 * 24 * 3600 and "RedrivePolicy" not in s.props(dlq)
        # the DLQ alarms on its first message
        assert any(
            ref_target(a["Properties"]["Dimensions"][0]["Value"]) == dlq
            for a in s.of_type("AWS::CloudWatch::Alarm").values()
        )
        rules = _outbound_rules(s, queue)
        assert sorted(json.dumps(r["Properties"]["EventPattern"], sort_keys=True) for r in rules.values()) == sorted(
            json.dumps(_outbound_pattern(source, warehouse_id), sort_keys=True) for source in OUTBOUND_EVENTS
        ), site
        for rule_id, rule in rules.items():
            rp = rule["Properties"]
            assert rp["EventBusName"] == {"Ref": bus} and rp.get("State", "ENABLED") == "ENABLED"
            (target,) = rp["Targets"]
            # the bus workers' delivery policy: 24 h of retries, then the queue's own DLQ
            assert ref_target(target["DeadLetterConfig"]["Arn"]) == dlq, rule_id
            assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
            assert "Input" not in target and "InputPath" not in target  # the whole event, as the bus has it
            # EventBridge may send to the queue and to its DLQ, for this rule
            for q in (queue, dlq):
                assert any(
                    st["Effect"] == "Allow"
                    and st.get("Principal") == {"Service": "events.amazonaws.com"}
                    and "sqs:SendMessage" in as_list(st["Action"])
                    and _holds(st.get("Condition"), {"aws:SourceArn": f"${{{rule_id}.Arn}}"})
                    for st in _queue_statements(s, q)
                ), (rule_id, q)
        # no other rule delivers to the site's queue, and its rules deliver nowhere else
        assert all(ref_target(t["Arn"]) == queue for r in rules.values() for t in r["Properties"]["Targets"])


def test_outbound_rules_route_by_warehouse_ids(synth: Synth) -> None:
    """The patterns as EventBridge reads them: an array field matches when any element is listed, so an
    event for several warehouses reaches each of their queues, and a site never sees another's."""
    from synchub.local.patterns import matches

    patterns = {
        site: [r["Properties"]["EventPattern"] for r in _outbound_rules(synth, queue).values()]
        for site, queue in _outbound_queues(synth).items()
    }

    def routed(event: dict[str, Any]) -> set[str]:
        return {site for site, ps in patterns.items() if any(matches(p, event) for p in ps)}

    for name in (
        "eventbridge-order-released.json",
        "eventbridge-order-cancellation-requested.json",
        "eventbridge-return-authorized.json",
    ):
        event = sample(name)
        for ids, expected in (
            (["UTR"], {"Utrecht"}),
            (["TLB"], {"Tilburg"}),
            (["TLB", "UTR"], {"Utrecht", "Tilburg"}),
            (["DBS"], set()),
            ([], set()),
        ):
            event["detail"]["data"]["warehouse_ids"] = ids
            assert routed(event) == expected, (name, ids)
        # only from the owner of the event
        event["detail"]["data"]["warehouse_ids"] = ["UTR"]
        assert routed({**event, "source": "synchub.inventory"}) == set(), name
        del event["detail"]["data"]["warehouse_ids"]
        assert routed(event) == set(), name
    # an event type the warehouses do not take, even naming one
    other = sample("eventbridge-order-released.json")
    other["detail-type"] = "OrderCancelled"
    assert routed(other) == set()


@pytest.mark.parametrize("alt", [False, True], ids=["cdk.json", "context"])
def test_outbound_queue_policies_admit_the_rules_and_replay_and_only_the_site_reads(
    synth: Synth, synth_alt: Synth, alt: bool
) -> None:
    s = synth_alt if alt else synth
    roles = _roles(s)
    replay = roles["ReplayRoleArn"]
    producers = {k.removeprefix("ProducerRoleArn"): v for k, v in roles.items() if k.startswith("ProducerRoleArn")}
    outbound = _outbound_queues(s)
    assert set(producers) == set(outbound)
    admin = "arn:aws:iam::123456789012:role/Admin"
    tls = {"aws:SecureTransport": "true"}
    functions = [_role_arn(s, h) for h in sorted(EXPECTED_HANDLERS)]
    every_rule = [k for k, v in s.of_type("AWS::Events::Rule").items() if "EventPattern" in v["Properties"]]

    for site, queue in outbound.items():
        statements = _queue_statements(s, queue)

        def denied(action: str, request: dict[str, str]) -> bool:
            return _denied(statements, action, {**tls, **request})  # noqa: B023

        own_rules = set(_outbound_rules(s, queue))
        assert len(own_rules) == len(OUTBOUND_EVENTS)
        for rule in every_rule:
            assert denied("sqs:SendMessage", {"aws:SourceArn": f"${{{rule}.Arn}}"}) is (rule not in own_rules), rule
        assert not denied("sqs:SendMessage", {"aws:PrincipalArn": replay}), "replay redrives the DLQ here"
        for principal in (admin, *producers.values(), *functions):
            assert denied("sqs:SendMessage", {"aws:PrincipalArn": principal}), (site, principal)
        # only the site's own producer role receives, deletes, changes visibility
        for action in OUTBOUND_CONSUME:
            assert not denied(action, {"aws:PrincipalArn": producers[site]}), (site, action)
            for principal in (admin, replay, *functions, *(v for k, v in producers.items() if k != site)):
                assert denied(action, {"aws:PrincipalArn": principal}), (site, action, principal)
        # plain HTTP stays refused, for the site too
        assert _denied(
            statements, "sqs:ReceiveMessage", {"aws:SecureTransport": "false", "aws:PrincipalArn": producers[site]}
        )
        # ... and IAM: no role of the stack but the site's may receive from it (the others' Allows)
        for role_id in s.of_type("AWS::IAM::Role"):
            receives = [
                st
                for p in s.of_type("AWS::IAM::Policy").values()
                if {"Ref": role_id} in p["Properties"]["Roles"]
                for st in allows(p["Properties"]["PolicyDocument"]["Statement"], "sqs:ReceiveMessage")
                if references(st["Resource"], queue)
            ]
            is_site = "${" + role_id + ".Arn}" == producers[site]
            assert bool(receives) is is_site, (site, role_id)
            if is_site:
                (statement,) = receives
                assert sorted(as_list(statement["Action"])) == OUTBOUND_READ
                assert statement["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}


# --------------------------------------------------------------------------------------------------
# the connectors: tables, the exchange bucket, finance settings, functions and their queues
# --------------------------------------------------------------------------------------------------

# the spec's connector settings (infra/context.py defaults) and what ALT_CONTEXT turns them into
CONNECTOR_DEFAULTS = {
    "BREAKER_FAILURE_THRESHOLD": "5",
    "BREAKER_OPEN_SECONDS": "15",
    "BREAKER_MAX_OPEN_SECONDS": "300",
    "BREAKER_PROBE_SECONDS": "30",
    "TARGET_RATE_PER_SECOND": "20",
    "ERP_FILES_PER_MINUTE": "30",
    "ERP_ACK_TIMEOUT_SECONDS": "120",
    "RECONCILE_WINDOW_HOURS": "24",
    "RECONCILE_GRACE_MINUTES": "5",
    "HTTP_CONNECT_TIMEOUT": "2",
    "HTTP_READ_TIMEOUT": "5",
}
CONNECTOR_ALT = {
    **CONNECTOR_DEFAULTS,
    "BREAKER_FAILURE_THRESHOLD": "3",
    "BREAKER_OPEN_SECONDS": "20",
    "BREAKER_MAX_OPEN_SECONDS": "600",
    "TARGET_RATE_PER_SECOND": "8",
    "ERP_FILES_PER_MINUTE": "12",
    "ERP_ACK_TIMEOUT_SECONDS": "300",
    "RECONCILE_WINDOW_HOURS": "48",
}
BREAKER_ENV = ("BREAKER_FAILURE_THRESHOLD", "BREAKER_OPEN_SECONDS", "BREAKER_MAX_OPEN_SECONDS", "BREAKER_PROBE_SECONDS")
FINANCE_BASE_URL_PARAMETER = "/synchub/finance/base-url"
# handler -> the connector variables it gets (besides the shared ones and DEAD_LETTER_QUEUE_URL),
# valued by the CONNECTOR_* tables or by reference: "own-queue", "erp-queue", "finance-queue",
# "bucket", "parameter", "secret"
CONNECTOR_ENV: dict[str, dict[str, str]] = {
    "finance.handler.lambda_handler": {
        "FINANCE_BASE_URL_PARAMETER": "parameter",
        "FINANCE_CREDENTIALS_SECRET_ARN": "secret",
        "BUFFER_QUEUE_URL": "own-queue",
        "TARGET_RATE_PER_SECOND": "setting",
        "HTTP_CONNECT_TIMEOUT": "setting",
        "HTTP_READ_TIMEOUT": "setting",
        **dict.fromkeys(BREAKER_ENV, "setting"),
    },
    "erp.handler.orders_handler": {
        "EXCHANGE_BUCKET": "bucket",
        "BUFFER_QUEUE_URL": "own-queue",
        "ERP_FILES_PER_MINUTE": "setting",
        "ERP_ACK_TIMEOUT_SECONDS": "setting",
        **dict.fromkeys(BREAKER_ENV, "setting"),
    },
    # the acks close the ERP's breaker (an answered file) or count a failure (a refused file)
    "erp.handler.acks_handler": {
        "EXCHANGE_BUCKET": "bucket",
        "ERP_QUEUE_URL": "erp-queue",
        **dict.fromkeys(BREAKER_ENV, "setting"),
    },
    "erp.handler.watchdog_handler": {
        "EXCHANGE_BUCKET": "bucket",
        "ERP_QUEUE_URL": "erp-queue",
        "ERP_ACK_TIMEOUT_SECONDS": "setting",
        **dict.fromkeys(BREAKER_ENV, "setting"),
    },
    "masterdata.handler.lambda_handler": {"EXCHANGE_BUCKET": "bucket"},
    "reconciliation.handler.lambda_handler": {
        "FINANCE_BASE_URL_PARAMETER": "parameter",
        "FINANCE_CREDENTIALS_SECRET_ARN": "secret",
        "FINANCE_QUEUE_URL": "finance-queue",
        "ERP_QUEUE_URL": "erp-queue",
        "RECONCILE_WINDOW_HOURS": "setting",
        "RECONCILE_GRACE_MINUTES": "setting",
        "HTTP_CONNECT_TIMEOUT": "setting",
        "HTTP_READ_TIMEOUT": "setting",
    },
    "operations.handler.lambda_handler": {},
}
SHARED_ENV = {
    "ORDERS_TABLE",
    "INVENTORY_TABLE",
    "EVENT_BUS_NAME",
    "CONNECTORS_TABLE",
    "MASTERDATA_TABLE",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "PYDANTIC_DISABLE_PLUGINS",  # no plugin installed: no entry-point scan on a cold start
}
# handler -> (timeout s, memory MB)
CONNECTOR_SIZES = {
    "finance.handler.lambda_handler": (60, 512),
    "erp.handler.orders_handler": (60, 512),
    "erp.handler.acks_handler": (60, 512),
    "erp.handler.watchdog_handler": (60, 512),
    "masterdata.handler.lambda_handler": (300, 1024),
    "reconciliation.handler.lambda_handler": (300, 1024),
    "operations.handler.lambda_handler": (10, 512),
}
# handler -> (BatchSize, MaximumBatchingWindowInSeconds or None, ScalingConfig.MaximumConcurrency or None)
CONNECTOR_MAPPINGS = {
    "finance.handler.lambda_handler": (10, 1, 5),
    "erp.handler.orders_handler": (100, 5, 2),
    "erp.handler.acks_handler": (10, 1, None),
    "masterdata.handler.lambda_handler": (1, None, None),
}
# exchange bucket prefix -> the worker its ObjectCreated notifications feed
NOTIFICATIONS = {"from-erp/acks/": "erp.handler.acks_handler", "from-erp/master/": "masterdata.handler.lambda_handler"}


def _queue_of(s: Synth, handler: str) -> str:
    function = s.function_by_handler(handler)
    (queue,) = [
        ref_target(m["Properties"]["EventSourceArn"]) or ""
        for m in _sqs_mappings(s).values()
        if ref_target(m["Properties"]["FunctionName"]) == function
    ]
    return queue


def _output_ref(s: Synth, name: str) -> str:
    target = ref_target(s.json["Outputs"][name]["Value"])
    assert target is not None, name
    return target


def _exchange_bucket(s: Synth) -> str:
    bucket = _output_ref(s, "ExchangeBucketName")
    assert s.resources[bucket]["Type"] == "AWS::S3::Bucket"
    return bucket


def test_connectors_table_shape(synth: Synth) -> None:
    table = synth.table_by_env("CONNECTORS_TABLE")
    assert table.startswith("DataConnectorsTable"), "synchub.environment finds it as DataConnectorsTable"
    assert synth.json["Outputs"]["ConnectorsTableName"]["Value"] == {"Ref": table}
    resource = synth.resources[table]
    props = resource["Properties"]
    assert resource["DeletionPolicy"] == "Retain" and resource["UpdateReplacePolicy"] == "Retain"
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    # rate windows and unknown acknowledgements expire
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert "StreamSpecification" not in props, "its events go through the orders table's outbox"
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types == {
        "pk": "S",
        "sk": "S",
        "exception_status": "S",
        "raised_at": "S",
        "file_status": "S",
        "sent_at": "S",
    }
    assert props["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "exceptions-by-status",
            "KeySchema": [
                {"AttributeName": "exception_status", "KeyType": "HASH"},
                {"AttributeName": "raised_at", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        },
        {
            "IndexName": "erp-files-open",
            "KeySchema": [
                {"AttributeName": "file_status", "KeyType": "HASH"},
                {"AttributeName": "sent_at", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        },
    ]


def test_masterdata_table_is_the_one_the_cli_reads(synth: Synth) -> None:
    table = synth.table_by_env("MASTERDATA_TABLE")
    assert table.startswith("DataMasterDataTable"), "synchub.environment finds it as DataMasterDataTable"
    assert synth.json["Outputs"]["MasterDataTableName"]["Value"] == {"Ref": table}


def test_every_function_knows_every_table(synth: Synth) -> None:
    connectors, masterdata = synth.table_by_env("CONNECTORS_TABLE"), synth.table_by_env("MASTERDATA_TABLE")
    for function_id in synth.of_type("AWS::Lambda::Function"):
        env = synth.env(function_id)
        assert env["CONNECTORS_TABLE"] == {"Ref": connectors}, function_id
        assert env["MASTERDATA_TABLE"] == {"Ref": masterdata}, function_id


def test_exchange_bucket(synth: Synth) -> None:
    bucket = _exchange_bucket(synth)
    resource = synth.resources[bucket]
    props = resource["Properties"]
    assert resource["DeletionPolicy"] == "Retain" and resource["UpdateReplacePolicy"] == "Retain"
    assert props["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "BucketName" not in props, "a generated name: two stacks in one account do not collide"
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert all(r["Status"] == "Enabled" for r in rules.values())
    assert rules["expire-old-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert rules["expire-old-versions"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert "Prefix" not in rules["expire-old-versions"]
    expiring = {r["Prefix"]: r["ExpirationInDays"] for r in rules.values() if "ExpirationInDays" in r}
    assert expiring == {"to-erp/": 90, "from-erp/": 90}
    # server access logs: who dropped or fetched which file, in a bucket of their own
    logs = ref_target(props["LoggingConfiguration"]["DestinationBucketName"])
    assert logs is not None and logs != bucket and synth.resources[logs]["Type"] == "AWS::S3::Bucket"
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "exchange/"
    log_props = synth.props(logs)
    assert synth.resources[logs]["DeletionPolicy"] == "Retain"
    assert log_props["BucketEncryption"] == props["BucketEncryption"]
    assert log_props["PublicAccessBlockConfiguration"] == props["PublicAccessBlockConfiguration"]
    assert [r["ExpirationInDays"] for r in log_props["LifecycleConfiguration"]["Rules"]] == [365]
    assert "LoggingConfiguration" not in log_props
    for b in (bucket, logs):
        statements = [
            st
            for p in synth.of_type("AWS::S3::BucketPolicy").values()
            if p["Properties"]["Bucket"] == {"Ref": b}
            for st in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        assert any(
            st["Effect"] == "Deny"
            and st["Action"] == "s3:*"
            and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for st in statements
        ), f"{b} does not enforce TLS"
        if b == logs:
            (delivery,) = [st for st in statements if st["Effect"] == "Allow"]
            assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
            assert delivery["Action"] == "s3:PutObject"
            assert delivery["Condition"]["ArnLike"] == {"aws:SourceArn": {"Fn::GetAtt": [bucket, "Arn"]}}
    # no other bucket in the stack
    assert set(synth.of_type("AWS::S3::Bucket")) == {bucket, logs}


def test_exchange_notifications_feed_the_ack_and_master_data_queues(synth: Synth) -> None:
    """S3 ObjectCreated of a prefix -> its queue, through CDK's Custom::S3BucketNotifications (a
    deploy-time handler writes the configuration; the local hub applies the same one itself)."""
    bucket = _exchange_bucket(synth)
    (notifications_id, notifications) = next(
        iter({k: v for k, v in synth.resources.items() if v["Type"] == "Custom::S3BucketNotifications"}.items())
    )
    assert len([v for v in synth.resources.values() if v["Type"] == "Custom::S3BucketNotifications"]) == 1
    props = notifications["Properties"]
    assert props["BucketName"] == {"Ref": bucket}
    assert ref_target(props["ServiceToken"]) == synth.notifications_handler()
    config = props["NotificationConfiguration"]
    assert set(config) == {"QueueConfigurations"}, "only the two queues: no Lambda or topic notifications"
    routed: dict[str, str] = {}
    for q in config["QueueConfigurations"]:
        assert q["Events"] == ["s3:ObjectCreated:*"]
        (rule,) = q["Filter"]["Key"]["FilterRules"]
        assert rule["Name"] == "prefix"
        routed[rule["Value"]] = ref_target(q["QueueArn"]) or ""
    assert routed == {prefix: _queue_of(synth, handler) for prefix, handler in NOTIFICATIONS.items()}
    for queue in routed.values():
        # S3 may send (from this bucket only), and the configuration is written after that Allow
        assert any(
            st["Effect"] == "Allow"
            and st.get("Principal") == {"Service": "s3.amazonaws.com"}
            and "sqs:SendMessage" in as_list(st["Action"])
            and _holds(st.get("Condition"), {"aws:SourceArn": f"${{{bucket}.Arn}}"})
            and not _holds(st.get("Condition"), {"aws:SourceArn": "arn:aws:s3:::someone-elses-bucket"})
            for st in _queue_statements(synth, queue)
        ), queue
        policy = next(
            k for k, p in synth.of_type("AWS::SQS::QueuePolicy").items() if {"Ref": queue} in p["Properties"]["Queues"]
        )
        assert policy in synth.resources[notifications_id]["DependsOn"]
    # the handler: CDK's inline code, the one function outside the hub's code asset
    handler = synth.resources[synth.notifications_handler()]["Properties"]
    assert "ZipFile" in handler["Code"] and handler["Handler"] == "index.handler"


def test_finance_settings_are_a_parameter_and_a_secret(synth: Synth) -> None:
    parameter = _output_ref(synth, "FinanceBaseUrlParameter")
    assert synth.props(parameter) == {
        "Description": synth.props(parameter)["Description"],
        "Name": FINANCE_BASE_URL_PARAMETER,
        "Tier": "Standard",
        "Type": "String",
        "Value": "https://finance.example.invalid",
    }
    secret = _output_ref(synth, "FinanceCredentialsSecretArn")
    assert synth.resources[secret]["Type"] == "AWS::SecretsManager::Secret"
    generated = synth.props(secret)["GenerateSecretString"]
    assert json.loads(generated["SecretStringTemplate"]) == {"client_id": "synchub"}
    assert generated["GenerateStringKey"] == "client_secret"
    assert generated["ExcludePunctuation"] is True and generated["PasswordLength"] >= 32
    assert len(synth.of_type("AWS::SecretsManager::Secret")) == 2  # the token signing key and this
    assert len(synth.of_type("AWS::SSM::Parameter")) == 1


def _expected_value(s: Synth, handler: str, name: str, kind: str, settings: dict[str, str]) -> Any:
    if kind == "setting":
        return settings[name]
    refs = {
        "own-queue": _queue_of(s, handler) if handler in CONNECTOR_MAPPINGS else None,
        "erp-queue": _output_ref(s, "ErpQueueUrl"),
        "finance-queue": _output_ref(s, "FinanceQueueUrl"),
        "bucket": _exchange_bucket(s),
        "parameter": _output_ref(s, "FinanceBaseUrlParameter"),
        "secret": _output_ref(s, "FinanceCredentialsSecretArn"),
    }
    # a queue's Ref is its URL, a bucket's its name, a parameter's its name, a secret's its ARN
    return {"Ref": refs[kind]}


@pytest.mark.parametrize("alt", [False, True], ids=["defaults", "context"])
@pytest.mark.parametrize("handler", sorted(CONNECTOR_ENV))
def test_connector_function_environment(synth: Synth, synth_alt: Synth, handler: str, alt: bool) -> None:
    s = synth_alt if alt else synth
    env = s.env(s.function_by_handler(handler))
    expected = CONNECTOR_ENV[handler]
    extra = {"DEAD_LETTER_QUEUE_URL"} if handler in CONNECTOR_MAPPINGS else set()
    assert set(env) == SHARED_ENV | set(expected) | extra, sorted(set(env) ^ (SHARED_ENV | set(expected) | extra))
    for name, kind in expected.items():
        assert env[name] == _expected_value(s, handler, name, kind, CONNECTOR_ALT if alt else CONNECTOR_DEFAULTS), (
            handler,
            name,
        )
    assert env["POWERTOOLS_SERVICE_NAME"] == handler.split(".")[0]


def test_connector_context_sets_the_finance_url(synth_alt: Synth) -> None:
    parameter = _output_ref(synth_alt, "FinanceBaseUrlParameter")
    # trailing slash dropped: the connectors join paths with a leading one
    assert synth_alt.props(parameter)["Value"] == "https://finance.example.test/tenant-7"


@pytest.mark.parametrize("handler", sorted(CONNECTOR_SIZES))
def test_connector_function_sizes(synth: Synth, handler: str) -> None:
    props = synth.props(synth.function_by_handler(handler))
    assert (props["Timeout"], props["MemorySize"]) == CONNECTOR_SIZES[handler]


@pytest.mark.parametrize("handler", sorted(CONNECTOR_MAPPINGS))
def test_connector_event_source_mappings(synth: Synth, handler: str) -> None:
    """Batch sizes, windows and MaximumConcurrency: finance takes at most 5 concurrent batches, the
    ERP 2 (the legacy ERP is protected by concurrency and by its file rate)."""
    function = synth.function_by_handler(handler)
    (mapping,) = [
        m["Properties"]
        for m in _sqs_mappings(synth).values()
        if ref_target(m["Properties"]["FunctionName"]) == function
    ]
    batch, window, concurrency = CONNECTOR_MAPPINGS[handler]
    assert mapping["BatchSize"] == batch
    assert mapping.get("MaximumBatchingWindowInSeconds") == window
    assert mapping.get("ScalingConfig", {}).get("MaximumConcurrency") == concurrency
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # the queue keeps a parked or in-flight message hidden long enough; its DLQ alarms
    queue = synth.props(ref_target(mapping["EventSourceArn"]) or "")
    assert queue["VisibilityTimeout"] >= 6 * synth.props(function)["Timeout"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == MAX_RECEIVE_COUNT
    # no other mapping of the stack limits concurrency
    for other in _sqs_mappings(synth).values():
        limited = other["Properties"].get("ScalingConfig")
        target = synth.props(ref_target(other["Properties"]["FunctionName"]) or "")["Handler"]
        if target not in ("finance.handler.lambda_handler", "erp.handler.orders_handler"):
            assert limited is None, target


def test_connector_outputs(synth: Synth) -> None:
    outputs = synth.json["Outputs"]
    assert _output_ref(synth, "FinanceQueueUrl") == _queue_of(synth, "finance.handler.lambda_handler")
    assert _output_ref(synth, "ErpQueueUrl") == _queue_of(synth, "erp.handler.orders_handler")
    assert outputs["FinanceBaseUrlParameter"]["Value"] == {"Ref": _output_ref(synth, "FinanceBaseUrlParameter")}
    assert synth.resources[_output_ref(synth, "FinanceCredentialsSecretArn")]["Type"] == "AWS::SecretsManager::Secret"


def test_connector_queue_policies_admit_only_their_feeders(synth: Synth) -> None:
    """Finance and ERP orders queues: their rule, the ReplayRole and the functions that park, resend,
    re-post or resubmit there; the ack and master data queues: the exchange bucket and the ReplayRole."""
    roles = _roles(synth)
    replay = roles["ReplayRoleArn"]
    admin = "arn:aws:iam::123456789012:role/Admin"
    bucket = f"${{{_exchange_bucket(synth)}.Arn}}"
    tls = {"aws:SecureTransport": "true"}

    def denied(queue: str, request: dict[str, str]) -> bool:
        return _denied(_queue_statements(synth, queue), "sqs:SendMessage", {**tls, **request})

    handlers = sorted(EXPECTED_HANDLERS)
    senders = {
        "finance.handler.lambda_handler": {
            "finance.handler.lambda_handler",
            "reconciliation.handler.lambda_handler",
            "operations.handler.lambda_handler",
        },
        "erp.handler.orders_handler": {
            "erp.handler.orders_handler",
            "erp.handler.acks_handler",
            "erp.handler.watchdog_handler",
            "reconciliation.handler.lambda_handler",
            "operations.handler.lambda_handler",
        },
    }
    other_rule, _ = _rule_queue(synth, "reservation.handler.lambda_handler")
    for worker, allowed in senders.items():
        queue = _queue_of(synth, worker)
        # finance: InvoiceIssued's rule and CreditMemoIssued's
        for rule in _rules_for(synth, worker):
            assert not denied(queue, {"aws:SourceArn": f"${{{rule}.Arn}}"}), (worker, rule)
        assert denied(queue, {"aws:SourceArn": f"${{{other_rule}.Arn}}"}), worker
        assert denied(queue, {"aws:SourceArn": bucket}), worker
        assert not denied(queue, {"aws:PrincipalArn": replay}), worker
        assert denied(queue, {"aws:PrincipalArn": admin}), worker
        for handler in handlers:
            assert denied(queue, {"aws:PrincipalArn": _role_arn(synth, handler)}) is (handler not in allowed), (
                worker,
                handler,
            )
    for worker in NOTIFICATIONS.values():
        queue = _queue_of(synth, worker)
        assert not denied(queue, {"aws:SourceArn": bucket}), worker
        assert denied(queue, {"aws:SourceArn": "arn:aws:s3:::someone-elses-bucket"}), worker
        assert not denied(queue, {"aws:PrincipalArn": replay}), worker
        for principal in (admin, *(_role_arn(synth, h) for h in handlers)):
            assert denied(queue, {"aws:PrincipalArn": principal}), (worker, principal)


def test_every_connector_path_has_a_dlq(synth: Synth) -> None:
    """The four queues redrive to a DLQ of their own; the two schedules fail into theirs (the generic
    tests above check the DLQs' retention, alarms and the rule targets' retry policies)."""
    dlqs: set[str] = set()
    for handler in CONNECTOR_MAPPINGS:
        queue = synth.props(_queue_of(synth, handler))
        dlqs.add(ref_target(queue["RedrivePolicy"]["deadLetterTargetArn"]) or "")
    for handler in ("erp.handler.watchdog_handler", "reconciliation.handler.lambda_handler"):
        function = synth.function_by_handler(handler)
        (config,) = [
            c["Properties"]
            for c in synth.of_type("AWS::Lambda::EventInvokeConfig").values()
            if ref_target(c["Properties"]["FunctionName"]) == function
        ]
        dlqs.add(ref_target(config["DestinationConfig"]["OnFailure"]["Destination"]) or "")
    assert len(dlqs) == 6, "one DLQ per path"
    assert dlqs <= _dead_letter_queue_ids(synth)


# --------------------------------------------------------------------------------------------------
# the order-to-cash lifecycle: fulfilment, stock available, returns, held shipments
# --------------------------------------------------------------------------------------------------

# handler -> (BatchSize, MaximumBatchingWindowInSeconds) of its queue's event source mapping
LIFECYCLE_MAPPINGS = {
    "reservation.handler.stock_available_handler": (10, 1),
    "fulfilment.handler.release_handler": (10, 1),
    "fulfilment.handler.warehouse_handler": (10, 1),
    "invoicing.handler.returns_handler": (10, 1),
    "invoicing.handler.lambda_handler": (10, 1),
}
# handler -> the lifecycle variables it gets (besides the shared ones and DEAD_LETTER_QUEUE_URL), by
# kind: "warehouses" (the registry), "legal-entity", "own-queue", or a setting's name
LIFECYCLE_ENV: dict[str, dict[str, str]] = {
    "reservation.handler.stock_available_handler": {},
    "fulfilment.handler.release_handler": {"WAREHOUSES": "warehouses"},
    "fulfilment.handler.warehouse_handler": {"WAREHOUSES": "warehouses"},
    "invoicing.handler.returns_handler": {"WAREHOUSES": "warehouses", "LEGAL_ENTITY": "legal-entity"},
    "invoicing.handler.lambda_handler": {
        "WAREHOUSES": "warehouses",
        "LEGAL_ENTITY": "legal-entity",
        "SHIPMENT_HOLD_MAX_HOURS": "hold",
        "WORK_QUEUE_URL": "own-queue",
    },
    "orders.handler.lambda_handler": {"WAREHOUSES": "warehouses", "AVAILABILITY_STALE_AFTER_SECONDS": "stale"},
}
# (legal entity, stale after seconds, hold hours): the defaults, and what ALT_CONTEXT sets
LIFECYCLE_DEFAULTS = {"legal-entity": "SH01", "stale": "3600", "hold": "48"}
LIFECYCLE_ALT = {"legal-entity": "SH02", "stale": "900", "hold": "72"}


@pytest.mark.parametrize("handler", sorted(LIFECYCLE_MAPPINGS))
def test_lifecycle_workers_drain_their_queue_with_a_dlq(synth: Synth, handler: str) -> None:
    """Rule -> queue (redrive to a DLQ of its own, alarmed) -> function (partial batch failures); the
    rule's failed deliveries go to the same DLQ, so `synchub replay` of it serves both."""
    function = synth.function_by_handler(handler)
    (mapping,) = [
        m["Properties"]
        for m in _sqs_mappings(synth).values()
        if ref_target(m["Properties"]["FunctionName"]) == function
    ]
    batch, window = LIFECYCLE_MAPPINGS[handler]
    assert (mapping["BatchSize"], mapping.get("MaximumBatchingWindowInSeconds")) == (batch, window)
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "ScalingConfig" not in mapping
    queue = ref_target(mapping["EventSourceArn"]) or ""
    props = synth.props(queue)
    assert props["VisibilityTimeout"] == 6 * synth.props(function)["Timeout"]
    dlq = ref_target(props["RedrivePolicy"]["deadLetterTargetArn"]) or ""
    assert props["RedrivePolicy"]["maxReceiveCount"] == MAX_RECEIVE_COUNT
    assert synth.env(function)["DEAD_LETTER_QUEUE_URL"] == {"Ref": dlq}
    _, rule = _rule_for(synth, handler)
    (target,) = rule["Properties"]["Targets"]
    assert ref_target(target["Arn"]) == queue
    assert ref_target(target["DeadLetterConfig"]["Arn"]) == dlq
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    # the DLQ is the redrive target of this queue only (replay sends its messages back there)
    sources = [
        k
        for k, v in synth.of_type("AWS::SQS::Queue").items()
        if v["Properties"].get("RedrivePolicy", {}).get("deadLetterTargetArn") == {"Fn::GetAtt": [dlq, "Arn"]}
    ]
    assert sources == [queue], sources
    assert dlq in _dead_letter_queue_ids(synth)
    assert synth.props(function)["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == handler.split(".")[0]


@pytest.mark.parametrize("alt", [False, True], ids=["defaults", "context"])
@pytest.mark.parametrize("handler", sorted(LIFECYCLE_ENV))
def test_lifecycle_function_environment(synth: Synth, synth_alt: Synth, handler: str, alt: bool) -> None:
    s = synth_alt if alt else synth
    settings = LIFECYCLE_ALT if alt else LIFECYCLE_DEFAULTS
    sites = (
        ALT_WAREHOUSES if alt else {k: {"warehouse_id": w, "location_prefix": p} for k, (w, p) in WAREHOUSES.items()}
    )
    function = s.function_by_handler(handler)
    env = s.env(function)
    expected = LIFECYCLE_ENV[handler]
    extra = {"DEAD_LETTER_QUEUE_URL"} if handler != "orders.handler.lambda_handler" else set()
    assert set(env) == SHARED_ENV | set(expected) | extra, sorted(set(env) ^ (SHARED_ENV | set(expected) | extra))
    for name, kind in expected.items():
        if kind == "warehouses":
            assert json.loads(env[name]) == _expected_warehouses(sites), (handler, name)
        elif kind == "own-queue":
            assert env[name] == {"Ref": _queue_of(s, handler)}, (handler, name)  # a queue's Ref is its URL
        else:
            assert env[name] == settings[kind], (handler, name)


def test_only_the_document_issuers_know_the_legal_entity(synth: Synth) -> None:
    """Invoices (shipments) and credit memos (returns) are numbered per legal entity: LEGAL_ENTITY is
    theirs; the registry's per-site legal_entity overrides it for a site's shipments."""
    having = {
        synth.props(k)["Handler"] for k in synth.of_type("AWS::Lambda::Function") if "LEGAL_ENTITY" in synth.env(k)
    }
    assert having == {"invoicing.handler.lambda_handler", "invoicing.handler.returns_handler"}


def test_invoicing_parks_held_shipments_on_its_own_queue_only(synth: Synth) -> None:
    function = synth.function_by_handler("invoicing.handler.lambda_handler")
    queue = _queue_of(synth, "invoicing.handler.lambda_handler")
    dlq = ref_target(synth.props(queue)["RedrivePolicy"]["deadLetterTargetArn"])
    sends = {
        ref_target(r)
        for st in allows(synth.policy_statements(function), "sqs:SendMessage")
        for r in as_list(st["Resource"])
    }
    assert sends == {queue, dlq}, sends
    assert synth.env(function)["WORK_QUEUE_URL"] == {"Ref": queue}
    # the parking delay (60 s doubling to 900 s, SQS's maximum DelaySeconds) stays below the retention
    assert synth.props(queue)["MessageRetentionPeriod"] > 900


def test_finance_takes_credit_memos_on_the_invoices_queue(synth: Synth) -> None:
    """CreditMemoIssued has a rule of its own onto the finance queue: same DLQ, same retry policy."""
    handler = "finance.handler.lambda_handler"
    queue = _queue_of(synth, handler)
    dlq = ref_target(synth.props(queue)["RedrivePolicy"]["deadLetterTargetArn"])
    patterns = []
    for rule_id in _rules_for(synth, handler):
        props = synth.props(rule_id)
        patterns.append(props["EventPattern"])
        (target,) = props["Targets"]
        assert ref_target(target["Arn"]) == queue and ref_target(target["DeadLetterConfig"]["Arn"]) == dlq, rule_id
    assert sorted(p["detail-type"][0] for p in patterns) == ["CreditMemoIssued", "InvoiceIssued"]
    assert all(p["source"] == ["synchub.invoicing"] for p in patterns)


def test_cdk_json_legal_entity_is_the_code_default() -> None:
    from infra.app import ROOT
    from infra.context import DEFAULT_LEGAL_ENTITY, LEGAL_ENTITY

    assert json.loads((ROOT / "cdk.json").read_text())["context"][LEGAL_ENTITY] == DEFAULT_LEGAL_ENTITY == "SH01"


def test_infra_and_functions_check_legal_entities_alike() -> None:
    """A code the synth takes is one the functions take (functions/synchub_core/config.py)."""
    from infra.context import LEGAL_ENTITY_CODE
    from synchub_core import config

    assert config.LEGAL_ENTITY.pattern == LEGAL_ENTITY_CODE.pattern
    assert config.DEFAULT_LEGAL_ENTITY == "SH01"


def test_replay_finds_every_work_queues_dlq(synth: Synth) -> None:
    """`synchub replay` redrives a DLQ to the one queue whose redrive target it is (it refuses a DLQ of
    several queues) and offers the DLQs by their friendly names (`...DeadLetterQueue`); the
    ReplayRole may drain every DLQ and send to every work queue (test_least_privilege.py)."""
    from synchub.local.template import friendly

    queues = synth.of_type("AWS::SQS::Queue")
    targets: dict[str, list[str]] = {}
    for queue_id, queue in queues.items():
        redrive = queue["Properties"].get("RedrivePolicy")
        if redrive:
            targets.setdefault(ref_target(redrive["deadLetterTargetArn"]) or "", []).append(queue_id)
    assert len(targets) == 11 + len(WAREHOUSES)
    for dlq, sources in targets.items():
        assert len(sources) == 1, (dlq, sources)
        assert "DeadLetter" in friendly(dlq), dlq
    names = {friendly(q) for q in queues}
    for name in (
        "WorkersReservationStockAvailableWorkerDeadLetterQueue",
        "WorkersFulfilmentReleaseWorkerDeadLetterQueue",
        "WorkersFulfilmentWarehouseWorkerDeadLetterQueue",
        "WorkersInvoicingReturnsWorkerDeadLetterQueue",
        # a site's outbound DLQ: replay redrives it to the site's outbound queue
        *(f"Warehouses{site.capitalize()}OutboundDeadLetterQueue" for site in WAREHOUSES),
        *(f"Warehouses{site.capitalize()}OutboundQueue" for site in WAREHOUSES),
    ):
        assert name in names, sorted(names)
    for site in WAREHOUSES:
        queue = _outbound_queues(synth)[site.capitalize()]
        dlq = ref_target(synth.props(queue)["RedrivePolicy"]["deadLetterTargetArn"]) or ""
        assert targets[dlq] == [queue] and friendly(dlq) == f"Warehouses{site.capitalize()}OutboundDeadLetterQueue"
