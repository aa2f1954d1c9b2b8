"""The local hub starts the finance and ERP stand-ins with the stack: finance accepts exactly the client
credentials of the provisioned finance secret and the finance base URL parameter points at it; the ERP
exchanges files through the provisioned exchange bucket (its acknowledgements reach the acks queue through
the bucket's notifications); their URLs are in ``local.json`` and in the CLI's environment; they stop with
the hub. ``standins=False`` (``synchub local up --no-standins``) leaves the parameter to the user."""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from synchub import cli, environment
from synchub.local.runtime import LocalHub
from synchub.standins.control import ErpAdmin

ORDER_FILE = "ORD-20261202050000-0a1b2c3d"
ORDER_CSV = (
    "order_id,channel,channel_order_ref,customer_id,order_date,currency,line_id,sku,quantity,unit_price,tax_rate\n"
    "ord_standin_1,webshop-nl,WS-1,CUST-8812,2026-12-02,EUR,1,FLOUR-T55-25KG,2,18.40,0.09\n"
)


def _token(url: str, client_id: str, client_secret: str) -> int:
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
    ).encode()
    request = urllib.request.Request(f"{url}/oauth2/token", data=form, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def hub(cdk_out: Path, tmp_path: Path) -> Iterator[LocalHub]:
    local = LocalHub(cdk_out=cdk_out, api_port=0, emulator_port=0, state_dir=tmp_path / "state")
    local.start()
    yield local
    local.stop()


def test_the_hub_starts_the_stand_ins_on_the_provisioned_credentials_bucket_and_parameter(hub: LocalHub) -> None:
    if not hub.connector_env().get("EXCHANGE_BUCKET"):
        pytest.skip("the synthesized stack has no connectors yet")
    state = json.loads((hub.state_dir / "local.json").read_text())
    finance, erp = state["standins"]["finance"], state["standins"]["erp"]
    assert finance["url"].startswith("http://127.0.0.1:") and finance["admin_url"] and finance["pid"]
    assert erp["admin_url"].startswith("http://127.0.0.1:") and erp["pid"]
    assert (hub.state_dir / "standins" / "finance").is_dir() and (hub.state_dir / "standins" / "erp").is_dir()

    env = environment.local(hub.state_dir / "local.json")
    assert env.standins == state["standins"]
    variables = env.function_env()
    bucket, parameter = variables["EXCHANGE_BUCKET"], variables["FINANCE_BASE_URL_PARAMETER"]
    assert bucket in env.buckets.values() and env.exchange_bucket == bucket
    assert parameter == "/synchub/finance/base-url" and parameter in env.parameters.values()
    assert variables["FINANCE_CREDENTIALS_SECRET_ARN"] in env.secrets.values()
    assert variables["CONNECTORS_TABLE"] in env.tables.values() and variables["MASTERDATA_TABLE"] in env.tables.values()
    assert variables["FINANCE_QUEUE_URL"] in env.queues.values() and variables["ERP_QUEUE_URL"] in env.queues.values()

    # the connectors find finance through the parameter, and sign in with the secret: finance takes exactly that
    aws = env.clients()
    assert aws("ssm").get_parameter(Name=parameter)["Parameter"]["Value"] == finance["url"]
    secret = json.loads(
        aws("secretsmanager").get_secret_value(SecretId=variables["FINANCE_CREDENTIALS_SECRET_ARN"])["SecretString"]
    )
    assert _token(finance["url"], secret["client_id"], secret["client_secret"]) == 200
    assert _token(finance["url"], secret["client_id"], secret["client_secret"] + "x") == 401

    # the ERP works on the exchange bucket: it takes an order file and its acknowledgement comes back, and
    # the bucket's notification delivers that file to the acks queue's consumer
    admin = ErpAdmin(erp["admin_url"])
    assert admin.status()["bucket"] == bucket
    s3 = aws("s3")
    s3.put_object(Bucket=bucket, Key=f"to-erp/orders/{ORDER_FILE}.csv", Body=ORDER_CSV.encode())
    admin.poll()
    deadline = time.monotonic() + 60
    while not s3.list_objects_v2(Bucket=bucket, Prefix=f"from-erp/acks/ACK-{ORDER_FILE}").get("Contents"):
        assert time.monotonic() < deadline, "the ERP stand-in wrote no acknowledgement"
        time.sleep(0.2)
    ack = s3.get_object(Bucket=bucket, Key=f"from-erp/acks/ACK-{ORDER_FILE}.csv")["Body"].read().decode()
    assert ack.splitlines()[1].startswith("ord_standin_1,ACCEPTED,SO-")
    acks_fn = next(p for p in hub.pools.values() if p.spec.handler == "erp.handler.acks_handler")
    while acks_fn.invocations == 0:  # the notification reached the acks queue and its function
        assert time.monotonic() < deadline, "the acknowledgement's notification reached no function"
        time.sleep(0.2)

    pids = [finance["pid"], erp["pid"]]
    hub.stop()
    assert not any(_alive(pid) for pid in pids)
    assert hub.standins == {}


def test_without_stand_ins_the_parameter_is_left_as_set(cdk_out: Path, tmp_path: Path) -> None:
    local = LocalHub(cdk_out=cdk_out, api_port=0, emulator_port=0, state_dir=tmp_path / "state", standins=False)
    local.start()
    try:
        parameter = local.connector_env().get("FINANCE_BASE_URL_PARAMETER")
        if not parameter:
            pytest.skip("the synthesized stack has no connectors yet")
        state = json.loads((local.state_dir / "local.json").read_text())
        assert state["standins"] == {} and not (local.state_dir / "standins").exists()
        assert local.parameter_value(parameter) == "https://finance.example.invalid"  # the template's value
        local.clients("ssm").put_parameter(Name=parameter, Value="https://finance.acme.example", Overwrite=True)
    finally:
        local.stop()
    local = LocalHub(cdk_out=cdk_out, api_port=0, emulator_port=0, state_dir=tmp_path / "state", standins=False)
    local.start()
    try:
        assert local.parameter_value(parameter) == "https://finance.acme.example"  # kept across the restart
    finally:
        local.stop()


def test_local_up_no_standins_starts_the_hub_without_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    made: list[dict[str, Any]] = []

    class Refused(cli.LocalHub):
        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)
            super().__init__(**kwargs)

        def start(self) -> LocalHub:
            raise KeyboardInterrupt  # enough: the hub was made as asked

    monkeypatch.setattr(cli, "LocalHub", Refused)
    monkeypatch.setattr(cli.signal, "signal", lambda *_: None)  # pytest keeps its own Ctrl-C handling
    for argv, expected in ((["--no-standins"], False), ([], True)):
        args = cli.parser().parse_args(["local", "up", "--no-synth", "--state-dir", str(tmp_path), *argv])
        assert isinstance(args, argparse.Namespace) and cli.cmd_local_up(args) == 130
        assert made.pop()["standins"] is expected


