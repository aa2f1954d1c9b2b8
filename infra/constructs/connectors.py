"""The connectors to the systems of record: cloud finance (REST, outbound) and the legacy ERP (a file
interface through an S3 drop, both ways), their shared state, schedules and the exceptions API's
function.

* ``FinancePosting``: rules InvoiceIssued and CreditMemoIssued (synchub.invoicing) -> queue ->
  ``finance.handler.lambda_handler``, at most 5 concurrent invocations; posts each invoice and credit
  memo to finance (base URL from SSM, client credentials from Secrets Manager).
* ``ErpOrders``: rule OrderAccepted (synchub.orders) -> queue -> ``erp.handler.orders_handler``, batches
  of up to 100 orders over 5 s, at most 2 concurrent invocations: one CSV file per batch into
  ``to-erp/orders/`` of the exchange bucket.
* ``ErpAcks``: S3 ObjectCreated of ``from-erp/acks/`` -> queue -> ``erp.handler.acks_handler``.
* ``MasterData``: S3 ObjectCreated of ``from-erp/master/`` -> queue -> ``masterdata.handler.lambda_handler``,
  one file per invocation.
* ``ErpWatchdog`` (every minute): order files the ERP has not acknowledged in time.
* ``Reconciler`` (every hour): the hub's invoices and accepted orders against finance and the ERP.
* ``Operations``: the business-exceptions API (routes on the orders RestApi, infra/constructs/orders_api.py).

While a target's circuit breaker is open (state in the connectors table), its worker parks messages
back on its own queue with a delay (``BUFFER_QUEUE_URL``): the queue is the buffer, and parking never
spends a receive, so an outage of any length never reaches the DLQ. Every asynchronous path has a
DLQ: the work queues redrive to theirs, the schedules fail into theirs.
"""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra import context

from .common import OUTBOX_KEYS, LambdaDefaults, QueueWorker, allow, dead_letter_queue, grant_table, schedule
from .data import BY_DAY_INDEX, ERP_FILES_OPEN_INDEX, EXCEPTIONS_BY_STATUS_INDEX, DataStores
from .workers import EventWorker

FINANCE_BASE_URL_PARAMETER = "/synchub/finance/base-url"
FINANCE_CLIENT_ID = "synchub"
# the exchange bucket's prefixes (functions/erp, functions/masterdata; the ERP's file gateway)
ORDERS_OUT = "to-erp/orders/"
REPORTS_OUT = "to-erp/reports/"
ACKS_IN = "from-erp/acks/"
MASTER_IN = "from-erp/master/"
EXCHANGE_EXPIRY = Duration.days(90)
ACCESS_LOG_EXPIRY = Duration.days(365)
# connectors' HTTP timeouts (seconds): connect fast, and never wait on finance longer than a post takes
HTTP_CONNECT_TIMEOUT = 2
HTTP_READ_TIMEOUT = 5
BREAKER_PROBE_SECONDS = 30  # how long a half-open probe lease lasts
RECONCILE_GRACE_MINUTES = 5  # what is younger than this is still in flight, not missing
INVOICE_KEYS = ["INVOICE#*"]
CREDIT_MEMO_KEYS = ["CREDITMEMO#*"]


