"""Make moto's DynamoDB transactions behave like DynamoDB's.

moto 5 applies TransactWriteItems item by item and, when a condition fails, restores a deep copy
of the tables. Meanwhile other threads of the (threaded) moto server can read the uncommitted
items, and the table's stream briefly holds records of a transaction that never committed: a
stream consumer then publishes events for orders that do not exist. DynamoDB isolates
transactions (serializable writes, committed reads).

:func:`install` restores those semantics inside the emulator: every DynamoDB and DynamoDB
Streams backend call takes one lock, and a write transaction is first dry-run against a copy
of the tables, so a cancelled transaction never touches the real tables or their streams.
"""
from __future__ import annotations

import copy
import functools
import threading
from typing import Any, Callable

_LOCK = threading.RLock()
_INSTALLED = False

_DYNAMODB_CALLS = (
    "get_item", "put_item", "update_item", "delete_item", "query", "scan", "batch_get_item",
    "transact_get_items", "describe_table", "create_table", "delete_table", "update_table",
)
_STREAM_CALLS = ("describe_stream", "get_shard_iterator", "get_records", "list_streams")


def _locked(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return fn(*args, **kwargs)

    return wrapper


def install() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    for name in _DYNAMODB_CALLS:
        if hasattr(DynamoDBBackend, name):
            setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    for name in _STREAM_CALLS:
        if hasattr(DynamoDBStreamsBackend, name):
            setattr(DynamoDBStreamsBackend, name, _locked(getattr(DynamoDBStreamsBackend, name)))

    original = DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            real = self.tables
            touched = {next(iter(item.values())).get("TableName") for item in transact_items}
            # dry run on copies of the tables involved (and only those: copying is O(table size))
            self.tables = {**real, **{n: copy.deepcopy(real[n]) for n in touched if n in real}}
            try:
                original(self, transact_items, *args, **kwargs)  # raises when any item fails
            finally:
                self.tables = real
            return original(self, transact_items, *args, **kwargs)

    DynamoDBBackend.transact_write_items = transact_write_items
    _INSTALLED = True
