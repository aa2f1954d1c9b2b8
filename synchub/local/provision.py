"""Provision a synthesized CDK template into an emulated AWS (moto server or LocalStack).

Resources are created from the template's own properties, so what is deployed is what runs
locally. Resources without a local meaning (IAM, WAF, resource policies, log groups, API
deployments) are listed as skipped rather than silently dropped.

Secrets Manager secrets are created in the emulator (``GenerateSecretString`` honoured) and keep
their value once they exist, and so do SSM parameters (a value set since, such as a real system's
URL, stays); every RestApi is created in the emulator's API Gateway so it has a real id, which the
API keys and usage plans created at run time (``synchub channels add``) name.

S3 buckets are created with their versioning and default encryption; the bucket notifications CDK
configures through a custom resource (``Custom::S3BucketNotifications``) are applied to the bucket
directly (S3 then sends ObjectCreated events to the queues), and the inline Lambda function CDK adds
to serve that custom resource is CloudFormation plumbing, listed as skipped with its reason.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .template import Template, friendly

log = logging.getLogger("synchub.local")
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
    "AWS::IAM::ManagedPolicy",
    "AWS::WAFv2::WebACL",
    "AWS::WAFv2::WebACLAssociation",
    "AWS::Events::EventBusPolicy",
    "AWS::S3::BucketPolicy",
    "Custom::S3AutoDeleteObjects",  # empties a bucket when the stack is deleted: nothing to do locally
}
# custom resources CDK serves with a Lambda function of its own (CloudFormation plumbing, not hub code):
# the resource is applied here (or skipped), and that function is not run
PLUMBING_CUSTOM_TYPES = {"Custom::S3BucketNotifications", "Custom::S3AutoDeleteObjects"}
HANDLED_TYPES = {
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::Events::EventBus",
    "AWS::SecretsManager::Secret",
    "AWS::Lambda::Function",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Events::Rule",
    "AWS::Lambda::EventSourceMapping",
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Authorizer",
    "AWS::ApiGateway::RequestValidator",
    "AWS::ApiGateway::GatewayResponse",
    "AWS::S3::Bucket",
    "Custom::S3BucketNotifications",
    "AWS::SSM::Parameter",
}
# bucket properties applied locally; the others (lifecycle, access logging, ownership, ...) have no
# effect in the emulator and are reported in Deployment.not_emulated
BUCKET_PROPERTIES = {"BucketName", "VersioningConfiguration", "BucketEncryption", "NotificationConfiguration"}
# Lambda's defaults for asynchronous invocations (the way EventBridge invokes a function)
ASYNC_RETRY_ATTEMPTS = 2
ASYNC_MAX_EVENT_AGE = 21600
AUTHORIZER_TTL_DEFAULT = 300  # AuthorizerResultTtlInSeconds when the template leaves it out


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
    # ScalingConfig.MaximumConcurrency: at most this many concurrent invocations (the local hub runs one)
    max_concurrency: int | None = None


@dataclass
class NotificationSpec:
    """One queue configuration of a bucket's notifications: S3 sends matching object events to the queue."""

    bucket: str  # bucket name
    queue_arn: str
    events: list[str]
    prefix: str = ""
    suffix: str = ""


@dataclass
class InvokeConfigSpec:
    """A function's AWS::Lambda::EventInvokeConfig: how Lambda handles its asynchronous invocations."""

    function: str  # logical id
    max_retry_attempts: int = ASYNC_RETRY_ATTEMPTS
    max_event_age: int = ASYNC_MAX_EVENT_AGE
    on_failure_arn: str | None = None
    on_success_arn: str | None = None


@dataclass
class ScheduleSpec:
    logical_id: str
    expression: str
    function: str
    dlq_arn: str | None  # the rule target's DLQ: events EventBridge could not deliver
    retry_attempts: int  # the rule target's delivery retries
    # the function's EventInvokeConfig: retries of a failed (async) invocation, then its on-failure destination
    async_retry_attempts: int = ASYNC_RETRY_ATTEMPTS
    on_failure_arn: str | None = None


