"""WMS inventory events from SQS, with partial batch failure reporting.

The warehouse sites send their reports to the queue themselves (bare envelopes): a report is
taken only from a registered site (``source_system`` = ``wms.<site>``), sent by that site's
producer role (the record's ``SenderId``; a copy ``synchub replay`` sent: the sender it records),
about its own locations; anything else is refused and dead-lettered with the reason (synchub_core.lambda_support)."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

import synchub_core
from synchub_core.config import replay_role_id, warehouse_sites
from synchub_core.lambda_support import Delivery, Feed, Powertools

from . import logic
from .models import POSITION_REPORTED

pt = Powertools.for_service("inventory")


def _admit(delivery: Delivery) -> None:
    sender = logic.Sender(delivery.sender_id, delivery.recorded_sender, replay_role_id())
    logic.admit(delivery.envelope, warehouse_sites(), sender)


def _handle(delivery: Delivery) -> None:
    envelope = delivery.envelope
    report, applied = logic.apply(envelope)
    pt.metrics.add_metric(name="PositionApplied" if applied else "PositionStaleIgnored", unit=MetricUnit.Count, value=1)
    if not applied:
        pt.logger.info(
            "stale or duplicate inventory report ignored",
            extra={
                "sku": report.sku,
                "location_id": report.location_id,
                "sequence": envelope.sequence,
                "event_id": envelope.event_id,
            },
        )


lambda_handler = pt.envelope_batch_handler(POSITION_REPORTED, "inventory", _handle, feed=Feed.PRODUCER, admit=_admit)

synchub_core.init_done()  # the end of this function's init: see synchub_core/__init__.py
