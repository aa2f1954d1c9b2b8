"""Pieces every domain construct shares: the Lambda defaults and the queue + DLQ worker."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
RUNTIME = lambda_.Runtime.PYTHON_3_12
FUNCTION_TIMEOUT = Duration.seconds(30)
MAX_RECEIVE_COUNT = 5
POWERTOOLS_LAYER = "arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:{version}"


class LambdaDefaults(Construct):
    """One code asset (``functions/``) and the Powertools layer, shared by every function."""

    def __init__(self, scope: Construct, construct_id: str, *, environment: dict[str, str]) -> None:
        super().__init__(scope, construct_id)
        self.code = lambda_.Code.from_asset(
            str(FUNCTIONS_DIR), exclude=["**/__pycache__", "**/*.pyc", "**/.pytest_cache"]
        )
        version = self.node.try_get_context("synchub:powertoolsLayerVersion") or "28"
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
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            scope, f"{construct_id}Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        return lambda_.Function(
            scope,
            construct_id,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            code=self.code,
            handler=handler,
            layers=[self.layer],
            timeout=timeout,
            memory_size=memory,
            description=description,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            environment={
                **self.environment,
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": "synchub",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **(environment or {}),
            },
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
        max_batching_window: Duration = Duration.seconds(1),
    ) -> None:
        super().__init__(scope, construct_id)
        self.dlq = dead_letter_queue(self, "DeadLetterQueue")
        self.queue = sqs.Queue(
            self,
            "Queue",
            # AWS guidance: at least six times the function timeout, so retries don't overlap
            visibility_timeout=Duration.seconds(FUNCTION_TIMEOUT.to_seconds() * 6),
            retention_period=Duration.days(4),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=MAX_RECEIVE_COUNT),
        )
        self.function = defaults.function(self, "Function", handler=handler, service=service, description=description)
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=batch_size,
                max_batching_window=max_batching_window,
                report_batch_item_failures=True,
            )
        )