@dataclass
class GatewayResponseSpec:
    """An API's AWS::ApiGateway::GatewayResponse: how API Gateway answers one kind of its own errors."""

    response_type: str  # MISSING_AUTHENTICATION_TOKEN, REQUEST_TOO_LARGE, DEFAULT_4XX, ...
    status: int | None  # None: the error's own status code
    headers: dict[str, str] = field(default_factory=dict)  # header -> mapping ('static' or method.request...)
    templates: dict[str, str] = field(default_factory=dict)  # content type -> body template ($context... vars)


@dataclass
class AuthorizerSpec:
    """An AWS::ApiGateway::Authorizer of type TOKEN backed by a Lambda function of the template."""

    logical_id: str
    name: str
    function: str  # logical id of the authorizer function
    header: str  # the identity source: method.request.header.<header>
    validation_expression: str | None = None  # IdentityValidationExpression (the whole token must match)
    ttl: int = AUTHORIZER_TTL_DEFAULT  # AuthorizerResultTtlInSeconds; 0: no caching
    type: str = "TOKEN"


@dataclass
class RouteSpec:
    method: str  # GET, POST, ... or ANY
    resource: str  # e.g. /orders/{order_id}
    function: str
    api: str = ""  # the RestApi's logical id
    gateway_responses: dict[str, GatewayResponseSpec] = field(default_factory=dict)  # the API's, by type
    authorization_type: str = "NONE"  # NONE | CUSTOM
    authorizer: AuthorizerSpec | None = None  # with CUSTOM
    api_key_required: bool = False
    api_key_source: str = "HEADER"  # the RestApi's ApiKeySourceType: HEADER (x-api-key) | AUTHORIZER
    # method.request.{header,querystring,path}.<name> -> required; enforced when validate_parameters
    request_parameters: dict[str, bool] = field(default_factory=dict)
    validate_parameters: bool = False  # the method's RequestValidator has ValidateRequestParameters

    @property
    def required_parameters(self) -> list[tuple[str, str]]:
        """(location, name) of the parameters API Gateway rejects a request without (BAD_REQUEST_PARAMETERS)."""
        if not self.validate_parameters:
            return []
        out = []
        for key, required in self.request_parameters.items():
            location, _, name = key.removeprefix("method.request.").partition(".")
            if required and name:
                out.append((location, name))
        return out


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
    secrets: dict[str, str] = field(default_factory=dict)  # friendly name -> ARN
    api_ids: dict[str, str] = field(default_factory=dict)  # RestApi logical id -> id in the emulator
    invoke_configs: dict[str, InvokeConfigSpec] = field(default_factory=dict)  # by function logical id
    buckets: dict[str, str] = field(default_factory=dict)  # friendly name -> bucket name
    parameters: dict[str, str] = field(default_factory=dict)  # friendly name -> SSM parameter name
    notifications: list[NotificationSpec] = field(default_factory=list)
    skipped_reasons: dict[str, str] = field(default_factory=dict)  # logical id -> why (when not its type)
    not_emulated: list[str] = field(default_factory=list)  # properties provisioned but without local effect

    @property
    def api_id(self) -> str:
        """The id of the RestApi the routes belong to (the emulator's)."""
        apis = {r.api for r in self.routes}
        return next((self.api_ids[a] for a in self.api_ids if a in apis), next(iter(self.api_ids.values()), ""))

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
            "secrets": self.secrets,
            "buckets": self.buckets,
            "parameters": self.parameters,
            "api_id": self.api_id,
            "stage": self.stage,
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

    _provision_secrets(t, clients, dep)
    _provision_parameters(t, clients, dep)
    _provision_buckets(t, clients, dep)
    _provision_bucket_notifications(t, clients, dep)
    _provision_rest_apis(t, clients, dep)

    plumbing = _plumbing_functions(t)
    dep.skipped_reasons.update(plumbing)
    for lid in t.of_type("AWS::Lambda::Function"):
        name = _physical(STACK_PREFIX, lid)
        t.physical[lid] = {"Ref": name, "Arn": f"arn:aws:lambda:{region}:{account}:function:{name}"}

    for lid, res in t.of_type("AWS::Lambda::Function").items():
        if lid in plumbing:
            continue
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

    def function_lid(ref: str) -> str:
        """A function's logical id from its name, ARN or qualified ARN (FunctionName accepts all three)."""
        if ref in function_by_name or ref in function_by_arn:
            return function_by_name.get(ref) or function_by_arn[ref]
        unqualified = ":".join(ref.split(":")[:7])
        return function_by_arn.get(unqualified) or function_by_name[ref.split(":")[0]]

    for res in t.of_type("AWS::Lambda::EventInvokeConfig").values():
        props = t.resolve(res["Properties"])
        destinations = props.get("DestinationConfig") or {}
        fn_lid = function_lid(props["FunctionName"])
        dep.invoke_configs[fn_lid] = InvokeConfigSpec(
            function=fn_lid,
            max_retry_attempts=int(props.get("MaximumRetryAttempts", ASYNC_RETRY_ATTEMPTS)),
            max_event_age=int(props.get("MaximumEventAgeInSeconds", ASYNC_MAX_EVENT_AGE)),
            on_failure_arn=(destinations.get("OnFailure") or {}).get("Destination"),
            on_success_arn=(destinations.get("OnSuccess") or {}).get("Destination"),
        )

    for lid, res in t.of_type("AWS::Events::Rule").items():
        props = t.resolve(res["Properties"])
        rule_name = _physical(STACK_PREFIX, lid)
        if "ScheduleExpression" in props:
            for target in props.get("Targets", []):
                fn_lid = function_lid(target["Arn"])
                config = dep.invoke_configs.get(fn_lid) or InvokeConfigSpec(fn_lid)
                dep.schedules.append(
                    ScheduleSpec(
                        logical_id=lid,
                        expression=props["ScheduleExpression"],
                        function=fn_lid,
                        dlq_arn=(target.get("DeadLetterConfig") or {}).get("Arn"),
                        retry_attempts=int((target.get("RetryPolicy") or {}).get("MaximumRetryAttempts", 185)),
                        async_retry_attempts=config.max_retry_attempts,
                        on_failure_arn=config.on_failure_arn,
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
                max_concurrency=int((props.get("ScalingConfig") or {}).get("MaximumConcurrency") or 0) or None,
            )
        )

    dep.routes = _routes(t, function_by_arn)
    dep.gateway_responses = _gateway_responses(t)
    for route in dep.routes:
        route.gateway_responses = dep.gateway_responses.get(route.api, {})
    dep.skipped = sorted(
        f"{lid} ({r['Type']})" for lid, r in t.resources.items() if r["Type"] not in HANDLED_TYPES or lid in plumbing
    )
    unknown = [
        s for s in dep.skipped if s.split(" (")[1].rstrip(")") not in SKIPPED_TYPES and s.split(" (")[0] not in plumbing
    ]
    if unknown:
        raise NotImplementedError(f"the local runtime cannot emulate: {', '.join(unknown)}")
    return dep


