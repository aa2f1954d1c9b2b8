"""The connectors' resources provisioned locally, from a hand-made template shaped as CDK synthesizes them:
an S3 bucket (versioning, encryption), its notifications (CDK's ``Custom::S3BucketNotifications``: S3 then
sends ObjectCreated events to the queues, filtered by key prefix, shaped as S3's), the inline handler
function CDK adds for them (skipped, with the reason), an SSM parameter (created with its value, a value
set since is kept); and the S3 objects and SSM parameters kept across restarts (clean stop and crash) by
the hub's journal, written per changed object."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID

from synchub.local import moto_isolation
from synchub.local.persistence import RestoreReport, Store
from synchub.local.provision import Deployment, bucket_name, provision
from synchub.local.template import Template

REGION = "eu-west-1"
HANDLER = "BucketNotificationsHandler050a0587b7544547bf325f094a3db8347ECC3691"
BUCKET = "ExchangeBucket913FA88D"


def _filter(prefix: str) -> dict[str, Any]:
    return {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}


def template_body(*, parameter_value: str = "https://finance.example.invalid") -> dict[str, Any]:
    queue_arn = lambda lid: {"Fn::GetAtt": [lid, "Arn"]}  # noqa: E731
    return {
        "Resources": {
            "AcksQueue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "MasterQueue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "AcksQueuePolicy": {"Type": "AWS::SQS::QueuePolicy", "Properties": {}},
            BUCKET: {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                        ]
                    },
                    "LifecycleConfiguration": {"Rules": [{"ExpirationInDays": 90, "Status": "Enabled"}]},
                },
            },
            "ExchangeBucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {"Bucket": {"Ref": BUCKET}, "PolicyDocument": {}},
            },
            "ExchangeBucketNotifications": {
                "Type": "Custom::S3BucketNotifications",
                "Properties": {
                    "ServiceToken": {"Fn::GetAtt": [HANDLER, "Arn"]},
                    "BucketName": {"Ref": BUCKET},
                    "NotificationConfiguration": {
                        "QueueConfigurations": [
                            {
                                "Events": ["s3:ObjectCreated:*"],
                                "Filter": _filter("from-erp/acks/"),
                                "QueueArn": queue_arn("AcksQueue"),
                            },
                            {
                                "Events": ["s3:ObjectCreated:*"],
                                "Filter": _filter("from-erp/master/"),
                                "QueueArn": queue_arn("MasterQueue"),
                            },
                        ]
                    },
                    "Managed": True,
                    "SkipDestinationValidation": False,
                },
            },
            HANDLER: {  # CDK's inline handler: no asset, ZipFile code
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Description": "AWS CloudFormation handler for Custom::S3BucketNotifications (@aws-cdk/aws-s3)",
                    "Code": {"ZipFile": "import boto3\ndef handler(event, context): ..."},
                    "Handler": "index.handler",
                    "Runtime": "python3.11",
                    "Timeout": 300,
                },
            },
            "HandlerRole": {"Type": "AWS::IAM::Role", "Properties": {}},
            "FinanceBaseUrl": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": "/synchub/finance/base-url",
                    "Type": "String",
                    "Value": parameter_value,
                    "Description": "finance base URL",
                    "Tier": "Standard",
                },
            },
            "UnnamedParameter": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "x"}},
        }
    }


def _template(tmp_path: Path, body: dict[str, Any] | None = None) -> Template:
    return Template(path=tmp_path / "Synchub.template.json", body=body or template_body(), region=REGION)


def _restart(aws: Any) -> None:
    """A new emulator, as after a restart: empty."""
    endpoint = aws("sqs").meta.endpoint_url
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).read()


def _bodies(aws: Any, url: str) -> list[dict[str, Any]]:
    sqs, out = aws("sqs"), []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", []):
        out += [json.loads(m["Body"]) for m in got]
    return out


def _records(aws: Any, url: str) -> list[dict[str, Any]]:
    """The S3 event records on a queue (S3's test event left out)."""
    return [r for body in _bodies(aws, url) if "Records" in body for r in body["Records"]]


# --------------------------------------------------------------------------------------------------
# provisioning
# --------------------------------------------------------------------------------------------------


def test_bucket_notifications_parameter_and_the_skipped_handler(moto_server: Any, tmp_path: Path) -> None:
    dep = provision(_template(tmp_path), moto_server, "x")
    s3, ssm = moto_server("s3"), moto_server("ssm")
    name = dep.buckets["ExchangeBucket"]
    assert name == bucket_name(BUCKET) == "synchub-exchangebucket"
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert dep.not_emulated == [f"{BUCKET}: LifecycleConfiguration"]

    # the handler function is CloudFormation plumbing: listed as skipped, with why; not a function to run
    assert HANDLER not in dep.functions
    assert f"{HANDLER} (AWS::Lambda::Function)" in dep.skipped
    assert "Custom::S3BucketNotifications" in dep.skipped_reasons[HANDLER]
    assert {s.split(" (")[1].rstrip(")") for s in dep.skipped} == {
        "AWS::Lambda::Function",
        "AWS::S3::BucketPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::IAM::Role",
    }

    parameter = ssm.get_parameter(Name="/synchub/finance/base-url")["Parameter"]
    assert parameter["Value"] == "https://finance.example.invalid" and parameter["Type"] == "String"
    assert dep.parameters == {
        "FinanceBaseUrl": "/synchub/finance/base-url",
        "UnnamedParameter": "Synchub-UnnamedParameter",
    }
    assert dep.summary()["buckets"] == {"ExchangeBucket": name} and dep.summary()["parameters"] == dep.parameters

    # S3 confirms a new notification configuration with its test event, once
    acks, master = dep.queues["AcksQueue"]["url"], dep.queues["MasterQueue"]["url"]
    for url in (acks, master):
        (test_event,) = _bodies(moto_server, url)
        assert (test_event["Service"], test_event["Event"], test_event["Bucket"]) == ("Amazon S3", "s3:TestEvent", name)


def test_objects_created_reach_the_queue_of_their_prefix_as_s3_sends_them(moto_server: Any, tmp_path: Path) -> None:
    dep = provision(_template(tmp_path), moto_server, "x")
    s3, name = moto_server("s3"), dep.buckets["ExchangeBucket"]
    acks, master = dep.queues["AcksQueue"]["url"], dep.queues["MasterQueue"]["url"]
    tests = {u: [b for b in _bodies(moto_server, u) if b.get("Event") == "s3:TestEvent"] for u in (acks, master)}
    assert all(len(v) == 1 for v in tests.values())  # one test event per queue, at provisioning

    put = s3.put_object(Bucket=name, Key="from-erp/acks/ACK-ORD 1.csv", Body=b"order_id,status\n")
    s3.put_object(Bucket=name, Key="from-erp/master/products/PRODUCTS-20261202.csv", Body=b"sku\n")
    s3.put_object(Bucket=name, Key="to-erp/orders/ORD-1.csv", Body=b"order_id\n")  # no notification
    (record,) = _records(moto_server, acks)
    assert record["eventSource"] == "aws:s3" and record["eventName"] == "ObjectCreated:Put"
    assert record["awsRegion"] == REGION and record["s3"]["bucket"]["name"] == name
    obj = record["s3"]["object"]
    assert obj["key"] == "from-erp/acks/ACK-ORD+1.csv"  # URL-encoded as S3 does: "/" kept, " " -> "+"
    assert obj["size"] == len(b"order_id,status\n") and obj["eTag"] == put["ETag"].strip('"')
    assert obj["versionId"] == put["VersionId"] and obj["sequencer"]
    assert {"userIdentity", "requestParameters", "responseElements"} <= set(record)
    (master_record,) = _records(moto_server, master)
    assert master_record["s3"]["object"]["key"] == "from-erp/master/products/PRODUCTS-20261202.csv"

    # provisioning again (a restart) with the same configuration sends no second test event
    provision(_template(tmp_path), moto_server, "x")
    assert _bodies(moto_server, acks) == [] and _bodies(moto_server, master) == []


def test_filter_rule_names_match_whatever_their_case(moto_server: Any, tmp_path: Path) -> None:
    body = template_body()
    config = body["Resources"]["ExchangeBucketNotifications"]["Properties"]["NotificationConfiguration"]
    config["QueueConfigurations"][0]["Filter"]["Key"]["FilterRules"][0]["Name"] = "Prefix"
    dep = provision(_template(tmp_path, body), moto_server, "x")
    s3, name = moto_server("s3"), dep.buckets["ExchangeBucket"]
    s3.put_object(Bucket=name, Key="elsewhere/x.csv", Body=b"x")
    s3.put_object(Bucket=name, Key="from-erp/acks/a.csv", Body=b"x")
    assert [r["s3"]["object"]["key"] for r in _records(moto_server, dep.queues["AcksQueue"]["url"])] == [
        "from-erp/acks/a.csv"
    ]


def test_a_parameter_value_set_since_is_kept(moto_server: Any, tmp_path: Path) -> None:
    provision(_template(tmp_path), moto_server, "x")
    ssm = moto_server("ssm")
    ssm.put_parameter(Name="/synchub/finance/base-url", Value="https://finance.acme.example", Overwrite=True)
    dep = provision(_template(tmp_path, template_body(parameter_value="https://other.invalid")), moto_server, "x")
    assert ssm.get_parameter(Name="/synchub/finance/base-url")["Parameter"]["Value"] == "https://finance.acme.example"
    assert dep.template.resolve({"Fn::GetAtt": ["FinanceBaseUrl", "Value"]}) == "https://finance.acme.example"


@pytest.mark.parametrize(
    "kind, message",
    [("TopicConfigurations", "only queue notifications"), ("LambdaFunctionConfigurations", "only queue notifications")],
)
def test_notifications_the_hub_cannot_deliver_are_refused(
    moto_server: Any, tmp_path: Path, kind: str, message: str
) -> None:
    body = template_body()
    config = body["Resources"]["ExchangeBucketNotifications"]["Properties"]["NotificationConfiguration"]
    config[kind] = [{"Events": ["s3:ObjectCreated:*"], "Arn": "arn:aws:sns:eu-west-1:123456789012:t"}]
    with pytest.raises(NotImplementedError, match=message):
        provision(_template(tmp_path, body), moto_server, "x")


def test_a_notification_to_a_queue_the_template_lacks_is_refused(moto_server: Any, tmp_path: Path) -> None:
    body = template_body()
    config = body["Resources"]["ExchangeBucketNotifications"]["Properties"]["NotificationConfiguration"]
    config["QueueConfigurations"][0]["QueueArn"] = "arn:aws:sqs:eu-west-1:123456789012:elsewhere"
    with pytest.raises(ValueError, match="not a queue of the template"):
        provision(_template(tmp_path, body), moto_server, "x")


def test_other_custom_resources_and_their_functions_still_stop_the_hub(moto_server: Any, tmp_path: Path) -> None:
    body = template_body()
    body["Resources"]["LogRetention"] = {
        "Type": "Custom::LogRetention",
        "Properties": {"ServiceToken": {"Fn::GetAtt": [HANDLER, "Arn"]}},
    }
    with pytest.raises(NotImplementedError, match="LogRetention"):
        provision(_template(tmp_path, body), moto_server, "x")


def test_the_synthesized_stack_provisions_its_connectors(moto_server: Any, cdk_out: Path) -> None:
    """The real template: the exchange bucket's notifications, the parameter, the secret, the limits."""
    dep = provision(Template.load(cdk_out, "Synchub", REGION), moto_server, "x")
    if not dep.buckets:
        pytest.skip("the synthesized stack has no connectors yet")
    exchange = next(v for k, v in dep.buckets.items() if k.endswith("ExchangeBucket"))
    assert moto_server("s3").get_bucket_versioning(Bucket=exchange)["Status"] == "Enabled"
    by_prefix = {n.prefix: dep.queue_by_arn(n.queue_arn)["name"] for n in dep.notifications}
    assert set(by_prefix) == {"from-erp/acks/", "from-erp/master/"}
    handlers = {dep.functions[s.function].handler: s for s in dep.event_sources}
    acks_queue = next(s.queue_url for h, s in handlers.items() if h == "erp.handler.acks_handler")
    assert (
        acks_queue
        == dep.queues[next(k for k, v in dep.queues.items() if v["name"] == by_prefix["from-erp/acks/"])]["url"]
    )
    assert handlers["finance.handler.lambda_handler"].max_concurrency == 5
    assert handlers["erp.handler.orders_handler"].max_concurrency == 2
    assert handlers["erp.handler.orders_handler"].batch_size == 100
    assert {s.expression for s in dep.schedules} >= {"rate(1 minute)", "rate(1 hour)"}
    assert any("Custom::S3BucketNotifications" in why for why in dep.skipped_reasons.values())
    finance = next(f for f in dep.functions.values() if f.handler == "finance.handler.lambda_handler")
    assert moto_server("ssm").get_parameter(Name=finance.environment["FINANCE_BASE_URL_PARAMETER"])
    secret = moto_server("secretsmanager").get_secret_value(
        SecretId=finance.environment["FINANCE_CREDENTIALS_SECRET_ARN"]
    )
    assert set(json.loads(secret["SecretString"])) == {"client_id", "client_secret"}
    for fn in dep.functions.values():
        if "EXCHANGE_BUCKET" in fn.environment:
            assert fn.environment["EXCHANGE_BUCKET"] == exchange


# --------------------------------------------------------------------------------------------------
# persistence: S3 objects and SSM parameters
# --------------------------------------------------------------------------------------------------


RESTORED: list[RestoreReport] = []  # what each _start restored


def _store(path: Path) -> Store:
    return Store(path, DEFAULT_ACCOUNT_ID, REGION, interval=3600)  # flushed by the test, not by time


def _start(aws: Any, tmp_path: Path) -> tuple[Store, Deployment]:
    """What LocalHub.start does with a store: control state, provisioning, the journal, listening."""
    store = _store(tmp_path / "data")
    store.restore_control()
    dep = provision(_template(tmp_path), aws, "x")
    RESTORED.append(store.restore())
    store.start()
    return store, dep


def _objects(aws: Any, bucket: str) -> dict[str, Any]:
    """Every version and delete marker of the bucket, with the content and metadata of each version."""
    s3 = aws("s3")
    listing = s3.list_object_versions(Bucket=bucket)
    out: dict[str, Any] = {}
    for v in listing.get("Versions", []):
        got = s3.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
        out[f"{v['Key']}@{v['VersionId']}"] = (
            got["Body"].read(),
            got["ETag"],
            got["ContentType"],
            got.get("Metadata"),
            v["IsLatest"],
            v["LastModified"],
        )
    for m in listing.get("DeleteMarkers", []):
        out[f"{m['Key']}@{m['VersionId']}"] = ("delete-marker", m["IsLatest"], m["LastModified"])
    return out


def test_objects_versions_delete_markers_and_parameters_survive_a_clean_restart(
    moto_server: Any, tmp_path: Path
) -> None:
    store, dep = _start(moto_server, tmp_path)
    s3, ssm, name = moto_server("s3"), moto_server("ssm"), dep.buckets["ExchangeBucket"]
    s3.put_object(Bucket=name, Key="to-erp/orders/a.csv", Body=b"v1", ContentType="text/csv", Metadata={"rows": "1"})
    s3.put_object(Bucket=name, Key="to-erp/orders/a.csv", Body=b"v2", ContentType="text/csv")
    s3.put_object(Bucket=name, Key="to-erp/orders/gone.csv", Body=b"x")
    s3.delete_object(Bucket=name, Key="to-erp/orders/gone.csv")  # a delete marker over the version
    big = bytes(range(256)) * 8192  # 2 MiB
    s3.put_object(Bucket=name, Key="from-erp/master/prices/PRICES-1.csv", Body=big)
    s3.put_object(Bucket=name, Key="tmp/removed.csv", Body=b"x")
    removed = s3.list_object_versions(Bucket=name, Prefix="tmp/")["Versions"][0]["VersionId"]
    s3.delete_object(Bucket=name, Key="tmp/removed.csv", VersionId=removed)  # the key is gone entirely
    ssm.put_parameter(Name="/synchub/finance/base-url", Value="http://127.0.0.1:9", Overwrite=True)
    ssm.put_parameter(Name="/synchub/other", Value="kept", Type="String", Tags=[{"Key": "k", "Value": "v"}])
    expected = _objects(moto_server, name)
    messages = _bodies(moto_server, dep.queues["MasterQueue"]["url"])  # received, back after the restart
    store.stop()

    _restart(moto_server)
    store, dep = _start(moto_server, tmp_path)
    report = RESTORED[-1]
    assert report.objects == 3 and report.control["parameters"] == 3 and report.control["buckets"] == 1
    assert "3 S3 object(s)" in str(report)
    assert _objects(moto_server, name) == expected
    assert s3.get_object(Bucket=name, Key="to-erp/orders/a.csv")["Body"].read() == b"v2"
    assert s3.get_object(Bucket=name, Key="from-erp/master/prices/PRICES-1.csv")["Body"].read() == big
    assert ssm.get_parameter(Name="/synchub/finance/base-url")["Parameter"]["Value"] == "http://127.0.0.1:9"
    assert ssm.get_parameter(Name="/synchub/finance/base-url")["Parameter"]["Version"] == 2
    assert ssm.get_parameter(Name="/synchub/other")["Parameter"]["Value"] == "kept"
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/synchub/other")["TagList"] == [
        {"Key": "k", "Value": "v"}
    ]
    # the bucket's notifications were not configured anew: no second test event; still delivering
    assert [b for b in _bodies(moto_server, dep.queues["MasterQueue"]["url"]) if "Records" not in b] == []
    assert len([m for m in messages if "Records" in m]) == 1
    s3.put_object(Bucket=name, Key="from-erp/acks/ACK-1.csv", Body=b"x")
    assert len(_records(moto_server, dep.queues["AcksQueue"]["url"])) == 1
    store.stop()


