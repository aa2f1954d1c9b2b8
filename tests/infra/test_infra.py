"""CDK assertion tests on the synchub stack.

The stack is built in-process once per module (``infra.app.build``) into a temporary cloud
assembly and inspected through ``aws_cdk.assertions.Template``. Most checks iterate the template
generically (every queue, every rule target, every function ...) and follow references between
resources instead of hard-coding logical ids, so they keep working when constructs are renamed but
fail when the wiring regresses. One test runs cfn-lint on cdk.out/Synchub.template.json (the
``template``/``cdk_out`` fixtures) and one re-synthesizes in a subprocess with a booby-trapped
``docker`` to prove synth never needs Docker.
"""

from __future__ import annotations

import importlib
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

from helpers import ROOT

FUNCTIONS_DIR = ROOT / "functions"
STACK = "Synchub"
BUS_NAME = "synchub-bus"
FUNCTION_TIMEOUT_S = 30
MAX_RECEIVE_COUNT = 5
FUNCTION_PACKAGES = {"orders", "outbox", "inventory", "reservation", "invoicing", "synchub_core"}
EXPECTED_HANDLERS = {
    "orders.handler.lambda_handler",
    "outbox.handler.stream_handler",
    "outbox.handler.sweep_handler",
    "inventory.handler.lambda_handler",
    "reservation.handler.lambda_handler",
    "invoicing.handler.lambda_handler",
    "reservation.handler.backorder_handler",
}
POWERTOOLS_LAYER = re.compile(
    r"^arn:aws:lambda:\$\{AWS::Region\}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:\d+$"
)


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
        return {k: v for k, v in self.resources.items() if v["Type"] == cfn_type}

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


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    from aws_cdk.assertions import Template

    from infra.app import build

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = build(outdir=outdir)
    assembly = app.synth()
    template = Template.from_stack(app.node.find_child(STACK))
    return Synth(outdir=Path(assembly.directory), template=template, json=template.to_json())


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


