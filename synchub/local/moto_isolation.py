"""Make moto's DynamoDB, DynamoDB Streams and SQS behave like the real services at volume.

moto 5 applies TransactWriteItems item by item and, to roll back, deep-copies every table the
transaction touches before it starts: the cost of one transaction grows with the table, other
threads of the (threaded) moto server read uncommitted items, and the table's stream briefly
holds records of a transaction that never committed, so a stream consumer publishes events for
orders that do not exist. moto also keeps everything it ever saw: every stream record, every
shard iterator and every deleted SQS receipt handle. DynamoDB isolates transactions
(serializable writes, committed reads), trims streams after 24 hours and expires iterators after
15 minutes. And moto's models remember every instance they ever created.

:func:`install` restores those semantics inside the emulator:

* every DynamoDB and DynamoDB Streams backend call takes one lock, so a reader never sees half a
  transaction (S3 object writes take it too, with the notifications they send);
* a write transaction snapshots only the items it touches (one copy per item, not per table),
  applies its operations, and on any failure restores those items and drops the stream records
  it appended, all under the lock: a cancelled transaction leaves no trace in the table or its
  stream, and costs what its items cost;
* a Query reads its partition (or, on an index, the items carrying the index's key), not every
  item of the table sorted;
* stream records are kept while an open shard iterator has not read them, and at most 24 hours;
  shard iterators expire after 15 minutes or as soon as their successor has been used;
* item versions, stream records, shard iterators, SQS messages and S3 object versions are not kept
  in moto's class-level instance lists (only its dashboard reads them), so they are freed when dropped;
* the set of deleted SQS receipt handles (moto's way to accept a repeated delete) is bounded, and
  sending or receiving one message no longer costs a pass over the whole queue;
* S3 event notifications carry what S3's do (the key URL-encoded as S3 encodes it, ``/`` kept;
  ``versionId`` in a versioned bucket, ``sequencer``, the requester and request ids).

:func:`set_change_listener` lets the local hub's persistence learn which items, messages and S3
objects changed, so it writes only those.
"""

from __future__ import annotations

import collections
import copy
import functools
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

_LOCK = threading.RLock()
_INSTALLED = False

STREAM_RETENTION_S = 24 * 3600
ITERATOR_TTL_S = 15 * 60
DELETED_HANDLES_KEPT = 20_000

_DYNAMODB_CALLS = (
    "get_item",
    "put_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "batch_get_item",
    "transact_get_items",
    "describe_table",
    "create_table",
    "delete_table",
    "update_table",
)
_STREAM_CALLS = ("describe_stream", "list_streams")


class ChangeListener:
    """Told which DynamoDB items (under the emulator's lock), SQS messages and S3 objects changed."""

    def item_changed(self, table: str, key: dict[str, Any]) -> None: ...

    def message_changed(self, message_id: str, queue: str | None) -> None: ...

    def object_changed(self, bucket: str, key: str) -> None: ...


_listener: ChangeListener | None = None


def set_change_listener(listener: ChangeListener | None) -> None:
    global _listener
    _listener = listener


def lock() -> threading.RLock:
    """The emulator's DynamoDB lock: hold it to read or write tables consistently from outside."""
    return _LOCK


