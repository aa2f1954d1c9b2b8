"""The master data loader against moto, provisioned from the synthesized template: a file dropped in
the exchange bucket reaches the MasterData queue through the bucket's notification (as the stack
wires it), and ``hub.run_worker`` plays the Lambda SQS poller with the loader's own environment.

Rows are applied one by one with a report of the rejects; the same file twice is a no-op; an older
file never overwrites a newer row; a run that stops half way is run again safely; memory does not
grow with the file."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from helpers import Hub

QUEUE = "ConnectorsMasterDataQueue"
DLQ = "ConnectorsMasterDataDeadLetterQueue"
BUCKET = "ConnectorsExchangeBucket"
TABLE = "DataMasterDataTable"
HANDLER = "masterdata.handler.lambda_handler"

PRODUCTS_HEADER = "sku,description,unit_of_measure,status\n"


# --------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def loader(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Callable[[dict, Any], Any]:
    """The loader's handler with its function's environment as the stack sets it."""
    from masterdata.handler import lambda_handler
    from synchub_core.config import reset_settings

    (fn,) = [f for f in hub.dep.functions.values() if f.handler == HANDLER]
    for key, value in fn.environment.items():
        monkeypatch.setenv(key, value)
    assert fn.environment["EXCHANGE_BUCKET"] == bucket(hub)
    reset_settings()
    return lambda_handler


def bucket(hub: Hub) -> str:
    return hub.dep.buckets[BUCKET]


def s3() -> Any:
    from synchub_core.aws import client

    return client("s3")


def drop(hub: Hub, key: str, text: str | bytes) -> None:
    """The ERP drops a file (its notification goes to the loader's queue)."""
    s3().put_object(Bucket=bucket(hub), Key=key, Body=text.encode() if isinstance(text, str) else text)


def run(hub: Hub, handler: Any, ctx: Any) -> dict[str, Any]:
    return hub.run_worker(QUEUE, handler, ctx)


def item(hub: Hub, pk: str, sk: str) -> dict[str, Any] | None:
    from synchub_core.ddb import get

    return get(hub.dep.tables[TABLE], {"pk": pk, "sk": sk})


def file_record(hub: Hub, key: str) -> dict[str, Any]:
    found = item(hub, f"MDFILE#{key}", "MDFILE")
    assert found is not None, key
    return found


def report(hub: Hub, stem: str) -> list[list[str]]:
    body = s3().get_object(Bucket=bucket(hub), Key=f"to-erp/reports/{stem}.report.csv")["Body"].read().decode()
    return list(csv.reader(io.StringIO(body)))


def products_key(ts: str) -> str:
    return f"from-erp/master/products/PRODUCTS-{ts}.csv"


def rows_of(hub: Hub, prefix: str) -> list[dict[str, Any]]:
    from synchub_core.ddb import from_ddb

    items = [from_ddb(i) for i in hub.ddb.scan(TableName=hub.dep.tables[TABLE], ConsistentRead=True)["Items"]]
    return sorted((i for i in items if i["pk"].startswith(prefix)), key=lambda i: i["pk"])


# ----------------------------------------------------------------------------------------------- tests


def test_a_file_with_bad_rows_is_applied_row_by_row_with_a_report_of_the_rejects(
    hub: Hub, loader: Any, lambda_context: Any
) -> None:
    key = products_key("20261201060000")
    drop(
        hub,
        key,
        PRODUCTS_HEADER
        + "FLOUR-T55-25KG,Wheat flour T55 25 kg,BAG,ACTIVE\n"
        + "flour t65,Wheat flour T65,BAG,ACTIVE\n"  # 2: not a SKU
        + "YEAST-DRY-500G,Dry yeast 500 g,PCS,ACTIVE\n"
        + "SUGAR-1KG,,PCS,ACTIV\n"  # 4: two problems
        + "FLOUR-T55-25KG,Wheat flour again,BAG,ACTIVE\n"  # 5: duplicate of row 1
        + "SALT-1KG,Salt,PCS\n"  # 6: a value short
        + '"BUTTER-250G","Butter, unsalted\n250 g",PCS,DISCONTINUED\n',  # 7: quoted, over two lines
    )
    result = run(hub, loader, lambda_context)
    assert result["delivered"] >= 1 and result["batchItemFailures"] == []

    record = file_record(hub, key)
    assert record["status"] == "APPLIED"
    assert (record["rows"], record["applied"], record["rejected"], record["skipped_older"]) == (7, 3, 4, 0)
    assert record["report_key"] == "to-erp/reports/PRODUCTS-20261201060000.report.csv"
    assert [(int(r["row"]), r["key"]) for r in record["rejects"]] == [
        (2, "flour t65"),
        (4, "SUGAR-1KG"),
        (5, "FLOUR-T55-25KG"),
        (6, "SALT-1KG"),
    ]

    rows = report(hub, "PRODUCTS-20261201060000")
    assert rows[0] == ["row", "key", "reason"]
    assert rows[1][:2] == ["2", "flour t65"] and "is not a valid SKU" in rows[1][2]
    assert rows[2][:2] == ["4", "SUGAR-1KG"]
    assert rows[2][2] == "description is empty; status 'ACTIV' is not ACTIVE or DISCONTINUED"
    assert rows[3] == [
        "5",
        "FLOUR-T55-25KG",
        "sku FLOUR-T55-25KG is in the file already (row 1): only the first row of a key is applied",
    ]
    assert rows[4] == ["6", "SALT-1KG", "the row has 3 value(s), the header 4"]
    assert len(rows) == 5

    products = {i["sku"]: i for i in rows_of(hub, "PRODUCT#")}
    assert sorted(products) == ["BUTTER-250G", "FLOUR-T55-25KG", "YEAST-DRY-500G"]
    assert products["FLOUR-T55-25KG"]["description"] == "Wheat flour T55 25 kg"  # the first row, not row 5
    assert products["BUTTER-250G"]["description"] == "Butter, unsalted\n250 g"
    assert products["BUTTER-250G"]["status"] == "DISCONTINUED"
    assert products["FLOUR-T55-25KG"]["source_file_ts"] == "20261201060000"
    meta = item(hub, "META#products", "META")
    assert meta is not None and meta["last_file"] == key


def test_customers_and_prices_are_validated_and_stored(hub: Hub, loader: Any, lambda_context: Any) -> None:
    from masterdata.api import load_customer, load_prices

    drop(
        hub,
        "from-erp/master/customers/CUSTOMERS-20261201060000.csv",
        "customer_id,name,country,status,price_group\n"
        "CUST-8812,Bakkerij de Vries,NL,ACTIVE,STANDARD\n"
        "CUST-0013,Bakkerij Jansen,NL,BLOCKED,WHOLESALE\n"
        "CUST-0014,Someone,NLD,SUSPENDED,wholesale\n",
    )
    drop(
        hub,
        "from-erp/master/prices/PRICES-20261201060000.csv",
        "sku,price_group,currency,unit_price,valid_from,valid_to\n"
        "FLOUR-T55-25KG,STANDARD,EUR,18.40,2026-01-01,\n"
        "FLOUR-T55-25KG,WHOLESALE,EUR,16.56,2026-01-01,2026-12-31\n"
        "FLOUR-T55-25KG,STANDARD,EUR,19.00,2026-01-01,\n"  # 3: duplicate key
        "FLOUR-T55-25KG,STANDARD,EUX,-1,2026-02-30,\n"  # 4: currency, price and date
        "YEAST-DRY-500G,STANDARD,EUR,3.95,2026-06-01,2026-05-01\n"  # 5: period backwards
        "YEAST-DRY-500G,STANDARD,EUR,3.9512,2026-01-01,\n",
    )
    while run(hub, loader, lambda_context)["delivered"]:
        pass

    customers = file_record(hub, "from-erp/master/customers/CUSTOMERS-20261201060000.csv")
    assert (customers["applied"], customers["rejected"]) == (2, 1)
    (reject,) = customers["rejects"]
    assert reject["key"] == "CUST-0014"
    assert reject["reason"] == (
        "country 'NLD' is not an ISO 3166-1 alpha-2 country code (NL, DE, ...); status 'SUSPENDED' is not ACTIVE "
        "or BLOCKED; price_group 'wholesale' is not 1-32 characters of A-Z 0-9 _"
    )
    blocked = load_customer("CUST-0013")
    assert blocked is not None and (blocked["status"], blocked["price_group"]) == ("BLOCKED", "WHOLESALE")

    prices = file_record(hub, "from-erp/master/prices/PRICES-20261201060000.csv")
    assert (prices["rows"], prices["applied"], prices["rejected"]) == (6, 3, 3)
    reasons = {int(r["row"]): r["reason"] for r in prices["rejects"]}
    assert "is in the file already (row 1)" in reasons[3]
    assert reasons[4] == (
        "currency 'EUX' is not an ISO 4217 currency code (EUR, USD, ...); unit_price '-1' is not a decimal number "
        "like 18.40; valid_from '2026-02-30' is not a date of the calendar"
    )
    assert reasons[5] == "valid_to 2026-05-01 is before valid_from 2026-06-01"
    flour = {
        (e.price_group, e.valid_from.isoformat(), e.valid_to): e.unit_price
        for e in load_prices("FLOUR-T55-25KG", "EUR")
    }
    assert flour == {
        ("STANDARD", "2026-01-01", None): Decimal("18.40"),
        ("WHOLESALE", "2026-01-01", __import__("datetime").date(2026, 12, 31)): Decimal("16.56"),
    }
    assert str(flour[("STANDARD", "2026-01-01", None)]) == "18.40"  # as the ERP spelled it
    assert [str(e.unit_price) for e in load_prices("YEAST-DRY-500G", "EUR")] == ["3.9512"]
    assert load_prices("FLOUR-T55-25KG", "USD") == []


def test_the_same_file_twice_is_a_no_op(hub: Hub, loader: Any, lambda_context: Any) -> None:
    key = products_key("20261201060000")
    drop(hub, key, PRODUCTS_HEADER + "FLOUR-T55-25KG,Wheat flour,BAG,ACTIVE\n")
    run(hub, loader, lambda_context)
    first = file_record(hub, key)
    product = item(hub, "PRODUCT#FLOUR-T55-25KG", "PRODUCT")

    # the notification delivered again (SQS at least once, or the ERP's file gateway re-sending it)
    notification = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket(hub)}, "object": {"key": key, "eTag": first["etag"]}},
            }
        ]
    }
    hub.sqs.send_message(QueueUrl=hub.queue(QUEUE), MessageBody=json.dumps(notification))
    # the same bytes put again under the same name: same ETag
    drop(hub, key, PRODUCTS_HEADER + "FLOUR-T55-25KG,Wheat flour,BAG,ACTIVE\n")
    result = run(hub, loader, lambda_context)
    assert result["delivered"] == 2 and result["batchItemFailures"] == []
    assert file_record(hub, key) == first  # same attempt, same counts: nothing ran again
    assert item(hub, "PRODUCT#FLOUR-T55-25KG", "PRODUCT") == product


