"""RFC 9457 problem details for HTTP APIs."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from .proxy_event import Refusal

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://synchub.dev/problems/"


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extensions.items() if v is not None})
    return Response(
        status_code=status, content_type=PROBLEM_CONTENT_TYPE, body=json.dumps(body, default=str), headers=headers
    )


def proxy_response(response: Response) -> dict[str, Any]:
    """``response`` as a Lambda proxy integration answer: for what a handler answers before its
    resolver sees the request (a pre-flight refusal)."""
    headers = {k: v if isinstance(v, list) else [v] for k, v in response.headers.items()}
    return {
        "statusCode": response.status_code,
        "multiValueHeaders": headers,
        "body": response.body,
        "isBase64Encoded": False,
    }


def refusal_response(refusal: Refusal, instance: str | None = None) -> dict[str, Any]:
    """A pre-flight :class:`Refusal` as a Lambda proxy answer (the resolver never saw the request);
    ``instance`` when the refusal does not name its own."""
    return proxy_response(
        problem(
            refusal.status,
            refusal.slug,
            refusal.title,
            refusal.detail,
            instance=refusal.instance or instance,
            headers=refusal.headers or None,
            **refusal.extensions,
        )
    )


def failure_place(exc: BaseException) -> str | None:
    """Where ``exc`` was raised (``file.py:line`` of the innermost frame): what an API handler logs of
    an unexpected exception, whose message may quote request or stored data."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}" if tb else None


# The documented shape of a problem (the published OpenAPI document's `Problem` component). The
# functions build problems with problem() above; API Gateway's gateway responses send the same
# members (`status` left out where one template serves several codes, plus `errorType`/`requestId`).
class ProblemError(BaseModel):
    pointer: str = Field(description="JSON Pointer (RFC 6901) to the offending member of the request body")
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details (application/problem+json). `type` identifies the problem (its
    slug after https://synchub.dev/problems/) and `title` is stable for it; `detail` says what
    happened this time. Extension members carry machine-readable facts."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI identifying the problem type", examples=[PROBLEM_BASE + "validation-error"])
    title: str = Field(description="Short summary of the problem type; the same for every occurrence")
    status: Annotated[int, Field(ge=400, le=599)] | SkipJsonSchema[None] = Field(
        default=None, description="The HTTP status code"
    )
    detail: str = Field(description="What happened this time, and what to do about it")
    instance: str | SkipJsonSchema[None] = Field(default=None, description="The request path it occurred at")
    errors: list[ProblemError] | SkipJsonSchema[None] = Field(
        default=None,
        description="validation-error, order-unprocessable, unknown-sku, unknown-customer, customer-blocked, "
        "no-price: every offending member of the request body",
    )
    order_id: str | SkipJsonSchema[None] = Field(
        default=None, description="duplicate-channel-order: the order already accepted for this reference"
    )
    status_url: str | SkipJsonSchema[None] = Field(
        default=None, description="duplicate-channel-order: where to follow that order"
    )
    idempotency_key: str | SkipJsonSchema[None] = Field(
        default=None, description="idempotency-key-reused: the key sent"
    )
    max_bytes: int | SkipJsonSchema[None] = Field(default=None, description="payload-too-large: the limit")
    max_depth: int | SkipJsonSchema[None] = Field(default=None, description="json-too-deep: the limit")
    error: str | SkipJsonSchema[None] = Field(
        default=None, description="POST /oauth2/token: the RFC 6749 error code (invalid_client, ...)"
    )
    error_description: str | SkipJsonSchema[None] = Field(
        default=None, description="POST /oauth2/token: the RFC 6749 error description"
    )
    exception_id: str | SkipJsonSchema[None] = Field(
        default=None, description="exception-not-found / exception-not-open: the business exception"
    )
    exception_status: str | SkipJsonSchema[None] = Field(
        default=None, description="exception-not-open: the exception's status now"
    )
    invalid_params: list[dict[str, str]] | SkipJsonSchema[None] = Field(
        default=None, description="query-invalid: each query parameter (name) and what is wrong with it (reason)"
    )
    requestId: str | SkipJsonSchema[None] = Field(  # as API Gateway's gateway responses spell it
        default=None, description="API Gateway's request id (problems API Gateway answers itself)"
    )
    errorType: str | SkipJsonSchema[None] = Field(  # as API Gateway's gateway responses spell it
        default=None, description="API Gateway's response type (THROTTLED, ...) where one problem type serves several"
    )
