"""The local runtime's emulation of Lambda event sources, API Gateway and DynamoDB transactions."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from synchub.local.functions import InvocationError
from synchub.local.patterns import matches
from synchub.local.pollers import SqsPoller, StreamPoller, schedule_seconds
from synchub.local.provision import EventSourceSpec


class FakePool:
    """Stands in for a function's worker pool: records batches, answers as told."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.batches: list[list[dict[str, Any]]] = []

    def invoke(self, event: dict[str, Any]) -> Any:
        self.batches.append(event["Records"])
        return self.answer(event["Records"])


def fail_all(records: list[dict[str, Any]]) -> Any:
    raise InvocationError("fn", {"errorType": "Boom", "errorMessage": "boom"})


# -- filter criteria -------------------------------------------------------------------------
def test_filter_patterns_match_like_eventbridge() -> None:
    pattern = {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"item_type": {"S": ["OUTBOX"]}}}}
    outbox = {"eventName": "INSERT", "dynamodb": {"NewImage": {"item_type": {"S": "OUTBOX"}}}}
    assert matches(pattern, outbox)
    assert not matches(pattern, {**outbox, "eventName": "MODIFY"})
    assert not matches(pattern, {"eventName": "INSERT", "dynamodb": {"NewImage": {"item_type": {"S": "ORDER"}}}})
    assert not matches(pattern, {"eventName": "INSERT", "dynamodb": {}})
    assert matches({"a": [{"prefix": "ord_"}]}, {"a": "ord_1"}) and not matches({"a": [{"prefix": "x"}]}, {"a": "y"})
    assert matches({"a": [{"exists": False}]}, {}) and not matches({"a": [{"exists": True}]}, {})
    assert matches({"n": [{"numeric": [">", 0, "<=", 5]}]}, {"n": 5}) and not matches(
        {"n": [{"numeric": [">", 0]}]}, {"n": 0}
    )
    assert matches({"a": [{"anything-but": ["x"]}]}, {"a": "y"}) and not matches(
        {"a": [{"anything-but": "x"}]}, {"a": "x"}
    )


def test_schedule_expressions() -> None:
    assert schedule_seconds("rate(5 minutes)") == 300
    assert schedule_seconds("rate(1 hour)") == 3600
    assert schedule_seconds("cron(0 12 * * ? *)") is None


# -- SQS event source ------------------------------------------------------------------------
def _sqs_source(clients: Any, batch_size: int = 10) -> EventSourceSpec:
    sqs = clients("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="src",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return EventSourceSpec(
        logical_id="esm",
        function="fn",
        kind="sqs",
        source_arn=arn,
        batch_size=batch_size,
        batching_window=0,
        report_failures=True,
        queue_url=url,
    )


def test_sqs_poller_deletes_successes_and_retries_reported_failures_into_the_dlq(moto_server: Any) -> None:
    spec = _sqs_source(moto_server)
    sqs = moto_server("sqs")
    for n in range(4):
        sqs.send_message(QueueUrl=spec.queue_url, MessageBody=json.dumps({"n": n}))
    pool = FakePool(
        lambda recs: {
            "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in recs if json.loads(r["body"])["n"] == 2]
        }
    )
    poller = SqsPoller(spec, pool, sqs, "eu-west-1", retry_delay=0)
    for _ in range(6):
        poller.poll_once()
    record = pool.batches[0][0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == spec.source_arn
    assert sorted(json.loads(r["body"])["n"] for r in pool.batches[0]) == [0, 1, 2, 3]
    # only n=2 was redelivered, and after maxReceiveCount (2) it moved to the DLQ
    assert all(json.loads(r["body"])["n"] == 2 for batch in pool.batches[1:] for r in batch)
    assert len(pool.batches) == 2
    dlq = sqs.get_queue_url(QueueName="dlq")["QueueUrl"]
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in dead] == [{"n": 2}]


def test_sqs_poller_retries_the_whole_batch_on_a_function_error(moto_server: Any) -> None:
    spec = _sqs_source(moto_server)
    sqs = moto_server("sqs")
    sqs.send_message(QueueUrl=spec.queue_url, MessageBody="a")
    sqs.send_message(QueueUrl=spec.queue_url, MessageBody="b")
    pool = FakePool(fail_all)
    poller = SqsPoller(spec, pool, sqs, "eu-west-1", retry_delay=0)
    poller.poll_once()
    pool.answer = lambda recs: {"batchItemFailures": []}
    poller.poll_once()
    assert sorted(r["body"] for r in pool.batches[1]) == ["a", "b"]
    assert sorted(r["attributes"]["ApproximateReceiveCount"] for r in pool.batches[1]) == ["2", "2"]
    assert not poller.poll_once()  # all deleted


