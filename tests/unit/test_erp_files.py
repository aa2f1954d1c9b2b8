"""The legacy ERP file interface (functions/erp/files.py): order files out, acknowledgement files in.

CSV, UTF-8, ``,``, RFC 4180 quoting, header first, ``\\n`` line ends; what the hub writes reads back
with Python's csv module (as the ERP, or anyone, parses it) and with the hub's own reader, field for
field, whatever the channel put in a reference: commas, quotes, line breaks, non-Latin scripts."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from erp import files
from erp.models import AckFileInvalid, AckRow, AckRowInvalid, AckStatus, ErpOrder


def order(n: int = 1, *, ref: str | None = None, customer: str = "CUST-8812", lines: int = 2) -> ErpOrder:
    return ErpOrder.model_validate(
        {
            "order_id": f"ord_{n:026d}",
            "channel": "webshop-nl",
            "channel_order_ref": ref or f"WS-{n}",
            "customer": {"customer_id": customer, "name": "Bakkerij de Vries"},
            "ship_to": {"name": "Bakkerij de Vries", "line1": "Kerkstraat 12"},
            "currency": "EUR",
            "lines": [
                {
                    "line_id": str(i + 1),
                    "sku": f"SKU-{i + 1:05d}",
                    "quantity": i + 1,
                    "unit_price": "18.40",
                    "tax_rate": "0.09",
                }
                for i in range(lines)
            ],
        }
    )


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def python_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


# -- names ---------------------------------------------------------------------------------------------


def test_order_file_names_and_the_acknowledgements_that_answer_them() -> None:
    name = files.order_file_name(datetime(2026, 12, 1, 9, 5, 7, tzinfo=UTC), "0a1b2c3d")
    assert name == "ORD-20261201090507-0a1b2c3d.csv"
    assert files.order_file_key(name) == "to-erp/orders/ORD-20261201090507-0a1b2c3d.csv"
    assert files.is_order_file_name(name)
    assert files.ack_file_key(name) == "from-erp/acks/ACK-ORD-20261201090507-0a1b2c3d.csv"
    assert files.ack_file_name(name, 2) == "ACK-ORD-20261201090507-0a1b2c3d-2.csv"
    for ack in (
        "from-erp/acks/ACK-ORD-20261201090507-0a1b2c3d.csv",
        "from-erp/acks/ACK-ORD-20261201090507-0a1b2c3d-2.csv",
        "ACK-20261201090507-0a1b2c3d.csv",  # a stem without the ORD- is the same file
    ):
        assert files.acknowledged_file(ack) == name
    for bad in (
        "from-erp/acks/readme.txt",
        "from-erp/acks/ACK-ORD-2026-0a1b2c3d.csv",
        "ACK-ORD-20261201090507-0A1B2C3D.csv",
    ):
        with pytest.raises(AckFileInvalid):
            files.acknowledged_file(bad)
    with pytest.raises(ValueError):
        files.order_file_name(datetime(2026, 12, 1, tzinfo=UTC), "XYZ")


# -- order files ---------------------------------------------------------------------------------------


def test_an_order_file_has_the_header_and_one_row_per_line_the_rows_of_an_order_together() -> None:
    data = files.render_orders([(order(1), "2026-12-01"), (order(2, lines=3), "2026-12-02")])
    text = data.decode("utf-8")
    assert text.endswith("\n") and "\r" not in text
    rows = python_csv(data)
    assert rows[0] == list(files.ORDER_HEADER)
    assert rows[1] == [
        "ord_00000000000000000000000001",
        "webshop-nl",
        "WS-1",
        "CUST-8812",
        "2026-12-01",
        "EUR",
        "1",
        "SKU-00001",
        "1",
        "18.40",
        "0.09",
    ]
    assert [r[0][-1] for r in rows[1:]] == ["1", "1", "2", "2", "2"]
    assert [r[4] for r in rows[1:]] == ["2026-12-01"] * 2 + ["2026-12-02"] * 3
    # nothing personal goes to the ERP file: no names, no addresses
    assert "Bakkerij" not in text and "Kerkstraat" not in text


@pytest.mark.parametrize(
    "ref",
    [
        'WS-1,"quoted", and more',
        "line\nbreak",
        "carriage\rreturn",
        "crlf\r\nref",
        "Zürich-Straße-€-ørder",
        "注文-東京-001",
        "emoji-🥖-order",
        " padded ",
        '"',
        ",",
    ],
)
def test_any_reference_round_trips_quoted_as_rfc_4180_says(ref: str) -> None:
    data = files.render_orders([(order(7, ref=ref, customer=f"C,{ref}"), "2026-12-01")])
    rows = python_csv(data)
    assert rows[1][2] == ref and rows[1][3] == f"C,{ref}"
    ours = list(files.read_orders(chunks(data, 3)))  # split anywhere, even inside a character
    assert ours[0].channel_order_ref == ref and ours[0].customer_id == f"C,{ref}"
    if any(c in ref for c in ',"\r\n'):
        assert f'"{ref.replace(chr(34), chr(34) * 2)}"' in data.decode("utf-8")
    else:
        assert f",{ref}," in data.decode("utf-8")


def test_a_file_of_100_orders_reads_back_line_for_line() -> None:
    batch = [(order(n, lines=1 + n % 40), f"2026-12-{1 + n % 28:02d}") for n in range(100)]
    data = files.render_orders(batch)
    rows = list(files.read_orders(chunks(data, 4096)))
    assert len(rows) == sum(len(o.lines) for o, _ in batch) == len(python_csv(data)) - 1
    expected = [row for o, day in batch for row in files.order_rows(o, day)]
    assert rows == expected
    assert len({r.order_id for r in rows}) == 100
    # the rows of one order are consecutive
    seen: list[str] = []
    for r in rows:
        if not seen or seen[-1] != r.order_id:
            assert r.order_id not in seen
            seen.append(r.order_id)


def test_amounts_are_written_as_plain_decimals() -> None:
    o = ErpOrder.model_validate(
        {
            "order_id": "ord_1",
            "channel": "c1",
            "channel_order_ref": "R",
            "customer": {"customer_id": "C"},
            "currency": "EUR",
            "lines": [{"line_id": "1", "sku": "S", "quantity": 100, "unit_price": Decimal("1E+2"), "tax_rate": "0"}],
        }
    )
    assert python_csv(files.render_orders([(o, "2026-12-01")]))[1][9:] == ["100", "0"]


# -- acknowledgement files ------------------------------------------------------------------------------


def ack(order_id: str, status: AckStatus = AckStatus.ACCEPTED, **kw: Any) -> AckRow:
    defaults: dict[str, Any] = {"row": 0, "order_id": order_id, "status": status}
    if status is AckStatus.ACCEPTED:
        defaults.update(erp_order_number="SO-0000001", currency="EUR", net_total=Decimal("113.10"), line_count=2)
    return AckRow(**{**defaults, **kw})


def test_acknowledgements_read_back_with_their_amounts() -> None:
    rows = [
        ack("ord_1"),
        ack("ord_2", AckStatus.REJECTED, reason='customer CUST-1 is blocked in ERP (credit hold), "hold"'),
        ack("ord_3", erp_order_number="SO-0000003", net_total=Decimal("0.10"), line_count=1, currency="EUR"),
    ]
    data = files.render_acks(rows)
    assert python_csv(data)[0] == list(files.ACK_HEADER)
    got = list(files.read_acks(chunks(data, 5)))
    assert got == [AckRow(**{**r.__dict__, "row": n}) for n, r in enumerate(rows, start=1)]
    assert isinstance(got[1], AckRow) and got[1].reason == 'customer CUST-1 is blocked in ERP (credit hold), "hold"'


def test_a_file_rejection_is_one_star_row() -> None:
    data = (
        b"order_id,status,erp_order_number,reason,currency,net_total,line_count\n*,FILE_REJECTED,,checksum failed,,,\n"
    )
    (row,) = files.read_acks([data])
    assert isinstance(row, AckRow)
    assert (row.order_id, row.status, row.reason, row.net_total) == (
        "*",
        AckStatus.FILE_REJECTED,
        "checksum failed",
        None,
    )


def test_a_bad_row_is_reported_and_the_others_still_read() -> None:
    data = (
        "\ufefforder_id,status,erp_order_number,reason,currency,net_total,line_count\r\n"
        "ord_1,ACCEPTED,SO-1,,EUR,10.00,1\r\n"
        "ord_2,MAYBE,,,,,\r\n"
        "ord_3,ACCEPTED,SO-3,,EUR,ten,1\r\n"
        "ord_4,ACCEPTED,SO-4,,EUR,1.00\r\n"
        "*,ACCEPTED,SO-5,,EUR,1.00,1\r\n"
        "ord_6,ACCEPTED,,,EUR,1.00,1\r\n"
        "\r\n"
        "ord_7,REJECTED,,unknown sku SKU-9,,,\r\n"
    ).encode()
    got = list(files.read_acks(chunks(data, 7)))
    assert [type(r).__name__ for r in got] == ["AckRow"] + ["AckRowInvalid"] * 5 + ["AckRow"]
    invalid = [r for r in got if isinstance(r, AckRowInvalid)]
    assert [r.row for r in invalid] == [2, 3, 4, 5, 6]
    assert "MAYBE" in invalid[0].reason and "net_total" in invalid[1].reason and "6 fields" in invalid[2].reason
    last = got[-1]
    assert isinstance(last, AckRow) and last.row == 7 and last.reason == "unknown sku SKU-9"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"order_id,status\nord_1,ACCEPTED\n",
        b"sku,description\n",
        b'order_id,status,erp_order_number,reason,currency,net_total,line_count\nord_1,ACCEPTED,SO-1,"unterminated\n',
    ],
)
def test_a_file_that_is_no_acknowledgement_is_refused(data: bytes) -> None:
    with pytest.raises(AckFileInvalid):
        list(files.read_acks([data]))


def test_acknowledgements_stream_in_flat_memory() -> None:
    """A big acknowledgement file is read through a reader that is handed 64 KiB at a time."""
    n = 20_000
    data = files.render_acks(ack(f"ord_{i}", erp_order_number=f"SO-{i:07d}") for i in range(n))

    class Body:
        def __init__(self) -> None:
            self.stream = io.BytesIO(data)
            self.largest = 0

        def read(self, size: int = -1) -> bytes:
            chunk = self.stream.read(size)
            self.largest = max(self.largest, len(chunk))
            return chunk

    body = Body()
    count = 0
    for row in files.read_acks(files.chunked(body)):
        assert isinstance(row, AckRow)
        count += 1
    assert count == n and body.largest <= 64 * 1024 < len(data)


def test_text_lines_split_on_line_feeds_only() -> None:
    text = 'a,b\u2028c\x0cd\n"multi\nline",x\r\nlast'
    data = text.encode()
    for size in (1, 2, 3, 50):
        assert "".join(files.text_lines(chunks(data, size))) == text
        assert list(files.text_lines(chunks(data, size))) == ["a,b\u2028c\x0cd\n", '"multi\n', 'line",x\r\n', "last"]