def test_an_older_file_never_overwrites_a_newer_row(hub: Hub, loader: Any, lambda_context: Any) -> None:
    newer, older = products_key("20261202060000"), products_key("20261201060000")
    drop(hub, newer, PRODUCTS_HEADER + "FLOUR-T55-25KG,Flour (new name),BAG,DISCONTINUED\n")
    run(hub, loader, lambda_context)
    drop(
        hub,
        older,
        PRODUCTS_HEADER + "FLOUR-T55-25KG,Flour (old name),BAG,ACTIVE\nYEAST-DRY-500G,Dry yeast,PCS,ACTIVE\n",
    )
    run(hub, loader, lambda_context)

    record = file_record(hub, older)
    assert (record["rows"], record["applied"], record["skipped_older"], record["rejected"]) == (2, 1, 1, 0)
    flour = item(hub, "PRODUCT#FLOUR-T55-25KG", "PRODUCT")
    assert flour is not None
    assert (flour["description"], flour["status"], flour["source_file_ts"]) == (
        "Flour (new name)",
        "DISCONTINUED",
        "20261202060000",
    )
    assert item(hub, "PRODUCT#YEAST-DRY-500G", "PRODUCT") is not None  # only in the older file: applied
    meta = item(hub, "META#products", "META")
    assert meta is not None and meta["last_file"] == newer  # the newest file stays the last one loaded

    # prices too: per row of the SKU's price list
    drop(
        hub,
        "from-erp/master/prices/PRICES-20261202060000.csv",
        "sku,price_group,currency,unit_price,valid_from,valid_to\nFLOUR-T55-25KG,STANDARD,EUR,18.40,2026-01-01,\n",
    )
    drop(
        hub,
        "from-erp/master/prices/PRICES-20261201060000.csv",
        "sku,price_group,currency,unit_price,valid_from,valid_to\n"
        "FLOUR-T55-25KG,STANDARD,EUR,17.00,2026-01-01,\nFLOUR-T55-25KG,WHOLESALE,EUR,15.00,2026-01-01,\n",
    )
    while run(hub, loader, lambda_context)["delivered"]:
        pass
    from masterdata.api import load_prices

    prices = {e.price_group: str(e.unit_price) for e in load_prices("FLOUR-T55-25KG", "EUR")}
    assert prices == {"STANDARD": "18.40", "WHOLESALE": "15.00"}
    assert file_record(hub, "from-erp/master/prices/PRICES-20261201060000.csv")["skipped_older"] == 1


