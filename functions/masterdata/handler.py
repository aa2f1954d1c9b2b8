"""Master data loader: S3 ObjectCreated notifications of ``from-erp/master/`` -> SQS (MasterData
queue, batch 1) -> this Lambda, which applies the file row by row (:func:`masterdata.logic.load`).

A message that is no S3 event notification, or one about another bucket than ``EXCHANGE_BUCKET``,
is refused (dead-lettered at once with the reason); ``s3:TestEvent`` is taken and does nothing. A
failure while applying (S3, DynamoDB) fails the record: SQS delivers it again and the file is
applied again from the start, which its idempotent row writes make safe. Logs and metrics carry
the file's key and counts, never a row's values.
"""

from __future__ import annotations

import os

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

import synchub_core
from synchub_core.lambda_support import Powertools

from . import files, logic
from .models import FileOutcome, FileStatus
from .repository import BUCKET_ENV

SERVICE = "masterdata"
pt = Powertools.for_service(SERVICE)
logger, tracer, metrics = pt.logger, pt.tracer, pt.metrics


def _count(name: str, value: int) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _report(outcome: FileOutcome) -> None:
    extra = {
        "file": outcome.key,
        "kind": outcome.kind.value if outcome.kind else None,
        "status": outcome.status.value if outcome.status else None,
        "already_applied": outcome.already_applied,
    }
    if outcome.status is FileStatus.APPLIED:
        counts = outcome.counts
        _count("MasterDataFileApplied", 1)
        _count("MasterDataRowsApplied", counts.applied)
        _count("MasterDataRowsRejected", counts.rejected)
        _count("MasterDataRowsSkippedOlder", counts.skipped_older)
        logger.info(
            "master data file applied",
            extra={
                **extra,
                "rows": counts.rows,
                "applied": counts.applied,
                "rejected": counts.rejected,
                "skipped_older": counts.skipped_older,
                "report": outcome.report_key,
            },
        )
    elif outcome.status is FileStatus.REJECTED:
        _count("MasterDataFileRejected", 1)
        logger.warning(
            "master data file rejected", extra={**extra, "reason": outcome.reason, "report": outcome.report_key}
        )
    elif outcome.already_applied:
        _count("MasterDataFileAlreadyApplied", 1)
        logger.info("master data file already applied", extra=extra)
    else:
        logger.info("object ignored", extra={**extra, "reason": outcome.reason})


@tracer.capture_method(capture_response=False)
def _record(record: SQSRecord) -> None:
    try:
        objects = files.parse_notification(record.body)
    except ValueError as exc:
        pt.refuse(record, f"not an S3 event notification: {exc}", SERVICE)
        return
    bucket = os.environ.get(BUCKET_ENV, "")
    if not bucket:
        raise RuntimeError(f"synchub function misconfigured: {BUCKET_ENV} not set (the CDK stack sets it)")
    strangers = sorted({o.bucket for o in objects if o.bucket != bucket})
    if strangers:
        pt.refuse(
            record, f"notification about bucket(s) {', '.join(strangers)}: master data comes from {bucket}", SERVICE
        )
        return
    if not objects:
        logger.info("notification without objects (s3:TestEvent)", extra={"message_id": record.message_id})
    for obj in objects:
        with pt.correlated(f"masterdata:{obj.key}"[:128], file=obj.key):
            _report(logic.load(obj))


lambda_handler = pt.batch_handler(EventType.SQS, _record)

synchub_core.init_done()  # the end of this function's init: see synchub_core/__init__.py
