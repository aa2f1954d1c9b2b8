"""The systems of record through a whole local hub with its finance and ERP stand-ins.

This module runs its own hub, as its own process (`synchub local up`): master data, once loaded,
turns on the order API's checks, which the rest of the layer's orders must not meet, and a second
embedded emulator in this process would share moto's backends with the layer's hub. It drives the
hub as an integration team would: orders over
HTTP with a channel's token, shipments on the bus, the stand-ins switched into failure modes, the
exceptions API with an operator's token, reconciliation as ``synchub reconcile`` runs it.
"""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, sample
from helpers.local_hub import inventory_message
from synchub import channels, demo, environment
from synchub import exceptions as exceptions_cli
from synchub.client import ChannelClient
from synchub.reconcile import reconcile
from synchub.standins.control import ErpAdmin, FinanceAdmin


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 90.0) -> Any:
    return demo.wait_for(what, probe, timeout)


@pytest.fixture(scope="module")
def env(cdk_out: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[environment.HubEnvironment]:
    state_dir = tmp_path_factory.mktemp("connectors")
    command = ["local", "up", "--port", "0", "--emulator-port", "0", "--no-synth", "--state-dir", str(state_dir)]
    hub = subprocess.Popen(
        [sys.executable, "-m", "synchub.cli", *command],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(state_dir / "hub.log").open("wb"),
    )
    try:
        state_file = state_dir / "local.json"
        deadline = time.monotonic() + 120
        while not state_file.exists():
            assert hub.poll() is None, (state_dir / "hub.log").read_text()
            assert time.monotonic() < deadline, "the hub did not come up"
            time.sleep(0.2)
        yield environment.local(state_file)
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(60)


@pytest.fixture(scope="module")
def finance(env: environment.HubEnvironment) -> Iterator[FinanceAdmin]:
    admin = FinanceAdmin(env.standins["finance"]["admin_url"])
    yield admin
    admin.fault("recover")


@pytest.fixture(scope="module")
def erp(env: environment.HubEnvironment) -> Iterator[ErpAdmin]:
    admin = ErpAdmin(env.standins["erp"]["admin_url"])
    yield admin
    admin.fault("recover")


def _client(env: environment.HubEnvironment, creds: channels.Credentials) -> ChannelClient:
    assert env.api_url
    return ChannelClient(env.api_url, creds.client_id, creds.client_secret, creds.token_url)


@pytest.fixture(scope="module")
def shop(env: environment.HubEnvironment) -> ChannelClient:
    return _client(env, channels.add_channel(env, "webshop-nl", rate=500.0, burst=1000))


@pytest.fixture(scope="module")
def operator(env: environment.HubEnvironment) -> ChannelClient:
    return _client(env, channels.add_operator(env, "ops-e2e"))


def item(env: environment.HubEnvironment, table: str, pk: str, sk: str) -> dict[str, Any] | None:
    from boto3.dynamodb.types import TypeDeserializer

    raw = env.clients()("dynamodb").get_item(
        TableName=env.tables[table], Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
    )
    des = TypeDeserializer()
    return {k: des.deserialize(v) for k, v in raw["Item"].items()} if "Item" in raw else None


def order_body(customer: str = "CUST-8812") -> dict[str, Any]:
    body = sample("api-post-order.json")
    del body["channel"]
    body["channel_order_ref"] = f"E2E-{uuid.uuid4().hex[:10]}"
    body["customer"]["customer_id"] = customer
    return body


def stock(env: environment.HubEnvironment) -> None:
    for line in sample("api-post-order.json")["lines"]:
        env.clients()("sqs").send_message(
            QueueUrl=env.queues["WorkersInventoryWorkerQueue"],
            MessageBody=inventory_message(line["sku"], "UTR-A01", time.time_ns(), 10**6),
        )


def place(shop: ChannelClient, body: dict[str, Any]) -> str:
    resp = shop.post_order(body, uuid.uuid4().hex)
    assert resp.status == 202, resp.body
    order_id: str = resp.body["order_id"]
    wait_for(f"release of {order_id}", lambda: shop.get_order(order_id).body["state"] == "RELEASED")
    return order_id


def ship_and_invoice(env: environment.HubEnvironment, shop: ChannelClient, body: dict[str, Any]) -> dict[str, Any]:
    """Place ``body``, ship it whole, and return its invoice."""
    order_id = place(shop, body)
    shipment_id = f"SHP-{uuid.uuid4().hex[:12]}"
    demo.ship(env, order_id, shipment_id, [{"sku": ln["sku"], "quantity": ln["quantity"]} for ln in body["lines"]])
    stored = wait_for(
        f"invoice of {order_id}", lambda: item(env, "DataOrdersTable", f"INVOICE#{shipment_id}", "INVOICE")
    )
    invoice: dict[str, Any] = json.loads(stored["doc"])
    return invoice


def posting(env: environment.HubEnvironment, invoice: dict[str, Any]) -> dict[str, Any] | None:
    stored = item(env, "DataOrdersTable", f"INVOICE#{invoice['references']['shipment_id']}", "INVOICE")
    return stored if stored and stored.get("posting_status") == "POSTED" else None


def test_an_order_reaches_the_erp_and_its_invoice_finance_once(
    env: environment.HubEnvironment, shop: ChannelClient, finance: FinanceAdmin, erp: ErpAdmin
) -> None:
    stock(env)
    invoice = ship_and_invoice(env, shop, order_body())
    order_id = invoice["references"]["order_id"]
    ack = wait_for(
        "the ERP's acknowledgement",
        lambda: (lambda i: i if i and i["status"] == "ACKED" else None)(
            item(env, "DataConnectorsTable", f"ERPORDER#{order_id}", "ERPORDER")
        ),
    )
    booked = erp.order(order_id)
    assert booked is not None and ack["erp_order_number"] == booked["erp_order_number"]
    posted = wait_for("the finance posting", lambda: posting(env, invoice))
    docs = finance.invoices(external_reference=invoice["invoice_id"])
    assert [d["id"] for d in docs] == [posted["finance_document_id"]]
    assert docs[0]["gross_total"] == invoice["gross_total"] and docs[0]["currency"] == invoice["currency"]


def test_a_timeout_after_finance_accepted_never_books_twice(
    env: environment.HubEnvironment, shop: ChannelClient, finance: FinanceAdmin
) -> None:
    finance.fault("duplicate-accept")  # finance books each new invoice, then closes without answering
    try:
        invoices = [ship_and_invoice(env, shop, order_body()) for _ in range(3)]
        for invoice in invoices:
            wait_for("the posting found by its reference", lambda inv=invoice: posting(env, inv))
    finally:
        finance.fault("recover")
    for invoice in invoices:
        assert len(finance.invoices(external_reference=invoice["invoice_id"])) == 1


def test_an_erp_rejection_is_an_exception_an_operator_fixes_and_resubmits_over_the_api(
    env: environment.HubEnvironment, shop: ChannelClient, operator: ChannelClient, erp: ErpAdmin
) -> None:
    order_id = place(shop, order_body(customer="CUST-0013"))  # blocked in the ERP (credit hold)
    wait_for(
        "the ERP's rejection",
        lambda: (lambda i: i and i["status"] == "REJECTED")(
            item(env, "DataConnectorsTable", f"ERPORDER#{order_id}", "ERPORDER")
        ),
    )
    listing = operator.request("GET", "/exceptions?status=OPEN&target=erp")
    assert listing.status == 200, listing.body
    [exc] = [e for e in listing.body["items"] if e["entity_id"] == order_id]
    assert "CUST-0013" in exc["reason"] and "blocked" in exc["reason"] and "payload" not in exc
    # a channel may not see them
    refused = shop.request("GET", "/exceptions")
    assert refused.status == 403 and refused.body["type"].endswith("/operators-only")
    shown = operator.request("GET", f"/exceptions/{exc['exception_id']}")
    assert shown.status == 200 and json.loads(shown.body["payload"])["detail"]["data"]["order_id"] == order_id

    erp.set_customer_status("CUST-0013", "ACTIVE")  # the master data is fixed in the ERP
    try:
        resubmitted = operator.request("POST", f"/exceptions/{exc['exception_id']}/resubmit")
        assert resubmitted.status == 200 and resubmitted.body["status"] == "RESUBMITTED"
        again = operator.request("POST", f"/exceptions/{exc['exception_id']}/resubmit")
        assert again.status == 409 and again.body["type"].endswith("/exception-not-open")
        wait_for(
            "the ERP's acceptance",
            lambda: (lambda i: i and i["status"] == "ACKED")(
                item(env, "DataConnectorsTable", f"ERPORDER#{order_id}", "ERPORDER")
            ),
        )
        resolved = wait_for(
            "the exception resolved",
            lambda: (lambda r: r.body if r.body.get("status") == "RESOLVED" else None)(
                operator.request("GET", f"/exceptions/{exc['exception_id']}")
            ),
        )
        assert [h["status"] for h in resolved["history"]][-2:] == ["RESUBMITTED", "RESOLVED"]
    finally:
        erp.set_customer_status("CUST-0013", "BLOCKED")


def test_an_unknown_finance_account_is_an_exception_resubmitted_once_the_account_exists(
    env: environment.HubEnvironment, shop: ChannelClient, finance: FinanceAdmin
) -> None:
    invoice = ship_and_invoice(env, shop, order_body(customer="CUST-0199"))  # no account in finance
    items, _ = wait_for(
        "the finance exception",
        lambda: (lambda r: r if any(e["entity_id"] == invoice["invoice_id"] for e in r[0]) else None)(
            exceptions_cli.list_exceptions(env, target="finance")
        ),
    )
    [exc] = [e for e in items if e["entity_id"] == invoice["invoice_id"]]
    assert "CUST-0199" in exc["reason"] and exc["code"] == "unknown_account"
    assert finance.invoices(external_reference=invoice["invoice_id"]) == []
    finance.add_account("CUST-0199")
    try:
        exceptions_cli.resubmit(env, exc["exception_id"])
        wait_for("the posting after the resubmission", lambda: posting(env, invoice))
        assert exceptions_cli.show(env, exc["exception_id"])["status"] == "RESOLVED"
    finally:
        finance.remove_account("CUST-0199")
    assert len(finance.invoices(external_reference=invoice["invoice_id"])) == 1


def test_reconciliation_repairs_what_finance_lost_and_reports_what_differs(
    env: environment.HubEnvironment, shop: ChannelClient, finance: FinanceAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost, changed = (ship_and_invoice(env, shop, order_body()) for _ in range(2))
    for invoice in (lost, changed):
        wait_for("the posting", lambda inv=invoice: posting(env, inv))
    finance.delete_invoice(lost["invoice_id"])
    finance.patch_invoice(changed["invoice_id"], gross_total="1.00")
    monkeypatch.setenv("RECONCILE_GRACE_MINUTES", "0")  # compare the invoices of a minute ago too
    today = datetime.now(UTC).date()

    result = reconcile(env, today, today)
    refs = result["references"]["invoices"]
    assert lost["invoice_id"] in refs["missing"]["references"]
    assert changed["invoice_id"] in refs["mismatched"]["references"]
    assert result["invoices"]["reposted"] >= 1
    wait_for("the re-posted invoice in finance", lambda: finance.invoices(external_reference=lost["invoice_id"]))
    mismatch = [
        e for e in exceptions_cli.list_exceptions(env, target="finance")[0] if e["entity_id"] == changed["invoice_id"]
    ]
    assert mismatch and mismatch[0]["code"] == "reconciliation-mismatch"

    again = reconcile(env, today, today)
    refs = again["references"]["invoices"]
    assert lost["invoice_id"] not in refs["missing"]["references"]
    assert [changed["invoice_id"]] == [r for r in refs["mismatched"]["references"] if r == changed["invoice_id"]]
    assert len(finance.invoices(external_reference=lost["invoice_id"])) == 1


def test_master_data_with_bad_rows_is_applied_row_by_row_and_checked_by_the_order_api(
    env: environment.HubEnvironment, shop: ChannelClient, erp: ErpAdmin
) -> None:
    files = erp.export(bad_rows=True)
    s3 = env.clients()("s3")
    bucket = env.buckets["ConnectorsExchangeBucket"]
    for f in files:
        record = wait_for(
            f"{f['key']} applied",
            lambda key=f["key"]: (lambda i: i if i and i["status"] == "APPLIED" else None)(
                item(env, "DataMasterDataTable", f"MDFILE#{key}", "MDFILE")
            ),
        )
        assert record["rejected"] == len(f["bad_rows"]) > 0 and record["applied"] == f["rows"] - len(f["bad_rows"])
        report = s3.get_object(Bucket=bucket, Key=record["report_key"])["Body"].read().decode()
        rows = list(csv.DictReader(io.StringIO(report)))
        assert sorted(int(r["row"]) for r in rows) == sorted(f["bad_rows"]) and all(r["reason"] for r in rows)

    body = order_body()
    body["lines"][0]["sku"] = "FLOUR-T99-NOPE"
    unknown = shop.post_order(body, uuid.uuid4().hex)
    assert unknown.status == 422 and unknown.body["type"].endswith("/unknown-sku"), unknown.body
    blocked = shop.post_order(order_body(customer="CUST-0013"), uuid.uuid4().hex)
    assert blocked.status == 422 and blocked.body["type"].endswith("/customer-blocked"), blocked.body
    body = order_body()
    for line in body["lines"]:
        del line["unit_price"]  # the ERP's price list prices it
    priced = shop.post_order(body, uuid.uuid4().hex)
    assert priced.status == 202, priced.body
    lines = {ln["sku"]: ln for ln in shop.get_order(priced.body["order_id"]).body["lines"]}
    assert lines["FLOUR-T55-25KG"]["unit_price"] == "18.40" and lines["FLOUR-T55-25KG"]["price_source"] == "erp"
