"""WMS inventory events from SQS, with partial batch failure reporting."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from synchub_core.envelope import EventEnvelope
from synchub_core.lambda_support import Powertools

from . import logic
from .models import POSITION_REPORTED

pt = Powertools.for_service("inventory")


def _handle(envelope: EventEnvelope) -> None:
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


lambda_handler = pt.envelope_batch_handler(POSITION_REPORTED, "inventory", _handle)
