"""Where a synchub deployment lives: the local hub's state file, or a CloudFormation stack."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synchub.local.runtime import CONNECTOR_ENV, ROOT, aws_clients
from synchub.local.template import friendly

LOCAL_STATE = ROOT / ".synchub" / "local.json"
CHANNELS_TABLE = "DataChannelsTable"  # friendly logical id of the channels table
CONNECTORS_TABLE = "DataConnectorsTable"
MASTERDATA_TABLE = "DataMasterDataTable"
TOKEN_PATH = "/oauth2/token"

# what the connector functions read besides the shared tables (their environment variables, fixed by the
# functions' contract) -> the stack output that names it, and the friendly logical name it ends with
CONNECTOR_VARIABLES = {
    "CONNECTORS_TABLE": ("ConnectorsTableName", "tables", "ConnectorsTable"),
    "MASTERDATA_TABLE": ("MasterDataTableName", "tables", "MasterDataTable"),
    "EXCHANGE_BUCKET": ("ExchangeBucketName", "buckets", "ExchangeBucket"),
    "FINANCE_BASE_URL_PARAMETER": ("FinanceBaseUrlParameter", "parameters", "FinanceBaseUrl"),
    "FINANCE_CREDENTIALS_SECRET_ARN": ("FinanceCredentialsSecretArn", "secrets", "FinanceCredentials"),
    "FINANCE_QUEUE_URL": ("FinanceQueueUrl", "queues", "FinancePostingWorkerQueue"),
    "ERP_QUEUE_URL": ("ErpQueueUrl", "queues", "ErpOrdersWorkerQueue"),
}
assert set(CONNECTOR_VARIABLES) == set(CONNECTOR_ENV)


@dataclass
class HubEnvironment:
    endpoint: str | None
    region: str
    queues: dict[str, str]  # friendly logical name -> queue URL
    tables: dict[str, str]
    event_bus: str
    api_url: str | None = None
    api_id: str | None = None  # the REST API's id: usage plans name it (with the stage) in apiStages
    stage: str | None = None
    token_url: str | None = None  # where channels get their access tokens (POST, client credentials)
    buckets: dict[str, str] = field(default_factory=dict)  # friendly logical name -> bucket name
    parameters: dict[str, str] = field(default_factory=dict)  # friendly logical name -> SSM parameter name
    secrets: dict[str, str] = field(default_factory=dict)  # friendly logical name -> secret ARN
    # the local stand-ins: {"finance": {"url", "admin_url", "pid"}, "erp": {"admin_url", "pid"}} (local hub only)
    standins: dict[str, dict[str, Any]] = field(default_factory=dict)
    # CONNECTOR_VARIABLES as the deployment names them (the functions' own values, or the stack's outputs)
    connector_env: dict[str, str] = field(default_factory=dict)

    def clients(self) -> Any:
        return aws_clients(self.endpoint, self.region)

    @property
    def orders_table(self) -> str:
        return self.tables["DataOrdersTable"]

    @property
    def channels_table(self) -> str:
        try:
            return self.tables[CHANNELS_TABLE]
        except KeyError:
            raise SystemExit(
                "this deployment has no channels table (DataChannelsTable): synthesize and deploy "
                "(or restart the local hub) with the channels stack"
            ) from None

    def connector(self, variable: str) -> str | None:
        """What a connector variable (``EXCHANGE_BUCKET``, ``FINANCE_QUEUE_URL``, ...) names here: the
        deployment's own value, else the resource whose friendly name ends as the stack names it."""
        if self.connector_env.get(variable):
            return self.connector_env[variable]
        _, kind, suffix = CONNECTOR_VARIABLES[variable]
        found: dict[str, str] = getattr(self, kind)
        return next((v for k, v in found.items() if k.endswith(suffix)), None)

    @property
    def exchange_bucket(self) -> str | None:
        return self.connector("EXCHANGE_BUCKET")

    @property
    def finance_base_url_parameter(self) -> str | None:
        return self.connector("FINANCE_BASE_URL_PARAMETER")

    @property
    def finance_credentials_secret(self) -> str | None:
        return self.connector("FINANCE_CREDENTIALS_SECRET_ARN")

    def function_env(self) -> dict[str, str]:
        """The environment the Lambda code reads, for running its logic from the CLI: the shared
        variables every function gets, and the connectors' (those the deployment has)."""
        env = {
            "ORDERS_TABLE": self.orders_table,
            "INVENTORY_TABLE": self.tables["DataInventoryTable"],
            "EVENT_BUS_NAME": self.event_bus,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        if CHANNELS_TABLE in self.tables:
            env["CHANNELS_TABLE"] = self.tables[CHANNELS_TABLE]
        for variable in CONNECTOR_VARIABLES:
            value = self.connector(variable)
            if value:
                env[variable] = value
        if self.endpoint:
            env.update(
                {
                    "AWS_ENDPOINT_URL": self.endpoint,
                    "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                    "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
                }
            )
        return env

    @contextmanager
    def running_functions(self, **extra: str) -> Iterator[None]:
        """Run the functions' own code in this process against this deployment (what ``synchub
        replay``, ``reconcile`` and ``exceptions`` do): :meth:`function_env` (and ``extra``) in the
        environment, cached clients and settings dropped on the way in and out. The process's
        environment is put back afterwards."""
        from synchub_core.aws import reset_clients
        from synchub_core.config import reset_settings

        saved = dict(os.environ)
        os.environ.update({**self.function_env(), **extra})
        reset_clients()
        reset_settings()
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)
            reset_clients()
            reset_settings()


