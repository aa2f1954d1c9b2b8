"""Provisioning the access side of a template locally, from a small hand-made template: secrets
(GenerateSecretString honoured, values kept across restarts), the RestApi's real id, authorizers and
method settings read into the routes, types without a local meaning skipped; and scheduled invocations
that keep failing: Lambda's failure record to the EventInvokeConfig's on-failure destination."""

from __future__ import annotations

import json
import string
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID

from synchub.local.functions import InvocationError
from synchub.local.persistence import Store
from synchub.local.pollers import ScheduleRunner
from synchub.local.provision import ScheduleSpec, generate_secret_string, provision
from synchub.local.runtime import LocalHub
from synchub.local.template import Template

REGION = "eu-west-1"


def _fn(handler: str, **env: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Handler": handler, "Environment": {"Variables": env}, "Code": {"S3Key": "x"}},
        "Metadata": {"aws:asset:path": "asset"},
    }


def _uri(fn: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:aws:apigateway:",
                {"Ref": "AWS::Region"},
                ":lambda:path/2015-03-31/functions/",
                {"Fn::GetAtt": [fn, "Arn"]},
                "/invocations",
            ],
        ]
    }


def template_body(secret_string: str = "static-value-1") -> dict[str, Any]:
    api = {"Ref": "Api"}
    return {
        "Resources": {
            "FailuresQueue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "ScheduleDLQ": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "SigningSecret": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {
                    "Description": "signs tokens",
                    "GenerateSecretString": {"PasswordLength": 40, "ExcludePunctuation": True},
                },
            },
            "JsonSecret": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {
                    "Name": "hub/db",
                    "GenerateSecretString": {
                        "SecretStringTemplate": '{"user": "hub"}',
                        "GenerateStringKey": "password",
                        "ExcludeCharacters": "aeiouAEIOU0123456789",
                    },
                },
            },
            "StaticSecret": {"Type": "AWS::SecretsManager::Secret", "Properties": {"SecretString": secret_string}},
            "AuthFn": _fn("auth.handler", SECRET_ARN={"Ref": "SigningSecret"}),
            "OrdersFn": _fn("orders.handler"),
            "SweepFn": _fn("sweep.handler"),
            "Api": {
                "Type": "AWS::ApiGateway::RestApi",
                "Properties": {"Name": "test-api", "ApiKeySourceType": "AUTHORIZER"},
            },
            "Authorizer": {
                "Type": "AWS::ApiGateway::Authorizer",
                "Properties": {
                    "Name": "tokens",
                    "Type": "TOKEN",
                    "RestApiId": api,
                    "AuthorizerUri": _uri("AuthFn"),
                    "IdentitySource": "method.request.header.Authorization",
                    "IdentityValidationExpression": "^Bearer .+$",
                    "AuthorizerResultTtlInSeconds": 60,
                },
            },
            "Validator": {
                "Type": "AWS::ApiGateway::RequestValidator",
                "Properties": {"RestApiId": api, "ValidateRequestParameters": True, "ValidateRequestBody": False},
            },
            "Orders": {
                "Type": "AWS::ApiGateway::Resource",
                "Properties": {
                    "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                    "PathPart": "orders",
                    "RestApiId": api,
                },
            },
            "OrdersPost": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "HttpMethod": "POST",
                    "ResourceId": {"Ref": "Orders"},
                    "RestApiId": api,
                    "AuthorizationType": "CUSTOM",
                    "AuthorizerId": {"Ref": "Authorizer"},
                    "ApiKeyRequired": True,
                    "RequestParameters": {
                        "method.request.header.Idempotency-Key": True,
                        "method.request.querystring.dry_run": False,
                    },
                    "RequestValidatorId": {"Ref": "Validator"},
                    "Integration": {"Type": "AWS_PROXY", "IntegrationHttpMethod": "POST", "Uri": _uri("OrdersFn")},
                },
            },
            "OrdersAny": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "HttpMethod": "ANY",
                    "ResourceId": {"Ref": "Orders"},
                    "RestApiId": api,
                    "AuthorizationType": "NONE",
                    "RequestParameters": {"method.request.header.X-Ignored": True},  # no validator: not enforced
                    "Integration": {"Type": "AWS_PROXY", "IntegrationHttpMethod": "POST", "Uri": _uri("OrdersFn")},
                },
            },
            "Deployment": {"Type": "AWS::ApiGateway::Deployment", "Properties": {"RestApiId": api}},
            "Stage": {
                "Type": "AWS::ApiGateway::Stage",
                "Properties": {"StageName": "v1", "RestApiId": api, "DeploymentId": {"Ref": "Deployment"}},
            },
            "Schedule": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "ScheduleExpression": "rate(5 minutes)",
                    "Targets": [
                        {
                            "Id": "T",
                            "Arn": {"Fn::GetAtt": ["SweepFn", "Arn"]},
                            "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["ScheduleDLQ", "Arn"]}},
                            "RetryPolicy": {"MaximumRetryAttempts": 2},
                        }
                    ],
                },
            },
            "SweepInvokeConfig": {
                "Type": "AWS::Lambda::EventInvokeConfig",
                "Properties": {
                    "FunctionName": {"Ref": "SweepFn"},
                    "Qualifier": "$LATEST",
                    "MaximumRetryAttempts": 1,
                    "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": ["FailuresQueue", "Arn"]}}},
                },
            },
            "Acl": {"Type": "AWS::WAFv2::WebACL", "Properties": {}},
            "AclAssociation": {"Type": "AWS::WAFv2::WebACLAssociation", "Properties": {}},
            "BusPolicy": {"Type": "AWS::Events::EventBusPolicy", "Properties": {}},
            "ProducerPolicy": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {}},
            "ProducerRole": {"Type": "AWS::IAM::Role", "Properties": {}},
            "QueuePolicy": {"Type": "AWS::SQS::QueuePolicy", "Properties": {}},
        }
    }


