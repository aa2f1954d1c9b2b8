"""The local stand-ins of the systems of record, each its own process: the cloud finance REST API
and the legacy ERP's batch file interface (against an S3 emulator), their fault modes, admin
injections, storage across restarts and the ``synchub fault/erp/finance`` commands."""

from __future__ import annotations

import argparse
import csv
import http.client
import io
import json
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import boto3
import pytest

from synchub.standins import seed
from synchub.standins.control import (
    AdminError,
    ErpAdmin,
    FinanceAdmin,
    StandIn,
    add_parsers,
    erp_admin,
    finance_admin,
    start_erp,
    start_finance,
)

REGION = "eu-west-1"
BUCKET = "synchub-exchange-test"
CLIENT_ID, CLIENT_SECRET = "synchub-hub", "s3cret-for-tests"
ORDER_HEADER = (
    "order_id,channel,channel_order_ref,customer_id,order_date,currency,line_id,sku,quantity,unit_price,tax_rate"
)
ACK_HEADER = "order_id,status,erp_order_number,reason,currency,net_total,line_count"


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def exchange() -> Iterator[tuple[str, Any]]:
    """An S3 emulator over HTTP with the exchange bucket; yields (endpoint, s3 client)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    yield endpoint, s3
    server.stop()


@pytest.fixture(scope="module")
def finance_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    proc = start_finance(tmp_path_factory.mktemp("finance"), client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    yield proc
    assert proc.stop() == 0  # SIGTERM: a clean exit


@pytest.fixture(scope="module")
def erp_proc(tmp_path_factory: pytest.TempPathFactory, exchange: tuple[str, Any]) -> Iterator[StandIn]:
    proc = start_erp(tmp_path_factory.mktemp("erp"), s3_endpoint=exchange[0], bucket=BUCKET, poll_interval=0.1)
    yield proc
    assert proc.stop() == 0


@pytest.fixture
def fin(finance_proc: StandIn) -> Iterator[FinanceAdmin]:
    admin = FinanceAdmin(finance_proc.admin_url)
    admin.fault("recover")
    yield admin
    admin.fault("recover")


@pytest.fixture
def erp(erp_proc: StandIn) -> Iterator[ErpAdmin]:
    admin = ErpAdmin(erp_proc.admin_url)
    admin.fault("recover")
    yield admin
    admin.fault("recover")


# ---------------------------------------------------------------------------- finance helpers


class Api:
    """A bare HTTP client of the finance API (one connection per call)."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token: str | None = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        timeout: float = 5.0,
    ) -> tuple[int, dict[str, str], Any]:
        hdrs = dict(headers or {})
        data: bytes | None = None
        if form is not None:
            data = urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if auth and self.token and "Authorization" not in hdrs:
            hdrs["Authorization"] = f"Bearer {self.token}"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        ctype = resp.getheader("Content-Type") or ""
        payload = json.loads(raw) if raw and "json" in ctype else raw.decode()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload

    def login(self) -> str:
        status, _, body = self.call(
            "POST",
            "/oauth2/token",
            form={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        )
        assert status == 200, body
        self.token = str(body["access_token"])
        return self.token

    def post(self, doc: dict[str, Any], timeout: float = 5.0) -> tuple[int, dict[str, str], Any]:
        key = {"Idempotency-Key": doc["external_reference"]}
        return self.call("POST", "/api/v1/invoices", doc, headers=key, timeout=timeout)


def invoice(ref: str | None = None, account: str = "CUST-8812", issue_date: str = "2026-11-23") -> dict[str, Any]:
    return {
        "external_reference": ref or f"inv_{uuid.uuid4().hex[:24]}",
        "document_type": "invoice",
        "document_number": "SH-202611-AD303B6B15",
        "customer_account": account,
        "issue_date": issue_date,
        "currency": "EUR",
        "lines": [
            {"line_id": "1", "sku": "FLOUR-T55-25KG", "quantity": 4, "unit_price": "18.40", "tax_rate": "0.09"}
            | {"net_amount": "73.60", "tax_amount": "6.62"},
            {"line_id": "2", "sku": "YEAST-DRY-500G", "quantity": 10, "unit_price": "3.95", "tax_rate": "0.09"}
            | {"net_amount": "39.50", "tax_amount": "3.56"},
        ],
        "net_total": "113.10",
        "tax_total": "10.18",
        "gross_total": "123.28",
        "references": {"order_id": "ord_1", "shipment_id": "SHP-1"},
    }


@pytest.fixture
def api(finance_proc: StandIn, fin: FinanceAdmin) -> Api:
    client = Api(finance_proc.url or "")
    client.login()
    return client


# ---------------------------------------------------------------------------- finance


def test_token_flow_and_401s(api: Api, fin: FinanceAdmin) -> None:
    status, _, body = api.call(
        "POST", "/oauth2/token", form={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "x"}
    )
    assert (status, body["error"]) == (401, "invalid_client")
    status, _, body = api.call("POST", "/oauth2/token", form={"grant_type": "password"})
    assert (status, body["error"]) == (400, "unsupported_grant_type")
    status, _, body = api.call("POST", "/oauth2/token", form={"grant_type": "client_credentials"})
    assert (status, body["error"]) == (401, "invalid_client")

    status, _, body = api.call(
        "POST",
        "/oauth2/token",
        form={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    )
    assert status == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and len(body["access_token"]) >= 32

    status, headers, body = api.call("GET", "/api/v1/invoices?external_reference=x", auth=False)
    assert (status, body["error"]) == (401, "invalid_token")
    assert "invalid_token" in headers["www-authenticate"]
    status, _, body = api.call(
        "GET", "/api/v1/invoices?external_reference=x", headers={"Authorization": "Bearer not-a-token"}
    )
    assert (status, body["error"]) == (401, "invalid_token")
    assert api.call("GET", "/api/v1/invoices?external_reference=x")[0] == 200

    assert fin.revoke_tokens() >= 1  # e.g. the finance side rotated its keys: the hub must log in again
    assert api.call("GET", "/api/v1/invoices?external_reference=x")[0] == 401
    api.login()
    assert api.call("GET", "/api/v1/invoices?external_reference=x")[0] == 200


def test_post_is_idempotent_on_external_reference(api: Api, fin: FinanceAdmin) -> None:
    before = fin.status()["documents"]
    doc = invoice()
    status, headers, first = api.post(doc)
    assert status == 201, first
    assert first["id"].startswith("FIN-") and len(first["id"]) == 12 and first["id"][4:].isdigit()
    assert first["status"] == "booked" and first["booked_at"] and first["gross_total"] == "123.28"
    assert headers["location"] == f"/api/v1/invoices/{first['id']}"

    same = {**doc, "lines": list(reversed(doc["lines"])), "net_total": "113.1"}  # same content, other spelling
    status, _, again = api.post(same)
    assert (status, again["id"]) == (200, first["id"])

    changed = {**doc, "tax_total": "10.00", "gross_total": "123.10"}
    status, _, body = api.post(changed)
    assert status == 409
    assert body["error"] == "duplicate_reference" and body["existing_id"] == first["id"]
    assert "gross_total" in body["detail"]
    status, _, body = api.post({**doc, "currency": "USD"})
    assert (status, body["error"]) == (409, "duplicate_reference")

    status, _, found = api.call("GET", f"/api/v1/invoices?external_reference={doc['external_reference']}")
    assert status == 200 and [d["id"] for d in found["items"]] == [first["id"]]
    assert api.call("GET", f"/api/v1/invoices/{first['id']}")[2]["external_reference"] == doc["external_reference"]
    assert fin.status()["documents"] == before + 1

    # the same Idempotency-Key for another document is a client bug
    status, _, body = api.call(
        "POST", "/api/v1/invoices", invoice(), headers={"Idempotency-Key": doc["external_reference"]}
    )
    assert (status, body["error"]) == (409, "idempotency_key_reused")

    # ids are sequential
    _, _, second = api.post(invoice())
    assert int(second["id"][4:]) > int(first["id"][4:])


def test_unknown_account_and_validation_errors(api: Api, fin: FinanceAdmin) -> None:
    doc = invoice(account=seed.NO_FINANCE_ACCOUNT)
    status, _, body = api.post(doc)
    assert status == 422 and body["error"] == "unknown_account"
    assert seed.NO_FINANCE_ACCOUNT in body["detail"]
    assert fin.invoice(doc["external_reference"]) is None
    assert fin.has_account("CUST-8812") and fin.has_account("CUST-0013") and fin.status()["accounts"] == 200

    fin.add_account(seed.NO_FINANCE_ACCOUNT)  # the master data is fixed: the resubmitted post goes through
    try:
        assert api.post(doc)[0] == 201
    finally:
        fin.remove_account(seed.NO_FINANCE_ACCOUNT)
    assert not fin.has_account(seed.NO_FINANCE_ACCOUNT)

    for bad, words in [
        (b"{not json", "JSON"),
        (b"[1, 2]", "object"),
        ({**invoice(), "lines": []}, "lines"),
        ({**invoice(), "issue_date": "23-11-2026"}, "issue_date"),
        ({**invoice(), "currency": "euro"}, "currency"),
        ({**invoice(), "gross_total": "999.99"}, "gross_total"),
        ({**invoice(), "net_total": "abc"}, "net_total"),
        ({**invoice(), "document_type": "receipt"}, "document_type"),
        ({k: v for k, v in invoice().items() if k != "external_reference"}, "external_reference"),
    ]:
        status, _, body = api.call("POST", "/api/v1/invoices", bad)
        assert (status, body["error"]) == (422, "validation_error"), bad
        assert words in body["detail"], body


def test_list_pages_by_issue_date(api: Api) -> None:
    refs = [f"inv_page_{n}" for n in range(5)]
    for n, ref in enumerate(reversed(refs)):
        assert api.post(invoice(ref, issue_date=f"2031-03-0{1 + n}"))[0] == 201
    assert api.post(invoice("inv_page_outside", issue_date="2031-04-01"))[0] == 201

    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        query = "issued_from=2031-03-01&issued_to=2031-03-31&limit=2" + (f"&page_token={token}" if token else "")
        status, _, body = api.call("GET", f"/api/v1/invoices?{query}")
        assert status == 200
        assert len(body["items"]) <= 2
        seen += [d["external_reference"] for d in body["items"]]
        pages += 1
        token = body["next_page_token"]
        if token is None:
            break
    assert seen == refs and pages == 3  # ordered by external_reference, the window inclusive

    assert (
        api.call("GET", "/api/v1/invoices?issued_from=2031-03-05&issued_to=2031-03-05")[2]["items"][0][
            "external_reference"
        ]
        == refs[0]
    )
    assert api.call("GET", "/api/v1/invoices?issued_from=2031-03-01&limit=0")[0] == 422
    assert api.call("GET", "/api/v1/invoices?issued_from=nope")[0] == 422
    assert api.call("GET", "/api/v1/invoices?issued_from=2031-03-01&page_token=garbage!")[0] == 422


def test_rate_limit_answers_429_with_retry_after(api: Api, fin: FinanceAdmin) -> None:
    assert fin.status()["rate_limit"] == 50

    def one(_: int) -> tuple[int, str | None]:
        status, headers, _ = api.call("GET", "/api/v1/invoices?external_reference=none")
        return status, headers.get("retry-after")

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(one, range(250)))
    limited = [r for r in results if r[0] == 429]
    assert limited, "no 429 under a burst of 250 requests"
    assert {s for s, _ in results} <= {200, 429}
    assert all(ra is not None and ra.isdigit() and int(ra) >= 1 for _, ra in limited)
    assert fin.status()["responses"]["429"] >= len(limited)
    time.sleep(1.1)  # the bucket refills
    assert one(0)[0] == 200


def test_fault_down(api: Api, fin: FinanceAdmin) -> None:
    before = fin.status()["documents"]
    assert fin.fault("down")["mode"] == "down"
    doc = invoice()
    status, _, body = api.post(doc)
    assert (status, body["error"]) == (503, "unavailable")
    assert api.call("POST", "/oauth2/token", form={"grant_type": "client_credentials"})[0] == 503
    assert fin.status()["documents"] == before and fin.status()["mode"] == "down"  # admin still answers
    fin.fault("recover")
    assert api.post(doc)[0] == 201


def test_fault_slow_answers_late_but_takes_effect(api: Api, fin: FinanceAdmin) -> None:
    assert fin.fault("slow", slow_seconds=1.0) == {"mode": "slow", "slow_seconds": 1.0}
    doc = invoice()
    with pytest.raises(TimeoutError):  # the client's read timeout is shorter than the delay
        api.post(doc, timeout=0.4)
    assert fin.invoice(doc["external_reference"]) is not None  # ... but the invoice is booked
    started = time.monotonic()
    status = api.post(doc, timeout=5)[0]
    assert status == 200 and time.monotonic() - started >= 0.9
    fin.fault("slow", slow_seconds=8)
    assert fin.status()["slow_seconds"] == 8


def test_fault_flaky_fails_one_call_in_three_without_effect(api: Api, fin: FinanceAdmin) -> None:
    fin.fault("flaky")
    doc = invoice()
    status, _, body = api.post(doc)  # call 1 after the switch fails
    assert status == 500 and body["error"] == "internal_error"
    assert fin.invoice(doc["external_reference"]) is None  # without effect
    assert api.post(doc)[0] == 201  # call 2
    assert api.post(doc)[0] == 200  # call 3
    status, headers, body = api.post(doc)  # call 4 fails again, this time at the "gateway"
    assert status == 502 and "text/html" in headers["content-type"] and "Bad Gateway" in body
    statuses = [api.call("GET", "/api/v1/invoices?external_reference=x")[0] for _ in range(6)]
    assert statuses.count(200) == 4 and len([s for s in statuses if s >= 500]) == 2


def test_fault_duplicate_accept_books_then_closes_without_answer(api: Api, fin: FinanceAdmin) -> None:
    before = fin.status()["documents"]
    fin.fault("duplicate-accept")
    doc = invoice()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError, http.client.BadStatusLine)):
        api.post(doc)
    booked = fin.invoice(doc["external_reference"])
    assert booked is not None and booked["id"].startswith("FIN-")
    status, _, again = api.post(doc)  # the retry finds it: never a second document
    assert (status, again["id"]) == (200, booked["id"])
    fin.fault("recover")
    assert api.post(doc)[2]["id"] == booked["id"]
    assert fin.status()["documents"] == before + 1
    assert fin.status()["responses"].get("dropped", 0) >= 1