def where_options() -> argparse.ArgumentParser:
    """The options that say which hub a CLI command works on (``parents=[where_options()]``):
    ``--stack NAME`` (and ``--region``) for a deployed stack, else the running local hub
    (``--state-dir``); :func:`from_args` reads them."""
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--stack", default=None, help="a deployed stack name (default: the running local hub)")
    where.add_argument("--region", default=None)
    where.add_argument("--state-dir", default=None, help="the running local hub's state dir (.synchub)")
    return where


def from_args(args: argparse.Namespace) -> HubEnvironment:
    """The hub a command's ``--stack`` / ``--region`` / ``--state-dir`` name (see :func:`where_options`)."""
    if getattr(args, "stack", None):
        return from_stack(args.stack, getattr(args, "region", None))
    state_dir = getattr(args, "state_dir", None)
    return local(Path(state_dir) / "local.json" if state_dir else LOCAL_STATE)


def local(state_file: Path = LOCAL_STATE) -> HubEnvironment:
    if not state_file.exists():
        raise SystemExit(
            f"no local hub is running ({state_file} missing): start one with `make run` or `synchub local up`"
        )
    s = json.loads(state_file.read_text())
    api_url = s.get("api_url")
    return HubEnvironment(
        endpoint=s["endpoint"],
        region=s["region"],
        queues=s["queues"],
        tables=s["tables"],
        event_bus=s["event_bus"],
        api_url=api_url,
        api_id=s.get("api_id"),
        stage=s.get("stage"),
        token_url=s.get("token_url") or (api_url.rstrip("/") + TOKEN_PATH if api_url else None),
        buckets=s.get("buckets") or {},
        parameters=s.get("parameters") or {},
        secrets=s.get("secrets") or {},
        standins=s.get("standins") or {},
        connector_env=s.get("connector_env") or {},
    )


def from_stack(stack: str, region: str | None = None) -> HubEnvironment:
    """A deployed stack, found through CloudFormation (honours AWS_ENDPOINT_URL for LocalStack)."""
    import boto3

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-west-1"
    cfn = boto3.client("cloudformation", region_name=region)
    queues: dict[str, str] = {}
    tables: dict[str, str] = {}
    buckets: dict[str, str] = {}
    parameters: dict[str, str] = {}
    secrets: dict[str, str] = {}
    kinds = {
        "AWS::SQS::Queue": queues,
        "AWS::DynamoDB::Table": tables,
        "AWS::S3::Bucket": buckets,
        "AWS::SSM::Parameter": parameters,
        "AWS::SecretsManager::Secret": secrets,  # its physical id is the ARN
    }
    bus = ""
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
        for r in page["StackResourceSummaries"]:
            name = friendly(r["LogicalResourceId"])
            if r["ResourceType"] in kinds:
                kinds[r["ResourceType"]][name] = r["PhysicalResourceId"]
            elif r["ResourceType"] == "AWS::Events::EventBus":
                bus = r["PhysicalResourceId"]
    outputs = stack_outputs(cfn, stack)
    for output, key in (
        ("ChannelsTableName", CHANNELS_TABLE),
        ("ConnectorsTableName", CONNECTORS_TABLE),
        ("MasterDataTableName", MASTERDATA_TABLE),
    ):
        if outputs.get(output):
            tables[key] = outputs[output]
    api_url = outputs.get("ApiUrl")
    return HubEnvironment(
        endpoint=os.environ.get("AWS_ENDPOINT_URL"),
        region=region,
        queues=queues,
        tables=tables,
        event_bus=outputs.get("EventBusName") or bus,
        api_url=api_url,
        api_id=outputs.get("ApiId"),
        stage=outputs.get("ApiStage"),
        token_url=outputs.get("TokenUrl") or (api_url.rstrip("/") + TOKEN_PATH if api_url else None),
        buckets=buckets,
        parameters=parameters,
        secrets=secrets,
        connector_env={
            variable: outputs[output] for variable, (output, _, _) in CONNECTOR_VARIABLES.items() if outputs.get(output)
        },
    )


def stack_outputs(cfn: Any, stack: str) -> dict[str, str]:
    """A stack's CfnOutputs by OutputKey (ApiUrl, ApiId, ApiStage, TokenUrl, ChannelsTableName,
    ExchangeBucketName, FinanceBaseUrlParameter, FinanceCredentialsSecretArn, FinanceQueueUrl, ...)."""
    stacks = cfn.describe_stacks(StackName=stack).get("Stacks", [])
    return {o["OutputKey"]: o["OutputValue"] for s in stacks[:1] for o in s.get("Outputs", [])}
