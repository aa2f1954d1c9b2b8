"""The cloud finance API as the hub calls it: OAuth 2.0 client credentials, documents (invoices and
credit notes, told apart by ``document_type``) posted with an idempotency key, looked up by external
reference and listed by issue date and type.

The base URL comes from the SSM parameter named by ``FINANCE_BASE_URL_PARAMETER`` and the client
credentials from the Secrets Manager secret ``FINANCE_CREDENTIALS_SECRET_ARN`` (JSON
``{"client_id", "client_secret"}``), both read with Powertools Parameters and cached per container
for 5 minutes (a rotated secret is picked up). The access token is cached in memory until 60 s
before it expires and fetched again once when finance answers 401.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from aws_lambda_powertools.utilities import parameters

from connectors import api as connectors
from synchub_core.aws import client as aws_client

from .models import (
    BASE_URL_PARAMETER_ENV,
    CONNECT_TIMEOUT_ENV,
    CREDENTIALS_SECRET_ENV,
    INVOICE,
    PAGE_SIZE,
    PARAMETER_MAX_AGE,
    READ_TIMEOUT_ENV,
    TOKEN_MARGIN_SECONDS,
    FinanceAuthFailed,
    FinanceNotConfigured,
    FinanceRateLimited,
    FinanceRequestFailed,
)

INVOICES = "/api/v1/invoices"
TOKEN = "/oauth2/token"

_lock = threading.Lock()
_tokens: dict[tuple[str, str], tuple[str, float]] = {}  # (base url, client id) -> (token, expires at)
_pools: dict[tuple[str, float, float], connectors.HttpClient] = {}


_providers: dict[tuple[int, int], tuple[parameters.SSMProvider, parameters.SecretsProvider]] = {}


def reset() -> None:
    """Forget cached tokens, connections and parameters (tests; a container keeps them)."""
    with _lock:
        _tokens.clear()
        _pools.clear()
        _providers.clear()
    parameters.clear_caches()


def _parameter_providers() -> tuple[parameters.SSMProvider, parameters.SecretsProvider]:
    """Powertools providers over the process's own SSM and Secrets Manager clients
    (``synchub_core.aws``), each keeping its values ``PARAMETER_MAX_AGE`` seconds: new clients (after
    ``reset_clients``, as the CLI does between deployments) get new providers, never a client of an
    endpoint used before."""
    ssm, secrets = aws_client("ssm"), aws_client("secretsmanager")
    key = (id(ssm), id(secrets))
    with _lock:
        if key not in _providers:
            _providers.clear()
            _providers[key] = (
                parameters.SSMProvider(boto3_client=ssm),
                parameters.SecretsProvider(boto3_client=secrets),
            )
        return _providers[key]


def _http(base_url: str, connect_timeout: float, read_timeout: float) -> connectors.HttpClient:
    key = (base_url, connect_timeout, read_timeout)
    with _lock:
        if key not in _pools:
            _pools[key] = connectors.HttpClient(base_url, connect_timeout, read_timeout)
        return _pools[key]


def retry_after(result: connectors.HttpResult, default: int = 1) -> int:
    try:
        return max(1, int(float(result.headers.get("retry-after", default))))
    except (TypeError, ValueError):
        return default


class FinanceClient:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client_id, self._client_secret = client_id, client_secret
        self._http = _http(self.base_url, connect_timeout, read_timeout)
        self._now = now

    @classmethod
    def from_env(cls) -> FinanceClient:
        parameter = os.environ.get(BASE_URL_PARAMETER_ENV, "")
        secret_arn = os.environ.get(CREDENTIALS_SECRET_ENV, "")
        if not parameter or not secret_arn:
            raise FinanceNotConfigured(
                f"{BASE_URL_PARAMETER_ENV} and {CREDENTIALS_SECRET_ENV} must name the finance base URL "
                "parameter and credentials secret"
            )
        ssm, secrets = _parameter_providers()
        base_url = ssm.get(parameter, max_age=PARAMETER_MAX_AGE)
        secret = secrets.get(secret_arn, transform="json", max_age=PARAMETER_MAX_AGE)
        if not isinstance(secret, dict) or not secret.get("client_id") or not secret.get("client_secret"):
            raise FinanceNotConfigured("the finance credentials secret is not JSON with client_id and client_secret")
        return cls(
            str(base_url),
            str(secret["client_id"]),
            str(secret["client_secret"]),
            connect_timeout=float(os.environ.get(CONNECT_TIMEOUT_ENV) or 2),
            read_timeout=float(os.environ.get(READ_TIMEOUT_ENV) or 5),
        )

    # -- token ------------------------------------------------------------------------------------

    def _token(self, fresh: bool = False) -> str:
        key = (self.base_url, self._client_id)
        with _lock:
            cached = _tokens.get(key)
        if cached is not None and not fresh and cached[1] - TOKEN_MARGIN_SECONDS > self._now():
            return cached[0]
        result = self._http.request(
            "POST",
            TOKEN,
            form={
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            },
        )
        self._raise_for_outage(result)
        body = result.json()
        if result.status != 200 or not isinstance(body.get("access_token"), str):
            raise FinanceAuthFailed(
                f"finance refused the hub's client credentials ({result.status} {body.get('error')})"
            )
        expires_in = body.get("expires_in")
        ttl = float(expires_in) if isinstance(expires_in, int | float) else 300.0
        with _lock:
            _tokens[key] = (body["access_token"], self._now() + ttl)
        return str(body["access_token"])

    def _forget_token(self) -> None:
        with _lock:
            _tokens.pop((self.base_url, self._client_id), None)

    def _authorized(self, method: str, path: str, **kwargs: Any) -> connectors.HttpResult:
        """The request with a bearer token; on 401 once more with a fresh token."""
        headers = dict(kwargs.pop("headers", None) or {})
        result = self._http.request(
            method, path, headers={**headers, "Authorization": f"Bearer {self._token()}"}, **kwargs
        )
        if result.status == 401:
            self._forget_token()
            token = self._token(fresh=True)
            result = self._http.request(method, path, headers={**headers, "Authorization": f"Bearer {token}"}, **kwargs)
            if result.status == 401:
                raise FinanceAuthFailed("finance refused a freshly issued access token (401 twice)")
        return result

    @staticmethod
    def _raise_for_outage(result: connectors.HttpResult) -> None:
        """429 -> :class:`FinanceRateLimited`; 5xx -> ``TargetUnavailable`` (the breaker counts it)."""
        if result.status == 429:
            raise FinanceRateLimited(retry_after(result))
        if result.status >= 500:
            error = result.json().get("error") or "no error code"
            # a 500/502/504 may come after finance booked it (a gateway timing out on a slow backend):
            # the next delivery looks the document up first; a 503 is a refusal to take the request
            raise connectors.TargetUnavailable(
                f"finance answered {result.status} ({error})", after_send=result.status != 503
            )

    # -- the API ----------------------------------------------------------------------------------

    def post_invoice(self, body: dict[str, Any], idempotency_key: str) -> connectors.HttpResult:
        """POST the document. Returns finance's answer for 2xx and 4xx (the caller decides);
        raises :class:`FinanceRateLimited` (429), ``TargetUnavailable`` (5xx, no answer) and
        :class:`FinanceAuthFailed` (401 twice)."""
        result = self._authorized("POST", INVOICES, json=body, headers={"Idempotency-Key": idempotency_key})
        self._raise_for_outage(result)
        return result

    def find(self, external_reference: str) -> dict[str, Any] | None:
        """The document booked under ``external_reference``, or None."""
        result = self._authorized("GET", INVOICES, query={"external_reference": external_reference})
        self._raise_for_outage(result)
        if result.status != 200:
            raise FinanceRequestFailed(f"finance answered {result.status} looking up a document")
        items = result.json().get("items") or []
        return items[0] if items and isinstance(items[0], dict) else None

    def list_invoices(
        self, issued_from: date, issued_to: date, page_size: int = PAGE_SIZE, document_type: str | None = INVOICE
    ) -> Iterator[dict[str, Any]]:
        """Every document of ``document_type`` issued from ``issued_from`` to ``issued_to``
        (inclusive), page by page (one page in memory at a time), ordered by external reference.
        Invoices by default (what reconciliation compares the hub's invoices with: credit notes are
        no missing or extra invoices); ``CREDIT_NOTE`` for credit notes, None for every type. A
        document without a type is an invoice."""
        token: str | None = None
        while True:
            query: dict[str, Any] = {
                "issued_from": issued_from.isoformat(),
                "issued_to": issued_to.isoformat(),
                "document_type": document_type,
                "limit": page_size,
                "page_token": token,
            }
            result = self._authorized("GET", INVOICES, query=query)
            self._raise_for_outage(result)
            if result.status != 200:
                raise FinanceRequestFailed(f"finance answered {result.status} listing documents")
            body = result.json()
            yield from (
                doc
                for doc in body.get("items") or []
                # filtered here too: a finance that ignores the parameter still lists only what was asked
                if isinstance(doc, dict) and document_type in (None, doc.get("document_type") or INVOICE)
            )
            token = body.get("next_page_token")
            if not token:
                return
