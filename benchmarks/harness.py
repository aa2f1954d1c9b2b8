"""What every benchmark section stands on: the synthesized stack provisioned into moto in-process
(the same template as ``make run``), with the functions' table and bus names in the environment and
the settings read afresh, so each section measures the code the stack deploys."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

QUIET = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",  # a log line per operation would be measured too
}


@contextmanager
def provisioned(**environment: str) -> Iterator[tuple[Any, Any]]:
    """``(deployment, template)`` of the stack in moto, with ``environment`` set on top of the
    emulator's credentials and the functions' table and bus names."""
    import boto3
    from moto import mock_aws

    os.environ.update(QUIET, **environment)
    from synchub.local.moto_isolation import install
    from synchub.local.provision import provision
    from synchub.local.template import Template

    install()
    with mock_aws():
        template = Template.load(ROOT / "cdk.out", "Synchub", "eu-west-1")
        dep = provision(template, lambda s: boto3.client(s), "moto")
        os.environ.update(
            ORDERS_TABLE=dep.tables["DataOrdersTable"],
            INVENTORY_TABLE=dep.tables["DataInventoryTable"],
            EVENT_BUS_NAME=dep.bus_name,
            MASTERDATA_TABLE=dep.tables["DataMasterDataTable"],
        )
        from synchub_core.config import reset_settings

        reset_settings()
        yield dep, template
