"""Transactional outbox: stream publisher (fast path) and scheduled sweeper (safety net)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from .common import LambdaDefaults, dead_letter_queue
from .data import DataStores


class Outbox(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, defaults: LambdaDefaults, data: DataStores, bus: events.IEventBus
    ) -> None:
        super().__init__(scope, construct_id)
        self.dlq = dead_letter_queue(self, "StreamDeadLetterQueue")
        self.publisher = defaults.function(
            self,
            "Publisher",
            handler="outbox.handler.stream_handler",
            service="outbox",
            description="Outbox stream -> EventBridge",
        )
        self.publisher.add_event_source(
            sources.DynamoEventSource(
                data.orders,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=25,
                bisect_batch_on_error=True,
                retry_attempts=5,
                max_record_age=Duration.hours(6),
                report_batch_item_failures=True,
                on_failure=sources.SqsDlq(self.dlq),
                filters=[
                    lambda_.FilterCriteria.filter(
                        {
                            "eventName": lambda_.FilterRule.is_equal("INSERT"),
                            "dynamodb": {"NewImage": {"item_type": {"S": lambda_.FilterRule.is_equal("OUTBOX")}}},
                        }
                    )
                ],
            )
        )
        self.sweeper = defaults.function(
            self,
            "Sweeper",
            handler="outbox.handler.sweep_handler",
            service="outbox",
            description="Publishes outbox items the stream missed",
            timeout=Duration.minutes(2),
        )
        self.sweep_dlq = dead_letter_queue(self, "SweepDeadLetterQueue")
        events.Rule(
            self,
            "SweepSchedule",
            schedule=events.Schedule.rate(Duration.minutes(5)),
            targets=[
                targets.LambdaFunction(
                    self.sweeper, dead_letter_queue=self.sweep_dlq, retry_attempts=2, max_event_age=Duration.hours(1)
                )
            ],
        )
        for fn in (self.publisher, self.sweeper):
            data.orders.grant_read_write_data(fn)
            bus.grant_put_events_to(fn)
