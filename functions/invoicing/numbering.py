"""Gap-free document numbers: ``INV-SH01-2026-000001``, one sequence per document kind, legal
entity and year.

Tax law in most of the EU wants an invoice's (and a credit memo's) numbers consecutive without
gaps per issuer and period, which a hash of the shipment (the old ``SH-YYYYMM-<hex>``) is not. The
sequence is a counter item in the orders table (``pk = COUNTER#<kind>#<legal_entity>#<year>``,
``sk = COUNTER``, attribute ``last``), and a number is taken only by the transaction that stores
the document: :func:`next_number` reads the counter and hands back the transaction entry that moves
it from ``last`` to ``last + 1`` on condition that nobody moved it in between. So

* a number is consumed exactly when its document is written (same transaction), and a cancelled
  transaction consumes none: no gap, whatever fails;
* two issuers racing for the same number cannot both win: the loser's transaction is cancelled
  on the counter (:func:`is_counter_conflict`) and it retries with a fresh read
  (:func:`issue_numbered` does that loop).

The counter is read strongly consistent (a stale read only costs a retry, never a duplicate: the
condition is what guarantees uniqueness). The only module that knows the counter's key and shape.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from synchub_core import ddb
from synchub_core.config import LEGAL_ENTITY, settings

Kind = Literal["INV", "CM"]
KINDS: frozenset[str] = frozenset({"INV", "CM"})  # invoice, credit memo
COUNTER_ATTEMPTS = 20  # transactions tried by issue_numbered before the contention is reported
NUMBER = re.compile(r"^(INV|CM)-([A-Z0-9]{2,8})-(\d{4})-(\d{6,})$")


@dataclass(frozen=True)
class Numbered:
    """The next number of a sequence and the transaction entry (``op``) that takes it: put ``op`` in
    the transaction that writes the document; if that transaction is cancelled, nothing is taken."""

    number: str
    sequence: int
    op: dict[str, Any]


class NumberingContention(Exception):
    """The counter kept moving under every attempt (:data:`COUNTER_ATTEMPTS`): transient, retry later."""


def counter_key(kind: str, legal_entity: str, year: int) -> dict[str, str]:
    _check(kind, legal_entity, year)
    return {"pk": f"COUNTER#{kind}#{legal_entity}#{year}", "sk": "COUNTER"}


def format_number(kind: str, legal_entity: str, year: int, sequence: int) -> str:
    """``INV-SH01-2026-000001``: six digits at least (a seventh once a year passes 999,999)."""
    return f"{kind}-{legal_entity}-{year}-{sequence:06d}"


def parse_number(number: str) -> tuple[str, str, int, int]:
    """``(kind, legal_entity, year, sequence)`` of a number this module formatted; ValueError otherwise."""
    match = NUMBER.match(number)
    if match is None:
        raise ValueError(f"{number!r} is not a document number KIND-ENTITY-YYYY-NNNNNN")
    return match.group(1), match.group(2), int(match.group(3)), int(match.group(4))


def _check(kind: str, legal_entity: str, year: int) -> None:
    if kind not in KINDS:
        raise ValueError(f"document kind {kind!r} is not one of {sorted(KINDS)}")
    if not LEGAL_ENTITY.match(legal_entity):
        raise ValueError(f"legal entity {legal_entity!r} is not 2 to 8 capital letters or digits")
    if not 2000 <= year <= 9999:
        raise ValueError(f"year {year} is out of range")


def last_number(kind: str, legal_entity: str, year: int) -> int:
    """The last sequence number taken (0 when none was), read strongly consistent."""
    item = ddb.get(settings().orders_table, counter_key(kind, legal_entity, year))
    return int(item["last"]) if item else 0


def next_number(kind: Kind | str, legal_entity: str, year: int) -> Numbered:
    """The next number of ``kind`` for ``legal_entity`` in ``year``, and the transaction entry that
    takes it (cancelled if another transaction took it first: read again and retry)."""
    key = counter_key(kind, legal_entity, year)
    item = ddb.get(settings().orders_table, key)
    prev = int(item["last"]) if item else 0
    sequence = prev + 1
    # ``last`` and ``year`` are DynamoDB reserved words: always through names
    expression = "SET #last = :next, item_type = :type, kind = :kind, legal_entity = :entity, #year = :year"
    names = {"#last": "last", "#year": "year"}
    values: dict[str, Any] = {"next": sequence, "type": "COUNTER", "kind": kind, "entity": legal_entity, "year": year}
    if item is None:
        condition = "attribute_not_exists(pk)"
    else:
        condition, values["prev"] = "#last = :prev", prev
    op = ddb.update(settings().orders_table, key, expression, condition=condition, names=names, **values)
    return Numbered(format_number(kind, legal_entity, year, sequence), sequence, op)


def is_counter_conflict(cancelled: ddb.TransactionCancelled, index: int) -> bool:
    """Whether the transaction was cancelled because entry ``index`` (a :class:`Numbered` ``op``)
    found the counter moved: another document took the number; retry with :func:`next_number`."""
    return cancelled.failed(index)


def is_transaction_conflict(exc: ClientError) -> bool:
    """DynamoDB cancelled the transaction because another one was writing the counter at the same
    moment (``TransactionConflict``, which ``ddb.transact`` leaves to the caller): nothing was taken."""
    error = exc.response.get("Error") or {}
    if error.get("Code") != "TransactionCanceledException":
        return False
    reasons = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
    return "TransactionConflict" in reasons or "TransactionConflict" in str(error.get("Message", ""))


def issue_numbered(
    kind: Kind | str,
    legal_entity: str,
    year: int,
    ops_for: Callable[[Numbered], list[dict[str, Any]]],
    *,
    attempts: int = COUNTER_ATTEMPTS,
) -> Numbered:
    """Take the next number and write what ``ops_for(numbered)`` builds with it, in one transaction
    (the counter entry first); on a counter conflict read again and retry, up to ``attempts`` times.
    Returns the number taken. A cancellation on any other entry is the caller's: it is raised as the
    :class:`ddb.TransactionCancelled` with indexes of ``ops_for``'s list shifted by one (entry 0 is the
    counter), and no number is taken. Raises :class:`NumberingContention` when every attempt lost."""
    for attempt in range(attempts):
        numbered = next_number(kind, legal_entity, year)
        try:
            ddb.transact([numbered.op, *ops_for(numbered)])
        except ddb.TransactionCancelled as cancelled:
            if is_counter_conflict(cancelled, 0):
                continue
            raise
        except ClientError as exc:
            if not is_transaction_conflict(exc):
                raise
            time.sleep(random.uniform(0, 0.01 * 2 ** min(attempt, 5)))  # jitter, not a secret
            continue
        return numbered
    raise NumberingContention(f"the {kind} counter of {legal_entity} {year} moved under {attempts} attempts")
