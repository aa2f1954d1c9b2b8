"""cdk-nag: the AwsSolutions and Serverless rule packs over the stack, and the findings the stack
answers otherwise, each suppressed on the resource it concerns, with the reason.

``python -m infra.app`` (``make synth``) fails on an unsuppressed error, like ``cdk synth`` does;
tests/infra/test_nag.py asserts there are none, no unsuppressed warnings either, and that every
suppression below still matches a finding (a stale one fails the test).
"""

from __future__ import annotations

from aws_cdk import Aspects, CfnResource, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions, ServerlessChecks
from constructs import IConstruct

from infra.constructs.common import QueueWorker
from infra.stack import SynchubStack

# CDK's singleton for bucket notifications (aws_s3.Bucket.add_event_notification), at the stack's root
NOTIFICATIONS_HANDLER = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"
RUNTIME_PINNED = (
    "Pinned to Python 3.11, the Python the tests run on (pyproject requires-python, the CI venv), with "
    "the matching Powertools layer build: the deployed code is the tested code. Moving up is one "
    "constant (infra/constructs/common.py RUNTIME) once the test environment moves."
)


def apply(stack: SynchubStack, *, verbose: bool = False, log_suppressed: bool = False) -> None:
    """Add both packs to the stack and the suppressions below. ``log_suppressed``: report every
    suppressed finding as an info annotation (the test uses them to find stale suppressions)."""
    Aspects.of(stack).add(AwsSolutionsChecks(verbose=verbose, log_ignores=log_suppressed))
    Aspects.of(stack).add(ServerlessChecks(verbose=verbose, log_ignores=log_suppressed))
    _suppress(stack)


def _suppress_on(construct: IConstruct | list[IConstruct], rule: str, reason: str, *applies_to: str) -> None:
    """Suppress ``rule`` on exactly the CloudFormation resource(s) it reports: the construct itself if
    it is one, else its default child (Function -> AWS::Lambda::Function ...). Never on children, so
    a suppression cannot hide a finding on another resource, and a stale one shows (test_nag.py)."""
    targets: list[IConstruct] = []
    for c in construct if isinstance(construct, list) else [construct]:
        resource = c if isinstance(c, CfnResource) else c.node.default_child
        assert isinstance(resource, CfnResource), f"{c.node.path} is no CloudFormation resource"
        targets.append(resource)
    NagSuppressions.add_resource_suppressions(
        targets,
        [NagPackSuppression(id=rule, reason=reason, applies_to=list(applies_to) or None)],
        apply_to_children=False,
    )


def _default_policy(role: iam.IRole) -> IConstruct:
    """The role's AWS::IAM::Policy (CDK's DefaultPolicy), where IAM5 reports statements."""
    policy = role.node.try_find_child("DefaultPolicy")
    assert policy is not None, f"{role.node.path} has no DefaultPolicy"
    return policy


def _esm(fn: lambda_.Function) -> list[IConstruct]:
    return [c for c in fn.node.find_all() if isinstance(c, lambda_.CfnEventSourceMapping)]


