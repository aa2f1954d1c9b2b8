"""masterdata: the ERP's files as files (S3 notifications, names, the CSV stream, the reject report)
and how a stream of rows is applied window by window (with a stand-in writer: no emulator)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from masterdata import files, logic
from masterdata.files import FileRefused, RawRow
from masterdata.models import Applied, Duplicate, Kind, Reject, WriteResult

PRODUCTS = "sku,description,unit_of_measure,status\n"


def rows(data: bytes, kind: Kind = Kind.PRODUCTS, chunk: int = 5) -> list[RawRow]:
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    return list(files.read_rows(files.lines_of(chunks), kind))


# -- notifications -----------------------------------------------------------------------------------


def notification(key: str, **obj: Any) -> str:
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": "exchange"}, "object": {"key": key, **obj}},
                }
            ]
        }
    )


def test_an_s3_notification_names_its_objects_with_keys_decoded() -> None:
    body = notification("from-erp/master/products/PRODUCTS-20261201060000+%28copy%29.csv", eTag='"abc"', size=12)
    assert files.parse_notification(body) == [
        files.ObjectCreated("exchange", "from-erp/master/products/PRODUCTS-20261201060000 (copy).csv", "abc", 12)
    ]


def test_the_test_event_names_nothing_and_other_bodies_are_no_notification() -> None:
    assert files.parse_notification(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})) == []
    for body in ("[]", json.dumps({"Records": "x"}), json.dumps({"Records": [{"s3": {}}]})):
        with pytest.raises(ValueError, match="not an S3 event notification"):
            files.parse_notification(body)
    with pytest.raises(ValueError):
        files.parse_notification("not json")


def test_only_created_objects_are_files_to_apply() -> None:
    body = json.loads(notification("from-erp/master/products/PRODUCTS-20261201060000.csv"))
    body["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert files.parse_notification(json.dumps(body)) == []


# -- names -------------------------------------------------------------------------------------------


def test_a_files_name_gives_its_kind_timestamp_and_stem() -> None:
    name = files.file_name("from-erp/master/prices/PRICES-20261201060000.csv")
    assert name == files.FileName(Kind.PRICES, "20261201060000", "PRICES-20261201060000")


@pytest.mark.parametrize(
    "key, reason",
    [
        ("from-erp/master/products/CUSTOMERS-20261201060000.csv", "is not PRODUCTS-<YYYYMMDDHHMMSS>.csv"),
        ("from-erp/master/products/PRODUCTS-2026120106.csv", "is not PRODUCTS-<YYYYMMDDHHMMSS>.csv"),
        ("from-erp/master/products/PRODUCTS-20261201060000.txt", "is not PRODUCTS-"),
        ("from-erp/master/products/PRODUCTS-20261301060000.csv", "20261301060000 is not a timestamp"),
        ("from-erp/master/stock/STOCK-20261201060000.csv", "is not in a master data folder"),
        ("from-erp/master/products/old/PRODUCTS-20261201060000.csv", "is not in a master data folder"),
    ],
)
def test_a_wrong_name_refuses_the_file(key: str, reason: str) -> None:
    with pytest.raises(FileRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        files.file_name(key)


def test_folders_are_no_master_data_files() -> None:
    assert files.is_master_data_key("from-erp/master/products/PRODUCTS-20261201060000.csv")
    assert not files.is_master_data_key("from-erp/master/products/")
    assert not files.is_master_data_key("from-erp/acks/ACK-1.csv")
    assert files.stem_of("from-erp/master/products/PRODUCTS-1.csv") == "PRODUCTS-1"


# -- the CSV stream ----------------------------------------------------------------------------------


def test_rows_are_numbered_from_one_after_the_header_and_blank_lines_are_no_rows() -> None:
    data = (
        b"\xef\xbb\xbf" + PRODUCTS.encode() + b"\nA1,First,PCS,ACTIVE\r\n\r\n"
        b'"B1","Two\r\nlines, quoted",PCS,ACTIVE\n   \nC1,Third,PCS,ACTIVE'  # no final line end
    )
    read = rows(data, chunk=3)
    assert [(r.number, (r.values or {}).get("sku"), r.problem) for r in read] == [
        (1, "A1", None),
        (2, "B1", None),
        (3, "C1", None),
    ]
    assert read[1].values == {
        "sku": "B1",
        "description": "Two\r\nlines, quoted",
        "unit_of_measure": "PCS",
        "status": "ACTIVE",
    }


def test_the_header_may_name_the_columns_in_any_order_and_case() -> None:
    (row,) = rows(b"Status, SKU ,unit_of_measure,description\nACTIVE,A1,PCS,First\n")
    assert row.values == {"status": "ACTIVE", "sku": "A1", "unit_of_measure": "PCS", "description": "First"}


@pytest.mark.parametrize(
    "header, reason",
    [
        (b"sku,description,status\n", "the header lacks column(s) unit_of_measure"),
        (b"sku,description,unit_of_measure,status,colour\n", "has unknown column(s) colour"),
        (b"sku,sku,description,unit_of_measure,status\n", "repeats column(s) sku"),
        (b"customer_id,name,country,status,price_group\n", "a products file's header is sku,description,"),
        (b"", "the file is empty"),
        (b"\n\n", "the file is empty"),
    ],
)
def test_a_wrong_header_refuses_the_file_before_any_row(header: bytes, reason: str) -> None:
    with pytest.raises(FileRefused) as refused:
        rows(header + b"A1,First,PCS,ACTIVE\n" if header.strip() else header)
    assert reason in refused.value.reason


def test_a_row_that_is_no_csv_is_rejected_and_the_next_ones_are_read() -> None:
    read = rows(PRODUCTS.encode() + b'A1,"bad"quote,PCS,ACTIVE\nB1,Fine,PCS,ACTIVE\nC1,Short\n')
    assert [(r.number, r.problem) for r in read] == [
        (1, "the row is not valid CSV (',' expected after '\"')"),
        (2, None),
        (3, "the row has 2 value(s), the header 4"),
    ]
    assert read[2].values == {"sku": "C1", "description": "Short"}  # the key is still reported


def test_a_row_that_is_not_utf8_is_rejected_alone() -> None:
    read = rows(PRODUCTS.encode() + b"A1,Caf\xe9,PCS,ACTIVE\nB1,Caf\xc3\xa9,PCS,ACTIVE\n", chunk=7)
    assert [(r.number, r.problem) for r in read] == [(1, "the row is not valid UTF-8"), (2, None)]
    assert read[1].values is not None and read[1].values["description"] == "Café"


def test_a_quote_never_closed_is_one_rejected_row_of_bounded_size() -> None:
    body = PRODUCTS.encode() + b'A1,"never closed,PCS,ACTIVE\n' + b"B1,x,PCS,ACTIVE\n" * 20_000
    read = rows(body, chunk=64 * 1024)
    # the open quote swallows lines up to the value limit (64 KiB), then reading goes on after it
    assert read[0].number == 1 and read[0].problem is not None
    assert "a value longer than 65536 characters, or a quote that is never closed" in read[0].problem
    assert all(r.problem is None for r in read[1:]) and 15_000 < len(read) < 20_000


def test_lines_keep_their_ends_across_chunks_and_a_line_without_end_is_cut() -> None:
    data = b"ab\r\ncd\nef\rgh"
    for size in (1, 2, 3, 100):
        got = list(files.lines_of(data[i : i + size] for i in range(0, len(data), size)))
        assert b"".join(got) == data
        assert got[-1] == b"gh"
    assert list(files.lines_of([b"x" * 10, b"y" * 10, b"\n"], max_line=15)) == [b"x" * 10 + b"y" * 10, b"\n"]


def test_the_report_is_csv_with_its_header() -> None:
    with files.ReportWriter() as report:
        report.add(Reject(2, "A,1", 'sku "A,1" is not a valid SKU'))
        report.add(Reject(0, "", "the header lacks column(s) status"))
        text = report.body().read().decode()
    assert text == 'row,key,reason\n2,"A,1","sku ""A,1"" is not a valid SKU"\n0,,the header lacks column(s) status\n'
    assert list(csv.reader(io.StringIO(text)))[1] == ["2", "A,1", 'sku "A,1" is not a valid SKU']


# -- applying rows -----------------------------------------------------------------------------------


class FakeWriter:
    """Stands in for the table: remembers the run's keys like the conditional writes do."""

    def __init__(self, newer: set[str] | None = None) -> None:
        self.newer = newer or set()
        self.written: dict[str, int] = {}
        self.calls: list[int] = []

    def __call__(self, batch: list[tuple[int, Any]]) -> list[WriteResult]:
        self.calls.append(len(batch))
        results: list[WriteResult] = []
        for number, row in batch:
            if row.key in self.newer:
                results.append(Applied.OLDER)
            elif row.key in self.written:
                results.append(Duplicate(self.written[row.key]))
            else:
                self.written[row.key] = number
                results.append(Applied.APPLIED)
        return results


