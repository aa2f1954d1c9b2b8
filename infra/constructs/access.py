"""Who may feed the hub besides its own functions, and the policies that keep everyone else out.

* ``ProducerRole<Site>`` per warehouse site (context ``synchub:warehouses``): puts events with
  source ``wms.<site>`` on the bus, sends inventory reports to the inventory queue. The site's
  WMS integration assumes it (the account trusts it to; grant ``sts:AssumeRole`` on it to the
  site's principal). It also reads the site's outbound queue (infra/constructs/warehouses.py): what
  the hub sends that site, and only that site.
* ``ReplayRole``: what ``synchub replay`` runs as on AWS: drain the DLQs, send back to the work
  queues, and re-run the sweeps their DLQs stand for.
* The bus policy: the account may put events, but nobody puts ``wms.*`` events except the site's
  own producer role.
* The work queues' policies: nobody sends to them except the rules or the bucket that feed them,
  the producer roles (inventory queue), the ReplayRole and, for the connectors' queues and the
  invoicing queue (held shipments), the functions that park, resend, re-post or resubmit work there.
* The outbound queues' policies (one per site): nobody sends to them but their rules and the
  ReplayRole, and nobody receives, deletes or hides their messages but the site's producer role.

These are explicit Denies in resource policies, so they hold against principals whose IAM
policies allow more (an administrator's ``sqs:*``). Conditions use negated operators, which are
true when the request lacks the key: a request with no ``aws:SourceArn`` (anyone but
EventBridge) is denied unless its ``aws:PrincipalArn`` is an allowed role, and EventBridge, which
has no ``aws:PrincipalArn``, passes only with the feeding rule's ``aws:SourceArn``.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.context import WarehouseSite

from .common import LEADING_KEYS_OPERATOR, WAITING_KEYS
from .connectors import Connectors
from .data import BACKORDERS_INDEX, OUTBOX_PENDING_INDEX, DataStores
from .outbox import HUB_SOURCES, Outbox
from .warehouses import Warehouses
from .workers import Workers

PUT_EVENTS = "events:PutEvents"
# what a WMS does with its outbound queue: receive, delete what it processed, extend the visibility of
# what it is still working on, and see the queue's depth
OUTBOUND_READ = [
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
]
# ... of which these only the site's producer role may do (GetQueueAttributes stays open: CloudFormation
# and the console read the queue's attributes too)
OUTBOUND_CONSUME = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"]


class HubAccess(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        sites: list[WarehouseSite],
        bus: events.EventBus,
        data: DataStores,
        workers: Workers,
        outbox: Outbox,
        connectors: Connectors,
        warehouses: Warehouses,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        inventory_queue = workers.inventory.worker.queue
        self.producers: dict[str, iam.Role] = {}
        for site in sites:
            role = iam.Role(
                self,
                f"ProducerRole{site.pascal}",
                role_name=site.role_name,
                assumed_by=iam.AccountRootPrincipal(),
                description=f"WMS site {site.name}: {site.source} events to the synchub bus, inventory reports",
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=[PUT_EVENTS],
                    resources=[bus.event_bus_arn],
                    conditions={"StringEquals": {"events:source": site.source}},
                )
            )
            role.add_to_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[inventory_queue.queue_arn]))
            # its own outbound queue, and no other site's
            role.add_to_policy(
                iam.PolicyStatement(actions=OUTBOUND_READ, resources=[warehouses.outbound[site.name].queue.queue_arn])
            )
            self.producers[site.name] = role

        self.dead_letter_queues: list[sqs.IQueue] = [
            *(w.dlq for w in workers.queue_workers),
            outbox.dlq,
            outbox.sweep_dlq,
            workers.backorder_dlq,
            *(w.dlq for w in connectors.queue_workers),
            connectors.watchdog_dlq,
            connectors.reconciler_dlq,
            *(o.dlq for o in warehouses.outbound.values()),
        ]
        self.work_queues: list[sqs.IQueue] = [
            *(w.queue for w in workers.queue_workers),
            *(w.queue for w in connectors.queue_workers),
            # replay redrives an outbound DLQ to its outbound queue
            *(o.queue for o in warehouses.outbound.values()),
        ]
        self.replay_role = iam.Role(
            self,
            "ReplayRole",
            assumed_by=iam.AccountRootPrincipal(),
            description="synchub replay: redrive the dead-letter queues, re-run the outbox and backorder sweeps",
        )
        self._replay_policy(stack, data, bus)
        self._bus_policy(stack, bus, sites)
        self._queue_policies(workers)
        self._connector_queue_policies(connectors)
        self._outbound_queue_policies(warehouses)

    def _replay_policy(self, stack: Stack, data: DataStores, bus: events.IEventBus) -> None:
        role = self.replay_role

        def allow(actions: list[str], resources: list[str], **conditions: Mapping[str, object]) -> None:
            role.add_to_policy(
                iam.PolicyStatement(actions=sorted(actions), resources=resources, conditions=conditions or None)
            )

        # find the queues and tables (synchub.environment.from_stack), then read, hold and delete DLQ
        # messages (synchub/replay.py) and send them back to the queue they came from
        allow(["cloudformation:DescribeStacks", "cloudformation:ListStackResources"], [stack.stack_id])
        allow(
            [
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ListDeadLetterSourceQueues",
                "sqs:ReceiveMessage",
            ],
            [q.queue_arn for q in self.dead_letter_queues],
        )
        allow(["sqs:SendMessage"], [q.queue_arn for q in self.work_queues])
        # replaying the outbox and backorder DLQs runs those sweeps' own code (outbox.handler.sweep,
        # reservation.logic.sweep_backorders) with this role: the two sweepers' permissions together
        orders, inventory = data.orders.table_arn, data.inventory.table_arn
        allow(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], [orders])
        # ... and the backorder sweep writes and drops the hints (WAITING#<sku>) in batches
        allow(["dynamodb:BatchWriteItem"], [orders], **{LEADING_KEYS_OPERATOR: {"dynamodb:LeadingKeys": WAITING_KEYS}})
        allow(
            ["dynamodb:Query"],
            [f"{orders}/index/{OUTBOX_PENDING_INDEX}", f"{orders}/index/{BACKORDERS_INDEX}"],
        )
        allow(["dynamodb:Query", "dynamodb:UpdateItem"], [inventory])
        allow([PUT_EVENTS], [bus.event_bus_arn], StringEquals={"events:source": HUB_SOURCES})

    def _bus_policy(self, stack: Stack, bus: events.EventBus, sites: list[WarehouseSite]) -> None:
        statements = [
            iam.PolicyStatement(
                sid="AccountPutsEvents",
                principals=[iam.AccountRootPrincipal()],
                actions=[PUT_EVENTS],
                resources=[bus.event_bus_arn],
            ),
            # a wms.* source (a registered site or not) only from a producer role ...
            iam.PolicyStatement(
                sid="WmsSourcesOnlyFromProducers",
                effect=iam.Effect.DENY,
                principals=[iam.StarPrincipal()],
                actions=[PUT_EVENTS],
                resources=[bus.event_bus_arn],
                conditions={
                    "StringLike": {"events:source": "wms.*"},
                    "ArnNotEquals": {"aws:PrincipalArn": [r.role_arn for r in self.producers.values()]},
                },
            ),
        ]
        # ... and a site's source only from that site's role
        for site in sites:
            statements.append(
                iam.PolicyStatement(
                    sid=f"{site.pascal}SourceOnlyFromItsProducer",
                    effect=iam.Effect.DENY,
                    principals=[iam.StarPrincipal()],
                    actions=[PUT_EVENTS],
                    resources=[bus.event_bus_arn],
                    conditions={
                        "StringEquals": {"events:source": site.source},
                        "ArnNotEquals": {"aws:PrincipalArn": self.producers[site.name].role_arn},
                    },
                )
            )
        previous: Construct | None = None
        for statement in statements:
            added = bus.add_to_resource_policy(statement)
            policy = added.policy_dependable
            # each statement is an AWS::Events::EventBusPolicy rewriting the one bus policy: one at a
            # time, or concurrent updates could drop a statement
            if previous is not None and isinstance(policy, Construct):
                policy.node.add_dependency(previous)
            if isinstance(policy, Construct):
                previous = policy

    def _queue_policies(self, workers: Workers) -> None:
        replay = self.replay_role.role_arn
        for worker in workers.event_workers:
            # the invoicing worker parks held shipments on its own queue: its role sends there too
            senders = [replay, *(_role_arn(fn) for fn in workers.senders(worker))]
            _only_senders(
                worker.worker.queue,
                "OnlyTheFeedingRuleAndReplay",
                sources=_one_or_list([r.rule_arn for r in worker.rules]),
                principals=_one_or_list(senders),
            )
        _only_senders(
            workers.inventory.worker.queue,
            "OnlyProducersAndReplay",
            principals=[*(r.role_arn for r in self.producers.values()), replay],
        )

    def _connector_queue_policies(self, connectors: Connectors) -> None:
        """The connectors' queues: the feeding rule or bucket, the ReplayRole, and the functions whose
        code sends there (parking on their own queue, resends, re-posts, resubmitted exceptions)."""

        replay = self.replay_role.role_arn
        senders = {
            connectors.finance_queue: [
                connectors.finance.worker.function,
                connectors.reconciler,
                connectors.operations,
            ],
            connectors.erp_queue: [
                connectors.erp_orders.worker.function,
                connectors.erp_acks.function,
                connectors.watchdog,
                connectors.reconciler,
                connectors.operations,
            ],
        }
        for worker in (connectors.finance, connectors.erp_orders):
            queue = worker.worker.queue
            _only_senders(
                queue,
                "OnlyTheFeedingRuleReplayAndConnectors",
                # finance: InvoiceIssued's rule and CreditMemoIssued's
                sources=_one_or_list([r.rule_arn for r in worker.rules]),
                principals=[replay, *(_role_arn(fn) for fn in senders[queue])],
            )
        for queue in (connectors.erp_acks.queue, connectors.masterdata.queue):
            _only_senders(
                queue, "OnlyTheExchangeBucketAndReplay", sources=connectors.bucket.bucket_arn, principals=replay
            )

    def _outbound_queue_policies(self, warehouses: Warehouses) -> None:
        """A site's outbound queue: sent to only by its rules (EventBridge's Allow is CDK's, per rule)
        and the ReplayRole; received from, deleted from, hidden in only by the site's producer role."""
        replay = self.replay_role.role_arn
        for name, outbound in warehouses.outbound.items():
            queue = outbound.queue
            _only_senders(
                queue,
                "OnlyTheFeedingRulesAndReplay",
                sources=_one_or_list([r.rule_arn for r in outbound.rules]),
                principals=replay,
            )
            queue.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="OnlyTheSiteReceives",
                    effect=iam.Effect.DENY,
                    principals=[iam.StarPrincipal()],
                    actions=OUTBOUND_CONSUME,
                    resources=[queue.queue_arn],
                    conditions={"ArnNotEquals": {"aws:PrincipalArn": self.producers[name].role_arn}},
                )
            )


def _role_arn(fn: lambda_.IFunction) -> str:
    assert fn.role is not None, fn.node.path
    return fn.role.role_arn


def _only_senders(
    queue: sqs.IQueue, sid: str, *, principals: str | list[str], sources: str | list[str] | None = None
) -> None:
    """Deny ``sqs:SendMessage`` on ``queue`` to every request that comes neither from one of
    ``sources`` (the feeding rules or bucket: ``aws:SourceArn``) nor from one of ``principals``
    (both keys in one operator: denied only when neither matches)."""
    arns: dict[str, str | list[str]] = {"aws:SourceArn": sources} if sources is not None else {}
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            effect=iam.Effect.DENY,
            principals=[iam.StarPrincipal()],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnNotEquals": {**arns, "aws:PrincipalArn": principals}},
        )
    )


def _one_or_list(values: list[str]) -> str | list[str]:
    """A condition value: the one value as itself (the policy as it was before a second one), else the list."""
    return values[0] if len(values) == 1 else values
