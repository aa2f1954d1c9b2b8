"""Least privilege, pinned: per function, the exact set of (action, resource) its role allows.

What each function calls is read off its code (functions/*/repository.py, synchub_core/ddb.py,
outbox.py, lambda_support.py): a function that starts calling something new fails here until the
stack grants it *and* this table says so; a grant nobody calls fails here too. Resources are
named by role, not by logical id ("orders-table", "own-dlq", ...), resolved from the template by
following references, so a rename does not break the test but a grant on the wrong table does.

TransactWriteItems has no permission of its own: each item needs its action (PutItem for Puts,
UpdateItem for Updates ...). Query on a GSI needs the index ARN.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

STACK = "Synchub"
XRAY = {("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*")}
LOGS = {("logs:CreateLogStream", "own-log-group"), ("logs:PutLogEvents", "own-log-group")}
BASE = XRAY | LOGS
# what the SQS event source mapping needs to drain the function's queue (added by CDK)
CONSUME = {
    (f"sqs:{a}", "own-queue")
    for a in ("ReceiveMessage", "ChangeMessageVisibility", "GetQueueUrl", "DeleteMessage", "GetQueueAttributes")
}
# refusals: the worker itself sends the refused message to its DLQ, and may do nothing else there
REFUSE = {("sqs:SendMessage", "own-dlq")}
# an on-failure destination (stream mapping, async invoke config) is written with the function's role
# (CDK's grant: SendMessage plus the two read-only calls it adds)
DESTINATION = {(f"sqs:{a}", "own-dlq") for a in ("SendMessage", "GetQueueAttributes", "GetQueueUrl")}


def ddb(resource: str, *actions: str) -> set[tuple[str, str]]:
    return {(f"dynamodb:{a}", resource) for a in actions}


EXPECTED: dict[str, set[tuple[str, str]]] = {
    # create: GetItem (idempotency record, consistent) + TransactWriteItems of Puts; read: Query
    "orders.handler.lambda_handler": BASE | ddb("orders-table", "GetItem", "PutItem", "Query"),
    # the channel (consistent GetItem) and the signing key
    "channels.handler.token_handler": BASE
    | ddb("channels-table", "GetItem")
    | {("secretsmanager:GetSecretValue", "signing-secret")},
    "channels.handler.authorizer_handler": BASE
    | ddb("channels-table", "GetItem")
    | {("secretsmanager:GetSecretValue", "signing-secret")},
    # the outbox item (GetItem), mark it published (UpdateItem), publish (PutEvents, hub sources only)
    "outbox.handler.stream_handler": BASE
    | ddb("orders-table", "GetItem", "UpdateItem")
    | ddb("orders-stream", "DescribeStream", "GetRecords", "GetShardIterator")
    | {("dynamodb:ListStreams", "*")}
    | {("events:PutEvents", "bus")}
    | DESTINATION,
    "outbox.handler.sweep_handler": BASE
    | ddb("orders-table", "GetItem", "UpdateItem")
    | ddb("orders-table/index/outbox-pending", "Query")
    | {("events:PutEvents", "bus")}
    | DESTINATION,
    # the position (GetItem), then one conditional UpdateItem
    "inventory.handler.lambda_handler": BASE | CONSUME | REFUSE | ddb("inventory-table", "GetItem", "UpdateItem"),
    # the order (GetItem), every position of each SKU (Query), one transaction: Updates of positions,
    # Puts of the order, its history and its outbox event
    "reservation.handler.lambda_handler": BASE
    | CONSUME
    | REFUSE
    | ddb("orders-table", "GetItem", "PutItem")
    | ddb("inventory-table", "Query", "UpdateItem"),
    "reservation.handler.backorder_handler": BASE
    | DESTINATION
    | ddb("orders-table", "GetItem", "PutItem")
    | ddb("orders-table/index/backorders", "Query")
    | ddb("inventory-table", "Query", "UpdateItem"),
    # the order and the invoice (GetItem), the shipped position (GetItem), one transaction: Put of the
    # invoice, Updates of positions, Puts of the order, its history and its outbox event
    "invoicing.handler.lambda_handler": BASE
    | CONSUME
    | REFUSE
    | ddb("orders-table", "GetItem", "PutItem")
    | ddb("inventory-table", "GetItem", "UpdateItem"),
}
HUB_SOURCES = ["synchub.invoicing", "synchub.orders", "synchub.reservation"]
# the only statements allowed a condition, and the condition
CONDITIONS = {"events:PutEvents": {"StringEquals": {"events:source": HUB_SOURCES}}}
# the ReplayRole: what `synchub replay` does on AWS (drain DLQs, send back, re-run the two sweeps)
REPLAY = (
    {("cloudformation:DescribeStacks", "stack"), ("cloudformation:ListStackResources", "stack")}
    | {
        (f"sqs:{a}", "dlqs")
        for a in (
            "ChangeMessageVisibility",
            "DeleteMessage",
            "GetQueueAttributes",
            "ListDeadLetterSourceQueues",
            "ReceiveMessage",
        )
    }
    | {("sqs:SendMessage", "work-queues")}
    | ddb("orders-table", "GetItem", "PutItem", "UpdateItem")
    | ddb("orders-table/index/outbox-pending", "Query")
    | ddb("orders-table/index/backorders", "Query")
    | ddb("inventory-table", "Query", "UpdateItem")
    | {("events:PutEvents", "bus")}
)


def _ref(value: Any) -> str | None:
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


class Names:
    """Logical ids -> the role-relative names EXPECTED uses, for one function (or none)."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.t = template
        self.res: dict[str, dict[str, Any]] = template["Resources"]
        functions = self.of_type("AWS::Lambda::Function")
        env = {k: v["Properties"]["Environment"]["Variables"] for k, v in functions.items()}
        self.tables = {
            name: next(_ref(e[var]) for e in env.values() if var in e)
            for name, var in (
                ("orders-table", "ORDERS_TABLE"),
                ("inventory-table", "INVENTORY_TABLE"),
                ("channels-table", "CHANNELS_TABLE"),
            )
        }
        self.secret = next(_ref(e["TOKEN_SIGNING_SECRET_ARN"]) for e in env.values() if "TOKEN_SIGNING_SECRET_ARN" in e)
        (self.bus,) = self.of_type("AWS::Events::EventBus")
        queues = self.of_type("AWS::SQS::Queue")
        self.work_queues = {k for k, v in queues.items() if "RedrivePolicy" in v["Properties"]}
        self.dlqs = set(queues) - self.work_queues

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.res.items() if v["Type"] == cfn_type}

    def function_names(self, function_id: str) -> dict[str, str]:
        """JSON of a resource value -> its name, for the resources this function may name."""
        props = self.res[function_id]["Properties"]
        names: dict[str, Any] = {
            "*": "*",
            "own-log-group": {"Fn::GetAtt": [_ref(props["LoggingConfig"]["LogGroup"]), "Arn"]},
            "bus": {"Fn::GetAtt": [self.bus, "Arn"]},
            "signing-secret": {"Ref": self.secret},
        }
        for name, table in self.tables.items():
            names[name] = {"Fn::GetAtt": [table, "Arn"]}
            for index in ("outbox-pending", "backorders"):
                names[f"{name}/index/{index}"] = {"Fn::Join": ["", [{"Fn::GetAtt": [table, "Arn"]}, f"/index/{index}"]]}
        names["orders-stream"] = {"Fn::GetAtt": [self.tables["orders-table"], "StreamArn"]}
        for mapping in self.of_type("AWS::Lambda::EventSourceMapping").values():
            m = mapping["Properties"]
            if _ref(m["FunctionName"]) != function_id:
                continue
            source = _ref(m["EventSourceArn"])
            if source in self.work_queues:
                names["own-queue"] = {"Fn::GetAtt": [source, "Arn"]}
                names["own-dlq"] = self.res[source]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]
            destination = m.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if destination:
                names["own-dlq"] = destination
        for config in self.of_type("AWS::Lambda::EventInvokeConfig").values():
            c = config["Properties"]
            if _ref(c["FunctionName"]) == function_id:
                names["own-dlq"] = c["DestinationConfig"]["OnFailure"]["Destination"]
        return {json.dumps(v, sort_keys=True): k for k, v in names.items()}

    def role_statements(self, role: str) -> Iterator[dict[str, Any]]:
        props = self.res[role]["Properties"]
        assert not props.get("ManagedPolicyArns"), f"{role} has managed policies {props['ManagedPolicyArns']}"
        for inline in props.get("Policies", []):
            yield from inline["PolicyDocument"]["Statement"]
        for policy in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": role} in policy["Properties"].get("Roles", []):
                yield from policy["Properties"]["PolicyDocument"]["Statement"]
        for policy in self.of_type("AWS::IAM::ManagedPolicy").values():
            assert {"Ref": role} not in policy["Properties"].get("Roles", []), role


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def granted(names: Names, role: str, resource_names: dict[str, str]) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for statement in names.role_statements(role):
        assert statement["Effect"] == "Allow", statement
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"wildcard action {action} in {role}"
            expected_condition = CONDITIONS.get(action)
            assert statement.get("Condition") == expected_condition, (action, statement.get("Condition"))
            for resource in _as_list(statement["Resource"]):
                key = json.dumps(resource, sort_keys=True)
                assert key in resource_names, f"{role}: {action} on a resource outside its set: {resource}"
                pairs.add((action, resource_names[key]))
    return pairs


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from aws_cdk.assertions import Template

    from infra.app import build

    app = build(outdir=tmp_path_factory.mktemp("cdk.out"), context={"synchub:nag": False})
    app.synth()
    return dict(Template.from_stack(app.node.find_child(STACK)).to_json())