def test_a_wrong_header_or_name_rejects_the_file_with_a_reason(hub: Hub, loader: Any, lambda_context: Any) -> None:
    wrong_header = products_key("20261201060000")
    drop(hub, wrong_header, "sku,desc,status\nFLOUR-T55-25KG,Flour,ACTIVE\n")
    wrong_name = "from-erp/master/customers/customers_2026-12-01.csv"
    drop(hub, wrong_name, "customer_id,name,country,status,price_group\n")
    while run(hub, loader, lambda_context)["delivered"]:
        pass

    record = file_record(hub, wrong_header)
    assert record["status"] == "REJECTED"
    assert record["reason"] == (
        "the header lacks column(s) description, unit_of_measure and has unknown column(s) desc: "
        "a products file's header is sku,description,unit_of_measure,status"
    )
    assert report(hub, "PRODUCTS-20261201060000") == [["row", "key", "reason"], ["0", "", record["reason"]]]
    assert rows_of(hub, "PRODUCT#") == []
    assert item(hub, "META#products", "META") is None  # a rejected file starts no enforcement

    named = file_record(hub, wrong_name)
    assert named["status"] == "REJECTED"
    assert named["reason"] == (
        "file name customers_2026-12-01.csv is not CUSTOMERS-<YYYYMMDDHHMMSS>.csv "
        "(the customers folder takes customers files)"
    )
    assert report(hub, "customers_2026-12-01")[1][2] == named["reason"]


