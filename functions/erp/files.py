"""The legacy ERP file interface, both ways (CSV, UTF-8, ``,``, RFC 4180 quoting, header row first,
``\\n`` line ends):

* order files to the ERP, ``to-erp/orders/ORD-<YYYYMMDDHHMMSS>-<8 hex>.csv``, one row per order line
  (the rows of one order consecutive), header :data:`ORDER_HEADER`;
* acknowledgement files from the ERP, ``from-erp/acks/ACK-<stem of the order file>[-<n>].csv``, one
  row per order (or one ``*`` row with FILE_REJECTED), header :data:`ACK_HEADER`.

Pure: names, rows and bytes in and out; the handler streams the S3 object through
:func:`read_acks` (memory stays flat whatever the file's size). Writers for the other direction
(:func:`render_acks`, :func:`read_orders`) serve tests and stand-ins.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .models import (
    ACK_FILE_PREFIX,
    ORDER_FILE_PREFIX,
    AckFileInvalid,
    AckRow,
    AckRowInvalid,
    AckStatus,
    ErpOrder,
    OrderRow,
)

ORDER_HEADER = (
    "order_id",
    "channel",
    "channel_order_ref",
    "customer_id",
    "order_date",
    "currency",
    "line_id",
    "sku",
    "quantity",
    "unit_price",
    "tax_rate",
)
ACK_HEADER = ("order_id", "status", "erp_order_number", "reason", "currency", "net_total", "line_count")
FILE_REJECTED_ORDER_ID = "*"

_ORDER_NAME = re.compile(r"^ORD-(\d{14})-([0-9a-f]{8})\.csv$")
# ACK-<stem>[-<n>].csv; the stem is the order file's (ORD-...); a stem without the ORD- is taken too
_ACK_NAME = re.compile(r"^ACK-(?:ORD-)?(\d{14})-([0-9a-f]{8})(?:-(\d{1,6}))?\.csv$")
_MUST_QUOTE = re.compile(r'[",\r\n]')
_READ_CHUNK = 64 * 1024


# -- names -----------------------------------------------------------------------------------------


def order_file_name(at: datetime, token: str) -> str:
    """``ORD-<YYYYMMDDHHMMSS>-<token>.csv`` (``token``: 8 lower-case hex digits)."""
    if not re.fullmatch(r"[0-9a-f]{8}", token):
        raise ValueError("an order file token is 8 lower-case hex digits")
    return f"ORD-{at.strftime('%Y%m%d%H%M%S')}-{token}.csv"


def order_file_key(name: str) -> str:
    return ORDER_FILE_PREFIX + name


def is_order_file_name(name: str) -> bool:
    return _ORDER_NAME.fullmatch(name) is not None


def ack_file_name(order_file: str, part: int | None = None) -> str:
    """The name the ERP gives the acknowledgement of ``order_file`` (``part`` 2, 3... for more)."""
    stem = order_file.removesuffix(".csv")
    return f"ACK-{stem}{'' if part is None or part == 1 else f'-{part}'}.csv"


def ack_file_key(order_file: str, part: int | None = None) -> str:
    return ACK_FILE_PREFIX + ack_file_name(order_file, part)


def acknowledged_file(ack_key: str) -> str:
    """The order file an acknowledgement file (its key or name) answers: ``ORD-...csv``.

    Raises :class:`AckFileInvalid` for a name that is no ack file's."""
    name = ack_key.rsplit("/", 1)[-1]
    match = _ACK_NAME.fullmatch(name)
    if match is None:
        raise AckFileInvalid(f"{name!r} is not named ACK-ORD-<YYYYMMDDHHMMSS>-<8 hex>[-<n>].csv")
    return f"ORD-{match.group(1)}-{match.group(2)}.csv"


# -- writing ---------------------------------------------------------------------------------------


def _field(value: Any) -> str:
    if value is None:
        return ""
    text = format(value, "f") if isinstance(value, Decimal) else str(value)
    # RFC 4180: a field with a comma, a quote, CR or LF is quoted, its quotes doubled (the csv
    # module would leave a bare CR unquoted under "\n" line ends)
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if _MUST_QUOTE.search(text) else text


def csv_line(values: Iterable[Any]) -> str:
    return ",".join(_field(v) for v in values) + "\n"


def order_rows(order: ErpOrder, order_date: str) -> list[OrderRow]:
    return [
        OrderRow(
            order_id=order.order_id,
            channel=order.channel,
            channel_order_ref=order.channel_order_ref,
            customer_id=order.customer.customer_id,
            order_date=order_date,
            currency=order.currency,
            line_id=line.line_id,
            sku=line.sku,
            quantity=line.quantity,
            unit_price=line.unit_price,
            tax_rate=line.tax_rate,
        )
        for line in order.lines
    ]


def render_orders(orders: Iterable[tuple[ErpOrder, str]]) -> bytes:
    """An order file of ``(order, order_date)`` pairs: the header, then each order's lines."""
    parts = [csv_line(ORDER_HEADER)]
    for order, order_date in orders:
        for row in order_rows(order, order_date):
            parts.append(
                csv_line(
                    (
                        row.order_id,
                        row.channel,
                        row.channel_order_ref,
                        row.customer_id,
                        row.order_date,
                        row.currency,
                        row.line_id,
                        row.sku,
                        row.quantity,
                        row.unit_price,
                        row.tax_rate,
                    )
                )
            )
    return "".join(parts).encode("utf-8")