# -- DynamoDB stream event source --------------------------------------------------------------
def _stream_source(
    clients: Any, max_retries: int = 2, bisect: bool = False, filters: list[dict[str, Any]] | None = None
) -> tuple[EventSourceSpec, str]:
    ddb = clients("dynamodb")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    arn = ddb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    dlq = clients("sqs").create_queue(QueueName="stream-dlq")["QueueUrl"]
    return EventSourceSpec(
        logical_id="stream",
        function="fn",
        kind="dynamodb",
        source_arn=arn,
        batch_size=10,
        batching_window=0,
        report_failures=True,
        max_retries=max_retries,
        bisect=bisect,
        filters=filters or [],
    ), dlq


def _poller(clients: Any, spec: EventSourceSpec, dlq: str, pool: FakePool) -> StreamPoller:
    return StreamPoller(
        spec,
        pool,
        clients("dynamodbstreams"),
        clients("sqs"),
        "eu-west-1",
        dlq,
        "arn:aws:lambda:eu-west-1:123456789012:function:fn",
        retry_delay=0,
    )


def _put(clients: Any, *keys: str) -> None:
    for k in keys:
        clients("dynamodb").put_item(TableName="t", Item={"pk": {"S": k}, "kind": {"S": k[0]}})


def test_stream_poller_checkpoints_before_the_first_reported_failure(moto_server: Any) -> None:
    spec, dlq = _stream_source(moto_server)
    _put(moto_server, "a1", "a2", "a3")
    failing = {"a2"}

    def answer(recs: list[dict[str, Any]]) -> Any:
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
                for r in recs
                if r["dynamodb"]["Keys"]["pk"]["S"] in failing
            ]
        }

    pool = FakePool(answer)
    poller = _poller(moto_server, spec, dlq, pool)
    poller.poll_once()
    failing.clear()
    poller.poll_once()
    keys = [[r["dynamodb"]["Keys"]["pk"]["S"] for r in batch] for batch in pool.batches]
    assert keys == [["a1", "a2", "a3"], ["a2", "a3"]]  # a1 was checkpointed, a2 retried with its successor
    assert pool.batches[0][0]["eventSource"] == "aws:dynamodb"
    assert isinstance(pool.batches[0][0]["dynamodb"]["ApproximateCreationDateTime"], float)


def test_stream_poller_sends_exhausted_batches_to_the_on_failure_destination(moto_server: Any) -> None:
    spec, dlq = _stream_source(moto_server, max_retries=2)
    _put(moto_server, "b1", "b2")
    pool = FakePool(fail_all)
    poller = _poller(moto_server, spec, dlq, pool)
    for _ in range(3):
        poller.poll_once()
    assert len(pool.batches) == 3  # first try + 2 retries
    msgs = moto_server("sqs").receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    info = json.loads(msgs[0]["Body"])
    assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["DDBStreamBatchInfo"]["batchSize"] == 2
    assert info["DDBStreamBatchInfo"]["streamArn"] == spec.source_arn
    pool.answer = lambda recs: None
    _put(moto_server, "b3")
    poller.poll_once()
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in pool.batches[-1]] == ["b3"]  # moved on


def test_stream_poller_bisects_on_function_error_and_applies_filters(moto_server: Any) -> None:
    spec, dlq = _stream_source(
        moto_server, max_retries=5, bisect=True, filters=[{"dynamodb": {"NewImage": {"kind": {"S": ["c"]}}}}]
    )
    _put(moto_server, "c1", "x1", "c2", "c3", "c4")
    pool = FakePool(
        lambda recs: fail_all(recs) if any(r["dynamodb"]["Keys"]["pk"]["S"] == "c3" for r in recs) else None
    )
    poller = _poller(moto_server, spec, dlq, pool)
    for _ in range(4):
        poller.poll_once()
    sizes = [len(b) for b in pool.batches]
    assert sizes == [4, 2, 2, 1]  # x1 filtered out; a failing batch is halved, [c1 c2] passes, [c3 c4] halves again
    assert all(r["dynamodb"]["Keys"]["pk"]["S"] != "x1" for b in pool.batches for r in b)


