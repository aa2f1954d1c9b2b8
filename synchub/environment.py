"""Where a synchub deployment lives: the local hub's state file, or a CloudFormation stack."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synchub.local.runtime import ROOT, aws_clients
from synchub.local.template import friendly

LOCAL_STATE = ROOT / ".synchub" / "local.json"
CHANNELS_TABLE = "DataChannelsTable"  # friendly logical id of the channels table
TOKEN_PATH = "/oauth2/token"


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

    def function_env(self) -> dict[str, str]:
        """The environment the Lambda code reads, for running its logic from the CLI."""
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
        if self.endpoint:
            env.update(
                {
                    "AWS_ENDPOINT_URL": self.endpoint,
                    "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                    "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
                }
            )
        return env


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
    )


def from_stack(stack: str, region: str | None = None) -> HubEnvironment:
    """A deployed stack, found through CloudFormation (honours AWS_ENDPOINT_URL for LocalStack)."""
    import boto3

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-west-1"
    cfn = boto3.client("cloudformation", region_name=region)
    queues: dict[str, str] = {}
    tables: dict[str, str] = {}
    bus = ""
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
        for r in page["StackResourceSummaries"]:
            name = friendly(r["LogicalResourceId"])
            if r["ResourceType"] == "AWS::SQS::Queue":
                queues[name] = r["PhysicalResourceId"]
            elif r["ResourceType"] == "AWS::DynamoDB::Table":
                tables[name] = r["PhysicalResourceId"]
            elif r["ResourceType"] == "AWS::Events::EventBus":
                bus = r["PhysicalResourceId"]
    outputs = stack_outputs(cfn, stack)
    if outputs.get("ChannelsTableName"):
        tables[CHANNELS_TABLE] = outputs["ChannelsTableName"]
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
    )


def stack_outputs(cfn: Any, stack: str) -> dict[str, str]:
    """A stack's CfnOutputs by OutputKey (ApiUrl, ApiId, ApiStage, TokenUrl, ChannelsTableName, ...)."""
    stacks = cfn.describe_stacks(StackName=stack).get("Stacks", [])
    return {o["OutputKey"]: o["OutputValue"] for s in stacks[:1] for o in s.get("Outputs", [])}
