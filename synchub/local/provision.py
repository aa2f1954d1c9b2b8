"""Provision a synthesized CDK template into an emulated AWS (moto server or LocalStack).

Resources are created from the template's own properties, so what is deployed is what runs
locally. Resources without a local meaning (IAM, log groups, API deployments) are listed as
skipped rather than silently dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .template import Template, friendly

STACK_PREFIX = "Synchub"
SKIPPED_TYPES = {
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::Logs::LogGroup",
    "AWS::Lambda::Permission",
    "AWS::SQS::QueuePolicy",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::Account",
    "AWS::Events::Archive",
    "AWS::CDK::Metadata",
    "AWS::CloudWatch::Alarm",
    "AWS::SNS::Topic",
    "AWS::SNS::TopicPolicy",
}


@dataclass
class FunctionSpec:
    logical_id: str
    name: str
    handler: str
    code_dir: Path
    environment: dict[str, str]
    timeout: int
    memory: int


@dataclass
class EventSourceSpec:
    logical_id: str
    function: str  # logical id
    kind: str  # "sqs" | "dynamodb"
    source_arn: str
    batch_size: int
    batching_window: int
    report_failures: bool
    queue_url: str | None = None
    starting_position: str = "TRIM_HORIZON"
    max_retries: int = -1
    bisect: bool = False
    on_failure_arn: str | None = None
    filters: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ScheduleSpec:
    logical_id: str
    expression: str
    function: str
    dlq_arn: str | None
    retry_attempts: int


@dataclass
class GatewayResponseSpec:
    """An API's AWS::ApiGateway::GatewayResponse: how API Gateway answers one kind of its own errors."""

    response_type: str  # MISSING_AUTHENTICATION_TOKEN, REQUEST_TOO_LARGE, DEFAULT_4XX, ...
    status: int | None  # None: the error's own status code
    headers: dict[str, str] = field(default_factory=dict)  # header -> mapping ('static' or method.request...)
    templates: dict[str, str] = field(default_factory=dict)  # content type -> body template ($context... vars)


@dataclass
class RouteSpec:
    method: str
    resource: str  # e.g. /orders/{order_id}
    function: str
    api: str = ""  # the RestApi's logical id
    gateway_responses: dict[str, GatewayResponseSpec] = field(default_factory=dict)  # the API's, by type


@dataclass
class Deployment:
    template: Template
    endpoint: str
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    event_sources: list[EventSourceSpec] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)
    routes: list[RouteSpec] = field(default_factory=list)
    queues: dict[str, dict[str, str]] = field(default_factory=dict)  # friendly name -> url/arn/name
    tables: dict[str, str] = field(default_factory=dict)
    bus_name: str = ""
    stage: str = ""
    skipped: list[str] = field(default_factory=list)
    gateway_responses: dict[str, dict[str, GatewayResponseSpec]] = field(default_factory=dict)  # by RestApi

    def queue_by_arn(self, arn: str) -> dict[str, str]:
        return next(q for q in self.queues.values() if q["arn"] == arn)

    def summary(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "region": self.template.region,
            "event_bus": self.bus_name,
            "tables": self.tables,
            "queues": {k: v["url"] for k, v in self.queues.items()},
            "functions": {f.name: f.handler for f in self.functions.values()},
        }


def _physical(stack_prefix: str, logical_id: str) -> str:
    return f"{stack_prefix}-{friendly(logical_id)}"


