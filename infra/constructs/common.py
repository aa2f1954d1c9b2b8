"""Pieces every domain construct shares: the Lambda defaults, least-privilege grants and the
queue + DLQ worker."""

from __future__ import annotations

import compileall
import hashlib
import py_compile
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
# the code asset as deployed: functions/ with its bytecode compiled at synth (stage_code)
STAGED_CODE_DIR = Path(__file__).resolve().parents[2] / "build" / "code-asset"
ASSET_EXCLUDE = ("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")
# the Python the tests run on (pyproject's requires-python, the venv), so what is tested is what runs
RUNTIME = lambda_.Runtime.PYTHON_3_11
FUNCTION_TIMEOUT = Duration.seconds(30)
MAX_RECEIVE_COUNT = 5
# a bus rule's delivery to its queue (bus_target): EventBridge's maximum retries and event age
BUS_RETRY_ATTEMPTS = 185
BUS_MAX_EVENT_AGE = Duration.hours(24)
# Graviton: the same code at 20 % less per GB-second than x86_64 (benchmarks/bill.py; ADR 0012); the
# Powertools layer must be the build of the same architecture (pydantic-core is compiled)
ARCHITECTURE = lambda_.Architecture.ARM_64
POWERTOOLS_LAYER = "arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-arm64:{version}"
# the `type` base of every RFC 9457 problem the API answers (synchub_core.problem.PROBLEM_BASE, which
# infra cannot import: it pulls in Powertools); tests/infra/test_infra.py checks the two agree
PROBLEM_BASE = "https://synchub.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"
DEAD_LETTER_QUEUE_ENV = "DEAD_LETTER_QUEUE_URL"  # functions/synchub_core/lambda_support.py reads it
# item-level access: every partition key the request touches matches one of the patterns
LEADING_KEYS_OPERATOR = "ForAllValues:StringLike"
# the orders table's outbox items (OUTBOX#<event_id>): what a function that writes nothing else of the
# orders table may write there, its events (functions/synchub_core/outbox.py)
OUTBOX_KEYS = ["OUTBOX#*"]
# the backorder hints (WAITING#<sku>, functions/orders/repository.py), written and deleted in batches
# (BatchWriteItem) and read a SKU at a time (Query): nothing else of the orders table is batch-written
WAITING_KEYS = ["WAITING#*"]