def _suppress(stack: SynchubStack) -> None:
    api, outbox, workers, channels = stack.api, stack.outbox, stack.workers, stack.channels
    connectors = stack.connectors
    queue_workers: list[QueueWorker] = [*workers.queue_workers, *connectors.queue_workers]
    functions: list[lambda_.Function] = [
        channels.token_function,
        channels.authorizer_function,
        api.function,
        outbox.publisher,
        outbox.sweeper,
        workers.backorders,
        connectors.watchdog,
        connectors.reconciler,
        connectors.operations,
        *(w.function for w in queue_workers),
    ]

    # -- Lambda -----------------------------------------------------------------------------------
    for fn in functions:
        _suppress_on(fn, "AwsSolutions-L1", RUNTIME_PINNED)
        _suppress_on(fn, "Serverless-LambdaLatestVersion", RUNTIME_PINNED)
        assert fn.role is not None
        _suppress_on(
            _default_policy(fn.role),
            "AwsSolutions-IAM5",
            "Resource '*' is X-Ray's only (xray:PutTraceSegments, xray:PutTelemetryRecords, for active "
            "tracing): X-Ray has no resource-level permissions. Every other statement names its table, "
            "index, queue, bus, secret or log group (pinned by tests/infra/test_least_privilege.py)."
            + (
                " The stream publisher's '*' also covers dynamodb:ListStreams, which Lambda's DynamoDB "
                "stream poller needs and which takes no resource either."
                if fn is outbox.publisher
                else ""
            ),
            "Resource::*",
        )
    sync_reason = (
        "Invoked synchronously by API Gateway (integration or authorizer): a DeadLetterConfig only "
        "applies to asynchronous invocations; a failure is the caller's error response, logged and traced."
    )
    for fn in (channels.token_function, channels.authorizer_function, api.function, connectors.operations):
        _suppress_on(fn, "Serverless-LambdaDLQ", sync_reason)
    _suppress_on(
        outbox.publisher,
        "Serverless-LambdaDLQ",
        "Invoked by a DynamoDB stream event source mapping, never asynchronously: records that still "
        "fail after the mapping's retries go to its on-failure destination (Outbox/StreamDeadLetterQueue).",
    )
    for worker in queue_workers:
        _suppress_on(
            worker.function,
            "Serverless-LambdaDLQ",
            "Invoked by an SQS event source mapping, never asynchronously: a message that keeps failing "
            "moves to the queue's redrive DLQ (maxReceiveCount 5); a refused one is sent there by the "
            "function itself, with the reason.",
        )
        _suppress_on(
            _esm(worker.function),
            "Serverless-LambdaEventSourceMappingDestination",
            "An SQS event source mapping takes no on-failure destination (Lambda supports them for "
            "stream and Kafka sources only): the source queue's redrive policy is the failure path.",
        )
    for fn, dlq_path in (
        (outbox.sweeper, "Outbox/SweepDeadLetterQueue"),
        (workers.backorders, "Workers/BackorderDeadLetterQueue"),
        (connectors.watchdog, "Connectors/ErpWatchdogDeadLetterQueue"),
        (connectors.reconciler, "Connectors/ReconcilerDeadLetterQueue"),
    ):
        _suppress_on(
            fn,
            "Serverless-LambdaDLQ",
            f"Scheduled (asynchronous) invocations fail into the EventInvokeConfig on-failure destination "
            f"{dlq_path} (Serverless-LambdaAsyncFailureDestination), which supersedes the older DeadLetterConfig "
            "and carries the error with the event; the schedule's own delivery failures go to the same queue.",
        )

    # -- SQS: dead-letter queues are not work queues ----------------------------------------------------
    dlq_reason = (
        "This is a dead-letter queue: a DLQ of a DLQ would only move the problem. It keeps messages 14 "
        "days, alarms on its first message (OpsAlarmTopic) and is drained by `synchub replay`."
    )
    dlqs: list[sqs.Queue] = [
        *(w.dlq for w in queue_workers),
        outbox.dlq,
        outbox.sweep_dlq,
        workers.backorder_dlq,
        connectors.watchdog_dlq,
        connectors.reconciler_dlq,
        *(o.dlq for o in stack.warehouses.outbound.values()),
    ]
    for dlq in dlqs:
        _suppress_on(dlq, "Serverless-SQSRedrivePolicy", dlq_reason)
    for dlq, use in (
        (outbox.dlq, "the stream event source mapping's on-failure destination"),
        (outbox.sweep_dlq, "the sweep schedule target's DLQ and the sweeper's on-failure destination"),
        (workers.backorder_dlq, "the backorder schedule target's DLQ and the sweeper's on-failure destination"),
        (connectors.watchdog_dlq, "the ERP watchdog schedule target's DLQ and the watchdog's on-failure destination"),
        (connectors.reconciler_dlq, "the reconcile schedule target's DLQ and the reconciler's on-failure destination"),
    ):
        _suppress_on(
            dlq,
            "AwsSolutions-SQS3",
            f"The rule recognises a DLQ only as some queue's redrive target, but this queue is a DLQ: {use}. "
            + dlq_reason,
        )

    # -- API Gateway --------------------------------------------------------------------------------
    _suppress_on(
        api.api,
        "AwsSolutions-APIG2",
        "The request validator (ParametersValidator) validates parameters (POST /orders's required "
        "Idempotency-Key). Bodies are validated by the function, which answers RFC 9457 problem+json "
        "with a JSON pointer per error; API Gateway's model validation cannot.",
    )
    for method in api.api.methods:
        public = method.resource.path in ("/oauth2/token", "/openapi.json")
        if public:
            reason = (
                f"{method.http_method} {method.resource.path} is public by design: "
                + (
                    "the OAuth 2.0 token endpoint authenticates the client itself (client credentials, "
                    "RFC 6749 4.4); a bearer token cannot be required to get one."
                    if method.resource.path == "/oauth2/token"
                    else "the API's OpenAPI description, which holds no data."
                )
                + " The stage throttle and, unless switched off, the WAF web ACL still apply."
            )
            _suppress_on(method, "AwsSolutions-APIG4", reason)
            _suppress_on(method, "AwsSolutions-COG4", reason)
        elif method.resource.path.startswith("/exceptions"):
            _suppress_on(
                method,
                "AwsSolutions-COG4",
                f"{method.http_method} {method.resource.path} is authorized by the channels' Lambda TOKEN "
                "authorizer (OAuth 2.0 client credentials JWTs the hub issues to operator principals, plus "
                "their API key and usage plan; the function refuses channel tokens): the callers are the "
                "operators' tools (synchub exceptions), not Cognito user pool users.",
            )
        else:
            _suppress_on(
                method,
                "AwsSolutions-COG4",
                f"{method.http_method} {method.resource.path} is authorized by the channels' Lambda TOKEN "
                "authorizer (OAuth 2.0 client credentials JWTs the hub issues, plus the channel's API key "
                "and usage plan): the callers are sales-channel systems, not Cognito user pool users.",
            )
    if api.manages_account_role:
        account_role = api.api.node.try_find_child("CloudWatchRole")
        assert account_role is not None, "RestApi(cloud_watch_role=True) makes CloudWatchRole"
        _suppress_on(
            account_role,
            "AwsSolutions-IAM4",
            "AmazonAPIGatewayPushToCloudWatchLogs is the AWS managed policy made for this role (the region's "
            "API Gateway CloudWatch Logs role, AWS::ApiGateway::Account): execution logs go to log groups "
            "API Gateway names and creates per API and stage, which a stack-scoped policy cannot list.",
            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
        )
    if api.firewall is None:
        _suppress_on(
            api.stage,
            "AwsSolutions-APIG3",
            "The WAF web ACL is switched off with context synchub:waf=false (a sandbox, a load test from "
            "one address); the default synth associates it with this stage.",
        )

    # -- the connectors' exchange bucket -----------------------------------------------------------------
    bucket_id = _logical_id(connectors.bucket.node.default_child)
    for worker, prefixes in (
        (connectors.erp_orders.worker, ["to-erp/orders/"]),
        (connectors.erp_acks, ["from-erp/acks/"]),
        (connectors.masterdata, ["from-erp/master/", "to-erp/reports/"]),
    ):
        assert worker.function.role is not None
        _suppress_on(
            _default_policy(worker.function.role),
            "AwsSolutions-IAM5",
            "Objects under one prefix of the exchange bucket (the file interface's folder this function "
            "reads or writes; each file is a new key with a generated name), never the whole bucket and "
            "only GetObject or PutObject: an object ARN cannot name keys that do not exist yet.",
            *(f"Resource::<{bucket_id}.Arn>/{prefix}*" for prefix in prefixes),
        )
    # CDK's singleton behind bucket.add_event_notification (Custom::S3BucketNotifications), which
    # writes the exchange bucket's notification configuration at deploy time
    handler_role = stack.node.try_find_child(NOTIFICATIONS_HANDLER)
    assert handler_role is not None, "the exchange bucket's notifications need CDK's handler"
    role = handler_role.node.try_find_child("Role")
    assert role is not None
    _suppress_on(
        role,
        "AwsSolutions-IAM4",
        "CDK's own BucketNotificationsHandler (the custom resource behind bucket notifications, inline "
        "code CDK maintains) logs with AWSLambdaBasicExecutionRole; its only other permission is "
        "s3:PutBucketNotification, and it runs during deployments only, never on the data path.",
        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    )

    # -- Secrets Manager --------------------------------------------------------------------------------
    _suppress_on(
        channels.signing_secret,
        "AwsSolutions-SMG4",
        "The HS256 token-signing key has no rotation Lambda yet: tokens carry no key id, so a rotation "
        "invalidates every token at once (channels fetch a new one on their next 401, tokens live 1 h). "
        "Rotate by hand: `aws secretsmanager put-secret-value` with a new 64-character random string.",
    )
    _suppress_on(
        connectors.finance_credentials,
        "AwsSolutions-SMG4",
        "The finance client credentials are issued by the finance provider, not by the hub: a rotation "
        "Lambda here cannot mint a new client secret there. Rotate with the provider, then store the new "
        "secret with `aws secretsmanager put-secret-value`; the connectors re-read it within 5 minutes.",
    )


def _logical_id(resource: IConstruct | None) -> str:
    """The logical id of a CloudFormation resource, as cdk-nag writes it in ``Resource::<Id.Arn>``."""
    assert isinstance(resource, CfnResource)
    return str(Stack.of(resource).resolve(resource.logical_id))