def test_admin_injections_for_reconciliation(api: Api, fin: FinanceAdmin) -> None:
    missing, mismatched = invoice(), invoice()
    first = api.post(missing)[2]
    api.post(mismatched)

    assert fin.delete_invoice(missing["external_reference"])["deleted"] is True
    assert api.call("GET", f"/api/v1/invoices?external_reference={missing['external_reference']}")[2]["items"] == []
    status, _, reposted = api.post(missing)  # the repair: an idempotent re-post books it again
    assert status == 201 and reposted["id"] != first["id"]

    patched = fin.patch_invoice(mismatched["external_reference"], gross_total="40.00")
    assert patched["gross_total"] == "40.00"
    _, _, found = api.call("GET", f"/api/v1/invoices?external_reference={mismatched['external_reference']}")
    assert found["items"][0]["gross_total"] == "40.00"
    assert api.post(mismatched)[0] == 409  # finance holds different content now

    extra = fin.inject_invoice({**invoice(), "external_reference": "inv_never_sent_by_the_hub"})
    assert extra["id"].startswith("FIN-")
    assert [d["id"] for d in fin.invoices("inv_never_sent_by_the_hub")] == [extra["id"]]
    assert any(d["external_reference"] == "inv_never_sent_by_the_hub" for d in fin.invoices())