def _template(tmp_path: Path, body: dict[str, Any] | None = None) -> Template:
    return Template(path=tmp_path / "Synchub.template.json", body=body or template_body(), region=REGION)


def _restart(aws: Any) -> None:
    """A new emulator, as after a restart: empty."""
    endpoint = aws("sqs").meta.endpoint_url
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).read()


# --------------------------------------------------------------------------------------------------
# provisioning
# --------------------------------------------------------------------------------------------------


def test_a_template_provisions_its_secrets_api_authorizer_and_method_settings(moto_server: Any, tmp_path: Path) -> None:
    dep = provision(_template(tmp_path), moto_server, "x")
    sm = moto_server("secretsmanager")
    signing = sm.get_secret_value(SecretId=dep.secrets["SigningSecret"])["SecretString"]
    assert len(signing) == 40 and set(signing) <= set(string.ascii_letters + string.digits)
    assert dep.functions["AuthFn"].environment["SECRET_ARN"] == dep.secrets["SigningSecret"]
    assert sm.describe_secret(SecretId=dep.secrets["SigningSecret"])["Name"] == "Synchub-SigningSecret"
    db = json.loads(sm.get_secret_value(SecretId="hub/db")["SecretString"])
    assert db["user"] == "hub" and len(db["password"]) == 32 and not set(db["password"]) & set("aeiouAEIOU0123456789")
    assert sm.get_secret_value(SecretId=dep.secrets["StaticSecret"])["SecretString"] == "static-value-1"

    api = moto_server("apigateway").get_rest_api(restApiId=dep.api_id)
    assert api["name"] == "test-api" and api["apiKeySource"] == "AUTHORIZER"
    assert dep.stage == "v1" and dep.summary()["api_id"] == dep.api_id and dep.summary()["stage"] == "v1"

    routes = {(r.method, r.resource): r for r in dep.routes}
    post, any_ = routes[("POST", "/orders")], routes[("ANY", "/orders")]
    assert post.function == any_.function == "OrdersFn"
    assert post.authorization_type == "CUSTOM" and post.api_key_required and post.api_key_source == "AUTHORIZER"
    assert post.authorizer is not None and post.authorizer.function == "AuthFn"
    assert (post.authorizer.header, post.authorizer.validation_expression, post.authorizer.ttl) == (
        "Authorization",
        "^Bearer .+$",
        60,
    )
    assert post.required_parameters == [("header", "Idempotency-Key")]
    assert any_.authorization_type == "NONE" and any_.authorizer is None and not any_.api_key_required
    assert any_.required_parameters == []

    (sched,) = dep.schedules
    assert sched.function == "SweepFn" and sched.async_retry_attempts == 1 and sched.retry_attempts == 2
    assert (
        sched.on_failure_arn == dep.queues["FailuresQueue"]["arn"] and sched.dlq_arn == dep.queues["ScheduleDLQ"]["arn"]
    )

    assert {s.split(" (")[1].rstrip(")") for s in dep.skipped} == {
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Stage",
        "AWS::WAFv2::WebACL",
        "AWS::WAFv2::WebACLAssociation",
        "AWS::Events::EventBusPolicy",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::Role",
        "AWS::SQS::QueuePolicy",
    }


