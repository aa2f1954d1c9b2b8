"""Business exceptions API, for operators: ``GET /exceptions``, ``GET /exceptions/{exception_id}``,
``POST /exceptions/{exception_id}/resubmit`` and ``POST /exceptions/{exception_id}/discard``
behind API Gateway (REST), the TOKEN authorizer and the principal's API key.

Only operators: the authorizer's context names the principal (``channel``) and its ``role``; a
channel's token gets 403 ``operators-only`` on every route, before anything is read. Every request
passes :func:`operations.logic.check` first (the pre-flight), so every bad request is a 4xx
problem (RFC 9457) that reads and writes nothing; the resolver sees only sound requests.

No personal data leaves this module for logs, traces or metrics: an exception's payload (an order
or an invoice, with customer names and addresses) is answered by ``GET /exceptions/{id}`` only and
never logged; a discard's reason (free text) is stored, never logged; the Tracer records no
route's response; log lines carry ids and outcomes.

No ``from __future__ import annotations`` here: the resolver reads the annotations at run time.
"""

import functools
from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

import synchub_core
from synchub_core.lambda_support import Powertools
from synchub_core.problem import PROBLEM_CONTENT_TYPE, Problem, failure_place, problem, refusal_response
from synchub_core.proxy_event import Refusal

from . import logic, repository
from .models import (
    DEFAULT_LIMIT,
    EXCEPTION_ID_PATTERN,
    MAX_CURSOR_CHARS,
    MAX_LIMIT,
    CursorInvalid,
    DiscardRequest,
    ExceptionClosed,
    ExceptionDetail,
    ExceptionMissing,
    ExceptionPage,
    ExceptionRecord,
    Status,
    Target,
)

pt = Powertools.for_service("operations")
logger, tracer, metrics = pt.logger, pt.tracer, pt.metrics
# debug stays off whatever POWERTOOLS_DEV says: in debug mode the resolver prints every event
app = APIGatewayRestResolver(enable_validation=True, debug=False)


def _problems(**descriptions: str) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses, problem+json, from ``s400="..."`` style keywords."""
    responses: dict[int, OpenAPIResponse] = {}
    for code, text in descriptions.items():
        status = int(code.removeprefix("s"))
        responses[status] = {"description": text, "content": {PROBLEM_CONTENT_TYPE: {"model": Problem}}}
        if status == 401:
            responses[status]["headers"] = {
                "WWW-Authenticate": {"description": 'Bearer realm="synchub"', "schema": {"type": "string"}}
            }
        elif status == 429:
            responses[status]["headers"] = {
                "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "string"}}
            }
    return responses


UNAUTHORIZED = "No valid access token (API Gateway's authorizer answers this; `WWW-Authenticate: Bearer`)"
FORBIDDEN = (
    "operators-only: the access token belongs to a channel, not an operator. Or (API Gateway): the operator is "
    "revoked, its credential was rotated since the token was issued, or its API key is invalid"
)
THROTTLED = "The operator's rate limit or quota is used up; retry after `Retry-After` seconds"
NOT_FOUND = "exception-not-found: no exception with this id (an id is `exc_` and 20 hex digits)"
NOT_OPEN = (
    "exception-not-open: the exception is not OPEN (any more): resubmitted, discarded or resolved before "
    "(`exception_status` says which); nothing was changed"
)
EXCEPTION_ID_DOC = "The exception's id: `exc_` and 20 hex digits"
OPERATORS = " Operators only: a channel's access token gets 403 operators-only."


def _instance() -> str | None:
    return logic.public_path(app.current_event.raw_event, app.current_event.path)


def _operator() -> str:
    who = logic.principal(app.current_event.raw_event)
    if who is None or not who.operator:  # the pre-flight refused such requests already
        raise RuntimeError("exceptions route without an authenticated operator")
    return who.name


def _json(status: int, body: str) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _not_found(exception_id: str) -> Response:
    known = logic.valid_id(exception_id)
    return problem(
        404,
        "exception-not-found",
        "Business exception not found",
        f"There is no business exception {exception_id}; `GET /exceptions` lists them."
        if known
        else "An exception id is `exc_` followed by 20 hex digits (a-f, 0-9); `GET /exceptions` lists them.",
        instance=_instance(),
        exception_id=exception_id if known else None,
    )


def _not_open(exc: ExceptionClosed) -> Response:
    return problem(
        409,
        "exception-not-open",
        "Business exception is not open",
        f"Business exception {exc.exception_id} is {exc.status}: only an OPEN exception can be resubmitted or "
        "discarded; nothing was changed.",
        instance=_instance(),
        exception_id=exc.exception_id,
        exception_status=exc.status,
    )


def _cursor_invalid(exc: CursorInvalid) -> Response:
    return problem(
        400,
        "cursor-invalid",
        "Paging cursor is invalid",
        f"The cursor is {exc}: pass a next_cursor exactly as a list with the same status and target returned it, "
        "or start again without one; nothing was read.",
        instance=_instance(),
    )


def _contained(route: Callable[..., Response]) -> Callable[..., Response]:
    """Answer an unexpected exception of ``route`` with a 500 problem inside the traced method, so
    the trace and the logs get the exception's type and place only (a message may quote data)."""

    @functools.wraps(route)
    def contained(*args: Any, **kwargs: Any) -> Response:
        try:
            return route(*args, **kwargs)
        except Exception as exc:
            tracer.put_annotation(key="failure", value=type(exc).__name__)
            return _failed(exc)

    return contained


