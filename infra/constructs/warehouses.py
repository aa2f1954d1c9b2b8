"""What the hub sends to each warehouse site: one outbound SQS queue per registered site (context
``synchub:warehouses``), fed from the bus, read by the site's WMS as its producer role.

Per site (``Warehouses/<Site>Outbound``):

* ``Queue``: the site's outbound queue (SQS-SSE, TLS only, 14 days retention, long polling), output
  ``OutboundQueueUrl<Site>``. Only the site's producer role may receive from it (the policy is in
  infra/constructs/access.py);
* ``DeadLetterQueue``: messages the WMS received ``MAX_RECEIVE_COUNT`` times without deleting them
  (poison messages), and events EventBridge could not deliver; alarmed, and ``synchub replay``
  redrives it to the outbound queue (its only redrive source);
* a rule per owner of the events (``FulfilmentRule``: ``OrderReleased`` from ``synchub.fulfilment``;
  ``OrdersRule``: ``OrderCancellationRequested`` and ``ReturnAuthorized`` from ``synchub.orders``),
  each matching only events whose ``detail.data.warehouse_ids`` names the site's ``warehouse_id``
  (EventBridge matches an array field when any element matches), with the bus workers' retry policy
  and DLQ (:func:`infra.constructs.common.bus_target`).

No Lambda drains these queues: the WMS does (ADR 0006's rule -> SQS, with the consumer outside).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.context import WarehouseSite

from .common import MAX_RECEIVE_COUNT, bus_target, dead_letter_queue

# the events the hub publishes for a warehouse, by the source that owns them (CONTRIBUTING.md, Events):
# one rule per owner, so an event is delivered only from the system that owns it
OUTBOUND_EVENTS: dict[str, list[str]] = {
    "synchub.fulfilment": ["OrderReleased"],
    "synchub.orders": ["OrderCancellationRequested", "ReturnAuthorized"],
}
# the rule's construct id per owner
RULE_IDS = {"synchub.fulfilment": "FulfilmentRule", "synchub.orders": "OrdersRule"}
# how long a WMS has to process and delete a received message before it is visible again (and counts
# towards MAX_RECEIVE_COUNT on the next receive)
VISIBILITY_TIMEOUT = Duration.minutes(5)
# long polling: an empty receive waits up to 20 s for a message instead of answering at once
RECEIVE_WAIT = Duration.seconds(20)


class WarehouseOutbound(Construct):
    """One site's outbound queue, its DLQ and the rules that feed it."""

    def __init__(self, scope: Construct, construct_id: str, *, site: WarehouseSite, bus: events.IEventBus) -> None:
        super().__init__(scope, construct_id)
        self.site = site
        self.dlq = dead_letter_queue(self, "DeadLetterQueue")
        self.queue = sqs.Queue(
            self,
            "Queue",
            visibility_timeout=VISIBILITY_TIMEOUT,
            receive_message_wait_time=RECEIVE_WAIT,
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=MAX_RECEIVE_COUNT),
        )
        self.rules: list[events.Rule] = []
        for source, detail_types in OUTBOUND_EVENTS.items():
            self.rules.append(
                events.Rule(
                    self,
                    RULE_IDS[source],
                    event_bus=bus,
                    description=f"{', '.join(detail_types)} for {site.warehouse_id} -> WMS {site.name}",
                    event_pattern=events.EventPattern(
                        detail_type=list(detail_types),
                        source=[source],
                        # an array field matches when any of its elements does
                        detail={"data": {"warehouse_ids": [site.warehouse_id]}},
                    ),
                    targets=[bus_target(self.queue, self.dlq)],
                )
            )


class Warehouses(Construct):
    """Every registered site's :class:`WarehouseOutbound`, by site name."""

    def __init__(
        self, scope: Construct, construct_id: str, *, sites: list[WarehouseSite], bus: events.IEventBus
    ) -> None:
        super().__init__(scope, construct_id)
        self.outbound: dict[str, WarehouseOutbound] = {
            site.name: WarehouseOutbound(self, f"{site.pascal}Outbound", site=site, bus=bus) for site in sites
        }
