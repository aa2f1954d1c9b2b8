"""DynamoDB tables: orders (single table, streamed outbox), inventory positions and the sales
channels (OAuth clients)."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as ddb
from constructs import Construct

S = ddb.AttributeType.STRING
# index names the functions query (functions/synchub_core/outbox.py, functions/orders/repository.py)
OUTBOX_PENDING_INDEX = "outbox-pending"
BACKORDERS_INDEX = "backorders"


class DataStores(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.orders = self._table(
            "OrdersTable", stream=ddb.StreamViewType.NEW_IMAGE, time_to_live_attribute="expires_at"
        )
        # sparse index: only outbox items still waiting for EventBridge carry outbox_status
        self.orders.add_global_secondary_index(
            index_name=OUTBOX_PENDING_INDEX,
            partition_key=ddb.Attribute(name="outbox_status", type=S),
            sort_key=ddb.Attribute(name="created_at", type=S),
            projection_type=ddb.ProjectionType.KEYS_ONLY,
        )
        # sparse index: only BACKORDERED orders carry backorder_status; oldest backorder first
        self.orders.add_global_secondary_index(
            index_name=BACKORDERS_INDEX,
            partition_key=ddb.Attribute(name="backorder_status", type=S),
            sort_key=ddb.Attribute(name="backordered_at", type=S),
            projection_type=ddb.ProjectionType.KEYS_ONLY,
        )
        self.inventory = self._table("InventoryTable")
        # one item per channel (pk CHANNEL#<channel>, sk CHANNEL): its secret's hash, status, credential
        # version and API key; written by the CLI (`synchub channels`), read by the token endpoint and
        # the authorizer
        self.channels = self._table("ChannelsTable")

    def _table(self, construct_id: str, **options: Any) -> ddb.Table:
        """A pk/sk string-keyed on-demand table with point-in-time recovery, kept when the stack goes."""
        return ddb.Table(
            self,
            construct_id,
            partition_key=ddb.Attribute(name="pk", type=S),
            sort_key=ddb.Attribute(name="sk", type=S),
            billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
            **options,
        )
