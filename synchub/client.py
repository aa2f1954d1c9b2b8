"""A sales channel's side of the API: OAuth 2.0 client credentials, then Bearer calls.

What an integration would do with any HTTP library, in the standard library only: the demo, the
end-to-end tests and the benchmarks use it, so they hold the hub to the same rules a channel meets.
The token is fetched once and reused until a minute before it expires (tokens are not free: every
fetch is a token Lambda call), and fetched again once if the API answers 401.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

REFRESH_MARGIN = 60.0  # seconds before expiry a token is replaced


class TokenError(Exception):
    """The token endpoint refused the credentials (its problem body is in ``problem``)."""

    def __init__(self, status: int, problem: Any) -> None:
        super().__init__(f"token endpoint answered {status}: {problem}")
        self.status, self.problem = status, problem


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON, or None for an empty body

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


def http(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    *,
    raw: bytes | None = None,
    timeout: float = 30.0,
) -> Response:
    """One HTTP exchange; a JSON ``body`` is serialized, ``raw`` is sent as is. 4xx/5xx are answers, not errors."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    sent = {"Content-Type": "application/json", **(headers or {})} if data is not None else dict(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Response(resp.status, dict(resp.headers), _json(resp.read()))
    except urllib.error.HTTPError as err:
        return Response(err.code, dict(err.headers), _json(err.read()))


def _json(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode(errors="replace")


class ChannelClient:
    """A channel's authenticated session with the hub's API (thread-safe)."""

    def __init__(self, api_url: str, client_id: str, client_secret: str, token_url: str | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self.token_url = token_url or f"{self.api_url}/oauth2/token"
        self.client_id, self._secret = client_id, client_secret
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def fetch_token(self) -> tuple[str, int]:
        """A new access token and its lifetime (HTTP Basic client authentication, RFC 6749 2.3.1)."""
        basic = base64.b64encode(
            f"{urllib.parse.quote(self.client_id, safe='')}:{urllib.parse.quote(self._secret, safe='')}".encode()
        ).decode()
        resp = http(
            "POST",
            self.token_url,
            raw=b"grant_type=client_credentials",
            headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        )
        if resp.status != 200 or not isinstance(resp.body, dict) or "access_token" not in resp.body:
            raise TokenError(resp.status, resp.body)
        return str(resp.body["access_token"]), int(resp.body.get("expires_in", 3600))

    def token(self, *, renew: bool = False) -> str:
        with self._lock:
            if renew or self._token is None or time.monotonic() > self._expires - REFRESH_MARGIN:
                token, lifetime = self.fetch_token()
                self._token, self._expires = token, time.monotonic() + lifetime
            return self._token

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Response:
        """``path`` relative to the API URL (``/orders``); a 401 renews the token and retries once."""
        url = path if path.startswith("http") else self.api_url + path
        resp = http(method, url, body, {**(headers or {}), "Authorization": f"Bearer {self.token()}"}, **kwargs)
        if resp.status == 401:
            auth = {"Authorization": f"Bearer {self.token(renew=True)}"}
            resp = http(method, url, body, {**(headers or {}), **auth}, **kwargs)
        return resp

    def post_order(self, order: dict[str, Any], idempotency_key: str, **headers: str) -> Response:
        return self.request("POST", "/orders", order, {"Idempotency-Key": idempotency_key, **headers})

    def get_order(self, order_id: str) -> Response:
        return self.request("GET", f"/orders/{order_id}")

    def cancel_order(self, order_id: str, idempotency_key: str, reason: str | None = None) -> Response:
        body = {"reason": reason} if reason else None
        return self.request("POST", f"/orders/{order_id}/cancel", body, {"Idempotency-Key": idempotency_key})

    def authorize_return(self, order_id: str, rma: dict[str, Any], idempotency_key: str) -> Response:
        return self.request("POST", f"/orders/{order_id}/returns", rma, {"Idempotency-Key": idempotency_key})

    def get(self, path: str) -> Response:
        return self.request("GET", path)
