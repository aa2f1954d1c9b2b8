"""Event-driven workers: WMS inventory feed, reservation and invoicing."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from .common import FUNCTION_TIMEOUT, LambdaDefaults, QueueWorker, dead_letter_queue, grant_table, schedule
from .data import BACKORDERS_INDEX, DataStores


class InventoryIngest(Construct):
    """WMS -> SQS inventory-events queue -> position updates."""

    def __init__(
        self, scope: Construct, construct_id: str, *, defaults: LambdaDefaults, data: DataStores, warehouses: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.worker = QueueWorker(
            self,
            "Worker",
            defaults=defaults,
            handler="inventory.handler.lambda_handler",
            service="inventory",
            description="WMS inventory positions",
            batch_size=25,
            environment={"WAREHOUSES": warehouses},
        )
        # the position as it is (consistent GetItem), then one conditional UpdateItem
        grant_table(self.worker.function, data.inventory, "GetItem", "UpdateItem")

    def identify_senders(self, warehouses: str, replay_role_id: str) -> None:
        """Take each site's reports only from its producer role: ``warehouses`` is the registry with
        every site's ``producer_role_id`` (infra.context.warehouses_env), ``replay_role_id`` the
        ReplayRole's RoleId, whose copies are judged by the sender they record (synchub replay).
        Both are CloudFormation tokens of roles made after this construct (infra.constructs.access)."""
        self.worker.function.add_environment("WAREHOUSES", warehouses)
        self.worker.function.add_environment("REPLAY_ROLE_ID", replay_role_id)


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
        environment: dict[str, str] | None = None,
        batch_size: int = 10,
        max_batching_window: Duration | None = Duration.seconds(1),
        max_concurrency: int | None = None,
        timeout: Duration = FUNCTION_TIMEOUT,
    ) -> None:
        super().__init__(scope, construct_id)
        self.worker = QueueWorker(
            self,
            "Worker",
            defaults=defaults,
            handler=handler,
            service=service,
            description=description,
            environment=environment,
            batch_size=batch_size,
            max_batching_window=max_batching_window,
            max_concurrency=max_concurrency,
            timeout=timeout,
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
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: LambdaDefaults,
        data: DataStores,
        bus: events.IEventBus,
        warehouses: str,
    ) -> None:
        """``warehouses``: the ``WAREHOUSES`` variable (infra.context.warehouses_env): the registered
        sites the inventory and invoicing workers take warehouse events from."""
        super().__init__(scope, construct_id)
        self.inventory = InventoryIngest(self, "Inventory", defaults=defaults, data=data, warehouses=warehouses)
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
            # WMS sites publish as wms.<site>; an unregistered site still reaches the worker, which
            # dead-letters its events with the reason (the bus policy keeps other principals out)
            sources=events.Match.prefix("wms."),
            handler="invoicing.handler.lambda_handler",
            service="invoicing",
            description="One invoice per confirmed shipment",
            environment={"WAREHOUSES": warehouses},
        )
        # the schedule's DLQ takes both failed deliveries and failed runs (the function's on-failure
        # destination); replaying it runs the sweep again
        self.backorder_dlq = dead_letter_queue(self, "BackorderDeadLetterQueue")
        self.backorders = defaults.function(
            self,
            "BackorderSweeper",
            handler="reservation.handler.backorder_handler",
            service="reservation",
            description="Reserves backordered orders once stock allows",
            timeout=Duration.minutes(2),
            on_failure=self.backorder_dlq,
        )
        schedule(self, "BackorderSchedule", self.backorders, self.backorder_dlq, Duration.minutes(5))
        # What each one calls (functions/*/repository.py): orders are read with GetItem and written as
        # Puts inside TransactWriteItems (the order, its history, its outbox event, the invoice);
        # positions are updated inside the same transactions. Reservation plans from every position of
        # a SKU (Query); invoicing reads the one position it ships from (GetItem).
        reservation, invoicing = self.reservation.worker.function, self.invoicing.worker.function
        for fn in (reservation, self.backorders):
            grant_table(fn, data.orders, "GetItem", "PutItem")
            grant_table(fn, data.inventory, "Query", "UpdateItem")
        grant_table(self.backorders, data.orders, "Query", index=BACKORDERS_INDEX)
        grant_table(invoicing, data.orders, "GetItem", "PutItem")
        grant_table(invoicing, data.inventory, "GetItem", "UpdateItem")