def stage_code() -> Path:
    """``functions/`` as the asset ships it: the sources plus their bytecode, compiled here.

    ``/var/task`` is read-only, so a function whose asset carries no ``.pyc`` compiles every module
    of its own on every cold start (benchmarks/coldstart.py). The bytecode is *unchecked-hash*
    (PEP 552): valid whatever the files' timestamps in the zip, and the same bytes on every synth of
    the same sources (a stable asset hash). It is compiled only when synth runs on the functions'
    Python (RUNTIME); on another one the asset carries the sources alone, as before. The staging is
    a directory under ``build/`` named after the sources' digest, written once (atomically) and
    reused by every synth of the same sources."""
    digest = hashlib.sha256()
    for path in sorted(FUNCTIONS_DIR.rglob("*.py")):
        if "__pycache__" not in path.parts:
            digest.update(path.relative_to(FUNCTIONS_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    compiled = RUNTIME.name == f"python{sys.version_info.major}.{sys.version_info.minor}"
    target = STAGED_CODE_DIR / f"{digest.hexdigest()[:16]}{'' if compiled else '-src'}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        shutil.copytree(FUNCTIONS_DIR, scratch / "code", ignore=shutil.ignore_patterns(*ASSET_EXCLUDE))
        if compiled:
            compileall.compile_dir(
                scratch / "code",
                quiet=1,
                ddir=str(target),  # tracebacks of the local hub point at sources that exist
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        try:
            (scratch / "code").rename(target)
        except OSError:  # another synth staged the same sources first
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for old in STAGED_CODE_DIR.iterdir():  # earlier sources' stagings are never read again
        if old != target and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    return target


class LambdaDefaults(Construct):
    """One code asset (``functions/`` with its bytecode, :func:`stage_code`) and the Powertools
    layer, shared by every function."""

    def __init__(self, scope: Construct, construct_id: str, *, environment: dict[str, str]) -> None:
        super().__init__(scope, construct_id)
        self.code = lambda_.Code.from_asset(str(stage_code()))
        version = str(self.node.try_get_context("synchub:powertoolsLayerVersion") or "28")
        self.layer = lambda_.LayerVersion.from_layer_version_arn(
            self, "Powertools", POWERTOOLS_LAYER.format(region=Stack.of(self).region, version=version)
        )
        self.environment = environment

    def function(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        service: str,
        description: str,
        timeout: Duration = FUNCTION_TIMEOUT,
        memory: int = 512,
        environment: dict[str, str] | None = None,
        on_failure: sqs.IQueue | None = None,
    ) -> lambda_.Function:
        """A function with its own log group and its own role, which may write to that log group (and
        send X-Ray traces) and nothing else yet: every other permission is granted explicitly, with
        ``allow`` / ``grant_table`` below (tests/infra/test_least_privilege.py pins the result).

        ``on_failure``: for functions invoked asynchronously (schedules), the queue a failed
        invocation goes to once Lambda's own retries are spent.
        """
        log_group = logs.LogGroup(
            scope, f"{construct_id}Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        # not the CDK default role: that one carries AWSLambdaBasicExecutionRole (logs:* on every group)
        role = iam.Role(
            scope,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"synchub {service}: {description}",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        return lambda_.Function(
            scope,
            construct_id,
            role=role,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=self.code,
            handler=handler,
            layers=[self.layer],
            timeout=timeout,
            memory_size=memory,
            description=description,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            # JSON: Powertools' lines pass as they are and Lambda's own START/END/REPORT lines (INFO, a
            # third of a quiet function's log bytes: benchmarks/bill.py) are dropped; WARN keeps the
            # platform's timeouts and crashes. Duration and memory stay in the function's metrics.
            logging_format=lambda_.LoggingFormat.JSON,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            environment={
                **self.environment,
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": "synchub",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                # no pydantic plugin is installed: skip the scan of every distribution's entry
                # points that the first model class would make on each cold start
                "PYDANTIC_DISABLE_PLUGINS": "__all__",
                **(environment or {}),
            },
            on_failure=destinations.SqsDestination(on_failure) if on_failure is not None else None,
            retry_attempts=2 if on_failure is not None else None,
            max_event_age=Duration.hours(1) if on_failure is not None else None,
        )


def allow(fn: lambda_.IFunction, actions: list[str], resources: list[str], **conditions: dict[str, Any]) -> None:
    """Add one statement to the function's role. ``conditions``: operator -> {key: values}."""
    fn.add_to_role_policy(
        iam.PolicyStatement(actions=sorted(actions), resources=resources, conditions=conditions or None)
    )


def grant_table(
    fn: lambda_.IFunction,
    table: ddb.ITable,
    *actions: str,
    index: str | None = None,
    leading_keys: list[str] | None = None,
) -> None:
    """``dynamodb:<action>`` on the table, or on one of its indexes (Query on a GSI needs the index ARN).

    Items written inside TransactWriteItems need the per-item action (PutItem, UpdateItem,
    DeleteItem, ConditionCheckItem): TransactWriteItems has no permission of its own.

    ``leading_keys``: only items whose partition key matches one of these patterns (``OUTBOX#*``):
    ``ForAllValues:StringLike`` on ``dynamodb:LeadingKeys``, for a function that writes a few kinds
    of items of a table it does not own (the outbox items of the orders table).
    """
    arn = table.table_arn if index is None else f"{table.table_arn}/index/{index}"
    conditions = {LEADING_KEYS_OPERATOR: {"dynamodb:LeadingKeys": leading_keys}} if leading_keys else {}
    allow(fn, [f"dynamodb:{a}" for a in actions], [arn], **conditions)


def bus_target(queue: sqs.IQueue, dlq: sqs.IQueue) -> targets.SqsQueue:
    """A bus rule's SQS target: EventBridge retries a failed delivery for up to 24 hours (185
    attempts), then dead-letters the event to ``dlq``, the queue's own DLQ, so one replay path
    (``synchub replay``) serves both a failed delivery and a failed message."""
    return targets.SqsQueue(
        queue,
        dead_letter_queue=dlq,
        retry_attempts=BUS_RETRY_ATTEMPTS,
        max_event_age=BUS_MAX_EVENT_AGE,
    )


def schedule(
    scope: Construct, construct_id: str, fn: lambda_.IFunction, dlq: sqs.IQueue, rate: Duration
) -> events.Rule:
    """An EventBridge schedule invoking ``fn`` every ``rate``; its failed deliveries go to ``dlq``,
    the same DLQ as the function's failed runs (its on-failure destination), so one replay path
    serves both: replaying it runs the work again."""
    return events.Rule(
        scope,
        construct_id,
        schedule=events.Schedule.rate(rate),
        targets=[targets.LambdaFunction(fn, dead_letter_queue=dlq, retry_attempts=2, max_event_age=Duration.hours(1))],
    )


def ops_topic(scope: Construct) -> sns.Topic:
    """The stack's one SNS topic for operational alarms (subscribe on-call to it)."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child("OpsAlarmTopic")
    if isinstance(existing, sns.Topic):
        return existing
    return sns.Topic(stack, "OpsAlarmTopic", display_name="synchub operational alarms", enforce_ssl=True)


def dead_letter_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """A DLQ that keeps messages 14 days and alarms as soon as it holds one."""
    queue = sqs.Queue(
        scope,
        construct_id,
        retention_period=Duration.days(14),
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
    )
    alarm = cloudwatch.Alarm(
        scope,
        f"{construct_id}NotEmpty",
        alarm_description=f"{construct_id} holds failed messages: inspect, fix, then `synchub replay`",
        metric=queue.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
        ),
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(cw_actions.SnsAction(ops_topic(scope)))
    return queue


class QueueWorker(Construct):
    """An SQS queue with a DLQ, drained by a Lambda that reports partial batch failures."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: LambdaDefaults,
        handler: str,
        service: str,
        description: str,
        batch_size: int = 10,
        max_batching_window: Duration | None = Duration.seconds(1),
        max_concurrency: int | None = None,
        timeout: Duration = FUNCTION_TIMEOUT,
        memory: int = 512,
        environment: dict[str, str] | None = None,
    ) -> None:
        """``max_concurrency``: the event source mapping's MaximumConcurrency (2..1000): at most this
        many concurrent invocations drain the queue, the rest of the backlog waits in it (a target
        that must not be flooded). ``max_batching_window`` None: no window (invoke at once)."""
        super().__init__(scope, construct_id)
        self.dlq = dead_letter_queue(self, "DeadLetterQueue")
        self.queue = sqs.Queue(
            self,
            "Queue",
            # AWS guidance: at least six times the function timeout, so retries don't overlap
            visibility_timeout=Duration.seconds(timeout.to_seconds() * 6),
            retention_period=Duration.days(4),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=MAX_RECEIVE_COUNT),
        )
        # a message the function refuses (not retryable: wrong producer, wrong shape) goes straight to
        # the DLQ with its reason, by the function itself: SendMessage on this DLQ and nothing else
        self.function = defaults.function(
            self,
            "Function",
            handler=handler,
            service=service,
            description=description,
            timeout=timeout,
            memory=memory,
            environment={**(environment or {}), DEAD_LETTER_QUEUE_ENV: self.dlq.queue_url},
        )
        allow(self.function, ["sqs:SendMessage"], [self.dlq.queue_arn])
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=batch_size,
                max_batching_window=max_batching_window,
                max_concurrency=max_concurrency,
                report_batch_item_failures=True,
            )
        )