# No return annotations: with enable_validation Powertools reads them at run time as response models.
@app.get(
    "/exceptions",
    summary="List business exceptions",
    description="Permanent rejections by finance or the ERP (an unknown account, a blocked customer, ...), newest "
    "first, one page at a time; without the payload (`GET /exceptions/{exception_id}` has it)." + OPERATORS,
    operation_id="listExceptions",
    tags=["exceptions"],
    responses={
        200: {
            "description": "One page of exceptions",
            "content": {content_types.APPLICATION_JSON: {"model": ExceptionPage}},
        },
        **_problems(
            s400="query-invalid (`invalid_params`): status, target or limit is not one of the values allowed, or a "
            "parameter is repeated; cursor-invalid: the cursor is not one this API returned for this status and target",
            s401=UNAUTHORIZED,
            s403=FORBIDDEN,
            s429=THROTTLED,
        ),
    },
)
@tracer.capture_method(capture_response=False)
@_contained
def list_exceptions(  # type: ignore[no-untyped-def]
    status: Annotated[Status, Query(description="Which exceptions: OPEN (the default) until worked")] = "OPEN",
    target: Annotated[Target | None, Query(description="Only those of one target: finance or erp")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1-{MAX_LIMIT}")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_CURSOR_CHARS,
            description="`next_cursor` of the previous page (with the same status and target)",
        ),
    ] = None,
):
    try:
        inner = logic.decode_cursor(cursor, status, target) if cursor is not None else None
        items, next_inner = repository.page(status, target, limit, inner)
    except CursorInvalid as exc:
        return _cursor_invalid(exc)
    page = ExceptionPage(
        items=[logic.summary(i) for i in items],
        next_cursor=logic.encode_cursor(status, target, next_inner) if next_inner else None,
    )
    logger.info("exceptions listed", extra={"status": status, "target": target, "count": len(page.items)})
    return _json(200, page.model_dump_json())


@app.get(
    "/exceptions/<exception_id>",
    summary="Read a business exception",
    description="One exception in full: its reason, entity, refs, history and the payload a resubmission sends "
    "(which may hold personal data of the order or invoice)." + OPERATORS,
    operation_id="getException",
    tags=["exceptions"],
    responses={
        200: {"description": "The exception", "content": {content_types.APPLICATION_JSON: {"model": ExceptionDetail}}},
        **_problems(s401=UNAUTHORIZED, s403=FORBIDDEN, s404=NOT_FOUND, s429=THROTTLED),
    },
)
@tracer.capture_method(capture_response=False)  # the payload carries customer names and addresses
@_contained
def get_exception(  # type: ignore[no-untyped-def]
    exception_id: Annotated[str, Path(description=EXCEPTION_ID_DOC, pattern=EXCEPTION_ID_PATTERN)],
):
    if not logic.valid_id(exception_id):
        return _not_found(exception_id)
    try:
        item = repository.get(exception_id)
    except ExceptionMissing:
        return _not_found(exception_id)
    logger.info("exception read", extra={"exception_id": exception_id, "operator": _operator()})
    return _json(200, logic.detail(item).model_dump_json())