def test_finance_keeps_data_and_mode_across_restart(tmp_path: Path) -> None:
    proc = start_finance(tmp_path, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    try:
        api = Api(proc.url or "")
        api.login()
        _, _, doc = api.post(invoice())
        FinanceAdmin(proc.admin_url).fault("down")
    finally:
        assert proc.stop() == 0
    assert not (tmp_path / "finance.ready.json").exists()
    proc = start_finance(tmp_path, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    try:
        admin = FinanceAdmin(proc.admin_url)
        assert admin.status()["mode"] == "down" and admin.status()["documents"] == 1
        admin.fault("recover")
        api.host, api.port = "127.0.0.1", int(urlsplit(proc.url or "").port or 0)
        status, _, again = api.post({**invoice(doc["external_reference"])})  # the old token still works
        assert (status, again["id"]) == (200, doc["id"])
    finally:
        proc.stop()


# ---------------------------------------------------------------------------- ERP helpers


def order_rows(order_id: str, customer: str = "CUST-8812", skus: tuple[str, ...] = seed.SAMPLE_SKUS) -> list[str]:
    prices = {"FLOUR-T55-25KG": "18.40", "YEAST-DRY-500G": "3.95"}
    return [
        f"{order_id},webshop-nl,WS-{order_id[-6:]},{customer},2026-11-23,EUR,"
        f"{n},{sku},{2 * n},{prices.get(sku, '')},0.09"
        for n, sku in enumerate(skus, 1)
    ]


def send(s3: Any, rows: list[str], stem: str | None = None) -> str:
    stem = stem or f"ORD-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
    body = "\n".join([ORDER_HEADER, *rows]) + "\n"
    s3.put_object(Bucket=BUCKET, Key=f"to-erp/orders/{stem}.csv", Body=body.encode())
    return stem


def read_csv(s3: Any, key: str) -> tuple[list[str], list[dict[str, str]]]:
    text = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def wait_ack(s3: Any, stem: str, suffix: str = "", timeout: float = 10.0) -> list[dict[str, str]]:
    key = f"from-erp/acks/ACK-{stem}{suffix}.csv"
    deadline = time.monotonic() + timeout
    while True:
        try:
            header, rows = read_csv(s3, key)
        except s3.exceptions.NoSuchKey:
            if time.monotonic() > deadline:
                raise AssertionError(f"no ack {key} after {timeout}s") from None
            time.sleep(0.05)
            continue
        assert ",".join(header) == ACK_HEADER
        return rows


def has(s3: Any, key: str) -> bool:
    return "Contents" in s3.list_objects_v2(Bucket=BUCKET, Prefix=key)


def wait_done(erp: ErpAdmin, stem: str, timeout: float = 10.0) -> dict[str, Any]:
    """The ERP's record of a processed file (written just after its ack)."""
    deadline = time.monotonic() + timeout
    while (record := erp.file(f"{stem}.csv")) is None:
        assert time.monotonic() < deadline, f"{stem} not processed after {timeout}s"
        time.sleep(0.05)
    return record


# ---------------------------------------------------------------------------- ERP


def test_order_file_yields_an_ack_with_accepted_and_rejected_orders(exchange: tuple[str, Any], erp: ErpAdmin) -> None:
    s3 = exchange[1]
    good, blocked, unknown_sku, unknown_customer, no_price = (f"ord_{uuid.uuid4().hex}" for _ in range(5))
    rows = (
        order_rows(good)
        + order_rows(blocked, customer=seed.BLOCKED_CUSTOMER)
        + order_rows(unknown_sku, skus=("FLOUR-T55-25KG", "NO-SUCH-SKU"))
        + order_rows(unknown_customer, customer="CUST-9999")
        + order_rows(no_price, skus=("FLOUR-T55-25KG", "SKU-00004"))  # SKU-00004 priced by the ERP (EUR list)
    )
    stem = send(s3, rows)
    erp.poll()
    acks = {a["order_id"]: a for a in wait_ack(s3, stem)}
    assert list(acks) == [good, blocked, unknown_sku, unknown_customer, no_price]  # in file order

    ok = acks[good]
    assert ok["status"] == "ACCEPTED" and ok["erp_order_number"].startswith("SO-") and len(ok["erp_order_number"]) == 10
    net_total = "52.60"  # 2 * 18.40 + 4 * 3.95
    assert (ok["currency"], ok["net_total"], ok["line_count"], ok["reason"]) == ("EUR", net_total, "2", "")
    assert acks[blocked]["status"] == "REJECTED" and acks[blocked]["erp_order_number"] == ""
    assert acks[blocked]["reason"] == f"customer {seed.BLOCKED_CUSTOMER} is blocked in ERP (credit hold)"
    assert acks[unknown_sku]["status"] == "REJECTED"
    assert "sku NO-SUCH-SKU is not known in ERP" in acks[unknown_sku]["reason"]
    assert acks[unknown_customer]["reason"] == "customer CUST-9999 is not known in ERP"
    assert acks[no_price]["status"] == "ACCEPTED"
    price = seed.standard_price("SKU-00004")
    assert acks[no_price]["net_total"] == str((2 * Decimal("18.40") + 4 * price).quantize(Decimal("0.01")))

    booked = erp.order(good)
    assert booked is not None and booked["erp_order_number"] == ok["erp_order_number"]
    assert [line["sku"] for line in booked["lines"]] == list(seed.SAMPLE_SKUS)
    assert erp.order(blocked) is None
    record = wait_done(erp, stem)
    assert (record["status"], record["orders"], record["accepted"], record["rejected"]) == ("DONE", 5, 2, 3)
    assert record["acks"] == f"from-erp/acks/ACK-{stem}.csv"
    deadline = time.monotonic() + 5
    while has(s3, f"to-erp/orders/{stem}.csv"):  # moved once processed
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert has(s3, f"to-erp/processed/{stem}.csv")


def test_a_repeated_order_is_accepted_with_the_same_so_number(exchange: tuple[str, Any], erp: ErpAdmin) -> None:
    s3 = exchange[1]
    oid = f"ord_{uuid.uuid4().hex}"
    first = wait_ack(s3, send(s3, order_rows(oid)))[0]
    booked = erp.status()["orders_booked"]
    again = wait_ack(s3, send(s3, order_rows(oid) + order_rows(f"ord_{uuid.uuid4().hex}")))
    assert again[0] == first  # same SO number, same totals
    assert again[1]["erp_order_number"] != first["erp_order_number"]
    assert erp.status()["orders_booked"] == booked + 1

    # the same file name uploaded again (a resend) is processed again: the same answer
    stem = send(s3, order_rows(oid))
    wait_done(erp, stem)
    s3.delete_object(Bucket=BUCKET, Key=f"from-erp/acks/ACK-{stem}.csv")
    send(s3, order_rows(oid), stem)
    assert wait_ack(s3, stem) == [first]


def test_blocked_customer_is_rejected_until_unblocked(exchange: tuple[str, Any], erp: ErpAdmin) -> None:
    s3 = exchange[1]
    oid = f"ord_{uuid.uuid4().hex}"
    assert erp.set_customer_status("CUST-0042", "BLOCKED") == {"customer_id": "CUST-0042", "status": "BLOCKED"}
    try:
        ack = wait_ack(s3, send(s3, order_rows(oid, customer="CUST-0042")))[0]
        assert ack["status"] == "REJECTED" and "blocked" in ack["reason"]
    finally:
        erp.set_customer_status("CUST-0042", "ACTIVE")
    ack = wait_ack(s3, send(s3, order_rows(oid, customer="CUST-0042")))[0]  # resubmitted after the fix
    assert ack["status"] == "ACCEPTED"
    assert (erp.customer("CUST-0042") or {})["status"] == "ACTIVE"
    with pytest.raises(Exception, match="404"):
        erp.set_customer_status("CUST-NOPE", "BLOCKED")


def test_flaky_refuses_whole_files(exchange: tuple[str, Any], erp: ErpAdmin) -> None:
    s3 = exchange[1]
    erp.fault("flaky")
    oids = [f"ord_{uuid.uuid4().hex}" for _ in range(3)]
    stems: list[str] = []
    acks: list[list[dict[str, str]]] = []
    for oid in oids:  # one after the other: the 1st, 4th, 7th ... file after the switch is refused
        stems.append(send(s3, order_rows(oid)))
        acks.append(wait_ack(s3, stems[-1]))
    assert acks[0] == [
        {
            "order_id": "*",
            "status": "FILE_REJECTED",
            "erp_order_number": "",
            "reason": acks[0][0]["reason"],
            "currency": "",
            "net_total": "",
            "line_count": "",
        }
    ]
    assert "resend" in acks[0][0]["reason"]
    assert [a[0]["status"] for a in acks[1:]] == ["ACCEPTED", "ACCEPTED"]
    assert erp.order(oids[0]) is None  # nothing of a refused file is booked
    assert wait_done(erp, stems[0])["status"] == "FILE_REJECTED"
    wait_done(erp, stems[-1])
    erp.fault("recover")
    # resent under the same name, the file is taken
    s3.delete_object(Bucket=BUCKET, Key=f"from-erp/acks/ACK-{stems[0]}.csv")
    send(s3, order_rows(oids[0]), stems[0])
    assert wait_ack(s3, stems[0])[0]["status"] == "ACCEPTED"


def test_duplicate_accept_writes_every_ack_twice(exchange: tuple[str, Any], erp: ErpAdmin) -> None:
    s3 = exchange[1]
    erp.fault("duplicate-accept")
    stem = send(s3, order_rows(f"ord_{uuid.uuid4().hex}"))
    first = wait_ack(s3, stem)
    second = wait_ack(s3, stem, suffix="-2")
    assert wait_done(erp, stem)["acks"] == f"from-erp/acks/ACK-{stem}.csv,from-erp/acks/ACK-{stem}-2.csv"
    assert first == second and first[0]["status"] == "ACCEPTED"


def test_down_stops_pickup_and_recover_resumes(exchange: tuple[str, Any], erp: ErpAdmin) -> None:
    s3 = exchange[1]
    erp.fault("down")
    stem = send(s3, order_rows(f"ord_{uuid.uuid4().hex}"))
    erp.poll()
    time.sleep(0.6)
    assert not has(s3, f"from-erp/acks/ACK-{stem}")
    status = erp.status()
    assert status["mode"] == "down" and status["files_pending"] == 1
    erp.fault("recover")
    assert wait_ack(s3, stem)[0]["status"] == "ACCEPTED"
    wait_done(erp, stem)
    deadline = time.monotonic() + 5
    while erp.status()["files_pending"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_slow_waits_before_each_file(exchange: tuple[str, Any], erp: ErpAdmin) -> None:
    s3 = exchange[1]
    assert erp.fault("slow", slow_seconds=1) == {"mode": "slow", "slow_seconds": 1.0}
    started = time.monotonic()
    stem = send(s3, order_rows(f"ord_{uuid.uuid4().hex}"))
    assert wait_ack(s3, stem)[0]["status"] == "ACCEPTED"
    assert time.monotonic() - started >= 0.9
    erp.fault("slow", slow_seconds=20)


def test_a_file_that_is_not_an_order_file_is_refused(exchange: tuple[str, Any], erp: ErpAdmin) -> None:
    s3 = exchange[1]
    stem = f"ORD-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
    s3.put_object(Bucket=BUCKET, Key=f"to-erp/orders/{stem}.csv", Body=b"sku,qty\nA,1\n")
    ack = wait_ack(s3, stem)
    assert ack[0]["status"] == "FILE_REJECTED" and "order_id" in ack[0]["reason"]


def test_export_writes_the_three_master_data_files(exchange: tuple[str, Any], erp: ErpAdmin) -> None:
    s3 = exchange[1]
    files = {f["kind"]: f for f in erp.export()}
    assert set(files) == {"products", "customers", "prices"}
    headers = {
        "products": "sku,description,unit_of_measure,status",
        "customers": "customer_id,name,country,status,price_group",
        "prices": "sku,price_group,currency,unit_price,valid_from,valid_to",
    }
    for kind, f in files.items():
        assert f["key"].startswith(f"from-erp/master/{kind}/{kind.upper()}-") and f["key"].endswith(".csv")
        assert len(f["key"].rsplit("-", 1)[1]) == len("YYYYMMDDHHMMSS.csv")
        header, rows = read_csv(s3, f["key"])
        assert ",".join(header) == headers[kind]
        assert len(rows) == f["rows"] and f["bad_rows"] == []
    _, products = read_csv(s3, files["products"]["key"])
    _, customers = read_csv(s3, files["customers"]["key"])
    _, prices = read_csv(s3, files["prices"]["key"])
    assert len(products) == len(seed.products()) and {"FLOUR-T55-25KG", "SKU-00200"} <= {p["sku"] for p in products}
    by_id = {c["customer_id"]: c for c in customers}
    assert by_id[seed.BLOCKED_CUSTOMER]["status"] == "BLOCKED" and by_id["CUST-8812"]["status"] == "ACTIVE"
    flour = {(p["price_group"], p["valid_from"]): p["unit_price"] for p in prices if p["sku"] == "FLOUR-T55-25KG"}
    assert flour[("STANDARD", "2024-01-01")] == "18.40" and flour[("WHOLESALE", "2024-01-01")] == "16.56"

    # bad rows, and a later export never reuses a file name
    bad = erp.export(["prices", "products"], bad_rows=True)
    assert [f["kind"] for f in bad] == ["prices", "products"]
    assert bad[0]["key"] > files["prices"]["key"]
    _, rows = read_csv(s3, bad[0]["key"])
    flagged = [rows[n - 1] for n in bad[0]["bad_rows"]]
    assert any(r["unit_price"].startswith("-") for r in flagged)
    assert any(r["currency"] == "XXX" for r in flagged)
    assert any(len(r["unit_price"].split(".")[-1]) > 4 for r in flagged)  # more decimals than a price has
    _, rows = read_csv(s3, bad[1]["key"])
    flagged = [rows[n - 1] for n in bad[1]["bad_rows"]]
    assert any(r["sku"] == "" for r in flagged) and any(r["status"] not in ("ACTIVE", "DISCONTINUED") for r in flagged)
    good = [r for n, r in enumerate(rows, 1) if n not in bad[1]["bad_rows"]]
    assert len(good) == len(seed.products())


def test_admin_injections_on_erp_orders(exchange: tuple[str, Any], erp: ErpAdmin) -> None:
    s3 = exchange[1]
    oid = f"ord_{uuid.uuid4().hex}"
    first = wait_ack(s3, send(s3, order_rows(oid)))[0]
    assert erp.patch_order(oid, net_total="99.99")["net_total"] == "99.99"
    assert wait_ack(s3, send(s3, order_rows(oid)))[0]["net_total"] == "99.99"  # what the ERP holds
    assert erp.delete_order(oid)["deleted"] is True
    assert erp.order(oid) is None
    again = wait_ack(s3, send(s3, order_rows(oid)))[0]  # a resend books it anew
    assert again["status"] == "ACCEPTED" and again["erp_order_number"] != first["erp_order_number"]
    assert any(o["order_id"] == oid for o in erp.orders())


def test_erp_keeps_data_and_mode_across_restart(exchange: tuple[str, Any], tmp_path: Path) -> None:
    endpoint, s3 = exchange
    bucket = "synchub-exchange-restart"  # its own bucket: the module's ERP polls the other one
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    body = "\n".join([ORDER_HEADER, *order_rows("ord_restart")]) + "\n"
    proc = start_erp(tmp_path, s3_endpoint=endpoint, bucket=bucket, poll_interval=0.1)
    try:
        admin = ErpAdmin(proc.admin_url)
        admin.set_customer_status("CUST-0001", "BLOCKED")
        s3.put_object(Bucket=bucket, Key="to-erp/orders/ORD-20260101000000-00000001.csv", Body=body.encode())
        deadline = time.monotonic() + 10
        while admin.order("ord_restart") is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        number = (admin.order("ord_restart") or {})["erp_order_number"]
        admin.fault("down")
    finally:
        assert proc.stop() == 0
    proc = start_erp(tmp_path, s3_endpoint=endpoint, bucket=bucket, poll_interval=0.1)
    try:
        admin = ErpAdmin(proc.admin_url)
        status = admin.status()
        assert status["mode"] == "down" and status["orders_booked"] == 1 and status["files_processed"] == 1
        assert (admin.order("ord_restart") or {})["erp_order_number"] == number
        assert (admin.customer("CUST-0001") or {})["status"] == "BLOCKED"
    finally:
        proc.stop()


# ---------------------------------------------------------------------------- CLI


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="synchub")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parsers(sub)
    args = parser.parse_args(argv)
    return int(args.fn(args))


def test_cli_commands_find_the_standins_in_the_state_file(
    tmp_path: Path, finance_proc: StandIn, erp_proc: StandIn, fin: FinanceAdmin, erp: ErpAdmin, capsys: Any
) -> None:
    state = tmp_path / "local.json"
    state.write_text(json.dumps({"standins": {"finance": finance_proc.state(), "erp": erp_proc.state()}}))
    where = ["--state-dir", str(tmp_path)]

    assert _cli(["fault", "finance", "down", *where]) == 0
    assert "finance: fault mode down" in capsys.readouterr().out
    assert fin.status()["mode"] == "down"
    assert _cli(["fault", "erp", "slow", "--slow-seconds", "3", *where]) == 0
    assert "erp: fault mode slow (each order file waits 3s" in capsys.readouterr().out
    assert _cli(["fault", "finance", "recover", *where]) == 0 and _cli(["fault", "erp", "recover", *where]) == 0
    capsys.readouterr()

    assert _cli(["finance", "status", *where]) == 0
    assert "mode recover" in capsys.readouterr().out
    assert _cli(["finance", "account", "add", "CUST-7777", *where]) == 0 and fin.has_account("CUST-7777")
    assert _cli(["finance", "account", "remove", "CUST-7777", *where]) == 0 and not fin.has_account("CUST-7777")
    assert _cli(["erp", "customer", "CUST-0077", "--status", "BLOCKED", *where]) == 0
    assert (erp.customer("CUST-0077") or {})["status"] == "BLOCKED"
    assert _cli(["erp", "customer", "CUST-0077", "--status", "ACTIVE", *where]) == 0
    capsys.readouterr()
    assert _cli(["erp", "export", "--kind", "customers", "--bad-rows", *where]) == 0
    out = capsys.readouterr().out
    assert "from-erp/master/customers/CUSTOMERS-" in out and "invalid rows" in out
    assert _cli(["erp", "status", "--json", *where]) == 0
    assert json.loads(capsys.readouterr().out)["mode"] == "recover"
    assert finance_admin(state).admin_url == finance_proc.admin_url and erp_admin(state).status()["mode"] == "recover"

    # errors are one clear line
    assert _cli(["erp", "customer", "CUST-NOPE", "--status", "BLOCKED", *where]) == 1
    assert "404" in capsys.readouterr().err
    empty = tmp_path / "none"
    assert _cli(["fault", "finance", "down", "--state-dir", str(empty)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no local hub is running" in err and "synchub local up" in err
    state.write_text(json.dumps({"standins": {}}))
    assert _cli(["erp", "status", *where]) == 1
    assert "runs no erp stand-in" in capsys.readouterr().err
    with pytest.raises(AdminError, match="runs no finance stand-in"):
        finance_admin(state)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    assert _cli(["finance", "status", "--admin-url", dead]) == 1
    assert "does not answer" in capsys.readouterr().err
    assert fin.status()["mode"] == "recover"


def test_start_error_carries_the_log(tmp_path: Path) -> None:
    from synchub.standins.control import StandInStartError

    with pytest.raises(StandInStartError, match="exited with code"):
        start_erp(tmp_path, s3_endpoint="not a url", bucket=BUCKET, port=-5, ready_timeout=10)