def provision(template: Template, clients: Any, endpoint: str) -> Deployment:
    """Create every resource the local runtime needs. ``clients(service)`` returns a boto3 client."""
    dep = Deployment(template=template, endpoint=endpoint)
    t = template
    region, account = t.region, t.account

    for lid, res in t.of_type("AWS::DynamoDB::Table").items():
        props = t.resolve(res["Properties"])
        name = props.get("TableName") or _physical(STACK_PREFIX, lid)
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if kwargs["BillingMode"] == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if props.get("StreamSpecification"):
            kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        ddb = clients("dynamodb")
        try:
            ddb.create_table(**kwargs)
        except ddb.exceptions.ResourceInUseException:
            pass
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
        desc = ddb.describe_table(TableName=name)["Table"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        t.physical[lid] = {"Ref": name, "Arn": desc["TableArn"], "StreamArn": desc.get("LatestStreamArn", "")}
        dep.tables[friendly(lid)] = name

    # queues: DLQs first (a redrive policy names its DLQ's ARN)
    queues = t.of_type("AWS::SQS::Queue")
    ordered = sorted(queues.items(), key=lambda kv: "RedrivePolicy" in kv[1].get("Properties", {}))
    sqs = clients("sqs")
    for lid, res in ordered:
        props = t.resolve(res.get("Properties", {}))
        name = props.get("QueueName") or _physical(STACK_PREFIX, lid)
        attrs: dict[str, str] = {}
        for key, attr in (
            ("VisibilityTimeout", "VisibilityTimeout"),
            ("MessageRetentionPeriod", "MessageRetentionPeriod"),
            ("DelaySeconds", "DelaySeconds"),
            ("ReceiveMessageWaitTimeSeconds", "ReceiveMessageWaitTimeSeconds"),
        ):
            if key in props:
                attrs[attr] = str(props[key])
        if "RedrivePolicy" in props:
            attrs["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        t.physical[lid] = {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}
        dep.queues[friendly(lid)] = {"url": url, "arn": arn, "name": name, "logical_id": lid}

    events = clients("events")
    for lid, res in t.of_type("AWS::Events::EventBus").items():
        name = t.resolve(res["Properties"]["Name"])
        try:
            arn = events.create_event_bus(Name=name)["EventBusArn"]
        except events.exceptions.ResourceAlreadyExistsException:
            arn = events.describe_event_bus(Name=name)["Arn"]
        t.physical[lid] = {"Ref": name, "Arn": arn, "Name": name}
        dep.bus_name = name

    for lid in t.of_type("AWS::Lambda::Function"):
        name = _physical(STACK_PREFIX, lid)
        t.physical[lid] = {"Ref": name, "Arn": f"arn:aws:lambda:{region}:{account}:function:{name}"}

    for lid, res in t.of_type("AWS::Lambda::Function").items():
        props = res["Properties"]
        env = t.resolve(props.get("Environment", {}).get("Variables", {}))
        dep.functions[lid] = FunctionSpec(
            logical_id=lid,
            name=t.physical[lid]["Ref"],
            handler=props["Handler"],
            code_dir=t.asset_dir(lid),
            environment={k: str(v) for k, v in env.items()},
            timeout=int(props.get("Timeout", 3)),
            memory=int(props.get("MemorySize", 128)),
        )

    function_by_arn = {t.physical[lid]["Arn"]: lid for lid in dep.functions}
    function_by_name = {t.physical[lid]["Ref"]: lid for lid in dep.functions}

    for lid, res in t.of_type("AWS::Events::Rule").items():
        props = t.resolve(res["Properties"])
        rule_name = _physical(STACK_PREFIX, lid)
        if "ScheduleExpression" in props:
            for target in props.get("Targets", []):
                dep.schedules.append(
                    ScheduleSpec(
                        logical_id=lid,
                        expression=props["ScheduleExpression"],
                        function=function_by_arn[target["Arn"]],
                        dlq_arn=(target.get("DeadLetterConfig") or {}).get("Arn"),
                        retry_attempts=int((target.get("RetryPolicy") or {}).get("MaximumRetryAttempts", 185)),
                    )
                )
            continue
        bus = props.get("EventBusName", "default")
        events.put_rule(
            Name=rule_name,
            EventBusName=bus,
            EventPattern=json.dumps(props["EventPattern"]),
            State=props.get("State", "ENABLED"),
            Description=props.get("Description", ""),
        )
        targets = []
        for target in props.get("Targets", []):
            entry = {"Id": target["Id"], "Arn": target["Arn"]}
            for key in ("DeadLetterConfig", "RetryPolicy", "InputPath", "Input"):
                if key in target:
                    entry[key] = target[key]
            targets.append(entry)
        events.put_targets(Rule=rule_name, EventBusName=bus, Targets=targets)
        t.physical[lid] = {"Ref": rule_name, "Arn": f"arn:aws:events:{region}:{account}:rule/{bus}/{rule_name}"}

    for lid, res in t.of_type("AWS::Lambda::EventSourceMapping").items():
        props = t.resolve(res["Properties"])
        fn = props["FunctionName"]
        fn_lid = function_by_name.get(fn) or function_by_arn[fn]
        source = props["EventSourceArn"]
        kind = "sqs" if source.startswith("arn:aws:sqs:") else "dynamodb"
        dest = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        dep.event_sources.append(
            EventSourceSpec(
                logical_id=lid,
                function=fn_lid,
                kind=kind,
                source_arn=source,
                batch_size=int(props.get("BatchSize", 10 if kind == "sqs" else 100)),
                batching_window=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                queue_url=dep.queue_by_arn(source)["url"] if kind == "sqs" else None,
                starting_position=props.get("StartingPosition", "TRIM_HORIZON"),
                max_retries=int(props.get("MaximumRetryAttempts", -1)),
                bisect=bool(props.get("BisectBatchOnFunctionError", False)),
                on_failure_arn=dest,
                filters=[json.loads(f["Pattern"]) for f in (props.get("FilterCriteria") or {}).get("Filters", [])],
            )
        )

    dep.routes = _routes(t, function_by_arn)
    dep.gateway_responses = _gateway_responses(t)
    for route in dep.routes:
        route.gateway_responses = dep.gateway_responses.get(route.api, {})
    for res in t.of_type("AWS::ApiGateway::Stage").values():
        dep.stage = res["Properties"].get("StageName", "")
    handled = {
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::Events::EventBus",
        "AWS::Lambda::Function",
        "AWS::Events::Rule",
        "AWS::Lambda::EventSourceMapping",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Resource",
        "AWS::ApiGateway::Method",
        "AWS::ApiGateway::GatewayResponse",
    }
    dep.skipped = sorted(f"{lid} ({r['Type']})" for lid, r in t.resources.items() if r["Type"] not in handled)
    unknown = [s for s in dep.skipped if s.split("(")[1].rstrip(")") not in SKIPPED_TYPES]
    if unknown:
        raise NotImplementedError(f"the local runtime cannot emulate: {', '.join(unknown)}")
    return dep


def _routes(t: Template, function_by_arn: dict[str, str]) -> list[RouteSpec]:
    apis = t.of_type("AWS::ApiGateway::RestApi")
    resources = t.of_type("AWS::ApiGateway::Resource")

    def path_of(ref: Any) -> str:
        if isinstance(ref, dict) and "Fn::GetAtt" in ref:  # the API's root resource
            return ""
        lid = ref["Ref"]
        props = resources[lid]["Properties"]
        return path_of(props["ParentId"]) + "/" + props["PathPart"]

    routes = []
    for lid, res in t.of_type("AWS::ApiGateway::Method").items():
        props = res["Properties"]
        if props["RestApiId"]["Ref"] not in apis:
            continue
        integration = props.get("Integration") or {}
        uri = json.dumps(integration.get("Uri", ""))
        fn = next((f for arn, f in function_by_arn.items() if f in uri), None)
        if fn is None or integration.get("Type") != "AWS_PROXY":
            raise NotImplementedError(f"method {lid}: only Lambda proxy integrations run locally")
        routes.append(
            RouteSpec(
                method=props["HttpMethod"],
                resource=path_of(props["ResourceId"]) or "/",
                function=fn,
                api=props["RestApiId"]["Ref"],
            )
        )
    return routes


def _gateway_responses(t: Template) -> dict[str, dict[str, GatewayResponseSpec]]:
    """RestApi logical id -> response type -> the customized gateway response."""
    out: dict[str, dict[str, GatewayResponseSpec]] = {}
    for res in t.of_type("AWS::ApiGateway::GatewayResponse").values():
        props = res["Properties"]
        headers = {
            k.removeprefix("gatewayresponse.header."): str(v)
            for k, v in t.resolve(props.get("ResponseParameters") or {}).items()
            if k.startswith("gatewayresponse.header.")
        }
        status = props.get("StatusCode")
        out.setdefault(props["RestApiId"]["Ref"], {})[props["ResponseType"]] = GatewayResponseSpec(
            response_type=props["ResponseType"],
            status=int(status) if status else None,
            headers=headers,
            templates={k: str(v) for k, v in t.resolve(props.get("ResponseTemplates") or {}).items()},
        )
    return out