@app.post(
    "/exceptions/<exception_id>/resubmit",
    summary="Resubmit a business exception",
    description="Sends the exception's payload back to its connector's queue, once (the message carries the "
    "attribute `synchub-resubmit-of`), after the cause was fixed (master data, an account). The exception "
    "becomes RESUBMITTED; if the target refuses it again it is OPEN again, with `attempts` one higher; when it "
    "goes through it becomes RESOLVED." + OPERATORS,
    operation_id="resubmitException",
    tags=["exceptions"],
    responses={
        200: {
            "description": "Resubmitted: the exception, now RESUBMITTED, without payload",
            "content": {content_types.APPLICATION_JSON: {"model": ExceptionRecord}},
        },
        **_problems(s401=UNAUTHORIZED, s403=FORBIDDEN, s404=NOT_FOUND, s409=NOT_OPEN, s429=THROTTLED),
    },
)
@tracer.capture_method(capture_response=False)
@_contained
def resubmit_exception(  # type: ignore[no-untyped-def]
    exception_id: Annotated[str, Path(description=EXCEPTION_ID_DOC, pattern=EXCEPTION_ID_PATTERN)],
):
    if not logic.valid_id(exception_id):
        return _not_found(exception_id)
    operator = _operator()
    try:
        item = repository.resubmit(exception_id, operator)
    except ExceptionMissing:
        return _not_found(exception_id)
    except ExceptionClosed as exc:
        return _not_open(exc)
    metrics.add_metric(name="ExceptionResubmitted", unit=MetricUnit.Count, value=1)
    logger.info("exception resubmitted", extra={"exception_id": exception_id, "operator": operator})
    return _json(200, logic.record(item).model_dump_json())


@app.post(
    "/exceptions/<exception_id>/discard",
    summary="Discard a business exception",
    description="Gives the exception up, with the reason why (kept in its history): nothing is sent to the "
    "target. The exception becomes DISCARDED." + OPERATORS,
    operation_id="discardException",
    tags=["exceptions"],
    responses={
        200: {
            "description": "Discarded: the exception, now DISCARDED, without payload",
            "content": {content_types.APPLICATION_JSON: {"model": ExceptionRecord}},
        },
        **_problems(
            s400="body-not-utf8, body-not-json, body-not-object",
            s401=UNAUTHORIZED,
            s403=FORBIDDEN,
            s404=NOT_FOUND,
            s409=NOT_OPEN,
            s413="payload-too-large: the body is larger than 4096 bytes",
            s415="unsupported-media-type: the body is not sent as Content-Type: application/json",
            s422="discard-reason-invalid (`errors`): the reason is missing, blank, longer than 500 characters or "
            "has control characters, or the body has other members",
            s429=THROTTLED,
        ),
    },
)
@tracer.capture_method(capture_response=False)
@_contained
def discard_exception(  # type: ignore[no-untyped-def]
    exception_id: Annotated[str, Path(description=EXCEPTION_ID_DOC, pattern=EXCEPTION_ID_PATTERN)],
    request: Annotated[DiscardRequest, Body(description="Why the exception is given up")],
):
    if not logic.valid_id(exception_id):
        return _not_found(exception_id)
    operator = _operator()
    try:
        item = repository.discard(exception_id, operator, request.reason.strip())
    except ExceptionMissing:
        return _not_found(exception_id)
    except ExceptionClosed as exc:
        return _not_open(exc)
    metrics.add_metric(name="ExceptionDiscarded", unit=MetricUnit.Count, value=1)
    logger.info("exception discarded", extra={"exception_id": exception_id, "operator": operator})
    return _json(200, logic.record(item).model_dump_json())


