"""Event-driven workers: WMS inventory feed, reservation, fulfilment and invoicing.

* ``Inventory``: WMS reports (SQS, from the sites' producer roles) -> positions; a report that makes
  stock available writes ``StockAvailable`` to the outbox.
* ``Reservation``: OrderAccepted (synchub.orders) -> reserve or backorder.
* ``ReservationStockAvailable``: StockAvailable (synchub.inventory, synchub.orders, synchub.invoicing)
  -> retry the backorders hinted for those SKUs (``WAITING#<sku>``), oldest first.
* ``BackorderSweeper`` (every 5 minutes): every open backorder, the safety net.
* ``FulfilmentRelease``: OrderReserved (synchub.reservation) -> OrderReleased to the warehouses.
* ``FulfilmentWarehouse``: ReleaseAcknowledged, OrderCancellationAnswered (wms.*) -> the release's and
  the cancellation's state.
* ``Invoicing``: ShipmentConfirmed (wms.*) -> consume stock, one invoice per shipment; a shipment of an
  order not reserved yet is held, parked on its own queue (``WORK_QUEUE_URL``) for up to
  ``SHIPMENT_HOLD_MAX_HOURS``.
* ``InvoicingReturns``: ReturnReceived (wms.*) -> stock back, one credit memo per return.

Every bus-fed worker is an ``EventWorker``: rule -> queue -> function, with one DLQ for both a failed
delivery and a failed message (``synchub replay`` finds it as the queue's redrive target).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import context

from .common import (
    FUNCTION_TIMEOUT,
    OUTBOX_KEYS,
    WAITING_KEYS,
    LambdaDefaults,
    QueueWorker,
    allow,
    bus_target,
    dead_letter_queue,
    grant_table,
    schedule,
)
from .data import BACKORDERS_INDEX, DataStores

# WMS sites publish as wms.<site>; an unregistered site still reaches a worker, which dead-letters its
# events with the reason (the bus policy keeps other principals out)
WMS_SOURCES = events.Match.prefix("wms.")


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
        # the position as it is (consistent GetItem), then one conditional UpdateItem; a report that makes
        # stock available writes it in one transaction with its StockAvailable, an outbox item of the
        # orders table (OUTBOX#* only: the orders are not the inventory's to touch)
        grant_table(self.worker.function, data.inventory, "GetItem", "UpdateItem")
        grant_table(self.worker.function, data.orders, "PutItem", leading_keys=OUTBOX_KEYS)

    def identify_senders(self, warehouses: str, replay_role_id: str) -> None:
        """Take each site's reports only from its producer role: ``warehouses`` is the registry with
        every site's ``producer_role_id`` (infra.context.warehouses_env), ``replay_role_id`` the
        ReplayRole's RoleId, whose copies are judged by the sender they record (synchub replay).
        Both are CloudFormation tokens of roles made after this construct (infra.constructs.access)."""
        self.worker.function.add_environment("WAREHOUSES", warehouses)
        self.worker.function.add_environment("REPLAY_ROLE_ID", replay_role_id)


class EventWorker(Construct):
    """An EventBridge rule feeding a QueueWorker; both delivery and processing failures dead-letter
    to the same DLQ as the original event, so one replay path serves both.

    The rule matches any of ``detail_types`` from any of ``sources`` (a list of sources, or a
    pattern such as ``events.Match.prefix("wms.")``); :meth:`add_rule` feeds the same queue from
    another owner's events. ``rules`` holds them all (the queue policy admits exactly these)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: LambdaDefaults,
        bus: events.IEventBus,
        detail_types: list[str],
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
        self._bus, self._service = bus, service
        self.rules: list[events.Rule] = []
        self.rule = self.add_rule("Rule", detail_types=detail_types, sources=sources)

    def add_rule(self, construct_id: str, *, detail_types: list[str], sources: list[str]) -> events.Rule:
        """Another rule onto this worker's queue, with the same DLQ and retry policy: events of another
        owner (another source) keep a rule of their own, and its own metrics."""
        if not detail_types:
            raise ValueError(f"{self.node.path}/{construct_id}: a rule needs at least one detail-type")
        rule = events.Rule(
            self,
            construct_id,
            event_bus=self._bus,
            description=f"{', '.join(detail_types)} -> {self._service}",
            # only the system that owns the event may trigger the worker
            event_pattern=events.EventPattern(detail_type=list(detail_types), source=sources),
            targets=[bus_target(self.worker.queue, self.worker.dlq)],
        )
        self.rules.append(rule)
        return rule


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
        sites the workers take warehouse events from (and that tell a location's site)."""
        super().__init__(scope, construct_id)
        lifecycle = context.lifecycle_settings(self)
        legal_entity = {"LEGAL_ENTITY": lifecycle.legal_entity}
        self.inventory = InventoryIngest(self, "Inventory", defaults=defaults, data=data, warehouses=warehouses)
        self.reservation = EventWorker(
            self,
            "Reservation",
            defaults=defaults,
            bus=bus,
            detail_types=["OrderAccepted"],
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
            detail_types=["ShipmentConfirmed"],
            sources=WMS_SOURCES,
            handler="invoicing.handler.lambda_handler",
            service="invoicing",
            description="One invoice per confirmed shipment",
            environment={
                "WAREHOUSES": warehouses,
                "SHIPMENT_HOLD_MAX_HOURS": str(lifecycle.shipment_hold_max_hours),
                **legal_entity,
            },
        )
        # a shipment of an order without its reservation yet is held: parked back on this same queue
        # with a delay (the connectors' buffer pattern), so the queue it came from is where it waits
        self.invoicing.worker.function.add_environment("WORK_QUEUE_URL", self.invoicing.worker.queue.queue_url)
        # StockAvailable: stock came back (a report, a cancellation, a return, a short close): retry the
        # backorders waiting for those SKUs. A batch may retry many orders (a transaction each), hence
        # twice the default timeout
        self.stock_available = EventWorker(
            self,
            "ReservationStockAvailable",
            defaults=defaults,
            bus=bus,
            detail_types=["StockAvailable"],
            sources=["synchub.inventory", "synchub.invoicing", "synchub.orders"],
            handler="reservation.handler.stock_available_handler",
            service="reservation",
            description="Retries the backorders waiting for SKUs whose stock became available",
            batch_size=10,
            timeout=Duration.seconds(60),
        )
        self.release = EventWorker(
            self,
            "FulfilmentRelease",
            defaults=defaults,
            bus=bus,
            detail_types=["OrderReserved"],
            sources=["synchub.reservation"],
            handler="fulfilment.handler.release_handler",
            service="fulfilment",
            description="Releases reserved orders to their warehouses (OrderReleased, pick lines per site)",
            # the pick lines go to the site whose location prefix the allocation's location has
            environment={"WAREHOUSES": warehouses},
        )
        self.warehouse = EventWorker(
            self,
            "FulfilmentWarehouse",
            defaults=defaults,
            bus=bus,
            detail_types=["OrderCancellationAnswered", "ReleaseAcknowledged"],
            sources=WMS_SOURCES,
            handler="fulfilment.handler.warehouse_handler",
            service="fulfilment",
            description="Warehouse answers: release acknowledgements, cancellations confirmed or refused",
            environment={"WAREHOUSES": warehouses},
        )
        self.returns = EventWorker(
            self,
            "InvoicingReturns",
            defaults=defaults,
            bus=bus,
            detail_types=["ReturnReceived"],
            sources=WMS_SOURCES,
            handler="invoicing.handler.returns_handler",
            service="invoicing",
            description="Returned units back to stock, one credit memo per received return",
            environment={"WAREHOUSES": warehouses, **legal_entity},
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
        self._grant(data)

    @property
    def event_workers(self) -> list[EventWorker]:
        """The bus-fed workers (their queues take only their rules' deliveries and replays)."""
        return [self.reservation, self.invoicing, self.stock_available, self.release, self.warehouse, self.returns]

    @property
    def queue_workers(self) -> list[QueueWorker]:
        return [self.inventory.worker, *(w.worker for w in self.event_workers)]

    def senders(self, worker: EventWorker) -> list[lambda_.IFunction]:
        """Functions whose code sends to ``worker``'s queue besides its rules (access.py admits them)."""
        return [self.invoicing.worker.function] if worker is self.invoicing else []

    def _grant(self, data: DataStores) -> None:
        """What each one calls (functions/*/repository.py; tests/infra/test_least_privilege.py pins it).

        Orders are read with GetItem and written as Puts inside TransactWriteItems (the order, its
        history, its outbox event, the invoice or credit memo and its pointer); the gap-free number's
        counter is an Update in the same transaction, positions too. TransactWriteItems has no
        permission of its own: each item's action is granted.
        """
        orders, inventory = data.orders, data.inventory
        reservation = self.reservation.worker.function
        stock_available = self.stock_available.worker.function
        release = self.release.worker.function
        warehouse = self.warehouse.worker.function
        invoicing = self.invoicing.worker.function
        returns = self.returns.worker.function

        # reservation plans from every position of a SKU (Query), then one transaction of position
        # updates with the order, its history and its outbox event; a backorder's hints (WAITING#<sku>)
        # are written after it, and dropped once it is reserved, in batches (BatchWriteItem)
        for fn in (reservation, self.backorders, stock_available):
            grant_table(fn, orders, "GetItem", "PutItem")
            grant_table(fn, orders, "BatchWriteItem", leading_keys=WAITING_KEYS)
            grant_table(fn, inventory, "Query", "UpdateItem")
        # the sweep pages through every open backorder (the sparse index); the StockAvailable worker
        # reads a SKU's hints oldest first (Query of WAITING#<sku> only)
        grant_table(self.backorders, orders, "Query", index=BACKORDERS_INDEX)
        grant_table(stock_available, orders, "Query", leading_keys=WAITING_KEYS)

        # fulfilment: the order (GetItem), then one transaction: the order, its history and its event
        # (Puts); a confirmed cancellation also gives the site's allocations back (position updates)
        for fn in (release, warehouse):
            grant_table(fn, orders, "GetItem", "PutItem")
        grant_table(warehouse, inventory, "UpdateItem")

        # invoicing: the order, the invoice, the counter (GetItem) and the shipped positions (GetItem),
        # one transaction: the invoice and its pointer (Puts), the counter (Update), the positions
        # (Updates), the order, its history and its events (Puts); a held shipment is parked on its own
        # queue (WORK_QUEUE_URL)
        grant_table(invoicing, orders, "GetItem", "PutItem", "UpdateItem")
        grant_table(invoicing, inventory, "GetItem", "UpdateItem")
        allow(invoicing, ["sqs:SendMessage"], [self.invoicing.worker.queue.queue_arn])
        # returns: the order, the credit memo, the counter (GetItem), the order's invoices
        # (BatchGetItem); one transaction: the credit memo and its pointer (Puts), the counter (Update),
        # the units back into their positions (GetItem, then an Update, or a ConditionCheck where a WMS
        # report as of later already counts them), the order, its history and its events (Puts)
        grant_table(returns, orders, "BatchGetItem", "GetItem", "PutItem", "UpdateItem")
        grant_table(returns, inventory, "ConditionCheckItem", "GetItem", "UpdateItem")