@pytest.mark.parametrize(
    "change, message",
    [
        ({"Type": "REQUEST"}, "only TOKEN"),
        ({"IdentitySource": "method.request.querystring.token"}, "must be a header"),
        ({"AuthorizerUri": "arn:aws:apigateway:eu-west-1:lambda:path/functions/elsewhere/invocations"}, "no function"),
    ],
)
def test_authorizers_the_local_hub_cannot_run_are_refused_at_start(
    moto_server: Any, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    body = template_body()
    body["Resources"]["Authorizer"]["Properties"].update(change)
    with pytest.raises(NotImplementedError, match=message):
        provision(_template(tmp_path, body), moto_server, "x")


def test_unknown_resource_types_still_stop_the_hub(moto_server: Any, tmp_path: Path) -> None:
    body = template_body()
    body["Resources"]["Mystery"] = {"Type": "AWS::Kinesis::Stream", "Properties": {}}
    with pytest.raises(NotImplementedError, match="Mystery"):
        provision(_template(tmp_path, body), moto_server, "x")


def test_generated_secret_strings_honour_their_options() -> None:
    assert len(generate_secret_string({})) == 32
    for _ in range(20):  # RequireEachIncludedType (the default): every kind of character is there
        value = generate_secret_string({"PasswordLength": 8})
        assert all(set(value) & set(kind) for kind in (string.ascii_lowercase, string.ascii_uppercase, string.digits))
        assert set(value) & set(string.punctuation)
    digits = generate_secret_string({"ExcludeLowercase": True, "ExcludeUppercase": True, "ExcludePunctuation": True})
    assert digits.isdigit()
    spaced = generate_secret_string({"IncludeSpace": True, "PasswordLength": 200, "RequireEachIncludedType": True})
    assert " " in spaced
    with pytest.raises(ValueError):
        generate_secret_string({"ExcludeCharacters": string.ascii_letters + string.digits + string.punctuation})


def test_secrets_api_id_keys_and_usage_plans_survive_a_restart(moto_server: Any, tmp_path: Path) -> None:
    def start() -> tuple[Store, Any]:
        store = Store(tmp_path / "data", DEFAULT_ACCOUNT_ID, REGION, interval=3600)
        store.restore_control()
        dep = provision(_template(tmp_path, template_body(static)), moto_server, "x")
        store.restore()
        store.start()
        return store, dep

    static = "static-value-1"
    store, dep = start()
    sm, gw = moto_server("secretsmanager"), moto_server("apigateway")
    signing = sm.get_secret_value(SecretId=dep.secrets["SigningSecret"])["SecretString"]
    db = sm.get_secret_value(SecretId="hub/db")["SecretString"]
    # what `synchub channels add` creates while the hub runs
    key = gw.create_api_key(name="synchub-webshop-nl", enabled=True, value="k" * 40, tags={"synchub-channel": "x"})
    plan = gw.create_usage_plan(
        name="synchub-webshop-nl",
        apiStages=[{"apiId": dep.api_id, "stage": "v1"}],
        throttle={"rateLimit": 5.0, "burstLimit": 10},
        quota={"limit": 1000, "period": "DAY"},
    )
    gw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    disabled = gw.create_api_key(name="revoked", enabled=False, value="r" * 40)
    store.stop()

    for restart in range(2):
        _restart(moto_server)
        static = "static-value-2" if restart else static  # a static SecretString the template changed is updated
        store, again = start()
        assert again.secrets == dep.secrets  # same ARNs
        assert sm.get_secret_value(SecretId=again.secrets["SigningSecret"])["SecretString"] == signing
        assert sm.get_secret_value(SecretId="hub/db")["SecretString"] == db
        assert sm.get_secret_value(SecretId=again.secrets["StaticSecret"])["SecretString"] == static
        assert again.api_id == dep.api_id
        assert len(gw.get_rest_apis()["items"]) == 1
        keys = {k["id"]: k for k in gw.get_api_keys(includeValues=True)["items"]}
        assert keys[key["id"]]["value"] == "k" * 40 and keys[key["id"]]["enabled"]
        assert keys[disabled["id"]]["enabled"] is False
        (found,) = gw.get_usage_plans(keyId=key["id"])["items"]
        assert found["id"] == plan["id"] and found["apiStages"] == [{"apiId": dep.api_id, "stage": "v1"}]
        assert found["throttle"] == {"rateLimit": 5.0, "burstLimit": 10} and found["quota"]["limit"] == 1000
        assert gw.get_usage_plans(keyId=disabled["id"])["items"] == []
        store.stop()

    (tmp_path / "data" / "control.json").write_text("{ not json")  # never prevents starting
    _restart(moto_server)
    store, fresh = start()
    assert sm.get_secret_value(SecretId=fresh.secrets["SigningSecret"])["SecretString"] != signing
    store.wipe()
    assert not (tmp_path / "data" / "control.json").exists()
    store.stop(save_streams=False)


# --------------------------------------------------------------------------------------------------
# scheduled invocations that keep failing
# --------------------------------------------------------------------------------------------------


class FailingPool:
    def __init__(self, error_type: str = "ValueError") -> None:
        self.events: list[dict[str, Any]] = []
        self.error_type = error_type

    def invoke(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        raise InvocationError("fn", {"errorType": self.error_type, "errorMessage": "no", "stackTrace": ["  line 1"]})


def _runner(spec: ScheduleSpec, pool: FailingPool, sent: list[tuple[str, Any]]) -> ScheduleRunner:
    return ScheduleRunner(
        spec,
        pool,  # type: ignore[arg-type]
        lambda arn, body: sent.append((arn, json.loads(body))),
        REGION,
        "123456789012",
        60,
        retry_delay=0,
        function_arn="arn:aws:lambda:eu-west-1:123456789012:function:Synchub-SweepFn",
        send_failure=lambda arn, record: sent.append((arn, record)),
    )


def test_a_scheduled_invocation_that_keeps_failing_sends_lambdas_failure_record_to_the_destination() -> None:
    spec = ScheduleSpec(
        "Schedule", "rate(5 minutes)", "SweepFn", "arn:dlq", 2, async_retry_attempts=1, on_failure_arn="arn:failures"
    )
    pool, sent = FailingPool(), []
    _runner(spec, pool, sent).fire()
    assert len(pool.events) == 2  # the first attempt and MaximumRetryAttempts (1) retry
    ((arn, record),) = sent  # the destination only: the target's DLQ is for events EventBridge cannot deliver
    assert arn == "arn:failures"
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    assert record["requestContext"] == {
        "requestId": record["requestContext"]["requestId"],
        "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:Synchub-SweepFn:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 2,
    }
    assert record["requestPayload"] == pool.events[0] and record["requestPayload"]["detail-type"] == "Scheduled Event"
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"] == {"errorMessage": "no", "errorType": "ValueError", "stackTrace": ["  line 1"]}


def test_without_a_destination_the_event_goes_to_the_targets_dlq_and_a_stopping_hub_sends_nothing() -> None:
    spec = ScheduleSpec("Schedule", "rate(5 minutes)", "SweepFn", "arn:dlq", 2)
    pool, sent = FailingPool(), []
    _runner(spec, pool, sent).fire()
    assert len(pool.events) == 3  # Lambda's default: 2 retries
    assert sent == [("arn:dlq", pool.events[0])]
    pool, sent = FailingPool("Runtime.Shutdown"), []
    _runner(spec, pool, sent).fire()
    assert len(pool.events) == 1 and sent == []


def test_the_hub_delivers_failure_records_to_queues_and_buses(moto_server: Any, tmp_path: Path) -> None:
    dep = provision(_template(tmp_path), moto_server, "x")
    hub = LocalHub(state_dir=tmp_path / "state")
    hub.deployment, hub.clients = dep, moto_server
    record = {"requestContext": {"functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:f:$LATEST"}}
    hub._send_record(dep.queues["FailuresQueue"]["arn"], record)
    got = moto_server("sqs").receive_message(QueueUrl=dep.queues["FailuresQueue"]["url"])["Messages"]
    assert [json.loads(m["Body"]) for m in got] == [record]
    events = moto_server("events")
    bus = events.create_event_bus(Name="failures")["EventBusArn"]
    events.put_rule(Name="failures", EventBusName="failures", EventPattern=json.dumps({"source": ["lambda"]}))
    events.put_targets(
        Rule="failures", EventBusName="failures", Targets=[{"Id": "q", "Arn": dep.queues["ScheduleDLQ"]["arn"]}]
    )
    hub._send_record(bus, record)
    (message,) = moto_server("sqs").receive_message(QueueUrl=dep.queues["ScheduleDLQ"]["url"])["Messages"]
    event = json.loads(message["Body"])
    assert event["detail-type"] == "Lambda Function Invocation Result - Failure" and event["detail"] == record