def test_a_deployed_stack_names_the_connectors_resources_through_its_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--stack NAME`: buckets, parameters and secrets from the stack's resources, the connectors' variables
    from its outputs, so CLI commands run the functions' logic against AWS as they do locally."""
    import boto3

    resources = [
        ("DataOrdersTable1A2B3C4D", "AWS::DynamoDB::Table", "Synchub-Orders-X"),
        ("DataInventoryTable1A2B3C4D", "AWS::DynamoDB::Table", "Synchub-Inventory-X"),
        ("ConnectorsExchangeBucketB0D27675", "AWS::S3::Bucket", "synchub-connectorsexchangebucket-abc"),
        ("ConnectorsFinanceBaseUrl376A3644", "AWS::SSM::Parameter", "/synchub/finance/base-url"),
        ("ConnectorsFinanceCredentials4C3E59CC", "AWS::SecretsManager::Secret", "arn:aws:secretsmanager:x:secret:fc"),
        ("ConnectorsErpOrdersWorkerQueue76D09136", "AWS::SQS::Queue", "https://sqs/erp"),
    ]
    outputs = {
        "EventBusName": "synchub-bus",
        "ExchangeBucketName": "synchub-connectorsexchangebucket-abc",
        "FinanceBaseUrlParameter": "/synchub/finance/base-url",
        "FinanceCredentialsSecretArn": "arn:aws:secretsmanager:x:secret:fc",
        "FinanceQueueUrl": "https://sqs/finance",
        "ErpQueueUrl": "https://sqs/erp",
        "ConnectorsTableName": "Synchub-Connectors-X",
        "MasterDataTableName": "Synchub-MasterData-X",
    }

    class Cfn:
        def get_paginator(self, _: str) -> Any:
            summaries = [
                {"LogicalResourceId": lid, "ResourceType": kind, "PhysicalResourceId": physical}
                for lid, kind, physical in resources
            ]
            return type("P", (), {"paginate": lambda self, **_: [{"StackResourceSummaries": summaries}]})()

        def describe_stacks(self, **_: Any) -> dict[str, Any]:
            return {"Stacks": [{"Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]}]}

    monkeypatch.setattr(boto3, "client", lambda *a, **k: Cfn())
    env = environment.from_stack("Synchub", "eu-west-1")
    assert env.buckets == {"ConnectorsExchangeBucket": "synchub-connectorsexchangebucket-abc"}
    assert env.parameters == {"ConnectorsFinanceBaseUrl": "/synchub/finance/base-url"}
    assert env.secrets == {"ConnectorsFinanceCredentials": "arn:aws:secretsmanager:x:secret:fc"}
    variables = env.function_env()
    assert {k: variables[k] for k in environment.CONNECTOR_VARIABLES} == {
        "CONNECTORS_TABLE": "Synchub-Connectors-X",
        "MASTERDATA_TABLE": "Synchub-MasterData-X",
        "EXCHANGE_BUCKET": "synchub-connectorsexchangebucket-abc",
        "FINANCE_BASE_URL_PARAMETER": "/synchub/finance/base-url",
        "FINANCE_CREDENTIALS_SECRET_ARN": "arn:aws:secretsmanager:x:secret:fc",
        "FINANCE_QUEUE_URL": "https://sqs/finance",
        "ERP_QUEUE_URL": "https://sqs/erp",
    }
    assert env.tables["DataConnectorsTable"] == "Synchub-Connectors-X" and env.standins == {}
    # an environment made by hand (tests) finds the same variables by the resources' names
    by_hand = environment.HubEnvironment(
        endpoint=None, region="eu-west-1", queues=env.queues, tables=env.tables, event_bus="b", buckets=env.buckets
    )
    assert by_hand.function_env()["EXCHANGE_BUCKET"] == "synchub-connectorsexchangebucket-abc"
    assert by_hand.function_env()["CONNECTORS_TABLE"] == "Synchub-Connectors-X"
    assert by_hand.function_env()["ERP_QUEUE_URL"] == "https://sqs/erp"
