"""What tests of every layer share that is not a fixture: paths, sample events, the ``Hub`` that
plays the AWS services' part around a provisioned stack, a Lambda context.

Test modules import these with ``from helpers import ...`` (``tests/`` is on pytest's
``pythonpath``). Fixtures live in the conftest.py of the layer that uses them, or in
tests/conftest.py when several layers do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CDK_OUT = ROOT / "cdk.out"
TEMPLATE = CDK_OUT / "Synchub.template.json"
SAMPLES = ROOT / "events" / "samples"
REGION = "eu-west-1"


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text())


class Hub:
    """The provisioned stack inside moto, plus helpers that play the AWS services' part."""

    def __init__(self, deployment: Any, clients: Any = None) -> None:
        if clients is None:
            import boto3

            def clients(service: str) -> Any:
                return boto3.client(service, region_name=REGION)

        self.dep = deployment
        self.sqs = clients("sqs")
        self.ddb = clients("dynamodb")
        self.events = clients("events")

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


class Context:
    """A Lambda context object, as the runtime passes it to a handler."""

    function_name = "test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:test"
    memory_limit_in_mb = 512
    aws_request_id = "test-request"
    log_group_name = "/aws/lambda/test"
    log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def api_event(
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    *,
    channel: str | None = "webshop-nl",
    resource: str | None = None,
    path_params: dict[str, str] | None = None,
    stage: str = "v1",
    base_path: str | None = None,
) -> dict[str, Any]:
    """A REST API (v1) Lambda proxy event as API Gateway sends it to the orders function, from the
    real sample: ``requestContext.authorizer`` carries ``channel`` (as the TOKEN authorizer sets it;
    ``channel=None`` leaves the authorizer context out). ``path`` is the path within the API;
    ``requestContext.path`` is the path as called: ``/<stage><path>`` on the execute-api host, or
    ``<base_path><path>`` behind a custom domain (whose base path API Gateway also puts in ``path``).
    Header values are passed on in ``headers`` and ``multiValueHeaders``, as API Gateway does."""
    event = sample("apigw-post-order-event.json")
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    called = f"/{stage}{path}" if base_path is None else f"{base_path}{path}"
    event.update(
        httpMethod=method,
        path=path if base_path is None else called,
        resource=resource or path,
        headers=hdrs,
        multiValueHeaders={k: [v] for k, v in hdrs.items()},
        pathParameters=path_params,
        body=None if body is None else (body if isinstance(body, str) else json.dumps(body)),
        isBase64Encoded=False,
    )
    context = {**event["requestContext"], "httpMethod": method, "resourcePath": resource or path, "path": called}
    context.pop("authorizer", None)
    if channel is not None:
        context["authorizer"] = {"principalId": channel, "integrationLatency": 12, "channel": channel}
    event["requestContext"] = context
    return event
