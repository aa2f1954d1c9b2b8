"""DynamoDB tables: orders (single table, streamed outbox), inventory positions, the sales
channels (OAuth clients), the connectors' state (breakers, pacing, ledgers, business exceptions,
reconciliation runs) and the ERP's master data."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as ddb
from constructs import Construct

S = ddb.AttributeType.STRING
# index names the functions query (functions/synchub_core/outbox.py, functions/orders/repository.py)
OUTBOX_PENDING_INDEX = "outbox-pending"
BACKORDERS_INDEX = "backorders"
# orders and invoices by the day they were accepted / issued (functions/orders/repository.py,
# functions/invoicing/repository.py): reconciliation walks a window day by day
BY_DAY_INDEX = "by-day"
# ConnectorsTable (functions/connectors/): business exceptions by status, newest first; ERP order
# files still waiting for their acknowledgement (the watchdog)
EXCEPTIONS_BY_STATUS_INDEX = "exceptions-by-status"
ERP_FILES_OPEN_INDEX = "erp-files-open"


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
        # sparse index: only orders (day_key ORDER#<day>) and invoices (INVOICE#<day>) carry day_key
        self.orders.add_global_secondary_index(
            index_name=BY_DAY_INDEX,
            partition_key=ddb.Attribute(name="day_key", type=S),
            sort_key=ddb.Attribute(name="day_at", type=S),
            projection_type=ddb.ProjectionType.KEYS_ONLY,
        )
        self.inventory = self._table("InventoryTable")
        # one item per channel (pk CHANNEL#<channel>, sk CHANNEL): its secret's hash, status, credential
        # version and API key; written by the CLI (`synchub channels`), read by the token endpoint and
        # the authorizer
        self.channels = self._table("ChannelsTable")
        # the connectors' shared state: circuit breakers (BREAKER#<target>), rate windows (RATE#..., TTL
        # expires_at), the finance and ERP ledgers, ERP files, business exceptions, reconciliation runs
        self.connectors = self._table("ConnectorsTable", time_to_live_attribute="expires_at")
        # sparse: only exception items carry exception_status (OPEN, RESUBMITTED, ...); the API lists them
        self.connectors.add_global_secondary_index(
            index_name=EXCEPTIONS_BY_STATUS_INDEX,
            partition_key=ddb.Attribute(name="exception_status", type=S),
            sort_key=ddb.Attribute(name="raised_at", type=S),
            projection_type=ddb.ProjectionType.ALL,
        )
        # sparse: only ERP order files not yet acknowledged carry file_status (OPEN)
        self.connectors.add_global_secondary_index(
            index_name=ERP_FILES_OPEN_INDEX,
            partition_key=ddb.Attribute(name="file_status", type=S),
            sort_key=ddb.Attribute(name="sent_at", type=S),
            projection_type=ddb.ProjectionType.KEYS_ONLY,
        )
        # the ERP's products, customers and prices as the hub applied them, and the file reports
        self.masterdata = self._table("MasterDataTable")

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
