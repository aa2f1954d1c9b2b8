"""Shared fixtures: every unit test runs against moto (in-process) provisioned from the very
template CDK synthesizes, through the same provisioner the local runtime uses."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[1]
CDK_OUT = ROOT / "cdk.out"
TEMPLATE = CDK_OUT / "Synchub.template.json"
SAMPLES = ROOT / "events" / "samples"
REGION = "eu-west-1"


def _stale() -> bool:
    if not TEMPLATE.exists():
        return True
    built = TEMPLATE.stat().st_mtime
    sources = [p for d in ("functions", "infra") for p in (ROOT / d).rglob("*.py")]
    return any(p.stat().st_mtime > built for p in sources)


@pytest.fixture(scope="session")
def cdk_out() -> Path:
    """cdk.out, synthesized now if missing or older than functions/ or infra/."""
    if _stale():
        from infra.app import build

        build(CDK_OUT).synth()
    return CDK_OUT


@pytest.fixture(scope="session")
def template(cdk_out: Path) -> dict[str, Any]:
    return json.loads(TEMPLATE.read_text())


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_DEV", "false")


class Hub:
    """The provisioned stack inside moto, plus helpers that play the AWS services' part."""

    def __init__(self, deployment: Any) -> None:
        self.dep = deployment
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.events = boto3.client("events", region_name=REGION)

    @property
    def orders_table(self) -> str:
        return self.dep.tables["DataOrdersTable"]

    @property
    def inventory_table(self) -> str:
        return self.dep.tables["DataInventoryTable"]

    def queue(self, name: str) -> str:
        return self.dep.queues[name]["url"]

    def receive(self, name: str, max_messages: int = 10, visibility: int = 30) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=self.queue(name),
                MaxNumberOfMessages=10,
                VisibilityTimeout=visibility,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            out.extend(got)
            if not got or len(out) >= max_messages:
                return out

    def depth(self, name: str) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue(name),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"]) + int(
            attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"]
        )

    def sqs_event(self, name: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        arn = self.dep.queues[name]["arn"]
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": REGION,
                }
                for m in messages
            ]
        }

    def publish_outbox(self) -> int:
        """Play the stream publisher: push every pending outbox item to EventBridge."""
        from datetime import timedelta

        from outbox.handler import sweep

        return sweep(timedelta(0))["published"]

    def run_worker(self, queue_name: str, handler: Any, context: Any) -> dict[str, Any]:
        """Play the Lambda SQS poller once: deliver what is queued, delete what succeeded."""
        messages = self.receive(queue_name)
        if not messages:
            return {"batchItemFailures": [], "delivered": 0}
        result = handler(self.sqs_event(queue_name, messages), context)
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        for m in messages:
            if m["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue(queue_name), ReceiptHandle=m["ReceiptHandle"])
        return {**result, "delivered": len(messages)}


@pytest.fixture
def hub(cdk_out: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    from moto import mock_aws

    from synchub.local.moto_isolation import install as install_isolation
    from synchub.local.provision import provision
    from synchub.local.template import Template
    from synchub_core.aws import reset_clients
    from synchub_core.config import reset_settings

    install_isolation()
    with mock_aws():
        template = Template.load(cdk_out, "Synchub", REGION)
        deployment = provision(template, lambda s: boto3.client(s, region_name=REGION), endpoint="moto")
        orders_fn = next(f for f in deployment.functions.values() if f.handler.startswith("orders."))
        for key, value in orders_fn.environment.items():
            monkeypatch.setenv(key, value)
        reset_clients()
        reset_settings()
        yield Hub(deployment)
        reset_clients()
        reset_settings()


def create_streamed_table(ddb: Any, name: str) -> None:
    """A pk/sk table with a NEW_IMAGE stream, like the stack's orders table, for emulator tests."""
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )


@pytest.fixture
def moto_server() -> Iterator[Any]:
    """An emulator over HTTP, as the local hub runs it; yields a ``service -> client`` factory."""
    from moto.server import ThreadedMotoServer

    from synchub.local.moto_isolation import install
    from synchub.local.runtime import aws_clients, reset_moto

    install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    reset_moto(f"http://{host}:{port}")
    yield aws_clients(f"http://{host}:{port}", REGION)
    reset_moto(f"http://{host}:{port}")
    server.stop()


class Context:
    function_name = "test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:test"
    memory_limit_in_mb = 512
    aws_request_id = "test-request"
    log_group_name = "/aws/lambda/test"
    log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> Context:
    ctx = Context()
    ctx.aws_request_id = str(uuid.uuid4())
    return ctx


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture
def order_body() -> dict[str, Any]:
    body = sample("api-post-order.json")
    body["channel_order_ref"] = f"{body['channel_order_ref']}-{uuid.uuid4().hex[:6]}"
    return body