def test_a_crash_keeps_flushed_objects_with_their_notifications(moto_server: Any, tmp_path: Path) -> None:
    store, dep = _start(moto_server, tmp_path)
    s3, name = moto_server("s3"), dep.buckets["ExchangeBucket"]
    acks = dep.queues["AcksQueue"]["url"]
    _bodies(moto_server, acks)  # the test event, read and left to become visible again
    moto_server("sqs").purge_queue(QueueUrl=acks)
    s3.put_object(Bucket=name, Key="from-erp/acks/ACK-flushed.csv", Body=b"flushed")
    store.flush()
    s3.put_object(Bucket=name, Key="from-erp/acks/ACK-unflushed.csv", Body=b"lost")  # dies before the next flush
    moto_isolation.set_change_listener(None)  # what the kill did to the old process

    _restart(moto_server)
    store, dep = _start(moto_server, tmp_path)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=name).get("Contents", [])]
    assert keys == ["from-erp/acks/ACK-flushed.csv"]
    assert [r["s3"]["object"]["key"] for r in _records(moto_server, dep.queues["AcksQueue"]["url"])] == [
        "from-erp/acks/ACK-flushed.csv"
    ]
    store.stop()


def test_the_journal_writes_what_changed_and_compaction_drops_unused_content(
    moto_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, dep = _start(moto_server, tmp_path)
    s3, name = moto_server("s3"), dep.buckets["ExchangeBucket"]
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    for n in range(200):
        s3.put_object(Bucket=name, Key=f"to-erp/orders/{n:04d}.csv", Body=f"order {n}".encode())
    assert store.flush() == 200
    written: list[str] = []
    original = Store._write_blob

    def counting(self: Store, version: Any, dirs: set[Path]) -> str | None:
        if getattr(version, "_synchub_blob", None) is None:
            written.append(version.name)
        return original(self, version, dirs)

    monkeypatch.setattr(Store, "_write_blob", counting)
    s3.put_object(Bucket=name, Key="to-erp/orders/0007.csv", Body=b"changed")
    assert store.flush() == 1 and written == ["to-erp/orders/0007.csv"]  # one record, one content file
    assert store.flush() == 0
    objects = store.objects_dir
    assert len(list(objects.glob("*/*"))) == 201  # the replaced content is still named by the journal
    store.compact()
    assert written == ["to-erp/orders/0007.csv"]  # the snapshot reuses the content files written
    assert len(list(objects.glob("*/*"))) == 200  # the replaced one is not in the snapshot: deleted
    s3.delete_object(Bucket=name, Key="to-erp/orders/0001.csv")
    store.stop()

    _restart(moto_server)
    store, dep = _start(moto_server, tmp_path)
    got = {o["Key"] for o in s3.list_objects_v2(Bucket=name, MaxKeys=1000).get("Contents", [])}
    assert len(got) == 199 and "to-erp/orders/0001.csv" not in got
    assert s3.get_object(Bucket=name, Key="to-erp/orders/0007.csv")["Body"].read() == b"changed"
    store.stop()


def test_wipe_deletes_objects_and_parameters(moto_server: Any, tmp_path: Path) -> None:
    store, dep = _start(moto_server, tmp_path)
    moto_server("s3").put_object(Bucket=dep.buckets["ExchangeBucket"], Key="k", Body=b"x")
    moto_server("ssm").put_parameter(Name="/synchub/finance/base-url", Value="http://x", Overwrite=True)
    store.stop()
    _restart(moto_server)
    fresh = _store(tmp_path / "data")
    fresh.wipe()
    assert not fresh.objects_dir.exists()
    fresh.restore_control()
    dep = provision(_template(tmp_path), moto_server, "x")
    assert not fresh.restore()
    assert moto_server("s3").list_objects_v2(Bucket=dep.buckets["ExchangeBucket"]).get("Contents") is None
    value = moto_server("ssm").get_parameter(Name="/synchub/finance/base-url")["Parameter"]["Value"]
    assert value == "https://finance.example.invalid"


def test_auto_delete_objects_and_its_provider_are_skipped_with_their_reason(moto_server: Any, tmp_path: Path) -> None:
    body = template_body()
    provider = "CustomS3AutoDeleteObjectsCustomResourceProviderHandler9D90184F"
    body["Resources"][provider] = {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Handler": "index.handler", "Runtime": "nodejs20.x", "Code": {"S3Key": "x.zip"}},
    }
    body["Resources"]["ExchangeBucketAutoDeleteObjects"] = {
        "Type": "Custom::S3AutoDeleteObjects",
        "Properties": {"ServiceToken": {"Fn::GetAtt": [provider, "Arn"]}, "BucketName": {"Ref": BUCKET}},
    }
    dep = provision(_template(tmp_path, body), moto_server, "x")
    assert provider not in dep.functions and "Custom::S3AutoDeleteObjects" in dep.skipped_reasons[provider]
    assert "ExchangeBucketAutoDeleteObjects (Custom::S3AutoDeleteObjects)" in dep.skipped
