"""The synchub stack: one construct per domain."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from constructs import Construct

from infra.constructs.common import LambdaDefaults
from infra.constructs.data import DataStores
from infra.constructs.orders_api import OrdersApi
from infra.constructs.outbox import Outbox
from infra.constructs.workers import Workers


class SynchubStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        data = DataStores(self, "Data")
        bus = events.EventBus(self, "Bus", event_bus_name="synchub-bus")
        bus.archive(
            "Archive",
            description="every synchub event, for replay",
            event_pattern=events.EventPattern(account=[Stack.of(self).account]),
            retention=Duration.days(90),
        )
        defaults = LambdaDefaults(
            self,
            "LambdaDefaults",
            environment={
                "ORDERS_TABLE": data.orders.table_name,
                "INVENTORY_TABLE": data.inventory.table_name,
                "EVENT_BUS_NAME": bus.event_bus_name,
            },
        )
        api = OrdersApi(self, "Orders", defaults=defaults, data=data)
        Outbox(self, "Outbox", defaults=defaults, data=data, bus=bus)
        workers = Workers(self, "Workers", defaults=defaults, data=data, bus=bus)
        CfnOutput(self, "ApiUrl", value=api.api.url)
        CfnOutput(self, "InventoryQueueUrl", value=workers.inventory.worker.queue.queue_url)
        CfnOutput(self, "EventBusName", value=bus.event_bus_name)
