"""Least privilege, pinned: per function, the exact set of (action, resource) its role allows.

What each function calls is read off its code (functions/*/repository.py, synchub_core/ddb.py,
outbox.py, lambda_support.py): a function that starts calling something new fails here until the
stack grants it *and* this table says so; a grant nobody calls fails here too. Resources are
named by role, not by logical id ("orders-table", "own-dlq", ...), resolved from the template by
following references, so a rename does not break the test but a grant on the wrong table does.

TransactWriteItems has no permission of its own: each item needs its action (PutItem for Puts,
UpdateItem for Updates ...). Query on a GSI needs the index ARN. SendMessageBatch is authorized as
SendMessage.

A grant limited to some items of a table (``ForAllValues:StringLike`` on ``dynamodb:LeadingKeys``)
is named with its key patterns: ``orders-table[OUTBOX#*]`` is PutItem on the orders table's outbox
items only (a connector writes its events there, and nothing else of the orders table).
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


def sends(*queues: str) -> set[tuple[str, str]]:
    return {("sqs:SendMessage", q) for q in queues}


# a connector's transaction puts its event (CircuitStateChanged, InvoicePosted, ReconciliationCompleted)
# as an outbox item of the orders table: PutItem there, on OUTBOX#<event_id> items only
OUTBOX_ONLY = ddb("orders-table[OUTBOX#*]", "PutItem")
# the backorder hints (WAITING#<sku>): written after a backorder and dropped once it is reserved or
# cancelled, in batches (BatchWriteItem), on those items only
HINT_BATCHES = ddb("orders-table[WAITING#*]", "BatchWriteItem")
# the circuit breaker (functions/connectors/breaker.py, repository.py): read it (GetItem), count a
# failure or reset (UpdateItem), store a state change (PutItem, alone or in a transaction with its
# CircuitStateChanged outbox item); the rate windows (UpdateItem with ADD)
BREAKER = ddb("connectors-table", "GetItem", "PutItem", "UpdateItem") | OUTBOX_ONLY
FINANCE_SETTINGS = {("ssm:GetParameter", "finance-base-url"), ("secretsmanager:GetSecretValue", "finance-credentials")}


EXPECTED: dict[str, set[tuple[str, str]]] = {
    # create, cancel, return: GetItem (idempotency record, consistent; the order) + TransactWriteItems
    # of Puts; read: Query, and BatchGetItem of the order's documents; a cancelled backorder's hints
    # dropped in a batch (WAITING#* only); availability: a Query per SKU of its positions; a cancel
    # gives reservations back (UpdateItem in the same transaction); the order check against the ERP's
    # master data: one BatchGetItem (masterdata.api.check_order)
    "orders.handler.lambda_handler": BASE
    | ddb("orders-table", "BatchGetItem", "GetItem", "PutItem", "Query")
    | HINT_BATCHES
    | ddb("inventory-table", "Query", "UpdateItem")
    | ddb("masterdata-table", "BatchGetItem"),
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
    # the position (GetItem), then one conditional UpdateItem, or a transaction of it with the
    # StockAvailable it makes (an outbox item of the orders table: OUTBOX#* only)
    "inventory.handler.lambda_handler": BASE
    | CONSUME
    | REFUSE
    | ddb("inventory-table", "GetItem", "UpdateItem")
    | OUTBOX_ONLY,
    # the order (GetItem), every position of each SKU (Query), one transaction: Updates of positions,
    # Puts of the order, its history and its outbox event; a backorder's hints (in batches)
    "reservation.handler.lambda_handler": BASE
    | CONSUME
    | REFUSE
    | ddb("orders-table", "GetItem", "PutItem")
    | HINT_BATCHES
    | ddb("inventory-table", "Query", "UpdateItem"),
    # ... every open backorder (the sparse index), hints written again or dropped
    "reservation.handler.backorder_handler": BASE
    | DESTINATION
    | ddb("orders-table", "GetItem", "PutItem")
    | HINT_BATCHES
    | ddb("orders-table/index/backorders", "Query")
    | ddb("inventory-table", "Query", "UpdateItem"),
    # StockAvailable: a SKU's hints oldest first (Query of WAITING#<sku> only), each hinted order
    # retried like a reservation (GetItem, Query of positions, one transaction), stale hints dropped
    "reservation.handler.stock_available_handler": BASE
    | CONSUME
    | REFUSE
    | ddb("orders-table", "GetItem", "PutItem")
    | ddb("orders-table[WAITING#*]", "Query")
    | HINT_BATCHES
    | ddb("inventory-table", "Query", "UpdateItem"),
    # the order, the invoice and the number's counter (GetItem), the shipped positions (GetItem), one
    # transaction: Puts of the invoice and its pointer, the counter (Update), Updates of positions,
    # Puts of the order, its history and its events; a held shipment parked on its own queue
    "invoicing.handler.lambda_handler": BASE
    | CONSUME
    | REFUSE
    | ddb("orders-table", "GetItem", "PutItem", "UpdateItem")
    | ddb("inventory-table", "GetItem", "UpdateItem")
    | sends("own-queue"),
    # returns: the order, the credit memo, the counter (GetItem), its invoices (BatchGetItem), one
    # transaction: the credit memo and its pointer (Put), the counter (Update), the units back into
    # their positions (GetItem, then Update, or ConditionCheck where a later WMS report counts them),
    # the order, its history and its events (Put)
    "invoicing.handler.returns_handler": BASE
    | CONSUME
    | REFUSE
    | ddb("orders-table", "BatchGetItem", "GetItem", "PutItem", "UpdateItem")
    | ddb("inventory-table", "ConditionCheckItem", "GetItem", "UpdateItem"),
    # -- fulfilment ---------------------------------------------------------------------------------
    # OrderReserved: the order (GetItem), one transaction: the order, its history, OrderReleased (Puts)
    "fulfilment.handler.release_handler": BASE | CONSUME | REFUSE | ddb("orders-table", "GetItem", "PutItem"),
    # the warehouses' answers: the order (GetItem), one transaction of Puts; a confirmed cancellation
    # gives the site's allocations back (position Updates) with its StockAvailable
    "fulfilment.handler.warehouse_handler": BASE
    | CONSUME
    | REFUSE
    | ddb("orders-table", "GetItem", "PutItem")
    | ddb("inventory-table", "UpdateItem"),
    # -- the connectors -----------------------------------------------------------------------------
    # finance settings (SSM, Secrets Manager), the breaker and rate window, its posting ledger
    # (POSTING#: GetItem, PutItem), the invoice's or credit memo's posting status (INVOICE#,
    # CREDITMEMO#: UpdateItem, in one transaction with the ledger entry and InvoicePosted's or
    # CreditMemoPosted's outbox item; the document itself comes with the event), business exceptions
    # (UpdateItem in a transaction), parking on its own queue
    "finance.handler.lambda_handler": BASE
    | CONSUME
    | REFUSE
    | FINANCE_SETTINGS
    | BREAKER
    | ddb("orders-table[CREDITMEMO#*,INVOICE#*]", "UpdateItem")
    | sends("own-queue"),
    # the batch's ledger (BatchGetItem), the breaker and file rate, the order file (PutObject under
    # to-erp/orders/), the file and the orders SENT (PutItem, UpdateItem), parking on its own queue
    "erp.handler.orders_handler": BASE
    | CONSUME
    | REFUSE
    | BREAKER
    | ddb("connectors-table", "BatchGetItem")
    | {("s3:PutObject", "exchange/to-erp/orders/*")}
    | sends("own-queue"),
    # the ack file (GetObject under from-erp/acks/), the ledger (BatchGetItem, UpdateItem), the
    # orders it raises exceptions for or resends (orders.api.load: GetItem), unknown acks (PutItem),
    # the breaker (an answer is the ERP's success, a refused file its failure), resends to the ERP queue
    "erp.handler.acks_handler": BASE
    | CONSUME
    | REFUSE
    | BREAKER
    | ddb("connectors-table", "BatchGetItem")
    | ddb("orders-table", "GetItem")
    | {("s3:GetObject", "exchange/from-erp/acks/*")}
    | sends("erp-queue"),
    # open files past the timeout (Query on erp-files-open), the file and ledger, the orders to
    # resend (GetItem), overdue (UpdateItem), the breaker, resends to the ERP queue
    "erp.handler.watchdog_handler": BASE
    | DESTINATION
    | BREAKER
    | ddb("connectors-table", "BatchGetItem")
    | ddb("connectors-table/index/erp-files-open", "Query")
    | ddb("orders-table", "GetItem")
    | sends("erp-queue"),
    # the master data file (GetObject under from-erp/master/), its reject report (PutObject under
    # to-erp/reports/), rows and file records in the master data table
    "masterdata.handler.lambda_handler": BASE
    | CONSUME
    | REFUSE
    | {("s3:GetObject", "exchange/from-erp/master/*"), ("s3:PutObject", "exchange/to-erp/reports/*")}
    | ddb("masterdata-table", "GetItem", "PutItem", "UpdateItem"),
    # the window's invoices and orders (Query on by-day, GetItem / BatchGetItem), finance's documents
    # (settings), the ERP ledger, the result (PutItem with ReconciliationCompleted's outbox item),
    # exceptions (UpdateItem), re-posts and resends
    "reconciliation.handler.lambda_handler": BASE
    | DESTINATION
    | FINANCE_SETTINGS
    | ddb("orders-table", "GetItem", "BatchGetItem")
    | ddb("orders-table/index/by-day", "Query")
    | OUTBOX_ONLY
    | ddb("connectors-table", "GetItem", "BatchGetItem", "PutItem", "Query", "UpdateItem")
    | sends("finance-queue", "erp-queue"),
    # exceptions: list (Query on exceptions-by-status), show (GetItem), resubmit / discard
    # (conditional UpdateItem), the payload back to the queue it came from
    "operations.handler.lambda_handler": BASE
    | ddb("connectors-table", "GetItem", "UpdateItem")
    | ddb("connectors-table/index/exceptions-by-status", "Query")
    | sends("finance-queue", "erp-queue"),
}
HUB_SOURCES = [
    "synchub.connectors",
    "synchub.fulfilment",
    "synchub.inventory",
    "synchub.invoicing",
    "synchub.orders",
    "synchub.reservation",
]
# the only statements allowed a condition, and the condition
CONDITIONS = {"events:PutEvents": {"StringEquals": {"events:source": HUB_SOURCES}}}
# item-limited grants (grant_table(..., leading_keys=[...])): the resource name gets the patterns
LEADING_KEYS = "ForAllValues:StringLike"
# CDK's singleton behind the exchange bucket's notifications (Custom::S3BucketNotifications): inline
# code, deploy time only; pinned separately (test_bucket_notifications_handler)
NOTIFICATIONS_HANDLER = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"
INDEXES = ("outbox-pending", "backorders", "by-day", "exceptions-by-status", "erp-files-open")
EXCHANGE_PREFIXES = ("to-erp/orders/", "to-erp/reports/", "from-erp/acks/", "from-erp/master/")
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
    | HINT_BATCHES
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
                ("connectors-table", "CONNECTORS_TABLE"),
                ("masterdata-table", "MASTERDATA_TABLE"),
            )
        }
        self.secret = next(_ref(e["TOKEN_SIGNING_SECRET_ARN"]) for e in env.values() if "TOKEN_SIGNING_SECRET_ARN" in e)
        (self.bus,) = self.of_type("AWS::Events::EventBus")
        queues = self.of_type("AWS::SQS::Queue")
        self.work_queues = {k for k, v in queues.items() if "RedrivePolicy" in v["Properties"]}
        self.dlqs = set(queues) - self.work_queues
        outputs = template["Outputs"]
        self.finance_queue = _ref(outputs["FinanceQueueUrl"]["Value"])
        self.erp_queue = _ref(outputs["ErpQueueUrl"]["Value"])
        self.bucket = _ref(outputs["ExchangeBucketName"]["Value"])
        self.parameter = _ref(outputs["FinanceBaseUrlParameter"]["Value"])
        self.finance_secret = _ref(outputs["FinanceCredentialsSecretArn"]["Value"])

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        """Resources of ``cfn_type``; without CDK's notifications handler (not one of the hub's functions)."""
        return {k: v for k, v in self.res.items() if v["Type"] == cfn_type and not k.startswith(NOTIFICATIONS_HANDLER)}

    def function_names(self, function_id: str) -> dict[str, str]:
        """JSON of a resource value -> its name, for the resources this function may name."""
        props = self.res[function_id]["Properties"]
        names: dict[str, Any] = {
            "*": "*",
            "own-log-group": {"Fn::GetAtt": [_ref(props["LoggingConfig"]["LogGroup"]), "Arn"]},
            "bus": {"Fn::GetAtt": [self.bus, "Arn"]},
            "signing-secret": {"Ref": self.secret},
            "finance-credentials": {"Ref": self.finance_secret},
            "finance-base-url": {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":ssm:",
                        {"Ref": "AWS::Region"},
                        ":",
                        {"Ref": "AWS::AccountId"},
                        ":parameter",
                        {"Ref": self.parameter},
                    ],
                ]
            },
            "finance-queue": {"Fn::GetAtt": [self.finance_queue, "Arn"]},
            "erp-queue": {"Fn::GetAtt": [self.erp_queue, "Arn"]},
        }
        for prefix in EXCHANGE_PREFIXES:
            names[f"exchange/{prefix}*"] = {"Fn::Join": ["", [{"Fn::GetAtt": [self.bucket, "Arn"]}, f"/{prefix}*"]]}
        for name, table in self.tables.items():
            names[name] = {"Fn::GetAtt": [table, "Arn"]}
            for index in INDEXES:
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
        condition = statement.get("Condition")
        suffix = ""
        if condition is not None and LEADING_KEYS in condition:
            # only items with these partition keys: the only other condition a statement may carry
            assert list(condition) == [LEADING_KEYS] and list(condition[LEADING_KEYS]) == ["dynamodb:LeadingKeys"]
            patterns = condition[LEADING_KEYS]["dynamodb:LeadingKeys"]
            assert all(isinstance(p, str) and p.endswith("#*") for p in patterns), patterns
            suffix = "[" + ",".join(sorted(patterns)) + "]"
            condition = None
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"wildcard action {action} in {role}"
            assert not suffix or action.startswith("dynamodb:"), (action, suffix)
            expected_condition = CONDITIONS.get(action)
            assert condition == expected_condition, (action, statement.get("Condition"))
            for resource in _as_list(statement["Resource"]):
                key = json.dumps(resource, sort_keys=True)
                assert key in resource_names, f"{role}: {action} on a resource outside its set: {resource}"
                pairs.add((action, resource_names[key] + suffix))
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
    """The grants name tables only through EXPECTED; this spells out the boundaries that matter."""
    connector_domains = ("finance.", "erp.", "masterdata.", "reconciliation.", "operations.")
    for handler, pairs in EXPECTED.items():
        tables = {
            resource.split("/")[0].split("[")[0]
            for _, resource in pairs
            if resource.split("[")[0].endswith(("-table", "-stream")) or "/index/" in resource
        }
        if handler.startswith("channels."):
            assert tables == {"channels-table"}, handler
        else:
            assert "channels-table" not in tables, handler
        if handler.startswith(connector_domains):
            assert "inventory-table" not in tables, handler
        else:
            assert "connectors-table" not in tables, handler
        # the connectors write the orders table's items only through their outbox items, except the
        # finance poster's POSTED on the invoice or credit memo
        writes = {
            r
            for a, r in pairs
            if a in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
            and r.startswith("orders-")
        }
        documents = "orders-table[CREDITMEMO#*,INVOICE#*]"
        if handler.startswith(connector_domains):
            assert writes <= {"orders-table[OUTBOX#*]", documents}, (handler, writes)
            assert documents not in writes or handler.startswith("finance."), handler
        # the inventory worker writes nothing of the orders table but its StockAvailable events
        if handler.startswith("inventory."):
            assert writes == {"orders-table[OUTBOX#*]"}, (handler, writes)
        # only the master data function writes the master data table
        if not handler.startswith("masterdata."):
            assert not any(
                a in ("dynamodb:PutItem", "dynamodb:UpdateItem") and r == "masterdata-table" for a, r in pairs
            )
    assert all(
        action != "events:PutEvents" for h, p in EXPECTED.items() if not h.startswith("outbox.") for action, _ in p
    )


def test_only_the_finance_connectors_read_the_finance_settings() -> None:
    readers = {h for h, pairs in EXPECTED.items() if pairs & FINANCE_SETTINGS}
    assert readers == {"finance.handler.lambda_handler", "reconciliation.handler.lambda_handler"}
    for handler in readers:
        assert EXPECTED[handler] >= FINANCE_SETTINGS, handler


def test_bucket_notifications_handler(names: Names) -> None:
    """CDK's handler behind Custom::S3BucketNotifications (deploy time only) may set the exchange
    bucket's notifications and write its own logs (AWSLambdaBasicExecutionRole), nothing else."""
    handlers = [
        k for k, v in names.res.items() if v["Type"] == "AWS::Lambda::Function" and k.startswith(NOTIFICATIONS_HANDLER)
    ]
    assert len(handlers) == 1, handlers
    role = _ref(names.res[handlers[0]]["Properties"]["Role"])
    assert role is not None
    props = names.res[role]["Properties"]
    assert [json.dumps(a) for a in props["ManagedPolicyArns"]] == [
        json.dumps(
            {
                "Fn::Join": [
                    "",
                    ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
                ]
            }
        )
    ]
    statements = [
        st
        for p in names.of_type("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"].get("Roles", [])
        for st in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements == [
        {"Action": "s3:PutBucketNotification", "Effect": "Allow", "Resource": {"Fn::GetAtt": [names.bucket, "Arn"]}}
    ]
