"""The channel API behind API Gateway (REST): orders (``POST /orders``, ``GET /orders/{order_id}``,
``POST /orders/{order_id}/cancel``, ``POST /orders/{order_id}/returns``), billing documents
(``GET /invoices/{invoice_id}``, ``GET /credit-memos/{credit_memo_id}``), availability-to-promise
(``GET /availability``, ``POST /availability/query``) and ``GET /openapi.json``, with the ``ANY``
fallback methods of those resources answered 405 here.

Every request passes :mod:`orders.preflight` first (one place for authentication, limits, headers
and body checks); the resolver then sees only requests that are sound. The channel comes from
the TOKEN authorizer's context, never from the body.

No personal data leaves this module for logs, traces or metrics: the Logger never logs the event,
the Tracer never records a route's response (an order carries names and addresses), log lines
carry ids and outcomes only.

No ``from __future__ import annotations`` here: the resolver reads the annotations at run time.
"""

import functools
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

import synchub_core
from inventory import api as inventory
from invoicing import api as invoicing
from synchub_core.lambda_support import Powertools
from synchub_core.problem import PROBLEM_CONTENT_TYPE, Problem, failure_place, problem, refusal_response
from synchub_core.vocabulary import IsoDate, Sku

from . import logic, preflight
from .models import (
    CancelIn,
    ChannelMismatch,
    CreateResult,
    DuplicateChannelOrder,
    IdempotencyConflict,
    NotCancellable,
    NotReturnable,
    Order,
    OrderIn,
    OrderReceipt,
    OrderRejected,
    ReturnAuthorization,
    ReturnConflict,
    ReturnExceedsShipped,
    ReturnIn,
    UnknownOrderLine,
)

pt = Powertools.for_service("orders")
logger, tracer, metrics = pt.logger, pt.tracer, pt.metrics
# debug stays off whatever POWERTOOLS_DEV says: in debug mode the resolver prints every event
# (bodies with customer data) and answers errors with tracebacks
app = APIGatewayRestResolver(enable_validation=True, debug=False)

# The published contract (openapi/synchub.json) is generated from this resolver's routes plus the
# token endpoint by synchub/openapi.py, which also writes this copy into the code asset. The Lambda
# serves the copy as committed instead of generating it: the token endpoint is described by the
# tooling (it belongs to the channels domain), generation would cost the first caller a
# pydantic schema build, and tests/unit/test_openapi.py fails when either copy is stale, so what
# is served is byte for byte what is published.
OPENAPI_DOCUMENT = FilePath(__file__).resolve().with_name("openapi.json")


