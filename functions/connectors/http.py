"""A small HTTP/JSON client for external targets, on urllib3 (part of the Lambda runtime with
botocore): pooled keep-alive connections, a connect and a read timeout, no retries of its own
(the queue and the breaker do the retrying).

It tells the two technical failures apart, because they mean different things for a POST:

* the connection could not be made (refused, DNS, connect timeout): the request was never sent;
* the request was sent but no answer came (read timeout, connection closed): *the target may have
  accepted it*, so the retry must be idempotent (idempotency key, look-up by reference).

Both raise :class:`TargetUnavailable`; ``after_send`` says which.
"""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)


class TargetUnavailable(Exception):
    """No answer from the target. ``after_send``: the request went out (it may have taken effect)."""

    def __init__(self, reason: str, *, after_send: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_send = after_send


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    body: Any = None  # parsed JSON when the answer is JSON, else text

    def json(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class HttpClient:
    def __init__(self, base_url: str, connect_timeout: float = 2.0, read_timeout: float = 5.0, *, maxsize: int = 4):
        self.base_url = base_url.rstrip("/")
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._pool = urllib3.PoolManager(maxsize=maxsize, retries=False, timeout=self.timeout)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        query: dict[str, Any] | None = None,
    ) -> HttpResult:
        url = self.base_url + path
        if query:
            url += ("&" if "?" in url else "?") + urlencode({k: v for k, v in query.items() if v is not None})
        sent_headers = {"Accept": "application/json", **(headers or {})}
        body: bytes | None = None
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":")).encode()
            sent_headers["Content-Type"] = "application/json"
        elif form is not None:
            body = urlencode(form).encode()
            sent_headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            resp = self._pool.request(method, url, body=body, headers=sent_headers, retries=False, redirect=False)
        except (NewConnectionError, ConnectTimeoutError) as exc:
            # NewConnectionError is a ConnectTimeoutError in urllib3 2: both mean nothing was sent
            kind = "connect timeout" if not isinstance(exc, NewConnectionError) else "connection failed"
            raise TargetUnavailable(f"{kind}: {method} {path} was not sent") from None
        except ReadTimeoutError:
            raise TargetUnavailable(
                f"timeout after send: the target may have accepted {method} {path}", after_send=True
            ) from None
        except ProtocolError:
            raise TargetUnavailable(
                f"connection closed without an answer after send: the target may have accepted {method} {path}",
                after_send=True,
            ) from None
        except HTTPError as exc:
            raise TargetUnavailable(f"{type(exc).__name__} calling {method} {path}", after_send=True) from None
        return HttpResult(resp.status, {k.lower(): v for k, v in resp.headers.items()}, _parse(resp))


def _parse(resp: Any) -> Any:
    data = resp.data or b""
    if not data:
        return None
    text = data.decode("utf-8", errors="replace")
    if "json" in (resp.headers.get("Content-Type") or "") or text[:1] in "{[":
        try:
            return jsonlib.loads(text)
        except ValueError:
            return text
    return text
