"""Transactional outbox: stream publisher (fast path) and scheduled sweeper (safety net)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from .common import LambdaDefaults, allow, dead_letter_queue, grant_table, schedule
from .data import OUTBOX_PENDING_INDEX, DataStores

# the EventBridge sources of the events the hub itself emits (synchub.<domain>, CONTRIBUTING.md): the
# outbox items carry them (orders transitions, cancellations, returns: synchub.orders; invoices, credit
# memos and their postings: synchub.invoicing; OrderReserved, OrderBackordered: synchub.reservation;
# OrderReleased: synchub.fulfilment; StockAvailable: synchub.inventory; CircuitStateChanged and
# ReconciliationCompleted: synchub.connectors). A PutEvents with any other source, wms.* above all, is
# refused.
HUB_SOURCES = [
    "synchub.connectors",
    "synchub.fulfilment",
    "synchub.inventory",
    "synchub.invoicing",
    "synchub.orders",
    "synchub.reservation",
]


def grant_put_hub_events(fn: lambda_.IFunction, bus: events.IEventBus) -> None:
    allow(fn, ["events:PutEvents"], [bus.event_bus_arn], StringEquals={"events:source": HUB_SOURCES})


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
        # one DLQ for both ways a sweep can fail: EventBridge could not invoke it (the rule target's
        # DLQ) or the run itself failed after Lambda's retries (the function's on-failure destination).
        # `synchub replay` answers both the same way: it runs the sweep again.
        self.sweep_dlq = dead_letter_queue(self, "SweepDeadLetterQueue")
        self.sweeper = defaults.function(
            self,
            "Sweeper",
            handler="outbox.handler.sweep_handler",
            service="outbox",
            description="Publishes outbox items the stream missed",
            timeout=Duration.minutes(2),
            on_failure=self.sweep_dlq,
        )
        schedule(self, "SweepSchedule", self.sweeper, self.sweep_dlq, Duration.minutes(5))
        # both read the outbox item (consistent GetItem) and mark it published (UpdateItem); the
        # sweeper finds pending items through the sparse index
        for fn in (self.publisher, self.sweeper):
            grant_table(fn, data.orders, "GetItem", "UpdateItem")
            grant_put_hub_events(fn, bus)
        grant_table(self.sweeper, data.orders, "Query", index=OUTBOX_PENDING_INDEX)