# -- CloudFormation plumbing -------------------------------------------------------------------------
def _plumbing_functions(t: Template) -> dict[str, str]:
    """Functions that serve a custom resource CDK adds (the ``ServiceToken`` of a
    ``Custom::S3BucketNotifications``, ...): logical id -> why it is not run locally."""
    out = {}
    for lid, res in t.resources.items():
        if res["Type"] not in PLUMBING_CUSTOM_TYPES:
            continue
        token = (res.get("Properties") or {}).get("ServiceToken")
        target = token.get("Fn::GetAtt") if isinstance(token, dict) else None
        if isinstance(target, str):
            target = target.split(".", 1)
        if isinstance(target, list) and t.resources.get(target[0], {}).get("Type") == "AWS::Lambda::Function":
            out[target[0]] = (
                f"CloudFormation's handler of {res['Type']} ({lid}): the local hub applies that resource itself"
            )
    return out


# -- SSM parameters ----------------------------------------------------------------------------------
def _provision_parameters(t: Template, clients: Any, dep: Deployment) -> None:
    """Create the template's parameters with their value. A parameter that exists already (restored from
    the hub's state) keeps its value: someone may have pointed it elsewhere (a real system's URL)."""
    found = t.of_type("AWS::SSM::Parameter")
    if not found:
        return
    ssm = clients("ssm")
    for lid, res in found.items():
        props = t.resolve(res.get("Properties") or {})
        name = props.get("Name") or _physical(STACK_PREFIX, lid)
        try:
            current = ssm.get_parameter(Name=name)["Parameter"]
        except ssm.exceptions.ParameterNotFound:
            kwargs: dict[str, Any] = {"Name": name, "Value": str(props["Value"]), "Type": props.get("Type", "String")}
            for key in ("Description", "AllowedPattern", "Tier", "DataType"):
                if props.get(key):
                    kwargs[key] = props[key]
            if props.get("Tags"):
                kwargs["Tags"] = [{"Key": k, "Value": str(v)} for k, v in props["Tags"].items()]
            ssm.put_parameter(**kwargs)
            current = ssm.get_parameter(Name=name)["Parameter"]
        t.physical[lid] = {"Ref": name, "Type": current["Type"], "Value": current["Value"]}
        dep.parameters[friendly(lid)] = name


