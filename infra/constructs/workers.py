"""Event-driven workers: WMS inventory feed, reservation and invoicing."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from .common import LambdaDefaults, QueueWorker, dead_letter_queue
from .data import DataStores


class InventoryIngest(Construct):
    """WMS -> SQS inventory-events queue -> position updates."""

    def __init__(self, scope: Construct, construct_id: str, *, defaults: LambdaDefaults, data: DataStores) -> None:
        super().__init__(scope, construct_id)
        self.worker = QueueWorker(
            self,
            "Worker",
            defaults=defaults,
            handler="inventory.handler.lambda_handler",
            service="inventory",
            description="WMS inventory positions",
            batch_size=25,
        )
        data.inventory.grant_read_write_data(self.worker.function)


class EventWorker(Construct):
    """An EventBridge rule feeding a QueueWorker; both delivery and processing failures dead-letter
    to the same DLQ as the original event, so one replay path serves both."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: LambdaDefaults,
        bus: events.IEventBus,
        detail_type: str,
        sources: list[str],
        handler: str,
        service: str,
        description: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.worker = QueueWorker(
            self, "Worker", defaults=defaults, handler=handler, service=service, description=description
        )
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=bus,
            description=f"{detail_type} -> {service}",
            # only the system that owns the event may trigger the worker
            event_pattern=events.EventPattern(detail_type=[detail_type], source=sources),
            targets=[
                targets.SqsQueue(
                    self.worker.queue,
                    dead_letter_queue=self.worker.dlq,
                    retry_attempts=185,
                    max_event_age=Duration.hours(24),
                )
            ],
        )


class Workers(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, defaults: LambdaDefaults, data: DataStores, bus: events.IEventBus
    ) -> None:
        super().__init__(scope, construct_id)
        self.inventory = InventoryIngest(self, "Inventory", defaults=defaults, data=data)
        self.reservation = EventWorker(
            self,
            "Reservation",
            defaults=defaults,
            bus=bus,
            detail_type="OrderAccepted",
            sources=["synchub.orders"],
            handler="reservation.handler.lambda_handler",
            service="reservation",
            description="Reserve stock for accepted orders",
        )
        self.invoicing = EventWorker(
            self,
            "Invoicing",
            defaults=defaults,
            bus=bus,
            detail_type="ShipmentConfirmed",
            sources=events.Match.prefix("wms."),  # WMS sites publish as wms.<site>
            handler="invoicing.handler.lambda_handler",
            service="invoicing",
            description="One invoice per confirmed shipment",
        )
        self.backorders = defaults.function(
            self,
            "BackorderSweeper",
            handler="reservation.handler.backorder_handler",
            service="reservation",
            description="Reserves backordered orders once stock allows",
            timeout=Duration.minutes(2),
        )
        events.Rule(
            self,
            "BackorderSchedule",
            schedule=events.Schedule.rate(Duration.minutes(5)),
            targets=[
                targets.LambdaFunction(
                    self.backorders,
                    dead_letter_queue=dead_letter_queue(self, "BackorderDeadLetterQueue"),
                    retry_attempts=2,
                    max_event_age=Duration.hours(1),
                )
            ],
        )
        for fn in (self.reservation.worker.function, self.invoicing.worker.function, self.backorders):
            data.orders.grant_read_write_data(fn)
            data.inventory.grant_read_write_data(fn)