# headers a problem answer carries, by status (401 and 429 come from API Gateway's gateway responses)
_PROBLEM_HEADERS: dict[int, dict[str, OpenAPIResponseHeader]] = {
    401: {"WWW-Authenticate": {"description": 'Bearer realm="synchub"', "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "string"}}},
}


def _problems(**descriptions: str) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses, problem+json, from ``s400="..."`` style keywords."""
    responses: dict[int, OpenAPIResponse] = {}
    for code, text in descriptions.items():
        status = int(code.removeprefix("s"))
        responses[status] = {"description": text, "content": {PROBLEM_CONTENT_TYPE: {"model": Problem}}}
        if status in _PROBLEM_HEADERS:
            responses[status]["headers"] = _PROBLEM_HEADERS[status]
    return responses


# the 422 problems of the ERP's master data (masterdata.api.check_order): stable titles per type
MASTER_DATA_TITLES = {
    "unknown-sku": "SKU not in the ERP product list",
    "unknown-customer": "Customer not in the ERP customer list",
    "customer-blocked": "Customer blocked in the ERP",
    "no-price": "No price for an order line",
}
MASTER_DATA_HINTS = {
    "unknown-sku": "Order only SKUs the ERP lists as active.",
    "unknown-customer": "The customer must be in the ERP's customer list first.",
    "customer-blocked": "The customer's account must be released in the ERP first.",
    "no-price": "Send unit_price for the line, or have the ERP price list cover it.",
}

UNAUTHORIZED = "No valid access token (API Gateway's authorizer answers this; `WWW-Authenticate: Bearer`)"
FORBIDDEN = (
    "operator-not-a-channel: the token is an operator's (operators use the exceptions API, not the orders API). "
    "Also: the channel is revoked, its credential was rotated since the token was issued, or its API key is invalid"
)
THROTTLED = "The channel's rate limit or quota is used up; retry after `Retry-After` seconds"


def _channel() -> str:
    channel = preflight.authenticated_channel(app.current_event.raw_event)
    if channel is None:  # the pre-flight refused such requests already
        raise RuntimeError("authenticated route without an authenticated channel")
    return channel


def _public(path: str) -> str:
    return preflight.public_path(app.current_event.raw_event, path)


def _accepted(result: CreateResult) -> Response:
    url = _public(f"/orders/{result.order_id}")
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body={"order_id": result.order_id, "state": result.state, "status_url": url},
        headers={"Location": url, "Idempotent-Replayed": "false" if result.created else "true"},
    )


def _contained(route: Callable[..., Response]) -> Callable[..., Response]:
    """Answer an unexpected exception of ``route`` with a 500 problem inside the traced method.

    What raises through ``tracer.capture_method`` is logged by Powertools with its traceback and
    recorded in the trace with its message, and a message may quote request data (customer names,
    addresses). Contained here, the trace and the logs get the exception's type and place only.
    """

    @functools.wraps(route)
    def contained(*args: Any, **kwargs: Any) -> Response:
        try:
            return route(*args, **kwargs)
        except Exception as exc:
            tracer.put_annotation(key="failure", value=type(exc).__name__)
            return _failed(exc)

    return contained


IDEMPOTENCY_KEY_DOC = (
    "Unique per order and channel: 8-128 characters of A-Z a-z 0-9 - _ . : . A retry with the same key and "
    "the same body answers the same order; the same key with another body is 422 idempotency-key-reused. "
    "Keys are scoped to the channel."
)
CORRELATION_ID_DOC = (
    "Optional: 1-128 characters of A-Z a-z 0-9 - _ . : / ; the order's events and log lines carry it. "
    "Without it the API Gateway request id is used."
)

# the headers the routes share (aliases keep one definition, and one OpenAPI description, of each)
CorrelationIdHeader = Annotated[
    str | None,
    Header(alias="X-Correlation-Id", pattern=r"^[A-Za-z0-9\-_.:/]{1,128}$", description=CORRELATION_ID_DOC),
]


# No return annotation: with enable_validation Powertools reads it at run time as the response model.
@app.post(
    "/orders",
    summary="Submit an order",
    description="Accepts a channel's order exactly once per Idempotency-Key. The order belongs to the channel "
    "the access token was issued to; the body's `channel` is optional and, if sent, must be that channel.",
    operation_id="createOrder",
    tags=["orders"],
    responses={
        202: {
            "description": "Accepted (or, with `Idempotent-Replayed: true`, accepted before under this key)",
            "headers": {
                "Location": {"description": "The order's URL (its status_url)", "schema": {"type": "string"}},
                "Idempotent-Replayed": {
                    "description": "`true` when this answers a retry of an order accepted before",
                    "schema": {"type": "string", "enum": ["true", "false"]},
                },
            },
            "content": {content_types.APPLICATION_JSON: {"model": OrderReceipt}},
        },
        **_problems(
            s400="Malformed request: validation-error (with `errors`), idempotency-key-missing, "
            "idempotency-key-invalid, correlation-id-invalid, body-not-utf8, body-not-json, body-not-object, "
            "json-too-deep, bad-request",
            s401=UNAUTHORIZED,
            s403=f"channel-mismatch: the body names another channel than the token's. {FORBIDDEN}",
            s409="duplicate-channel-order: this channel order reference was accepted under another "
            "Idempotency-Key (`order_id`, `status_url`)",
            s413=f"payload-too-large: the body is larger than {preflight.MAX_BODY_BYTES} bytes",
            s415="unsupported-media-type: the body is not sent as Content-Type: application/json (UTF-8)",
            s422="idempotency-key-reused: this Idempotency-Key was used for a different order body; "
            "order-unprocessable: two lines share a line_id or a sku (merge them); "
            "the ERP's master data refuses the order (once the ERP has sent a file of the kind): customer-blocked, "
            "unknown-customer, unknown-sku (not listed or discontinued), no-price (a line without unit_price and "
            "no ERP price for it). One problem, typed by the first of those that applies in that order; "
            "`errors` lists every problem with its pointer (`/customer/customer_id`, `/lines/<n>/sku`, "
            "`/lines/<n>/unit_price`). Nothing is written.",
            s429=THROTTLED,
        ),
    },
)
@tracer.capture_method(capture_response=False)
@_contained
def create_order(  # type: ignore[no-untyped-def]
    order: Annotated[OrderIn, Body(description="The order")],
    idempotency_key: Annotated[
        str,
        Header(alias="Idempotency-Key", pattern=r"^[A-Za-z0-9\-_.:]{8,128}$", description=IDEMPOTENCY_KEY_DOC),
    ],
    correlation_id: CorrelationIdHeader = None,
):
    channel = _channel()
    correlation_id = correlation_id or preflight.request_id(app.current_event.raw_event) or logic.new_order_id()
    logger.set_correlation_id(correlation_id)  # the log lines carry the id the order's events carry
    try:
        result = logic.accept(
            order,
            idempotency_key,
            correlation_id,
            channel=channel,
            min_shelf_life_days=preflight.min_shelf_life_days(app.current_event.raw_event),
        )
    except ChannelMismatch:
        metrics.add_metric(name="ChannelMismatch", unit=MetricUnit.Count, value=1)
        return problem(
            403,
            "channel-mismatch",
            "Order names another channel",
            "The order's channel must be the channel the access token was issued to; omit `channel` to use it.",
            instance=_public("/orders"),
        )
    except IdempotencyConflict:
        metrics.add_metric(name="IdempotencyConflict", unit=MetricUnit.Count, value=1)
        return problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused with a different request",
            "This Idempotency-Key was already used for a different order body; use a new key for a new order.",
            instance=_public("/orders"),
            idempotency_key=idempotency_key,
        )
    except OrderRejected as rejected:
        return _rejected(order, rejected)
    except DuplicateChannelOrder as dup:
        return problem(
            409,
            "duplicate-channel-order",
            "Channel order already accepted",
            f"{channel} order {order.channel_order_ref} was already accepted under another Idempotency-Key.",
            instance=_public("/orders"),
            order_id=dup.order_id,
            status_url=_public(f"/orders/{dup.order_id}"),
        )
    metrics.add_metric(name="OrderAccepted" if result.created else "OrderReplayed", unit=MetricUnit.Count, value=1)
    logger.info("order intake", extra={"order_id": result.order_id, "new_order": result.created, "channel": channel})
    return _accepted(result)


def _rejected(order: OrderIn, rejected: OrderRejected) -> Response:
    """422 for an order the ERP's master data refuses: typed by the first problem (the problems come
    ranked), every problem in ``errors``."""
    index = {line.line_id: n for n, line in enumerate(order.lines)}
    code = rejected.problems[0][0]
    errors = []
    for problem_code, line_id, detail in rejected.problems:
        if line_id is None:
            pointer = "/customer/customer_id"
        else:
            field = "unit_price" if problem_code == "no-price" else "sku"
            pointer = f"/lines/{index.get(line_id, 0)}/{field}"
        errors.append({"pointer": pointer, "detail": detail})
    more = len(errors) - 1
    detail = rejected.problems[0][2] + "."
    if more:
        detail += f" {more} more problem{'s' if more > 1 else ''} listed in errors."
    detail += f" {MASTER_DATA_HINTS.get(code, '')} Nothing was written.".replace("  ", " ")
    metrics.add_metric(name="OrderRefusedByMasterData", unit=MetricUnit.Count, value=1)
    logger.info("order refused by master data", extra={"problem": code, "problems": len(errors)})
    return problem(
        422,
        code,
        MASTER_DATA_TITLES.get(code, "Order refused by the ERP's master data"),
        detail,
        instance=_public("/orders"),
        errors=errors,
    )


# No return annotation: with enable_validation Powertools reads it at run time as the response model.
@app.get(
    "/orders/<order_id>",
    summary="Read an order",
    description="The order with its state and history, its shipments (where each line was picked), its invoices "
    "and credit memos with their lines, its returns and its cancellation. Another channel's order is 404, like one "
    "that does not exist.",
    operation_id="getOrder",
    tags=["orders"],
    responses={
        200: {"description": "The order", "content": {content_types.APPLICATION_JSON: {"model": Order}}},
        **_problems(
            s400="correlation-id-invalid",
            s401=UNAUTHORIZED,
            s403=FORBIDDEN,
            s404="not-found: no such order for this channel",
            s429=THROTTLED,
        ),
    },
)
@tracer.capture_method(capture_response=False)  # the order carries customer names and addresses
@_contained
def get_order(  # type: ignore[no-untyped-def]
    order_id: Annotated[str, Path(description="The order id from POST /orders: `ord_` and 32 hex digits")],
    correlation_id: CorrelationIdHeader = None,
):
    order = logic.get(order_id, _channel())
    if order is None:  # answered, not raised: a 404 is no error to log or trace
        return _no_resource()
    received = [r.rma_id for r in order.returns if r.status == "RECEIVED"]
    invoices, credit_memos = invoicing.documents_of(order.order_id, [s.shipment_id for s in order.shipments], received)
    order = order.model_copy(update={"invoices": invoices, "credit_memos": credit_memos})
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=order.model_dump_json())


def _json(status: int, body: str, **headers: str) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def _correlation(correlation_id: str | None) -> str:
    found = correlation_id or preflight.request_id(app.current_event.raw_event) or logic.new_order_id()
    logger.set_correlation_id(found)
    return found


ORDER_ID_DOC = "The order id from POST /orders: `ord_` and 32 hex digits"
KEYED_POST_DOC = (
    "8-128 characters of A-Z a-z 0-9 - _ . : . A retry with the same key answers the same outcome; the action "
    "itself is idempotent too."
)
KeyedPostHeader = Annotated[
    str, Header(alias="Idempotency-Key", pattern=r"^[A-Za-z0-9\-_.:]{8,128}$", description=KEYED_POST_DOC)
]


@app.post(
    "/orders/<order_id>/cancel",
    summary="Cancel an order",
    description="Cancels the channel's order if it has not shipped. ACCEPTED, BACKORDERED or RESERVED: cancelled at "
    "once, its reservations released (200). RELEASED: the cancellation is sent to the warehouse(s), which may refuse "
    "it (already picked): 202 with `cancellation.status` REQUESTED; follow the order for the answer. Cancelling again "
    "is a no-op answering the same.",
    operation_id="cancelOrder",
    tags=["orders"],
    responses={
        200: {
            "description": "Cancelled (now or before)",
            "content": {content_types.APPLICATION_JSON: {"model": Order}},
        },
        202: {
            "description": "Cancellation requested of the warehouse(s)",
            "content": {content_types.APPLICATION_JSON: {"model": Order}},
        },
        **_problems(
            s400="validation-error, idempotency-key-missing, idempotency-key-invalid, correlation-id-invalid, "
            "body-not-json, body-not-object, json-too-deep",
            s401=UNAUTHORIZED,
            s403=FORBIDDEN,
            s404="not-found: no such order for this channel",
            s409="order-not-cancellable: shipped, invoiced or rejected, or the warehouse refused the cancellation "
            "(`detail` says why; `state`)",
            s415="unsupported-media-type",
            s429=THROTTLED,
        ),
    },
)
@tracer.capture_method(capture_response=False)
@_contained
def cancel_order(  # type: ignore[no-untyped-def]
    order_id: Annotated[str, Path(description=ORDER_ID_DOC)],
    request: Annotated[CancelIn, Body(description="Optional: why (for the order's history)")],
    idempotency_key: KeyedPostHeader,
    correlation_id: CorrelationIdHeader = None,
):
    channel = _channel()
    correlation = _correlation(correlation_id)
    try:
        stored = logic.cancel(order_id, channel, request, correlation, f"idempotency-key:{idempotency_key}")
    except NotCancellable as refused:
        metrics.add_metric(name="CancelRefused", unit=MetricUnit.Count, value=1)
        return problem(
            409,
            "order-not-cancellable",
            "Order cannot be cancelled",
            refused.reason,
            instance=_public(f"/orders/{order_id}/cancel"),
            state=refused.state,
        )
    if stored is None:
        return _no_resource()
    order = logic.get(order_id, channel)
    if order is None:  # pragma: no cover - it was just read
        return _no_resource()
    requested = order.cancellation is not None and order.cancellation.status == "REQUESTED"
    metrics.add_metric(name="CancelRequested" if requested else "OrderCancelled", unit=MetricUnit.Count, value=1)
    logger.info("cancel", extra={"order_id": order_id, "state": order.state.value, "requested": requested})
    return _json(202 if requested else 200, order.model_dump_json())


@app.post(
    "/orders/<order_id>/returns",
    summary="Authorize a return",
    description="Authorizes the return (RMA) of shipped units. When the warehouse receives them (ReturnReceived) the "
    "hub issues exactly one credit memo for the return, against the invoice lines it credits. The same `rma_id` with "
    "the same body answers the return authorized before (200).",
    operation_id="authorizeReturn",
    tags=["orders"],
    responses={
        201: {
            "description": "Return authorized",
            "content": {content_types.APPLICATION_JSON: {"model": ReturnAuthorization}},
        },
        200: {
            "description": "Authorized before with this body",
            "content": {content_types.APPLICATION_JSON: {"model": ReturnAuthorization}},
        },
        **_problems(
            s400="validation-error, idempotency-key-missing, idempotency-key-invalid, correlation-id-invalid, "
            "body-not-json, body-not-object, json-too-deep",
            s401=UNAUTHORIZED,
            s403=FORBIDDEN,
            s404="not-found: no such order for this channel",
            s409="order-not-returnable: nothing of the order shipped yet; rma-conflict: the rma_id was used on this "
            "order with another body",
            s415="unsupported-media-type",
            s422="return-exceeds-shipped: a line returns more than shipped and not yet authorized for return "
            "(`errors`); unknown-order-line: no such line_id on the order",
            s429=THROTTLED,
        ),
    },
)
@tracer.capture_method(capture_response=False)
@_contained
def authorize_return(  # type: ignore[no-untyped-def]
    order_id: Annotated[str, Path(description=ORDER_ID_DOC)],
    request: Annotated[ReturnIn, Body(description="The return: RMA id, reason, lines")],
    idempotency_key: KeyedPostHeader,
    correlation_id: CorrelationIdHeader = None,
):
    channel = _channel()
    correlation = _correlation(correlation_id)
    instance = _public(f"/orders/{order_id}/returns")
    try:
        result = logic.authorize_return(order_id, channel, request, correlation, f"idempotency-key:{idempotency_key}")
    except NotReturnable as refused:
        return problem(
            409,
            "order-not-returnable",
            "Nothing to return",
            f"Order {order_id} is {refused.state}: {refused.why}",
            instance=instance,
            state=refused.state,
        )
    except ReturnConflict as conflict:
        return problem(
            409,
            "rma-conflict",
            "RMA id used with another return",
            f"Return {conflict.rma_id} was authorized on this order with other lines or another reason; "
            "use a new rma_id for a new return.",
            instance=instance,
        )
    except UnknownOrderLine as unknown:
        return problem(
            422,
            "unknown-order-line",
            "No such order line",
            f"Order {order_id} has no line {unknown.line_id}. Nothing was written.",
            instance=instance,
            errors=[{"pointer": _line_pointer(request, unknown.line_id, "line_id"), "detail": "not on the order"}],
        )
    except ReturnExceedsShipped as exceeds:
        return problem(
            422,
            "return-exceeds-shipped",
            "Return exceeds what shipped",
            f"Line {exceeds.line_id} returns {exceeds.requested}; {exceeds.returnable} shipped and not yet "
            "authorized for return. Nothing was written.",
            instance=instance,
            errors=[
                {
                    "pointer": _line_pointer(request, exceeds.line_id, "quantity"),
                    "detail": f"at most {exceeds.returnable}",
                }
            ],
        )
    if result is None:
        return _no_resource()
    authorization, created = result
    metrics.add_metric(name="ReturnAuthorized" if created else "ReturnReplayed", unit=MetricUnit.Count, value=1)
    logger.info("return", extra={"order_id": order_id, "rma_id": authorization.rma_id, "new_return": created})
    return _json(201 if created else 200, authorization.model_dump_json())


def _line_pointer(request: ReturnIn, line_id: str, field: str) -> str:
    index = next((n for n, line in enumerate(request.lines) if line.line_id == line_id), 0)
    return f"/lines/{index}/{field}"


DOCUMENT_ID = {"invoice_number": re.compile(r"inv_[0-9a-f]{24}"), "credit_memo_number": re.compile(r"cm_[0-9a-f]{24}")}


def _document(document_id: str, kind: str) -> Response:
    """The invoice or credit memo ``document_id`` of the calling channel; anything else (another
    channel's, the other kind, no such id, not even the shape of one) is the same 404."""
    if not DOCUMENT_ID[kind].fullmatch(document_id):
        return _no_resource()
    doc = invoicing.load_document(document_id, _channel())
    if doc is None or kind not in doc:
        return _no_resource()
    return _json(200, json.dumps(doc))


@app.get(
    "/invoices/<invoice_id>",
    summary="Read an invoice",
    description="The invoice with its lines, references and posting status. Only the channel whose order it bills "
    "can read it; anything else is 404.",
    operation_id="getInvoice",
    tags=["billing"],
    responses={
        200: {"description": "The invoice", "content": {content_types.APPLICATION_JSON: {"model": invoicing.Invoice}}},
        **_problems(s400="correlation-id-invalid", s401=UNAUTHORIZED, s403=FORBIDDEN, s404="not-found", s429=THROTTLED),
    },
)
@tracer.capture_method(capture_response=False)
@_contained
def get_invoice(  # type: ignore[no-untyped-def]
    invoice_id: Annotated[str, Path(description="The invoice id (`inv_` and 24 hex digits)")],
    correlation_id: CorrelationIdHeader = None,
):
    return _document(invoice_id, "invoice_number")


@app.get(
    "/credit-memos/<credit_memo_id>",
    summary="Read a credit memo",
    description="The credit memo of a return with its lines (each naming the invoice line it credits) and posting "
    "status. Only the channel whose order it credits can read it; anything else is 404.",
    operation_id="getCreditMemo",
    tags=["billing"],
    responses={
        200: {
            "description": "The credit memo",
            "content": {content_types.APPLICATION_JSON: {"model": invoicing.CreditMemo}},
        },
        **_problems(s400="correlation-id-invalid", s401=UNAUTHORIZED, s403=FORBIDDEN, s404="not-found", s429=THROTTLED),
    },
)
@tracer.capture_method(capture_response=False)
@_contained
def get_credit_memo(  # type: ignore[no-untyped-def]
    credit_memo_id: Annotated[str, Path(description="The credit memo id (`cm_` and 24 hex digits)")],
    correlation_id: CorrelationIdHeader = None,
):
    return _document(credit_memo_id, "credit_memo_number")


def _unavailable(exc: inventory.AvailabilityRequestInvalid, path: str) -> Response:
    return problem(
        400,
        "availability-request-invalid",
        "Availability inquiry not valid",
        str(exc),
        instance=_public(path),
        errors=exc.errors,
    )


AVAILABILITY_DOC = (
    "Per location (and lot) and in total: on_hand, reserved, quality_hold, in_transit with its expected arrival, "
    "available now and, with `by`, available by that date; each position with the `as_of` of the warehouse report it "
    "rests on and `stale` once that is older than the hub's threshold. Lots that would not meet the channel's minimum "
    "remaining shelf life count as not sellable. An inquiry, not a reservation: only an order reserves stock."
)


@app.get(
    "/availability",
    summary="Availability of SKUs",
    description=AVAILABILITY_DOC,
    operation_id="getAvailability",
    tags=["availability"],
    responses={
        200: {
            "description": "One entry per SKU asked for, in that order",
            "content": {content_types.APPLICATION_JSON: {"model": list[inventory.SkuAvailability]}},
        },
        **_problems(
            s400="validation-error: no sku, more than 50, one that is no SKU, or `by` is no date (`errors`); "
            "availability-request-invalid; correlation-id-invalid",
            s401=UNAUTHORIZED,
            s403=FORBIDDEN,
            s429=THROTTLED,
        ),
    },
)
@tracer.capture_method(capture_response=False)
@_contained
def get_availability(  # type: ignore[no-untyped-def]
    sku: Annotated[list[Sku], Query(description="A SKU; repeat for up to 50", min_length=1, max_length=50)],
    by: Annotated[IsoDate | None, Query(description="Also answer available_by this date (YYYY-MM-DD)")] = None,
    correlation_id: CorrelationIdHeader = None,
):
    _channel()
    try:
        found = inventory.availability(
            sku,
            by=by,
            min_shelf_life_days=preflight.min_shelf_life_days(app.current_event.raw_event),
            now=datetime.now(UTC),
        )
    except inventory.AvailabilityRequestInvalid as invalid:
        return _unavailable(invalid, "/availability")
    return _json(200, "[" + ",".join(entry.model_dump_json() for entry in found) + "]")


@app.post(
    "/availability/query",
    summary="Can a basket be promised?",
    description="For each line of a basket (up to 100): what is available now (and by `by`), and whether the line's "
    "quantity can be promised. " + AVAILABILITY_DOC,
    operation_id="queryAvailability",
    tags=["availability"],
    responses={
        200: {
            "description": "The basket's answer",
            "content": {content_types.APPLICATION_JSON: {"model": inventory.QueryAnswer}},
        },
        **_problems(
            s400="validation-error (`errors`), body-not-json, body-not-object, json-too-deep, correlation-id-invalid",
            s401=UNAUTHORIZED,
            s403=FORBIDDEN,
            s415="unsupported-media-type",
            s429=THROTTLED,
        ),
    },
)
@tracer.capture_method(capture_response=False)
@_contained
def query_availability(  # type: ignore[no-untyped-def]
    request: Annotated[inventory.AvailabilityQuery, Body(description="The basket")],
    correlation_id: CorrelationIdHeader = None,
):
    _channel()
    try:
        found = inventory.answer(
            request,
            min_shelf_life_days=preflight.min_shelf_life_days(app.current_event.raw_event),
            now=datetime.now(UTC),
        )
    except inventory.AvailabilityRequestInvalid as invalid:
        return _unavailable(invalid, "/availability/query")
    return _json(200, found.model_dump_json())


@functools.cache
def _openapi_document() -> str:
    return OPENAPI_DOCUMENT.read_text()


@app.get(
    "/openapi.json",
    summary="This API's OpenAPI document",
    operation_id="getOpenApiDocument",
    tags=["meta"],
    responses={
        200: {
            "description": "The OpenAPI 3.1 document (no access token needed)",
            "content": {content_types.APPLICATION_JSON: {"schema": {"type": "object"}}},
        },
        **_problems(s400="correlation-id-invalid", s429="Too many requests; retry after `Retry-After` seconds"),
    },
)
# No return annotation: with enable_validation Powertools reads it at run time as the response model.
def openapi_document():  # type: ignore[no-untyped-def]
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=_openapi_document(),
        headers={"Cache-Control": "public, max-age=300"},
    )


@app.exception_handler(RequestValidationError)
def _invalid(exc: RequestValidationError) -> Response:
    errors = [
        {"pointer": "/" + "/".join(str(p) for p in e.get("loc", ())[1:]), "detail": e.get("msg", "")}
        for e in exc.errors()
    ]
    if exc.errors() and all(
        tuple(e.get("loc", ())) == ("body",) and e.get("type") == "value_error" for e in exc.errors()
    ):
        # every field is well-formed, the order as a whole is not (two lines with one line_id or one sku):
        # a rule JSON Schema cannot state, so the contract's 422 rather than its schema's 400
        return problem(
            422,
            "order-unprocessable",
            "Order cannot be processed as sent",
            f"{len(errors)} rule(s) across the order's fields broken; nothing was written.",
            instance=_public(app.current_event.path),
            errors=errors,
        )
    return problem(
        400,
        "validation-error",
        "Request is invalid",
        f"{len(errors)} validation error(s); nothing was written.",
        instance=_public(app.current_event.path),
        errors=errors,
    )


def _no_resource() -> Response:
    # the same answer for an order that does not exist and for another channel's order
    path = _public(app.current_event.path)
    return problem(404, "not-found", "Not found", f"No resource at {path}", instance=path)


@app.exception_handler(NotFoundError)
def _not_found(exc: NotFoundError) -> Response:  # no route: the pre-flight answers those already
    return _no_resource()


def _log_failure(exc: Exception) -> None:
    """Log an unexpected exception by type and place only: its message may quote request data."""
    logger.error("request failed", extra={"error": type(exc).__name__, "where": failure_place(exc)})
    metrics.add_metric(name="RequestFailed", unit=MetricUnit.Count, value=1)


INTERNAL_ERROR = "The request could not be completed. Retrying is safe: retry a POST with the same Idempotency-Key."


@app.exception_handler(Exception)
def _failed(exc: Exception) -> Response:
    _log_failure(exc)
    return problem(500, "internal-error", "Internal error", INTERNAL_ERROR)


def _handle(event: Any, context: LambdaContext) -> dict[str, Any]:
    logger.set_correlation_id(preflight.request_id(event))
    checked = preflight.check(event)
    if isinstance(checked, preflight.Refusal):
        logger.info("request refused", extra={"status": checked.status, "problem": checked.slug})
        return refusal_response(checked)
    if checked.correlation_id:
        logger.set_correlation_id(checked.correlation_id)
    return app.resolve(checked.event, context)


# log_event and capture_response are off explicitly: POWERTOOLS_LOGGER_LOG_EVENT or
# POWERTOOLS_TRACER_CAPTURE_RESPONSE set on the function must not put bodies in logs or traces
@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    try:
        return _handle(event, context)
    except Exception as exc:  # a bug before the resolver: still a problem, never a stack trace to the client
        _log_failure(exc)
        return refusal_response(preflight.Refusal(500, "internal-error", "Internal error", INTERNAL_ERROR))


synchub_core.init_done()  # the end of this function's init: see synchub_core/__init__.py
