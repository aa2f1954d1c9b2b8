"""The synchub stack: one construct per domain."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from constructs import Construct

from infra import context
from infra.constructs.access import HubAccess
from infra.constructs.channels import ChannelAuth
from infra.constructs.common import LambdaDefaults
from infra.constructs.connectors import Connectors
from infra.constructs.data import DataStores
from infra.constructs.orders_api import STAGE, OrdersApi
from infra.constructs.outbox import Outbox
from infra.constructs.warehouses import Warehouses
from infra.constructs.workers import Workers


class SynchubStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.sites = context.warehouses(self)
        self.data = data = DataStores(self, "Data")
        self.bus = bus = events.EventBus(self, "Bus", event_bus_name="synchub-bus")
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
                "CONNECTORS_TABLE": data.connectors.table_name,
                "MASTERDATA_TABLE": data.masterdata.table_name,
            },
        )
        self.channels = ChannelAuth(self, "Channels", defaults=defaults, data=data)
        warehouses = context.warehouses_env(self.sites)
        self.api = api = OrdersApi(
            self, "Orders", defaults=defaults, data=data, auth=self.channels, warehouses=warehouses
        )
        self.outbox = Outbox(self, "Outbox", defaults=defaults, data=data, bus=bus)
        self.workers = workers = Workers(self, "Workers", defaults=defaults, data=data, bus=bus, warehouses=warehouses)
        self.connectors = connectors = Connectors(self, "Connectors", defaults=defaults, data=data, bus=bus)
        api.add_exceptions_routes(connectors.operations)
        # what the hub sends each site (OrderReleased, OrderCancellationRequested, ReturnAuthorized): an
        # outbound queue per site, which only that site's producer role may read (access.py)
        self.warehouses = warehouses_out = Warehouses(self, "Warehouses", sites=self.sites, bus=bus)
        self.access = access = HubAccess(
            self,
            "Access",
            sites=self.sites,
            bus=bus,
            data=data,
            workers=workers,
            outbox=self.outbox,
            connectors=connectors,
            warehouses=warehouses_out,
        )
        # the inventory queue takes reports from every producer role (and the ReplayRole): the worker
        # tells a site's own role by the record's SenderId (<RoleId>:<session>)
        workers.inventory.identify_senders(
            context.warehouses_env(
                self.sites, producer_role_ids={s.name: access.producers[s.name].role_id for s in self.sites}
            ),
            replay_role_id=access.replay_role.role_id,
        )

        # what the CLI reads on AWS (synchub/environment.py)
        CfnOutput(self, "ApiUrl", value=api.api.url)
        CfnOutput(self, "ApiId", value=api.api.rest_api_id)
        CfnOutput(self, "ApiStage", value=STAGE)
        CfnOutput(self, "TokenUrl", value=api.api.url_for_path("/oauth2/token"))
        CfnOutput(self, "ChannelsTableName", value=data.channels.table_name)
        CfnOutput(self, "EventBusName", value=bus.event_bus_name)
        CfnOutput(self, "InventoryQueueUrl", value=workers.inventory.worker.queue.queue_url)
        CfnOutput(self, "ReplayRoleArn", value=access.replay_role.role_arn)
        for site in self.sites:
            CfnOutput(self, f"ProducerRoleArn{site.pascal}", value=access.producers[site.name].role_arn)
            CfnOutput(self, f"OutboundQueueUrl{site.pascal}", value=warehouses_out.outbound[site.name].queue.queue_url)
        CfnOutput(self, "ExchangeBucketName", value=connectors.bucket.bucket_name)
        CfnOutput(self, "FinanceBaseUrlParameter", value=connectors.finance_base_url.parameter_name)
        CfnOutput(self, "FinanceCredentialsSecretArn", value=connectors.finance_credentials.secret_arn)
        CfnOutput(self, "FinanceQueueUrl", value=connectors.finance_queue.queue_url)
        CfnOutput(self, "ErpQueueUrl", value=connectors.erp_queue.queue_url)
        CfnOutput(self, "ConnectorsTableName", value=data.connectors.table_name)
        CfnOutput(self, "MasterDataTableName", value=data.masterdata.table_name)