# -- moto transaction isolation ------------------------------------------------------------------
def test_cancelled_transactions_leave_no_trace_even_under_concurrency(moto_server: Any) -> None:
    spec, _ = _stream_source(moto_server)
    ddb = moto_server("dynamodb")
    ddb.put_item(TableName="t", Item={"pk": {"S": "lock"}})
    seen: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            if "Item" in ddb.get_item(TableName="t", Key={"pk": {"S": "ghost"}}):
                seen.append("ghost")

    t = threading.Thread(target=reader)
    t.start()
    for _ in range(30):
        with pytest.raises(ddb.exceptions.TransactionCanceledException):
            ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "t", "Item": {"pk": {"S": "ghost"}}}},
                    {
                        "Put": {
                            "TableName": "t",
                            "Item": {"pk": {"S": "lock"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
    stop.set()
    t.join()
    assert seen == []
    streams = moto_server("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=spec.source_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=spec.source_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in streams.get_records(ShardIterator=it)["Records"]]
    assert keys == ["lock"]


# -- API Gateway ---------------------------------------------------------------------------------
def test_api_gateway_builds_rest_proxy_events_and_maps_responses() -> None:
    import urllib.request

    from synchub.local.apigw import ApiGateway
    from synchub.local.provision import RouteSpec

    seen: list[dict[str, Any]] = []

    def invoke(fn: str, event: dict[str, Any]) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 201, "multiValueHeaders": {"X-Fn": [fn]}, "body": json.dumps({"ok": True})}

    gw = ApiGateway([RouteSpec("GET", "/orders/{order_id}", "OrdersFn")], invoke, "v1", "eu-west-1", "123456789012")
    gw.start()
    try:
        with urllib.request.urlopen(gw.url + "/orders/ord_1?x=1&x=2") as resp:
            assert resp.status == 201 and resp.headers["X-Fn"] == "OrdersFn"
            assert json.loads(resp.read()) == {"ok": True}
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(urllib.request.Request(gw.url + "/orders/ord_1", method="DELETE"))
        assert err.value.code == 405
    finally:
        gw.stop()
    event = seen[0]
    assert event["resource"] == "/orders/{order_id}" and event["pathParameters"] == {"order_id": "ord_1"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["requestContext"]["stage"] == "v1" and event["httpMethod"] == "GET"


# -- provisioning from the template --------------------------------------------------------------
def test_provisioning_mirrors_the_template(moto_server: Any, cdk_out: Any) -> None:
    from synchub.local.provision import provision
    from synchub.local.template import Template

    dep = provision(Template.load(cdk_out, "Synchub", "eu-west-1"), moto_server, "x")
    sqs = moto_server("sqs")
    timeout_of = {s.queue_url: dep.functions[s.function].timeout for s in dep.event_sources if s.kind == "sqs"}
    for name, q in dep.queues.items():
        attrs = sqs.get_queue_attributes(QueueUrl=q["url"], AttributeNames=["All"])["Attributes"]
        if "DeadLetter" not in name:
            policy = json.loads(attrs["RedrivePolicy"])
            assert int(policy["maxReceiveCount"]) == 5
            if name.endswith("OutboundQueue"):  # a site's outbound queue: its WMS drains it, no function
                assert q["url"] not in timeout_of and attrs["VisibilityTimeout"] == "300"
                continue
            assert attrs["VisibilityTimeout"] == str(6 * timeout_of[q["url"]])  # six times its consumer's timeout
    ddb = moto_server("dynamodb")
    table = ddb.describe_table(TableName=dep.tables["DataOrdersTable"])["Table"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    assert {"backorders", "outbox-pending"} <= {g["IndexName"] for g in table["GlobalSecondaryIndexes"]}
    if "DataConnectorsTable" in dep.tables:  # the connectors' state: GSIs and the rate windows' TTL
        name = dep.tables["DataConnectorsTable"]
        indexes = {g["IndexName"] for g in ddb.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]}
        assert indexes == {"exceptions-by-status", "erp-files-open"}
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
        assert {"by-day"} <= {g["IndexName"] for g in table["GlobalSecondaryIndexes"]}
    assert {(r.method, r.resource) for r in dep.routes if not r.resource.startswith("/exceptions")} == {
        ("POST", "/orders"),
        ("GET", "/orders/{order_id}"),
        ("ANY", "/orders"),
        ("ANY", "/orders/{order_id}"),
        ("POST", "/orders/{order_id}/cancel"),
        ("ANY", "/orders/{order_id}/cancel"),
        ("POST", "/orders/{order_id}/returns"),
        ("ANY", "/orders/{order_id}/returns"),
        ("GET", "/invoices/{invoice_id}"),
        ("ANY", "/invoices/{invoice_id}"),
        ("GET", "/credit-memos/{credit_memo_id}"),
        ("ANY", "/credit-memos/{credit_memo_id}"),
        ("GET", "/availability"),
        ("ANY", "/availability"),
        ("POST", "/availability/query"),
        ("ANY", "/availability/query"),
        ("POST", "/oauth2/token"),
        ("ANY", "/oauth2/token"),
        ("GET", "/openapi.json"),
    }
    routes = {(r.method, r.resource): r for r in dep.routes}
    post = routes[("POST", "/orders")]
    assert post.authorization_type == "CUSTOM" and post.api_key_required and post.api_key_source == "AUTHORIZER"
    assert post.required_parameters == [("header", "Idempotency-Key")]
    for keyed in ("/orders/{order_id}/cancel", "/orders/{order_id}/returns"):  # they change an order
        assert routes[("POST", keyed)].required_parameters == [("header", "Idempotency-Key")]
    assert not routes[("POST", "/availability/query")].required_parameters  # an inquiry
    assert post.authorizer is not None and dep.functions[post.authorizer.function].handler.endswith(
        "authorizer_handler"
    )
    assert post.authorizer.header == "Authorization" and post.authorizer.validation_expression
    assert post.authorizer.ttl == 0  # revocation is immediate
    for key in [("POST", "/oauth2/token"), ("ANY", "/oauth2/token"), ("GET", "/openapi.json")]:
        assert routes[key].authorization_type == "NONE" and not routes[key].api_key_required
    assert routes[("ANY", "/orders")].authorizer == post.authorizer and routes[("ANY", "/orders")].api_key_required
    assert not routes[("ANY", "/orders")].required_parameters
    # the RestApi has a real id in the emulator, and the secret a generated value (ExcludePunctuation, 64)
    api = moto_server("apigateway").get_rest_api(restApiId=dep.api_id)
    assert api["name"] == "synchub-orders" and api["apiKeySource"] == "AUTHORIZER" and dep.stage == "v1"
    token_fn = next(f for f in dep.functions.values() if f.handler == "channels.handler.token_handler")
    secret_arn = token_fn.environment["TOKEN_SIGNING_SECRET_ARN"]
    assert secret_arn == dep.secrets["ChannelsTokenSigningSecret"]
    value = moto_server("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    assert len(value) == 64 and value.isalnum()
    assert token_fn.environment["CHANNELS_TABLE"] == dep.tables["DataChannelsTable"]
    skipped = {s.split(" (")[1].rstrip(")") for s in dep.skipped}
    assert {"AWS::WAFv2::WebACL", "AWS::WAFv2::WebACLAssociation", "AWS::Events::EventBusPolicy"} <= skipped
    assert {s.kind for s in dep.event_sources} == {"sqs", "dynamodb"}
    stream = next(s for s in dep.event_sources if s.kind == "dynamodb")
    assert stream.max_retries == 5 and stream.bisect and stream.on_failure_arn
    for fn in dep.functions.values():
        assert fn.environment["ORDERS_TABLE"] == dep.tables["DataOrdersTable"]
        assert (fn.code_dir / fn.handler.split(".")[0]).is_dir()
    rules = moto_server("events").list_rules(EventBusName=dep.bus_name)["Rules"]
    assert {"OrderAccepted", "ShipmentConfirmed"} <= {json.loads(r["EventPattern"])["detail-type"][0] for r in rules}
    schedules = {dep.functions[s.function].handler: s.expression for s in dep.schedules}
    assert schedules["outbox.handler.sweep_handler"] == "rate(5 minutes)"
    assert schedules["reservation.handler.backorder_handler"] == "rate(5 minutes)"
    assert all(schedule_seconds(e) for e in schedules.values())  # rate(1 minute), rate(1 hour): all emulated
    for sched in dep.schedules:  # the EventInvokeConfig: retries, then its on-failure destination
        assert sched.async_retry_attempts == 2 and sched.on_failure_arn
        assert dep.queue_by_arn(sched.on_failure_arn)["name"].endswith("DeadLetterQueue")


# -- worker processes ----------------------------------------------------------------------------
def test_worker_processes_time_out_crash_and_recover(tmp_path: Any) -> None:
    from synchub.local.functions import FunctionPool
    from synchub.local.provision import FunctionSpec

    (tmp_path / "fn.py").write_text(
        "import os, time\n"
        "def handler(event, context):\n"
        "    if event.get('sleep'): time.sleep(event['sleep'])\n"
        "    if event.get('exit'): os._exit(3)\n"
        "    if event.get('raise'): raise ValueError('bad input')\n"
        "    return {'pid': os.getpid(), 'table': os.environ['ORDERS_TABLE'],\n"
        "            'region': os.environ['AWS_REGION'], 'name': context.function_name,\n"
        "            'left_ms': context.get_remaining_time_in_millis()}\n"
    )
    spec = FunctionSpec(
        logical_id="Fn",
        name="Synchub-Fn",
        handler="fn.handler",
        code_dir=tmp_path,
        environment={"ORDERS_TABLE": "orders"},
        timeout=2,
        memory=128,
    )
    pool = FunctionPool(spec, {"AWS_REGION": "eu-west-1"}, tmp_path, "arn:aws:lambda:eu-west-1:1:function:Synchub-Fn")
    pool.warm()
    try:
        first = pool.invoke({})
        assert first["table"] == "orders" and first["region"] == "eu-west-1" and first["name"] == "Synchub-Fn"
        assert 0 < first["left_ms"] <= 2000
        assert pool.invoke({})["pid"] == first["pid"]  # warm instance reused
        with pytest.raises(InvocationError) as err:
            pool.invoke({"raise": True})
        assert err.value.payload["errorType"] == "ValueError"
        with pytest.raises(InvocationError) as err:
            pool.invoke({"sleep": 5})
        assert err.value.payload["errorType"] == "Sandbox.Timedout"
        after_timeout = pool.invoke({})
        assert after_timeout["pid"] != first["pid"]  # the timed-out sandbox was replaced
        with pytest.raises(InvocationError) as err:
            pool.invoke({"exit": True})
        assert err.value.payload["errorType"] == "Runtime.ExitError"
        assert pool.invoke({})["pid"] not in (first["pid"], after_timeout["pid"])
        assert (pool.invocations, pool.errors) == (7, 3)
        assert "ValueError: bad input" in (tmp_path / "Synchub-Fn.log").read_text()
    finally:
        pool.stop()


def test_function_logs_are_rotated_and_stay_bounded(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from synchub.local.functions import FunctionPool
    from synchub.local.provision import FunctionSpec

    (tmp_path / "chatty.py").write_text("def handler(event, context):\n    print('x' * 999)\n    return {}\n")
    monkeypatch.setenv("SYNCHUB_LOCAL_LOG_MAX_BYTES", "20000")
    spec = FunctionSpec(
        logical_id="Fn",
        name="Synchub-Chatty",
        handler="chatty.handler",
        code_dir=tmp_path,
        environment={},
        timeout=5,
        memory=128,
    )
    pool = FunctionPool(spec, {}, tmp_path, "arn:aws:lambda:eu-west-1:1:function:Synchub-Chatty", concurrency=2)
    pool.warm()
    try:
        errors: list[BaseException] = []

        def invoke_many() -> None:
            try:
                for _ in range(60):
                    pool.invoke({})
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=invoke_many) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        pool.stop()
    assert errors == []  # instances rotating the shared log at the same time never fail an invocation
    log, rotated = tmp_path / "Synchub-Chatty.log", tmp_path / "Synchub-Chatty.log.1"
    assert rotated.exists()  # 120 KB were written: the log rotated, and no more than two files remain
    assert log.stat().st_size <= 20000 + 2 * 1000 and rotated.stat().st_size <= 20000 + 2 * 1000
    assert not list(tmp_path.glob("*.log.2"))
