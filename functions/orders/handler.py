"""Orders API: ``POST /orders`` and ``GET /orders/{order_id}`` behind API Gateway (REST).

No ``from __future__ import annotations`` here: the resolver reads the annotations at run time.
"""

import re
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from synchub_core.lambda_support import Powertools
from synchub_core.problem import problem

from . import logic
from .models import CreateResult, DuplicateChannelOrder, IdempotencyConflict, OrderIn

pt = Powertools.for_service("orders")
logger, tracer, metrics = pt.logger, pt.tracer, pt.metrics
app = APIGatewayRestResolver(enable_validation=True)

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9\-_.:]{8,128}$")
CORRELATION_ID = re.compile(r"^[A-Za-z0-9\-_.:/]{1,128}$")


def _header(name: str) -> str | None:
    headers = app.current_event.headers or {}
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _correlation_id() -> str:
    return _header("X-Correlation-Id") or app.current_event.request_context.request_id or logic.new_order_id()


def _accepted(result: CreateResult) -> Response:
    url = f"/orders/{result.order_id}"
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body={"order_id": result.order_id, "state": result.state, "status_url": url},
        headers={"Location": url, "Idempotent-Replayed": "false" if result.created else "true"},
    )


# No return annotation: with enable_validation Powertools reads it at run time as the response model.
@app.post("/orders")
@tracer.capture_method
def create_order(order: Annotated[OrderIn, Body()]):  # type: ignore[no-untyped-def]
    key = _header("Idempotency-Key")
    if not key:
        return problem(
            400,
            "idempotency-key-missing",
            "Idempotency-Key header required",
            "Send a unique Idempotency-Key header (8-128 of A-Z a-z 0-9 - _ . :) "
            "with every POST /orders; retries reuse the same key.",
            instance="/orders",
        )
    if not IDEMPOTENCY_KEY.match(key):
        return problem(
            400,
            "idempotency-key-invalid",
            "Idempotency-Key header malformed",
            "Idempotency-Key must be 8-128 characters of A-Z a-z 0-9 - _ . :",
            instance="/orders",
        )
    sent = _header("X-Correlation-Id")
    if sent is not None and not CORRELATION_ID.match(sent):
        return problem(
            400,
            "correlation-id-invalid",
            "X-Correlation-Id header malformed",
            "X-Correlation-Id must be 1-128 characters of A-Z a-z 0-9 - _ . : /; omit it to use the request id.",
            instance="/orders",
        )
    correlation_id = _correlation_id()
    logger.set_correlation_id(correlation_id)  # the log lines carry the id the order's events carry
    try:
        result = logic.accept(order, key, correlation_id)
    except IdempotencyConflict:
        metrics.add_metric(name="IdempotencyConflict", unit=MetricUnit.Count, value=1)
        return problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused with a different request",
            "This Idempotency-Key was already used for a different order body; use a new key for a new order.",
            instance="/orders",
            idempotency_key=key,
        )
    except DuplicateChannelOrder as dup:
        return problem(
            409,
            "duplicate-channel-order",
            "Channel order already accepted",
            f"{order.channel} order {order.channel_order_ref} was already accepted under another Idempotency-Key.",
            instance="/orders",
            order_id=dup.order_id,
            status_url=f"/orders/{dup.order_id}",
        )
    metrics.add_metric(name="OrderAccepted" if result.created else "OrderReplayed", unit=MetricUnit.Count, value=1)
    logger.info("order intake", extra={"order_id": result.order_id, "new_order": result.created})
    return _accepted(result)


# No return annotation: with enable_validation Powertools reads it at run time as the response model.
@app.get("/orders/<order_id>")
@tracer.capture_method
def get_order(order_id: str):  # type: ignore[no-untyped-def]
    order = logic.get(order_id)
    if order is None:
        raise NotFoundError(order_id)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=order.model_dump_json())


@app.exception_handler(RequestValidationError)
def _invalid(exc: RequestValidationError) -> Response:
    errors = [
        {"pointer": "/" + "/".join(str(p) for p in e.get("loc", ())[1:]), "detail": e.get("msg", "")}
        for e in exc.errors()
    ]
    return problem(
        400,
        "validation-error",
        "Request body is invalid",
        f"{len(errors)} validation error(s); nothing was written.",
        instance=app.current_event.path,
        errors=errors,
    )


@app.exception_handler(NotFoundError)
def _not_found(exc: NotFoundError) -> Response:
    return problem(
        404, "not-found", "Not found", f"No resource at {app.current_event.path}", instance=app.current_event.path
    )


@app.not_found
def _no_route(exc: Exception) -> Response:
    return problem(
        404,
        "not-found",
        "Not found",
        f"No route for {app.current_event.http_method} {app.current_event.path}",
        instance=app.current_event.path,
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