def product_rows(skus: list[str]) -> list[RawRow]:
    return [
        RawRow(n, {"sku": s, "description": "d", "unit_of_measure": "PCS", "status": "ACTIVE"})
        for n, s in enumerate(skus, start=1)
    ]


def test_rows_are_applied_in_windows_rejects_reported_in_row_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logic, "WINDOW", 3)
    skus = ["A", "b a d", "C", "A", "D", "D", "NEWER", "C", "E"]
    writer = FakeWriter(newer={"NEWER"})
    rejected: list[Reject] = []
    counts, head = logic.apply_rows(Kind.PRODUCTS, product_rows(skus), writer, rejected.append)
    # windows of 3 rows, less their invalid rows and the keys repeated within the window; a key of an
    # earlier window is written and found taken by this run (the table's condition)
    assert writer.calls == [2, 2, 3]
    assert (counts.rows, counts.applied, counts.rejected, counts.skipped_older) == (9, 4, 4, 1)
    assert [(r.row, r.key) for r in rejected] == [(2, "b a d"), (4, "A"), (6, "D"), (8, "C")]
    assert rejected[1].reason == "sku A is in the file already (row 1): only the first row of a key is applied"
    assert rejected[2].reason == "sku D is in the file already (row 5): only the first row of a key is applied"
    assert head == rejected


def test_only_the_first_1000_rejects_are_kept_for_the_file_record() -> None:
    rejected: list[Reject] = []
    counts, head = logic.apply_rows(Kind.PRODUCTS, product_rows(["bad sku"] * 1500), FakeWriter(), rejected.append)
    assert counts.rejected == len(rejected) == 1500
    assert len(head) == 1000 and head[-1].row == 1000