class Connectors(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: LambdaDefaults,
        data: DataStores,
        bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        settings = context.connector_settings(self)
        self.schedules: list[events.Rule] = []
        self._exchange()
        self._finance_settings(settings)
        breaker = {
            "BREAKER_FAILURE_THRESHOLD": str(settings.breaker_failure_threshold),
            "BREAKER_OPEN_SECONDS": str(settings.breaker_open_seconds),
            "BREAKER_MAX_OPEN_SECONDS": str(settings.breaker_max_open_seconds),
            "BREAKER_PROBE_SECONDS": str(BREAKER_PROBE_SECONDS),
        }
        finance_access = {
            "FINANCE_BASE_URL_PARAMETER": self.finance_base_url.parameter_name,
            "FINANCE_CREDENTIALS_SECRET_ARN": self.finance_credentials.secret_arn,
            "HTTP_CONNECT_TIMEOUT": str(HTTP_CONNECT_TIMEOUT),
            "HTTP_READ_TIMEOUT": str(HTTP_READ_TIMEOUT),
        }
        bucket = {"EXCHANGE_BUCKET": self.bucket.bucket_name}

        # -- finance: InvoiceIssued -> post ----------------------------------------------------------
        self.finance = EventWorker(
            self,
            "FinancePosting",
            defaults=defaults,
            bus=bus,
            detail_types=["InvoiceIssued"],
            sources=["synchub.invoicing"],
            handler="finance.handler.lambda_handler",
            service="finance",
            description="Posts issued invoices to cloud finance (idempotent, breaker, buffer)",
            batch_size=10,
            max_concurrency=5,
            # a few posts of (2 s connect + 5 s read) before the breaker opens and the rest is parked
            timeout=Duration.seconds(60),
            environment={
                **finance_access,
                **breaker,
                "TARGET_RATE_PER_SECOND": str(settings.finance_rate_per_second),
            },
        )
        # credit memos take the same path (and breaker, pace and buffer) as the invoices they credit:
        # a rule of their own, on the same queue
        self.finance.add_rule("CreditMemoRule", detail_types=["CreditMemoIssued"], sources=["synchub.invoicing"])
        finance_fn = self.finance.worker.function
        self.finance_queue = self.finance.worker.queue
        finance_fn.add_environment("BUFFER_QUEUE_URL", self.finance_queue.queue_url)

        # -- ERP: OrderAccepted -> order files -------------------------------------------------------
        self.erp_orders = EventWorker(
            self,
            "ErpOrders",
            defaults=defaults,
            bus=bus,
            detail_types=["OrderAccepted"],
            sources=["synchub.orders"],
            handler="erp.handler.orders_handler",
            service="erp",
            description="Accepted orders to the legacy ERP as CSV order files (paced, breaker, buffer)",
            batch_size=100,
            max_batching_window=Duration.seconds(5),
            max_concurrency=2,
            timeout=Duration.seconds(60),
            environment={
                **bucket,
                **breaker,
                "ERP_FILES_PER_MINUTE": str(settings.erp_files_per_minute),
                "ERP_ACK_TIMEOUT_SECONDS": str(settings.erp_ack_timeout_seconds),
            },
        )
        erp_orders_fn = self.erp_orders.worker.function
        self.erp_queue = self.erp_orders.worker.queue
        erp_orders_fn.add_environment("BUFFER_QUEUE_URL", self.erp_queue.queue_url)

        # -- ERP: acknowledgement files -> ledger ----------------------------------------------------
        self.erp_acks = QueueWorker(
            self,
            "ErpAcks",
            defaults=defaults,
            handler="erp.handler.acks_handler",
            service="erp",
            description="Reads the ERP's acknowledgement files (accepted, rejected, file refused)",
            batch_size=10,
            timeout=Duration.seconds(60),
            environment={**bucket, **breaker, "ERP_QUEUE_URL": self.erp_queue.queue_url},
        )
        self.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SqsDestination(self.erp_acks.queue),
            s3.NotificationKeyFilter(prefix=ACKS_IN),
        )

        # -- ERP: master data files -> master data table ---------------------------------------------
        self.masterdata = QueueWorker(
            self,
            "MasterData",
            defaults=defaults,
            handler="masterdata.handler.lambda_handler",
            service="masterdata",
            description="Applies the ERP's product, customer and price files row by row, with a reject report",
            batch_size=1,
            max_batching_window=None,
            timeout=Duration.minutes(5),
            memory=1024,
            environment=bucket,
        )
        self.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SqsDestination(self.masterdata.queue),
            s3.NotificationKeyFilter(prefix=MASTER_IN),
        )

        # -- schedules: ERP ack watchdog, reconciliation ---------------------------------------------
        self.watchdog_dlq = dead_letter_queue(self, "ErpWatchdogDeadLetterQueue")
        self.watchdog = defaults.function(
            self,
            "ErpWatchdog",
            handler="erp.handler.watchdog_handler",
            service="erp",
            description="Order files the ERP has not acknowledged in time: overdue, breaker, resend",
            timeout=Duration.seconds(60),
            on_failure=self.watchdog_dlq,
            environment={
                **bucket,
                **breaker,
                "ERP_QUEUE_URL": self.erp_queue.queue_url,
                "ERP_ACK_TIMEOUT_SECONDS": str(settings.erp_ack_timeout_seconds),
            },
        )
        self._schedule("ErpWatchdogSchedule", self.watchdog, self.watchdog_dlq, Duration.minutes(1))

        self.reconciler_dlq = dead_letter_queue(self, "ReconcilerDeadLetterQueue")
        self.reconciler = defaults.function(
            self,
            "Reconciler",
            handler="reconciliation.handler.lambda_handler",
            service="reconciliation",
            description="Hub invoices vs finance, accepted orders vs ERP acks: report, re-post, exceptions",
            timeout=Duration.minutes(5),
            memory=1024,
            on_failure=self.reconciler_dlq,
            environment={
                **finance_access,
                "FINANCE_QUEUE_URL": self.finance_queue.queue_url,
                "ERP_QUEUE_URL": self.erp_queue.queue_url,
                "RECONCILE_WINDOW_HOURS": str(settings.reconcile_window_hours),
                "RECONCILE_GRACE_MINUTES": str(RECONCILE_GRACE_MINUTES),
            },
        )
        self._schedule("ReconcileSchedule", self.reconciler, self.reconciler_dlq, Duration.hours(1))

        # -- the business-exceptions API's function (routes: OrdersApi.add_exceptions_routes) --------
        # below API Gateway's 29 s integration timeout, like the orders function
        self.operations = defaults.function(
            self,
            "Operations",
            handler="operations.handler.lambda_handler",
            service="operations",
            description="Business exceptions API: list, show, resubmit, discard",
            timeout=Duration.seconds(10),
        )
        self._grant(data)

    # -- resources ------------------------------------------------------------------------------------

    def _exchange(self) -> None:
        """The file exchange with the ERP (an SFTP / file-gateway replacement), and its access log."""
        self.access_logs = s3.Bucket(
            self,
            "ExchangeAccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=ACCESS_LOG_EXPIRY)],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.bucket = s3.Bucket(
            self,
            "ExchangeBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=True,
            # who dropped or fetched which file, when: the audit trail of the file interface
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="exchange/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                    expired_object_delete_marker=True,
                ),
                s3.LifecycleRule(id="expire-files-to-erp", prefix="to-erp/", expiration=EXCHANGE_EXPIRY),
                s3.LifecycleRule(id="expire-files-from-erp", prefix="from-erp/", expiration=EXCHANGE_EXPIRY),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _finance_settings(self, settings: context.ConnectorSettings) -> None:
        """Where finance is and how the hub signs in: never in code. The URL is a plain parameter
        (context synchub:financeBaseUrl sets its first value); the client secret is generated here and
        replaced with the one finance issues (`aws secretsmanager put-secret-value`)."""
        self.finance_base_url = ssm.StringParameter(
            self,
            "FinanceBaseUrl",
            parameter_name=FINANCE_BASE_URL_PARAMETER,
            string_value=settings.finance_base_url,
            description="synchub: base URL of the cloud finance API (the connectors read it, cached 5 min)",
            tier=ssm.ParameterTier.STANDARD,
        )
        self.finance_credentials = secretsmanager.Secret(
            self,
            "FinanceCredentials",
            description='synchub: OAuth 2.0 client credentials for cloud finance, {"client_id", "client_secret"}',
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"client_id": FINANCE_CLIENT_ID}),
                generate_string_key="client_secret",
                exclude_punctuation=True,
                password_length=48,
            ),
        )

    def _schedule(self, construct_id: str, fn: lambda_.Function, dlq: sqs.IQueue, rate: Duration) -> None:
        self.schedules.append(schedule(self, construct_id, fn, dlq, rate))

    @property
    def queue_workers(self) -> list[QueueWorker]:
        return [self.finance.worker, self.erp_orders.worker, self.erp_acks, self.masterdata]

    @property
    def functions(self) -> list[lambda_.Function]:
        return [*(w.function for w in self.queue_workers), self.watchdog, self.reconciler, self.operations]

    # -- least privilege --------------------------------------------------------------------------

    def _grant(self, data: DataStores) -> None:
        """Exactly what each function's code calls (functions/finance, erp, masterdata, reconciliation,
        operations, connectors; tests/infra/test_least_privilege.py pins it)."""
        finance = self.finance.worker.function
        erp_orders = self.erp_orders.worker.function
        erp_acks = self.erp_acks.function
        masterdata = self.masterdata.function
        watchdog, reconciler, operations = self.watchdog, self.reconciler, self.operations
        connectors, orders = data.connectors, data.orders
        parameter = self.finance_base_url.parameter_arn
        secret = self.finance_credentials.secret_arn

        # finance settings: the one parameter and the one secret
        for fn in (finance, reconciler):
            allow(fn, ["ssm:GetParameter"], [parameter])
            allow(fn, ["secretsmanager:GetSecretValue"], [secret])

        # breakers, rate windows, ledgers, exceptions: the connectors table; a breaker's state change
        # writes its CircuitStateChanged event as an outbox item of the orders table (OUTBOX#* only)
        for fn in (finance, erp_orders, erp_acks, watchdog):
            grant_table(fn, connectors, "GetItem", "PutItem", "UpdateItem")
            grant_table(fn, orders, "PutItem", leading_keys=OUTBOX_KEYS)
        # posted (or rejected for good): the invoice's or credit memo's posting status (INVOICE#* and
        # CREDITMEMO#* items only, in one transaction with the POSTING# ledger entry and InvoicePosted's
        # or CreditMemoPosted's outbox item); the document itself comes with its event, it is never read
        grant_table(finance, orders, "UpdateItem", leading_keys=INVOICE_KEYS + CREDIT_MEMO_KEYS)
        # the ERP ledger of a batch's orders (BatchGetItem); the acks and the watchdog load the orders
        # they resend or raise exceptions for (orders.api.load: GetItem)
        for fn in (erp_orders, erp_acks, watchdog):
            grant_table(fn, connectors, "BatchGetItem")
        for fn in (erp_acks, watchdog):
            grant_table(fn, orders, "GetItem")
        grant_table(watchdog, connectors, "Query", index=ERP_FILES_OPEN_INDEX)

        # parking: the breaker's buffer is the worker's own queue
        allow(finance, ["sqs:SendMessage"], [self.finance_queue.queue_arn])
        allow(erp_orders, ["sqs:SendMessage"], [self.erp_queue.queue_arn])
        # resends of refused files (acks), overdue files (watchdog), missing orders and re-posts
        # (reconciler), resubmitted exceptions (operations)
        allow(erp_acks, ["sqs:SendMessage"], [self.erp_queue.queue_arn])
        allow(watchdog, ["sqs:SendMessage"], [self.erp_queue.queue_arn])
        allow(reconciler, ["sqs:SendMessage"], [self.finance_queue.queue_arn, self.erp_queue.queue_arn])
        allow(operations, ["sqs:SendMessage"], [self.finance_queue.queue_arn, self.erp_queue.queue_arn])

        # the exchange bucket, by prefix
        allow(erp_orders, ["s3:PutObject"], [self.bucket.arn_for_objects(f"{ORDERS_OUT}*")])
        allow(erp_acks, ["s3:GetObject"], [self.bucket.arn_for_objects(f"{ACKS_IN}*")])
        allow(masterdata, ["s3:GetObject"], [self.bucket.arn_for_objects(f"{MASTER_IN}*")])
        allow(masterdata, ["s3:PutObject"], [self.bucket.arn_for_objects(f"{REPORTS_OUT}*")])

        # master data: rows applied conditionally (never older over newer), the file record, metas
        grant_table(masterdata, data.masterdata, "GetItem", "PutItem", "UpdateItem")

        # reconciliation: the window's invoices and orders (by-day, then BatchGetItem), the ledgers,
        # the stored result (+ ReconciliationCompleted's outbox item), exceptions for what differs
        grant_table(reconciler, orders, "GetItem", "BatchGetItem")
        grant_table(reconciler, orders, "Query", index=BY_DAY_INDEX)
        grant_table(reconciler, orders, "PutItem", leading_keys=OUTBOX_KEYS)
        grant_table(reconciler, connectors, "GetItem", "BatchGetItem", "PutItem", "Query", "UpdateItem")

        # operations: list by status (the index), show, resubmit / discard (conditional updates)
        grant_table(operations, connectors, "GetItem", "UpdateItem")
        grant_table(operations, connectors, "Query", index=EXCEPTIONS_BY_STATUS_INDEX)