@app.exception_handler(RequestValidationError)
def _invalid(exc: RequestValidationError) -> Response:
    errors = exc.errors()
    where = {str(e.get("loc", ("",))[0]) for e in errors}
    if "path" in where:  # an id that cannot be one: no such exception
        params = app.current_event.path_parameters or {}
        return _not_found(str(params.get("exception_id", "")))
    if "body" in where:  # the pre-flight checks a discard's body first; this is its backstop
        details = [
            {"pointer": "/" + "/".join(str(p) for p in e.get("loc", ())[1:]), "detail": e.get("msg", "")}
            for e in errors
        ]
        return problem(
            422,
            "discard-reason-invalid",
            "Discard needs a reason",
            'Send {"reason": "..."}: 1-500 characters; nothing was written.',
            instance=_instance(),
            errors=details,
        )
    invalid = [
        {"name": str(e.get("loc", ("", ""))[-1]), "reason": str(e.get("msg", "invalid"))}
        for e in errors
        if e.get("loc")
    ]
    names = ", ".join(sorted({i["name"] for i in invalid})) or "query"
    return problem(
        400,
        "query-invalid",
        "Query parameters are invalid",
        f"{names}: not a value this API takes (status OPEN|RESUBMITTED|RESOLVED|DISCARDED, target finance|erp, "
        f"limit 1-{MAX_LIMIT}); nothing was read.",
        instance=_instance(),
        invalid_params=invalid,
    )


@app.exception_handler(NotFoundError)
def _no_route(exc: NotFoundError) -> Response:  # the pre-flight answers unknown routes already
    return problem(404, "not-found", "Not found", "This API has no such resource.", instance=_instance())


def _log_failure(exc: Exception) -> None:
    """Log an unexpected exception by type and place only: its message may quote stored data."""
    logger.error("request failed", extra={"error": type(exc).__name__, "where": failure_place(exc)})
    metrics.add_metric(name="RequestFailed", unit=MetricUnit.Count, value=1)


INTERNAL_ERROR = (
    "The request could not be completed. Read the exception again before retrying: a resubmit or discard that "
    "went through answers 409 exception-not-open on a retry."
)


@app.exception_handler(Exception)
def _failed(exc: Exception) -> Response:
    _log_failure(exc)
    return problem(500, "internal-error", "Internal error", INTERNAL_ERROR)


def _handle(event: Any, context: LambdaContext) -> dict[str, Any]:
    request_context = event.get("requestContext") if isinstance(event, dict) else None
    request_id = request_context.get("requestId") if isinstance(request_context, dict) else None
    logger.set_correlation_id(request_id if isinstance(request_id, str) and len(request_id) <= 128 else None)
    checked = logic.check(event)
    if isinstance(checked, Refusal):
        if checked.slug == "operators-only":
            metrics.add_metric(name="OperatorsOnlyRefused", unit=MetricUnit.Count, value=1)
        who = logic.principal(event) if isinstance(event, dict) else None
        logger.info(
            "request refused",
            extra={"status": checked.status, "problem": checked.slug, "principal": who.name if who else None},
        )
        instance = None
        resolved = logic.resolve_route(event) if isinstance(event, dict) else None
        if resolved is not None:
            instance = logic.public_path(event, resolved[1])
        return refusal_response(checked, instance)
    return app.resolve(checked.event, context)


# log_event and capture_response are off explicitly: POWERTOOLS_LOGGER_LOG_EVENT or
# POWERTOOLS_TRACER_CAPTURE_RESPONSE set on the function must not put payloads in logs or traces
@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    try:
        return _handle(event, context)
    except Exception as exc:  # a bug before the resolver: still a problem, never a stack trace to the client
        _log_failure(exc)
        return refusal_response(Refusal(500, "internal-error", "Internal error", INTERNAL_ERROR))


synchub_core.init_done()  # the end of this function's init: see synchub_core/__init__.py