@pytest.fixture(scope="module")
def names(template: dict[str, Any]) -> Names:
    return Names(template)


def test_every_function_is_pinned(names: Names) -> None:
    handlers = sorted(v["Properties"]["Handler"] for v in names.of_type("AWS::Lambda::Function").values())
    assert handlers == sorted(EXPECTED), "a new function needs its row in EXPECTED"


@pytest.mark.parametrize("handler", sorted(EXPECTED))
def test_function_role_allows_exactly_what_the_code_calls(names: Names, handler: str) -> None:
    (function_id,) = [
        k for k, v in names.of_type("AWS::Lambda::Function").items() if v["Properties"]["Handler"] == handler
    ]
    role = _ref(names.res[function_id]["Properties"]["Role"])
    assert role is not None
    trust = names.res[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}]
    # one role per function: a shared role would pool the grants
    users = [k for k, v in names.of_type("AWS::Lambda::Function").items() if _ref(v["Properties"]["Role"]) == role]
    assert users == [function_id]
    actual = granted(names, role, names.function_names(function_id))
    missing, extra = EXPECTED[handler] - actual, actual - EXPECTED[handler]
    assert not missing and not extra, f"{handler}\n  missing: {sorted(missing)}\n  extra:   {sorted(extra)}"


def test_replay_role(names: Names) -> None:
    role = _ref(names.t["Outputs"]["ReplayRoleArn"]["Value"])
    assert role is not None
    resource_names = names.function_names(next(iter(names.of_type("AWS::Lambda::Function"))))
    resource_names = {k: v for k, v in resource_names.items() if not v.startswith("own-")}
    resource_names[json.dumps({"Ref": "AWS::StackId"})] = "stack"
    for queue in names.dlqs:
        resource_names[json.dumps({"Fn::GetAtt": [queue, "Arn"]}, sort_keys=True)] = "dlqs"
    for queue in names.work_queues:
        resource_names[json.dumps({"Fn::GetAtt": [queue, "Arn"]}, sort_keys=True)] = "work-queues"
    assert granted(names, role, resource_names) == REPLAY
    # ... on every DLQ and every work queue, not only some
    statements = list(names.role_statements(role))
    dlq_arns = {
        _ref(r) for s in statements if "sqs:ReceiveMessage" in _as_list(s["Action"]) for r in _as_list(s["Resource"])
    }
    work_arns = {
        _ref(r) for s in statements if "sqs:SendMessage" in _as_list(s["Action"]) for r in _as_list(s["Resource"])
    }
    assert dlq_arns == names.dlqs and work_arns == names.work_queues
    trust = names.res[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"]["AWS"]["Fn::Join"][1][-1] for s in trust] == [":root"], "assumed by the account's operators"


def test_no_wildcard_action_anywhere(template: dict[str, Any]) -> None:
    """No Allow with a wildcard action in any identity policy of the stack (resource policies' TLS
    Denies, `sqs:*` for plain HTTP, are Denies)."""
    for logical_id, resource in template["Resources"].items():
        documents = []
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(resource["Properties"]["PolicyDocument"])
        if resource["Type"] == "AWS::IAM::Role":
            documents.extend(p["PolicyDocument"] for p in resource["Properties"].get("Policies", []))
        for document in documents:
            for statement in document["Statement"]:
                if statement["Effect"] == "Allow":
                    for action in _as_list(statement["Action"]):
                        assert "*" not in action, f"{logical_id}: {action}"


def test_no_function_role_can_touch_a_table_it_does_not_use(names: Names) -> None:
    """The grants name tables only through EXPECTED; this spells out the two boundaries that matter."""
    for handler, pairs in EXPECTED.items():
        tables = {
            resource.split("/")[0]
            for _, resource in pairs
            if resource.endswith(("-table", "-stream")) or "/index/" in resource
        }
        if handler.startswith("channels."):
            assert tables == {"channels-table"}, handler
        else:
            assert "channels-table" not in tables, handler
    assert all(
        action != "events:PutEvents" for h, p in EXPECTED.items() if not h.startswith("outbox.") for action, _ in p
    )