def _locked(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return fn(*args, **kwargs)

    return wrapper


def table_key(table: Any, attrs: dict[str, Any]) -> dict[str, Any]:
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


# -- DynamoDB: item-level transactions --------------------------------------------------------
class _ItemSnapshot:
    """One item as it was before a transaction wrote it (``None``: it did not exist)."""

    def __init__(self, table: Any, key: dict[str, Any]) -> None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        self.table = table
        self.hash = DynamoType(key[table.hash_key_attr])
        self.range = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        current = table.get_item(self.hash, self.range)
        self.item = copy.deepcopy(current) if current is not None else None

    def restore(self) -> None:
        place_item(self.table, self.hash, self.range, self.item)


def place_item(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    """Put ``item`` at its key in a moto table, or remove what is there (``None``), without a stream
    record or a condition: for rollback and restore, not for requests."""
    items = table.items
    if range_key is None:
        if item is None:
            items.pop(hash_key, None)
        else:
            items[hash_key] = item
        return
    if item is None:
        partition = items.get(hash_key)
        if partition is not None:
            partition.pop(range_key, None)
            if not partition:
                del items[hash_key]
    else:
        items[hash_key][range_key] = item


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
    """moto's TransactWriteItems with item-level rollback (see the module docstring)."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with _LOCK:
        snapshots: list[_ItemSnapshot] = []
        stream_marks: dict[int, tuple[Any, int]] = {}
        seen: set[tuple[str, str]] = set()
        errors: list[tuple[Any, Any, Any]] = []

        def rollback() -> None:
            for snap in reversed(snapshots):
                snap.restore()
            for shard, length in stream_marks.values():
                del shard.items[length:]

        try:
            for entry in transact_items:
                if len(entry) > 1:
                    raise TransactWriteSingleOpException
                original_item = None
                try:
                    op_type, op = next(iter(entry.items()))
                    if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                        raise ValueError("Unsupported transaction operation")
                    table_name = op["TableName"]
                    table = self.get_table(table_name)
                    key = table_key(table, op["Item"]) if op_type == "Put" else op["Key"]
                    unique = (str(table_name), str(dict(sorted(key.items()))))
                    if unique in seen:
                        raise MultipleTransactionsException()
                    seen.add(unique)
                    if table.stream_shard is not None and id(table) not in stream_marks:
                        stream_marks[id(table)] = (table.stream_shard, len(table.stream_shard.items))
                    current = self.get_item(table_name, key)
                    condition = op.get("ConditionExpression")
                    names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                    if condition is not None and not get_filter_expression(condition, names, values).expr(current):
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)
                    if op_type != "ConditionCheck":
                        snapshots.append(_ItemSnapshot(table, key))
                    if op_type == "Put":
                        self.put_item(
                            table_name,
                            op["Item"],
                            condition_expression=condition,
                            expression_attribute_names=names,
                            expression_attribute_values=values,
                        )
                    elif op_type == "Delete":
                        self.delete_item(
                            table_name,
                            key,
                            condition_expression=condition,
                            expression_attribute_names=names,
                            expression_attribute_values=values,
                        )
                    elif op_type == "Update":
                        self.update_item(
                            table_name,
                            key,
                            update_expression=op["UpdateExpression"],
                            condition_expression=condition,
                            expression_attribute_names=names,
                            expression_attribute_values=values,
                        )
                    errors.append((None, None, None))
                except (MultipleTransactionsException, MockValidationException):
                    raise
                except ConditionalCheckFailed as exc:
                    errors.append(("ConditionalCheckFailed", str(exc.message), original_item))
                except Exception as exc:  # like moto: any other failure cancels with its reason
                    errors.append((type(exc).__name__, str(exc), original_item))
        except BaseException:
            rollback()
            raise
        if any(code is not None for code, _, _ in errors):
            rollback()
            raise TransactionCanceledException(errors)
        # the change listener heard of every item through put/update/delete_item; after a rollback
        # it reads them back as they were restored


def _notifying(fn: Callable[..., Any], keys: Callable[..., tuple[str, dict[str, Any]]]) -> Callable[..., Any]:
    """Wrap a backend write: lock it, and report the item it changed (after it succeeded)."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            result = fn(self, *args, **kwargs)
            if _listener is not None:
                table_name, key = keys(self, *args, **kwargs)
                _listener.item_changed(self.get_table(table_name).name, key)
            return result

    return wrapper


def _put_key(self: Any, table_name: str, item_attrs: dict[str, Any], *a: Any, **k: Any) -> tuple[str, dict]:
    return table_name, table_key(self.get_table(table_name), item_attrs)


def _key_arg(self: Any, table_name: str, key: dict[str, Any], *a: Any, **k: Any) -> tuple[str, dict]:
    return table_name, key


# -- DynamoDB: queries read their partition, not the table ------------------------------------
def _install_query() -> None:
    """moto's Query lists and sorts *every* item of the table, then filters on the partition key:
    a query's cost grows with the table. Here a base-table query reads its partition only, and an
    index query only the items that carry the index's partition key attribute (what DynamoDB
    itself indexes). The original code still does the matching, sorting and paging."""
    from moto.dynamodb.models.table import Table

    original = Table.query

    @functools.wraps(original)
    def query(
        self: Any,
        hash_key: Any,
        range_comparison: Any,
        range_objs: Any,
        limit: Any,
        exclusive_start_key: Any,
        scan_index_forward: Any,
        projection_expressions: Any,
        index_name: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        with _LOCK:
            return _query(
                self,
                original,
                hash_key,
                index_name,
                (range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward, projection_expressions),
                args,
                kwargs,
            )

    Table.query = query


def _query(
    self: Any,
    original: Callable[..., Any],
    hash_key: Any,
    index_name: str | None,
    positional: tuple[Any, ...],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    if index_name:
        index = next((i for i in self.all_indexes() if i.name == index_name), None)
        if index is None:  # let moto raise its own validation error
            candidates = None
        else:
            attr = next(k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH")
            candidates = [i for i in items_of(self) if attr in i.attrs]
            candidates.sort(key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)
    elif hash_key is not None:
        partition = self.items.get(hash_key)
        candidates = [] if partition is None else list(partition.values()) if self.range_key_attr else [partition]
    else:
        candidates = None
    if candidates is not None:
        self.all_items = lambda: candidates  # shadows the method for this call only
    try:
        return original(self, hash_key, *positional, index_name, *args, **kwargs)
    finally:
        self.__dict__.pop("all_items", None)


def items_of(table: Any) -> list[Any]:
    """Every item of a moto table, unsorted (moto's ``all_items`` sorts them all)."""
    if table.range_key_attr:
        return [item for partition in table.items.values() for item in partition.values()]
    return list(table.items.values())


# -- DynamoDB Streams: retention and iterators ------------------------------------------------
def _trim_stream(shard: Any, readers: Iterable[Any]) -> None:
    """Drop records every open iterator has read, and records older than the retention period."""
    positions = [it.sequence_number for it in readers if it.stream_shard is shard]
    drop = 0
    if positions:
        drop = max(0, min(positions) - shard.starting_sequence_number)
    horizon = time.time() - STREAM_RETENTION_S
    items = shard.items
    while drop < len(items) and getattr(items[drop], "_synchub_at", 0) < horizon:
        drop += 1
    drop = min(drop, len(items))
    if drop:
        del items[:drop]
        shard.starting_sequence_number += drop


def _stamp_creation(cls: type[Any], attribute: str, clock: Callable[[], float]) -> None:
    """Make every new instance of ``cls`` carry the time it was created as ``attribute``."""
    original = cls.__init__

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        setattr(self, attribute, clock())

    cls.__init__ = __init__


def _install_streams() -> None:
    from moto.dynamodb.models.table import StreamRecord, StreamShard
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator

    _stamp_creation(StreamRecord, "_synchub_at", time.time)  # for the retention period

    def shard_get(self: Any, start: int, quantity: int) -> list[dict[str, Any]]:
        # an iterator behind the trim horizon reads from the oldest record kept (AWS would answer
        # TrimmedDataAccessException; the local hub only trims what its iterators have read)
        offset = max(0, start - self.starting_sequence_number)
        return [i.to_json() for i in self.items[offset : offset + quantity]]

    StreamShard.get = shard_get

    _stamp_creation(ShardIterator, "_synchub_created", time.monotonic)  # for the iterators' expiry

    def _expire(backend: Any) -> None:
        now = time.monotonic()
        expired = [arn for arn, it in backend.shard_iterators.items() if now - it._synchub_created > ITERATOR_TTL_S]
        for arn in expired:
            del backend.shard_iterators[arn]

    original_get_iterator = DynamoDBStreamsBackend.get_shard_iterator

    @functools.wraps(original_get_iterator)
    def get_shard_iterator(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            _expire(self)
            return original_get_iterator(self, *args, **kwargs)

    DynamoDBStreamsBackend.get_shard_iterator = get_shard_iterator

    def get_records(self: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
        with _LOCK:
            iterator = self.shard_iterators[iterator_arn]
            result = iterator.get(limit)
            # the iterator this one was issued from is superseded now that its successor is used
            parent = getattr(iterator, "_synchub_parent", None)
            if parent is not None:
                self.shard_iterators.pop(parent, None)
                iterator._synchub_parent = None
            successor = self.shard_iterators[result["NextShardIterator"]]
            successor._synchub_parent = iterator_arn
            _expire(self)
            readers = [it for arn, it in self.shard_iterators.items() if arn != iterator_arn]
            _trim_stream(iterator.stream_shard, readers)
            return result

    DynamoDBStreamsBackend.get_records = get_records


# -- SQS ----------------------------------------------------------------------------------
class _BoundedHandles(set[Any]):
    """A set that forgets its oldest entries beyond ``DELETED_HANDLES_KEPT``."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._order: collections.deque[Any] = collections.deque(self)

    def add(self, value: Any) -> None:
        if value not in self:
            super().add(value)
            self._order.append(value)
            while len(self._order) > DELETED_HANDLES_KEPT:
                super().discard(self._order.popleft())

    def update(self, *values: Iterable[Any]) -> None:
        for group in values:
            for value in group:
                self.add(value)


def _install_sqs() -> None:
    import moto.sqs.models as sqs_models
    from moto.sqs.models import Queue, SQSBackend

    # moto computes every queue attribute (ApproximateNumberOfMessages* included: a visibility check
    # per message, each through a datetime-based clock) to check one message's retention, for every
    # message sent or received: O(queue depth) per message. Same answers from time.time() and the
    # one attribute the check needs.
    slow_unix_time = sqs_models.unix_time

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else slow_unix_time(dt)

    def retained(self: Any, queue_name: str, message: Any) -> bool:
        period = int(self.get_queue(queue_name).message_retention_period)
        return period + message.sent_timestamp / 1000 > unix_time()

    sqs_models.unix_time = unix_time
    sqs_models.unix_time_millis = lambda dt=None: unix_time(dt) * 1000.0
    SQSBackend.is_message_valid_based_on_retention_period = retained

    queue_init = Queue.__init__

    @functools.wraps(queue_init)
    def init_queue(self: Any, *args: Any, **kwargs: Any) -> None:
        queue_init(self, *args, **kwargs)
        self.deleted_messages = _BoundedHandles(self.deleted_messages)

    Queue.__init__ = init_queue

    add_message = Queue.add_message

    @functools.wraps(add_message)
    def add(self: Any, message: Any) -> None:
        add_message(self, message)
        if _listener is not None:
            _listener.message_changed(message.id, self.name)

    Queue.add_message = add

    delete_message = Queue.delete_message

    @functools.wraps(delete_message)
    def delete(self: Any, receipt_handle: str) -> None:
        listener = _listener
        ids = [m.id for m in self._messages if m.had_receipt_handle(receipt_handle)] if listener else []
        delete_message(self, receipt_handle)
        if listener is not None:
            for message_id in ids:
                listener.message_changed(message_id, None)

    Queue.delete_message = delete

    purge = SQSBackend.purge_queue

    @functools.wraps(purge)
    def purge_queue(self: Any, queue_name: str) -> None:
        listener = _listener
        ids = [m.id for m in self.get_queue(queue_name)._messages] if listener else []
        purge(self, queue_name)
        if listener is not None:
            for message_id in ids:
                listener.message_changed(message_id, None)

    SQSBackend.purge_queue = purge_queue


# -- S3 ------------------------------------------------------------------------------------------
_SEQUENCE = itertools.count(1)


def _object_changed(store: Any, key: Any) -> None:
    listener, bucket = _listener, getattr(store, "_synchub_bucket", None)
    if listener is not None and bucket is not None and isinstance(key, str):
        listener.object_changed(bucket, key)


def _install_s3() -> None:
    """Tell the change listener which object keys changed (every write to a bucket's versioned key store
    and to an object's metadata goes through the methods wrapped here), and shape notifications as S3's."""
    from moto.s3 import models as s3_models
    from moto.s3 import notifications
    from moto.s3.utils import _VersionedKeyStore

    bucket_init = s3_models.FakeBucket.__init__

    @functools.wraps(bucket_init)
    def init_bucket(self: Any, name: str, *args: Any, **kwargs: Any) -> None:
        bucket_init(self, name, *args, **kwargs)
        self.keys._synchub_bucket = name

    s3_models.FakeBucket.__init__ = init_bucket

    def notify_after(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(self: Any, key: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return original(self, key, *args, **kwargs)
            finally:
                _object_changed(self, key)

        return wrapper

    for name in ("__setitem__", "setlist", "pop", "__delitem__"):
        setattr(_VersionedKeyStore, name, notify_after(getattr(_VersionedKeyStore, name)))

    def key_notify_after(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            listener = _listener
            if listener is not None and self.bucket_name:
                listener.object_changed(self.bucket_name, self.name)
            return result

        return wrapper

    for name in ("set_metadata", "set_storage_class", "set_acl", "set_expiry"):
        setattr(s3_models.FakeKey, name, key_notify_after(getattr(s3_models.FakeKey, name)))

    notifications._get_s3_event = _s3_event

    # a write and the notification it sends happen under the emulator's lock: the persistence's flush
    # (which reads the queues and the changed objects under it) never keeps one without the other
    backend = s3_models.S3Backend
    for name in ("put_object", "copy_object", "delete_object", "complete_multipart_upload", "put_object_acl"):
        setattr(backend, name, _locked(getattr(backend, name)))

    def changes_key_in_place(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(self: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
            with _LOCK:
                result = original(self, bucket_name, key_name, *args, **kwargs)
                listener = _listener
                if listener is not None:
                    listener.object_changed(bucket_name, key_name)
                return result

        return wrapper

    for name in ("put_object_legal_hold", "put_object_retention"):
        setattr(backend, name, changes_key_in_place(getattr(backend, name)))


def _s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, list[dict[str, Any]]]:
    """The record S3 sends for an object event (its notification-content-structure), one per message."""
    from urllib.parse import quote_plus

    from moto.core.utils import iso_8601_datetime_with_milliseconds

    obj: dict[str, Any] = {"key": quote_plus(key.name, safe="/")}
    if event_name.startswith("s3:ObjectCreated:"):
        obj.update(size=key.size, eTag=key.etag.replace('"', ""))
    if getattr(bucket, "is_versioned", False) and key.version_id not in (None, "null"):
        obj["versionId"] = key.version_id
    obj["sequencer"] = f"{time.time_ns():016X}{next(_SEQUENCE) % 0x10000:04X}"
    request_id = uuid.uuid4().hex[:16].upper()
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": bucket.region_name,
                "eventTime": iso_8601_datetime_with_milliseconds(),
                "eventName": event_name[3:],  # s3:ObjectCreated:Put -> ObjectCreated:Put
                "userIdentity": {"principalId": f"AWS:{bucket.account_id}"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": f"synchub-local/{request_id}"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": notification_id,
                    "bucket": {
                        "name": bucket.name,
                        "ownerIdentity": {"principalId": bucket.account_id},
                        "arn": bucket.arn,
                    },
                    "object": obj,
                },
            }
        ]
    }


# -- per-request overhead of the server -------------------------------------------------------------
def _install_request_shortcuts() -> None:
    """Work moto's server redoes for every request although its answer never changes: listing its own
    package directory to route a request (a directory scan per call), and compiling EventBridge's
    default input-path expressions with a fresh parser generator for every event and target."""
    import jsonpath_ng.ext
    import moto.backends

    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)


# -- instance tracking ---------------------------------------------------------------------------
UNTRACKED_MODELS = (
    ("moto.dynamodb.models.dynamo_type", "Item"),
    ("moto.dynamodb.models.table", "StreamRecord"),
    ("moto.dynamodbstreams.models", "ShardIterator"),
    ("moto.sqs.models", "Message"),
    ("moto.s3.models", "FakeKey"),
    ("moto.s3.models", "FakeDeleteMarker"),
)


def _untrack(obj_cls: type[Any]) -> Any:
    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    obj_cls.__new__ = __new__  # type: ignore[assignment]  # deliberate patch of a class's __new__
    obj_cls.instances_tracked = []
    return obj_cls


def _install_untracked() -> None:
    """moto's BaseModel keeps every instance it ever made in a class-level list (for its dashboard):
    every item version, stream record, shard iterator, SQS message (and the copy made of each
    message it returns) and S3 object version stays in memory for the life of the process. The
    models a request creates are not tracked here; tables, queues, buckets and buses still are."""
    import importlib

    for module, name in UNTRACKED_MODELS:
        _untrack(getattr(importlib.import_module(module), name))


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
    DynamoDBBackend.put_item = _notifying(DynamoDBBackend.put_item, _put_key)
    DynamoDBBackend.update_item = _notifying(DynamoDBBackend.update_item, _key_arg)
    DynamoDBBackend.delete_item = _notifying(DynamoDBBackend.delete_item, _key_arg)
    DynamoDBBackend.transact_write_items = _transact_write_items
    _install_query()
    _install_streams()
    _install_sqs()
    _install_s3()
    _install_request_shortcuts()
    _install_untracked()
    _INSTALLED = True