def test_inventory_table_shape(synth: Synth) -> None:
    tables = synth.of_type("AWS::DynamoDB::Table")
    assert len(tables) == 2, f"expected orders + inventory tables, got {sorted(tables)}"
    inventory = next(k for k in tables if k != synth.table_with_index("outbox-pending"))
    resource = tables[inventory]
    props = resource["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types["pk"] == "S" and types["sk"] == "S"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert resource["DeletionPolicy"] == "Retain"


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
    # inventory (WMS feed), reservation and invoicing
    assert len(work_queues) == 3, f"unexpected work queues: {sorted(work_queues)}"
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
    assert consumed == set(queues) - dlqs, "every work queue, and only work queues, must be drained by a Lambda"
    for mapping_id, mapping in mappings.items():
        queue_id = ref_target(mapping["Properties"]["EventSourceArn"])
        function_id = ref_target(mapping["Properties"]["FunctionName"])
        timeout = synth.props(function_id).get("Timeout", 3)
        assert timeout == FUNCTION_TIMEOUT_S, f"{function_id} timeout {timeout}"
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
    assert len(rules) == 4, f"expected 2 schedules (outbox, backorders) + 2 bus rules, got {sorted(rules)}"
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


@pytest.mark.parametrize(
    "detail_type, handler",
    [
        ("OrderAccepted", "reservation.handler.lambda_handler"),
        ("ShipmentConfirmed", "invoicing.handler.lambda_handler"),
    ],
)
def test_bus_rule_routes_detail_type_to_worker_queue(synth: Synth, detail_type: str, handler: str) -> None:
    rules = [
        (k, v)
        for k, v in synth.of_type("AWS::Events::Rule").items()
        if detail_type in v["Properties"].get("EventPattern", {}).get("detail-type", [])
    ]
    assert len(rules) == 1, f"expected one rule for {detail_type}, got {[k for k, _ in rules]}"
    rule_id, rule = rules[0]
    props = rule["Properties"]
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


@pytest.mark.parametrize("handler", ["outbox.handler.sweep_handler", "reservation.handler.backorder_handler"])
def test_sweep_schedules_invoke_their_sweepers_every_5_minutes(synth: Synth, handler: str) -> None:
    sweeper = synth.function_by_handler(handler)
    scheduled = {k: v for k, v in synth.of_type("AWS::Events::Rule").items() if "ScheduleExpression" in v["Properties"]}
    assert len(scheduled) == 2, sorted(scheduled)
    ((rule_id, rule),) = [
        (k, v) for k, v in scheduled.items() if [ref_target(t["Arn"]) for t in v["Properties"]["Targets"]] == [sweeper]
    ]
    assert rule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
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
    assert len(mappings) == 3, sorted(mappings)
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
    inventory_table = next(k for k in synth.of_type("AWS::DynamoDB::Table") if k != orders_table)
    bus = next(iter(synth.of_type("AWS::Events::EventBus")))
    for function_id, function in functions.items():
        props = function["Properties"]
        assert props["Runtime"] == "python3.12", function_id
        assert props.get("TracingConfig") == {"Mode": "Active"}, function_id
        assert props.get("Architectures", ["x86_64"]) == ["x86_64"], f"{function_id}: layer is the x86_64 build"
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


def test_api_resources_methods_and_stage(synth: Synth) -> None:
    apis = synth.of_type("AWS::ApiGateway::RestApi")
    assert len(apis) == 1
    api = next(iter(apis))
    orders_fn = synth.function_by_handler("orders.handler.lambda_handler")

    resources = synth.of_type("AWS::ApiGateway::Resource")
    orders = [
        k
        for k, v in resources.items()
        if v["Properties"]["PathPart"] == "orders"
        and v["Properties"]["ParentId"] == {"Fn::GetAtt": [api, "RootResourceId"]}
    ]
    assert len(orders) == 1, "no /orders resource under the API root"
    by_id = [
        k
        for k, v in resources.items()
        if v["Properties"]["PathPart"] == "{order_id}" and v["Properties"]["ParentId"] == {"Ref": orders[0]}
    ]
    assert len(by_id) == 1, "no /orders/{order_id} resource"

    methods = {
        (ref_target(m["Properties"]["ResourceId"]), m["Properties"]["HttpMethod"]): m["Properties"]
        for m in synth.of_type("AWS::ApiGateway::Method").values()
    }
    assert set(methods) == {(orders[0], "POST"), (by_id[0], "GET")}, sorted(methods)
    for key, method in methods.items():
        integration = method["Integration"]
        assert integration["Type"] == "AWS_PROXY", key
        assert integration["IntegrationHttpMethod"] == "POST", key
        assert {"Fn::GetAtt": [orders_fn, "Arn"]} in integration["Uri"]["Fn::Join"][1], key
        assert render(integration["Uri"]).endswith(f"/functions/${{{orders_fn}.Arn}}/invocations"), key
        # API Gateway may invoke the function for this method
        assert any(
            ref_target(p["Properties"]["FunctionName"]) == orders_fn
            and p["Properties"]["Principal"] == "apigateway.amazonaws.com"
            and render(p["Properties"]["SourceArn"]).endswith(
                f"/{key[1]}/orders" + ("/*" if key[0] == by_id[0] else "")
            )
            for p in synth.of_type("AWS::Lambda::Permission").values()
        ), key

    synth.template.has_resource_properties(
        "AWS::ApiGateway::Stage", {"StageName": "v1", "TracingEnabled": True, "RestApiId": {"Ref": api}}
    )


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
    assert set(responses) == {"MISSING_AUTHENTICATION_TOKEN", "REQUEST_TOO_LARGE", "DEFAULT_4XX", "DEFAULT_5XX"}
    assert responses["MISSING_AUTHENTICATION_TOKEN"][1]["StatusCode"] == "404"  # not API Gateway's 403
    statuses = {"MISSING_AUTHENTICATION_TOKEN": 404, "REQUEST_TOO_LARGE": 413}
    deployment = next(iter(synth.of_type("AWS::ApiGateway::Deployment").values()))
    message = 'Invalid "request" body'  # $context.error.messageString is the message as a JSON string
    context = {"error.message": message, "error.messageString": json.dumps(message), "requestId": "req-1"}
    for response_type, (logical_id, props) in responses.items():
        assert props["RestApiId"] == {"Ref": api}
        assert props.get("StatusCode") in (None, str(statuses.get(response_type)))
        # header values are mapping expressions: a static value is single-quoted
        assert props["ResponseParameters"] == {"gatewayresponse.header.Content-Type": f"'{PROBLEM_CONTENT_TYPE}'"}
        assert set(props["ResponseTemplates"]) == {PROBLEM_CONTENT_TYPE, "application/json"}
        for template in props["ResponseTemplates"].values():
            body = json.loads(render_template(template, {**context, "error.responseType": response_type}))
            assert body["type"].startswith(PROBLEM_BASE) and body["title"] and body["detail"], body
            assert body.get("status") == statuses.get(response_type), body  # only where the status is fixed
            assert body["requestId"] == "req-1"
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
    assert not list(asset.rglob("__pycache__")) and not list(asset.rglob("*.pyc")), "bytecode shipped"
    expected = {p.relative_to(FUNCTIONS_DIR) for p in FUNCTIONS_DIR.rglob("*.py") if "__pycache__" not in p.parts}
    assert {p.relative_to(asset) for p in asset.rglob("*.py")} == expected


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
    statements = synth.policy_statements(orders_fn)
    for action in ("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"):
        granted = allows(statements, action)
        assert any(references(s["Resource"], orders_table) for s in granted), f"orders fn lacks {action}"
    assert not allows(statements, "events:PutEvents"), "orders fn must publish via the outbox, not EventBridge"
    assert not allows(statements, "sqs:SendMessage"), "orders fn has no business sending to queues"
    inventory_table = next(k for k in synth.of_type("AWS::DynamoDB::Table") if k != orders_table)
    assert not any(references(s["Resource"], inventory_table) for s in statements), "orders fn can reach inventory"
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
    assert len(dlqs) == 6
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
    patterns = {
        p["detail-type"][0]: p
        for p in (r["Properties"].get("EventPattern") for r in synth.of_type("AWS::Events::Rule").values())
        if p
    }
    assert patterns["OrderAccepted"]["source"] == ["synchub.orders"]
    assert patterns["ShipmentConfirmed"]["source"] == [{"prefix": "wms."}]