def test_a_run_that_stops_half_way_is_run_again_safely(
    hub: Hub, loader: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from masterdata import logic, repository

    monkeypatch.setattr(logic, "WINDOW", 10)
    key = products_key("20261201060000")
    lines = [f"SKU-{n:05d},Product {n},PCS,ACTIVE\n" for n in range(1, 51)]
    lines.insert(30, "SKU-00003,Product 3 again,PCS,ACTIVE\n")  # row 31: a duplicate key of row 3
    drop(hub, key, PRODUCTS_HEADER + "".join(lines))

    written: list[int] = []
    real = repository.write_row

    def crashing(row: Any, number: int, src: Any, at: str) -> Any:
        if number > 25:
            raise RuntimeError("the function timed out")
        written.append(number)
        return real(row, number, src, at)

    monkeypatch.setattr(repository, "write_row", crashing)
    messages = [m for m in hub.receive(QUEUE) if "s3:TestEvent" not in m["Body"]]  # moto's test event
    with pytest.raises(BatchProcessingError):  # the whole batch (of one) failed: the invocation fails, SQS retries
        loader(hub.sqs_event(QUEUE, messages), lambda_context)
    assert file_record(hub, key)["status"] == "PROCESSING"
    assert len(rows_of(hub, "PRODUCT#")) == len(written) == 25  # two windows of ten, half of the third

    monkeypatch.setattr(repository, "write_row", real)
    # SQS delivers the message again: the file runs again from the start
    result = loader(hub.sqs_event(QUEUE, messages), lambda_context)
    assert result["batchItemFailures"] == []
    record = file_record(hub, key)
    assert (record["status"], record["rows"], record["applied"], record["rejected"]) == ("APPLIED", 51, 50, 1)
    assert [(int(r["row"]), r["key"]) for r in record["rejects"]] == [(31, "SKU-00003")]
    assert len(rows_of(hub, "PRODUCT#")) == 50
    product = item(hub, "PRODUCT#SKU-00003", "PRODUCT")
    assert product is not None and product["description"] == "Product 3"


def test_what_is_no_master_data_file_notification_is_refused_or_ignored(
    hub: Hub, loader: Any, lambda_context: Any
) -> None:
    hub.sqs.send_message(QueueUrl=hub.queue(QUEUE), MessageBody="not json")
    hub.sqs.send_message(QueueUrl=hub.queue(QUEUE), MessageBody=json.dumps({"Event": "s3:TestEvent"}))
    stranger = {"Records": [{"s3": {"bucket": {"name": "someone-elses"}, "object": {"key": products_key("1")}}}]}
    hub.sqs.send_message(QueueUrl=hub.queue(QUEUE), MessageBody=json.dumps(stranger))
    # a file deleted before it was read, and an object outside the master data folders: nothing to apply
    for key in (products_key("20261201060000"), "from-erp/acks/ACK-1.csv"):
        gone = {"Records": [{"s3": {"bucket": {"name": bucket(hub)}, "object": {"key": key}}}]}
        hub.sqs.send_message(QueueUrl=hub.queue(QUEUE), MessageBody=json.dumps(gone))
    while True:
        result = run(hub, loader, lambda_context)
        assert result["batchItemFailures"] == []
        if not result["delivered"]:
            break
    refused = hub.receive(DLQ)
    reasons = sorted(m["MessageAttributes"]["synchub-refusal-reason"]["StringValue"] for m in refused)
    assert len(reasons) == 2
    assert reasons[0].startswith("not an S3 event notification")
    assert reasons[1].startswith("notification about bucket(s) someone-elses")
    assert rows_of(hub, "MDFILE#") == []


# ------------------------------------------------------------------------------------------------ memory


def _streamed(rows: int) -> Iterator[bytes]:
    """A products file of ``rows`` rows in 64 KiB chunks, made as it is read (never whole)."""
    yield PRODUCTS_HEADER.encode()
    chunk: list[bytes] = []
    size = 0
    for n in range(1, rows + 1):
        line = f"SKU-{n:06d},Product number {n} in a long enough description,PCS,ACTIVE\n".encode()
        if n % 1000 == 0:
            line = f"bad sku {n},x,PCS,ACTIVE\n".encode()  # every thousandth row rejected
        chunk.append(line)
        size += len(line)
        if size >= 64 * 1024:
            yield b"".join(chunk)
            chunk, size = [], 0
    if chunk:
        yield b"".join(chunk)


def _peak(hub: Hub, rows: int, monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict[str, Any]]:
    """The loader's peak traced memory applying a ``rows``-row file: the object is streamed and the
    rows written by a counting stand-in (moto keeps every object and item it is given in this
    process, which is no measure of the loader); the file record and report go to moto."""
    from masterdata import logic, repository
    from masterdata.files import ObjectCreated
    from masterdata.models import Applied

    key = products_key(f"202612010{rows:05d}")
    monkeypatch.setattr(
        repository,
        "open_object",
        lambda bucket, key: repository.ObjectStream("etag-" + str(rows), _streamed(rows), lambda: None),
    )
    written = [0]

    def count(row: Any, number: int, src: Any, at: str) -> Applied:
        written[0] += 1
        return Applied.APPLIED

    monkeypatch.setattr(repository, "write_row", count)
    tracemalloc.start()
    try:
        outcome = logic.load(ObjectCreated(bucket(hub), key, None, None), workers=4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written[0] == outcome.counts.applied
    return peak, file_record(hub, key)


def test_memory_stays_flat_for_a_20000_row_file(hub: Hub, loader: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _peak(hub, 200, monkeypatch)  # first use: imports, clients, caches
    small_peak, small = _peak(hub, 2_000, monkeypatch)
    large_peak, large = _peak(hub, 20_000, monkeypatch)
    assert (small["rows"], small["applied"], small["rejected"]) == (2_000, 1_998, 2)
    assert (large["rows"], large["applied"], large["rejected"]) == (20_000, 19_980, 20)
    # ten times the rows, about the same memory: a window of rows and a chunk of the object at a time
    assert large_peak < small_peak * 1.25 + 256 * 1024, (small_peak, large_peak)
    assert large_peak < 8 * 1024 * 1024, large_peak
