"""What other domains may use of the connectors: the shared breaker, buffer (parking), rate
limiter, HTTP client and business exceptions, and the CircuitStateChanged event."""

from __future__ import annotations

from synchub_core import ddb

from .breaker import Breaker
from .buffer import park, parked_count, receive_count
from .business_exceptions import (
    discard,
    exception_id,
    get_exception,
    list_exceptions,
    raise_exception,
    resolve,
    resubmit,
)
from .http import HttpClient, HttpResult, TargetUnavailable
from .models import (
    CIRCUIT_STATE_CHANGED,
    CONNECTORS_SOURCE,
    PARKED,
    PARKED_REASON,
    RESUBMIT_OF,
    Admission,
    BreakerChange,
    BusinessException,
    CircuitStateChangedData,
    ExceptionNotFound,
    ExceptionNotOpen,
)
from .pacing import RateLimiter

TransactionCancelled = ddb.TransactionCancelled  # raise_exception(also=...) cancelled by one of ``also``

__all__ = [
    "CIRCUIT_STATE_CHANGED",
    "CONNECTORS_SOURCE",
    "PARKED",
    "PARKED_REASON",
    "RESUBMIT_OF",
    "Admission",
    "Breaker",
    "BreakerChange",
    "BusinessException",
    "CircuitStateChangedData",
    "ExceptionNotFound",
    "ExceptionNotOpen",
    "HttpClient",
    "HttpResult",
    "RateLimiter",
    "TargetUnavailable",
    "TransactionCancelled",
    "discard",
    "exception_id",
    "get_exception",
    "list_exceptions",
    "park",
    "parked_count",
    "raise_exception",
    "receive_count",
    "resolve",
    "resubmit",
]