# -- S3 ----------------------------------------------------------------------------------------------
def bucket_name(logical_id: str) -> str:
    """A bucket's local name when the template names none: stable across restarts (its objects are kept),
    DNS-compatible like the ``<stack>-<logical id>-<suffix>`` names CloudFormation generates."""
    name = re.sub(r"[^a-z0-9-]", "", f"{STACK_PREFIX}-{friendly(logical_id)}".lower())
    return name[:63].rstrip("-")


def _provision_buckets(t: Template, clients: Any, dep: Deployment) -> None:
    found = t.of_type("AWS::S3::Bucket")
    if not found:
        return
    s3 = clients("s3")
    for lid, res in found.items():
        props = t.resolve(res.get("Properties") or {})
        name = props.get("BucketName") or bucket_name(lid)
        try:
            s3.head_bucket(Bucket=name)
        except s3.exceptions.ClientError:
            kwargs: dict[str, Any] = {"Bucket": name}
            if t.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": t.region}
            s3.create_bucket(**kwargs)
        status = (props.get("VersioningConfiguration") or {}).get("Status")
        if status:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
        encryption = (props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")
        if encryption:
            rules = [
                {
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                    **({"BucketKeyEnabled": _bool(rule["BucketKeyEnabled"])} if "BucketKeyEnabled" in rule else {}),
                }
                for rule in encryption
                if rule.get("ServerSideEncryptionByDefault")
            ]
            if rules:
                s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if props.get("NotificationConfiguration"):  # a bucket's own (not CDK's custom resource)
            _apply_notifications(lid, name, _native_notifications(lid, props["NotificationConfiguration"]), s3, dep)
        ignored = sorted(set(props) - BUCKET_PROPERTIES)
        if ignored:
            dep.not_emulated.append(f"{lid}: {', '.join(ignored)}")
            log.info("bucket %s: %s not emulated locally", name, ", ".join(ignored))
        t.physical[lid] = {
            "Ref": name,
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "DualStackDomainName": f"{name}.s3.dualstack.{t.region}.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{t.region}.amazonaws.com",
            "WebsiteURL": f"http://{name}.s3-website-{t.region}.amazonaws.com",
        }
        dep.buckets[friendly(lid)] = name


def _native_notifications(lid: str, config: dict[str, Any]) -> list[dict[str, Any]]:
    """AWS::S3::Bucket NotificationConfiguration (CloudFormation's shape) -> the S3 API's queue configurations."""
    others = [k for k, v in config.items() if v and k != "QueueConfigurations"]
    if others:
        raise NotImplementedError(
            f"bucket {lid}: only queue notifications (S3 -> SQS) run locally, not {', '.join(sorted(others))}"
        )
    out = []
    for q in config.get("QueueConfigurations") or []:
        rules = ((q.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
        entry: dict[str, Any] = {"QueueArn": q["Queue"], "Events": [q["Event"]]}
        if rules:
            entry["Filter"] = {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}
        out.append(entry)
    return out


def _provision_bucket_notifications(t: Template, clients: Any, dep: Deployment) -> None:
    """What CDK's ``Custom::S3BucketNotifications`` handler does at deploy time: put the bucket's
    notification configuration (queue configurations; the handler function itself is not run)."""
    found = t.of_type("Custom::S3BucketNotifications")
    if not found:
        return
    s3 = clients("s3")
    for lid, res in found.items():
        props = t.resolve({k: v for k, v in (res.get("Properties") or {}).items() if k != "ServiceToken"})
        bucket = props["BucketName"]
        config = props.get("NotificationConfiguration") or {}
        others = [k for k, v in config.items() if v and k != "QueueConfigurations"]
        if others:
            raise NotImplementedError(
                f"{lid}: only queue notifications (S3 -> SQS) run locally, not {', '.join(sorted(others))}"
            )
        wanted = list(config.get("QueueConfigurations") or [])
        if not _bool(props.get("Managed", True)):  # an imported bucket: keep the notifications others set
            current = s3.get_bucket_notification_configuration(Bucket=bucket).get("QueueConfigurations", [])
            mine = {_notification_key(q) for q in wanted}
            wanted = [q for q in current if _notification_key(q) not in mine] + wanted
        _apply_notifications(lid, bucket, wanted, s3, dep)
        t.physical[lid] = {"Ref": f"{bucket}-notifications"}


def _notification_key(q: dict[str, Any]) -> tuple[Any, ...]:
    rules = ((q.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
    return (
        q["QueueArn"],
        tuple(sorted(q.get("Events") or [])),
        tuple(sorted((str(r["Name"]).lower(), r["Value"]) for r in rules)),
    )


def _queue_configuration(q: dict[str, Any]) -> dict[str, Any]:
    """A queue configuration as put: without its Id (S3 gives one), filter rule names in lower case (S3
    accepts ``Prefix`` as well as ``prefix``; the emulator only the latter)."""
    out = {k: v for k, v in q.items() if k not in ("Id", "Filter")}
    rules = ((q.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
    if rules:
        out["Filter"] = {"Key": {"FilterRules": [{"Name": str(r["Name"]).lower(), "Value": r["Value"]} for r in rules]}}
    return out


def _apply_notifications(lid: str, bucket: str, wanted: list[dict[str, Any]], s3: Any, dep: Deployment) -> None:
    """Put the queue configurations on the bucket, unless it has exactly these already (a restarted hub:
    S3 sends its ``s3:TestEvent`` to the queues only when a configuration is put, as at a deployment)."""
    for q in wanted:
        try:
            dep.queue_by_arn(q["QueueArn"])
        except StopIteration:
            raise ValueError(f"{lid}: notification queue {q['QueueArn']} is not a queue of the template") from None
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    has_others = any(current.get(k) for k in ("TopicConfigurations", "LambdaFunctionConfigurations"))
    if has_others or sorted(map(_notification_key, current.get("QueueConfigurations", []))) != sorted(
        map(_notification_key, wanted)
    ):
        queues = [_queue_configuration(q) for q in wanted]
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"QueueConfigurations": queues} if queues else {}
        )
    for q in wanted:
        rules = {
            str(r["Name"]).lower(): r["Value"]
            for r in ((q.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
        }
        dep.notifications.append(
            NotificationSpec(
                bucket=bucket,
                queue_arn=q["QueueArn"],
                events=list(q.get("Events") or []),
                prefix=rules.get("prefix", ""),
                suffix=rules.get("suffix", ""),
            )
        )


# -- Secrets Manager ---------------------------------------------------------------------------------
PUNCTUATION = string.punctuation  # the characters GetRandomPassword calls punctuation: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~


def generate_secret_string(spec: dict[str, Any]) -> str:
    """A secret value as CloudFormation's GenerateSecretString makes it (Secrets Manager GetRandomPassword):
    PasswordLength (32), ExcludeCharacters, ExcludeLowercase/Uppercase/Numbers/Punctuation, IncludeSpace,
    RequireEachIncludedType (true); with SecretStringTemplate + GenerateStringKey, a JSON object holding it."""

    def flag(name: str, default: bool = False) -> bool:
        return _bool(spec.get(name, default))

    length = int(spec.get("PasswordLength", 32))
    excluded = set(str(spec.get("ExcludeCharacters", "")))
    groups = [
        chars
        for chars, skip in (
            (string.ascii_lowercase, flag("ExcludeLowercase")),
            (string.ascii_uppercase, flag("ExcludeUppercase")),
            (string.digits, flag("ExcludeNumbers")),
            (PUNCTUATION, flag("ExcludePunctuation")),
            (" ", not flag("IncludeSpace")),
        )
        if not skip
    ]
    groups = [g for g in ("".join(c for c in chars if c not in excluded) for chars in groups) if g]
    if not groups or not 1 <= length <= 4096:
        raise ValueError(f"GenerateSecretString {spec} leaves no characters to generate a secret from")
    alphabet = "".join(groups)
    rng = secrets.SystemRandom()
    require = flag("RequireEachIncludedType", True) and length >= len(groups)
    while True:
        value = "".join(rng.choice(alphabet) for _ in range(length))
        if not require or all(any(c in g for c in value) for g in groups):
            break
    template, key = spec.get("SecretStringTemplate"), spec.get("GenerateStringKey")
    if template and key:
        return json.dumps({**json.loads(template), key: value}, separators=(",", ":"))
    return value


def _provision_secrets(t: Template, clients: Any, dep: Deployment) -> None:
    """Create the template's secrets. A secret that exists already (restored from the hub's state, or
    kept by the emulator) keeps its value, as a stack update does: tokens signed before a restart stay valid.
    Only a static SecretString the template changed is written again."""
    found = t.of_type("AWS::SecretsManager::Secret")
    if not found:
        return
    sm = clients("secretsmanager")
    for lid, res in found.items():
        props = t.resolve(res.get("Properties") or {})
        name = props.get("Name") or _physical(STACK_PREFIX, lid)
        try:
            arn = sm.describe_secret(SecretId=name)["ARN"]
            if "SecretString" in props:
                current = sm.get_secret_value(SecretId=arn).get("SecretString")
                if current != props["SecretString"]:
                    sm.put_secret_value(SecretId=arn, SecretString=props["SecretString"])
        except sm.exceptions.ResourceNotFoundException:
            value = (
                props["SecretString"]
                if "SecretString" in props
                else generate_secret_string(props.get("GenerateSecretString") or {})
            )
            kwargs: dict[str, Any] = {"Name": name, "SecretString": value}
            if props.get("Description"):
                kwargs["Description"] = props["Description"]
            if props.get("Tags"):
                kwargs["Tags"] = props["Tags"]
            arn = sm.create_secret(**kwargs)["ARN"]
        t.physical[lid] = {"Ref": arn, "Id": arn, "Name": name}
        dep.secrets[friendly(lid)] = arn


# -- API Gateway -------------------------------------------------------------------------------------
def _provision_rest_apis(t: Template, clients: Any, dep: Deployment) -> None:
    """Give every RestApi a real id: the emulator's RestApi of that name (restored from the hub's state, so
    the id stays the same across restarts and usage plans naming it keep working), else a new one."""
    apis = t.of_type("AWS::ApiGateway::RestApi")
    if apis:
        apigw = clients("apigateway")
        existing: dict[str, dict[str, Any]] = {}
        for page in apigw.get_paginator("get_rest_apis").paginate():
            for item in page.get("items", []):
                existing.setdefault(item["name"], item)
        for lid, res in apis.items():
            props = t.resolve(res.get("Properties") or {})
            name = props.get("Name") or _physical(STACK_PREFIX, lid)
            api = existing.get(name)
            if api is None:
                kwargs: dict[str, Any] = {"name": name, "apiKeySource": props.get("ApiKeySourceType", "HEADER")}
                if props.get("Description"):
                    kwargs["description"] = props["Description"]
                api = apigw.create_rest_api(**kwargs)
            root = api.get("rootResourceId") or ""
            t.physical[lid] = {"Ref": api["id"], "RootResourceId": root}
            dep.api_ids[lid] = api["id"]
    for lid, res in t.of_type("AWS::ApiGateway::Stage").items():
        dep.stage = res["Properties"].get("StageName", "")
        t.physical[lid] = {"Ref": dep.stage}
    for lid in t.of_type("AWS::ApiGateway::Deployment"):
        t.physical[lid] = {"Ref": "local"}  # a deployment has no local counterpart


def _bool(value: Any) -> bool:
    return value.strip().lower() == "true" if isinstance(value, str) else bool(value)


def _function_in(uri: Any, t: Template, function_by_arn: dict[str, str]) -> str | None:
    """The function a Lambda integration or authorizer URI (``...:lambda:path/.../functions/<arn>/invocations``)
    invokes."""
    try:
        text = str(t.resolve(uri))
    except KeyError:
        text = json.dumps(uri)
    for arn, lid in function_by_arn.items():
        if f"{arn}/invocations" in text:
            return lid
    raw = json.dumps(uri)  # unresolvable: the function's logical id in the URI's intrinsics
    return next((lid for lid in function_by_arn.values() if f'"{lid}"' in raw), None)


def _authorizers(t: Template, function_by_arn: dict[str, str]) -> dict[str, AuthorizerSpec]:
    out = {}
    for lid, res in t.of_type("AWS::ApiGateway::Authorizer").items():
        props = res["Properties"]
        kind = props.get("Type", "TOKEN")
        if kind != "TOKEN":
            raise NotImplementedError(f"authorizer {lid}: only TOKEN (Lambda) authorizers run locally, not {kind}")
        fn = _function_in(props.get("AuthorizerUri", ""), t, function_by_arn)
        if fn is None:
            raise NotImplementedError(f"authorizer {lid}: its AuthorizerUri names no function of the template")
        source = str(props.get("IdentitySource", "method.request.header.Authorization"))
        if not source.startswith("method.request.header."):
            raise NotImplementedError(f"authorizer {lid}: a TOKEN authorizer's identity source must be a header")
        expression = props.get("IdentityValidationExpression")
        if expression:
            re.compile(expression)  # fails at start-up, not on the first request
        out[lid] = AuthorizerSpec(
            logical_id=lid,
            name=str(t.resolve(props.get("Name", lid))),
            function=fn,
            header=source.removeprefix("method.request.header."),
            validation_expression=expression or None,
            ttl=int(props.get("AuthorizerResultTtlInSeconds", AUTHORIZER_TTL_DEFAULT)),
        )
    return out


def _routes(t: Template, function_by_arn: dict[str, str]) -> list[RouteSpec]:
    apis = t.of_type("AWS::ApiGateway::RestApi")
    resources = t.of_type("AWS::ApiGateway::Resource")
    validators = t.of_type("AWS::ApiGateway::RequestValidator")
    authorizers = _authorizers(t, function_by_arn)

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
        fn = _function_in(integration.get("Uri", ""), t, function_by_arn)
        if fn is None or integration.get("Type") != "AWS_PROXY":
            raise NotImplementedError(f"method {lid}: only Lambda proxy integrations run locally")
        auth_type = props.get("AuthorizationType", "NONE")
        authorizer = None
        if auth_type == "CUSTOM":
            authorizer = authorizers[props["AuthorizerId"]["Ref"]]
        elif auth_type != "NONE":
            raise NotImplementedError(f"method {lid}: AuthorizationType {auth_type} is not emulated locally")
        validator_ref = props.get("RequestValidatorId")
        validator = validators[validator_ref["Ref"]]["Properties"] if validator_ref else {}
        api = props["RestApiId"]["Ref"]
        routes.append(
            RouteSpec(
                method=props["HttpMethod"],
                resource=path_of(props["ResourceId"]) or "/",
                function=fn,
                api=api,
                authorization_type=auth_type,
                authorizer=authorizer,
                api_key_required=_bool(props.get("ApiKeyRequired", False)),
                api_key_source=(apis[api].get("Properties") or {}).get("ApiKeySourceType", "HEADER"),
                request_parameters={k: _bool(v) for k, v in (props.get("RequestParameters") or {}).items()},
                validate_parameters=_bool(validator.get("ValidateRequestParameters", False)),
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