def render_acks(rows: Iterable[AckRow]) -> bytes:
    """An acknowledgement file (as the ERP writes it; for tests and stand-ins)."""
    parts = [csv_line(ACK_HEADER)]
    for r in rows:
        parts.append(
            csv_line((r.order_id, r.status.value, r.erp_order_number, r.reason, r.currency, r.net_total, r.line_count))
        )
    return "".join(parts).encode("utf-8")


# -- reading ---------------------------------------------------------------------------------------


def text_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The lines (ends kept) of a UTF-8 byte stream arriving in ``chunks`` of any size; a BOM is
    dropped. A quoted field spanning lines is the csv reader's job (it is handed the line ends)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = ""
    for chunk in chunks:
        # split on LF only: str.splitlines would also split on U+2028, FF, ... inside a field
        *lines, pending = (pending + decoder.decode(chunk)).split("\n")
        for line in lines:
            yield line + "\n"
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def _rows(chunks: Iterable[bytes], header: tuple[str, ...], what: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(text_lines(chunks), strict=True)
    try:
        first = next(reader, None)
    except csv.Error as exc:
        raise AckFileInvalid(f"the {what} file's header is no CSV: {exc}") from None
    if first is None:
        raise AckFileInvalid(f"the {what} file is empty (no header row)")
    if tuple(c.strip() for c in first) != header:
        raise AckFileInvalid(f"the {what} file's header is not {','.join(header)}")
    n = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # a broken quote swallows the rest of the file: nothing after it can be read
            raise AckFileInvalid(f"the {what} file is no CSV after data row {n}: {exc}") from None
        n += 1
        if fields == [] or fields == [""]:
            n -= 1  # a blank line (a trailing one, typically) is no row
            continue
        yield n, fields


def _decimal(text: str, row: int, name: str) -> Decimal | None:
    if text == "":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise AckRowInvalid(row, f"{name} {text!r} is no decimal number") from None
    if not value.is_finite():
        raise AckRowInvalid(row, f"{name} {text!r} is no decimal number")
    return value


def _int(text: str, row: int, name: str) -> int | None:
    if text == "":
        return None
    if not re.fullmatch(r"\d{1,9}", text):
        raise AckRowInvalid(row, f"{name} {text!r} is no whole number")
    return int(text)


def read_acks(chunks: Iterable[bytes]) -> Iterator[AckRow | AckRowInvalid]:
    """The rows of an acknowledgement file, streamed; a row that cannot be read is yielded as an
    :class:`AckRowInvalid` (the others still apply). Raises :class:`AckFileInvalid` when the
    header is wrong or the CSV is broken."""
    for n, fields in _rows(chunks, ACK_HEADER, "acknowledgement"):
        if len(fields) != len(ACK_HEADER):
            yield AckRowInvalid(n, f"{len(fields)} fields, expected {len(ACK_HEADER)}")
            continue
        order_id, status, number, reason, currency, net_total, line_count = (f.strip() for f in fields)
        try:
            try:
                parsed = AckStatus(status)
            except ValueError:
                raise AckRowInvalid(n, f"status {status!r} is none of ACCEPTED, REJECTED, FILE_REJECTED") from None
            if not order_id:
                raise AckRowInvalid(n, "order_id is empty")
            if (parsed is AckStatus.FILE_REJECTED) != (order_id == FILE_REJECTED_ORDER_ID):
                raise AckRowInvalid(n, "order_id is * exactly on a FILE_REJECTED row")
            if parsed is AckStatus.ACCEPTED and not number:
                raise AckRowInvalid(n, f"order {order_id} ACCEPTED without an erp_order_number")
            yield AckRow(
                row=n,
                order_id=order_id,
                status=parsed,
                erp_order_number=number,
                reason=reason,
                currency=currency,
                net_total=_decimal(net_total, n, "net_total"),
                line_count=_int(line_count, n, "line_count"),
            )
        except AckRowInvalid as invalid:
            yield invalid


def read_orders(chunks: Iterable[bytes]) -> Iterator[OrderRow]:
    """The rows of an order file, streamed (the ERP side of :func:`render_orders`)."""
    for n, fields in _rows(chunks, ORDER_HEADER, "order"):
        if len(fields) != len(ORDER_HEADER):
            raise AckFileInvalid(f"order file row {n}: {len(fields)} fields, expected {len(ORDER_HEADER)}")
        values = dict(zip(ORDER_HEADER, fields, strict=True))
        yield OrderRow(
            order_id=values["order_id"],
            channel=values["channel"],
            channel_order_ref=values["channel_order_ref"],
            customer_id=values["customer_id"],
            order_date=values["order_date"],
            currency=values["currency"],
            line_id=values["line_id"],
            sku=values["sku"],
            quantity=int(values["quantity"]),
            unit_price=Decimal(values["unit_price"]) if values["unit_price"] else None,
            tax_rate=Decimal(values["tax_rate"] or "0"),
        )


def chunked(body: Any, size: int = _READ_CHUNK) -> Iterator[bytes]:
    """The chunks of a file-like object (an S3 ``StreamingBody``), read ``size`` bytes at a time."""
    while True:
        chunk = body.read(size)
        if not chunk:
            return
        yield chunk
