"""Channel authentication (docs/decisions/0008-channel-authentication.md):

* ``token_handler``: ``POST /oauth2/token``, the OAuth 2.0 client credentials grant (RFC 6749
  4.4): a channel authenticates with its client_id and client_secret and gets a short-lived JWT;
* ``authorizer_handler``: the REST API's TOKEN authorizer: verifies ``Authorization: Bearer
  <jwt>`` and names the principal (context ``channel``, principal id), its ``role`` (context:
  ``channel`` or ``operator``; the API functions serve each route to one role) and its API key
  (usage plan throttling).

Neither logs or traces a secret or a token: no ``log_event``, ``capture_response=False``, and
only ids (channel, ``jti``) and outcomes in ``extra``. The authorizer runs in front of every
channel request, so this module keeps its imports light: the token endpoint's resolver (and
the problem helper, which pulls in the event handler package) are imported on its first use.
"""

from __future__ import annotations

import binascii
import json
import time
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

import synchub_core
from synchub_core.lambda_support import Powertools

from . import logic, repository
from .models import OAuthError, TokenInvalid

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

pt = Powertools.for_service("channels")
logger, tracer, metrics = pt.logger, pt.tracer, pt.metrics

TOKEN_PATH = "/oauth2/token"
NOT_POST = ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"]  # what ANY adds to POST
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 5.1
OAUTH_PROBLEMS = {  # error -> (slug, title): titles are stable per slug (CONTRIBUTING.md)
    "invalid_request": ("invalid-token-request", "Token request is invalid"),
    "unsupported_grant_type": ("unsupported-grant-type", "Grant type not supported"),
    "invalid_client": ("invalid-client", "Client authentication failed"),
}


def _wrap(fn: Callable[[dict, Any], Any], correlation_id_path: str | None = None) -> Callable[[dict, Any], Any]:
    """The shared logger/tracer/metrics wiring, with responses (tokens, policies) kept out of traces."""
    return logger.inject_lambda_context(correlation_id_path=correlation_id_path)(
        tracer.capture_lambda_handler(capture_response=False)(metrics.log_metrics(fn))
    )


# -- the token endpoint ----------------------------------------------------------------------------
def _oauth_problem(exc: OAuthError) -> Response:
    from synchub_core.problem import problem

    slug, title = OAUTH_PROBLEMS[exc.error]
    response = problem(
        exc.status,
        slug,
        title,
        exc.description,
        instance=TOKEN_PATH,
        error=exc.error,
        error_description=exc.description,
    )
    response.headers.update(NO_STORE)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="synchub"'
    return response


def _issue(app: APIGatewayRestResolver) -> Response:
    from aws_lambda_powertools.event_handler import Response, content_types

    event = app.current_event
    client_id: str | None = None
    try:
        try:
            body = event.decoded_body or ""
        except (binascii.Error, ValueError):
            raise OAuthError("invalid_request", "The request body is not valid base64 / UTF-8.") from None
        request = logic.token_request(event.headers.get("content-type"), body, event.headers.get("authorization"))
        credentials = request.credentials
        found = None
        if logic.plausible_client_id(credentials.client_id):
            client_id = credentials.client_id  # only a well-formed id is logged: never a pasted secret
            found = repository.store().get(credentials.client_id)
        channel = logic.authenticate(credentials, found)
    except OAuthError as exc:
        metrics.add_metric(name="TokenRefused", unit=MetricUnit.Count, value=1)
        logger.info("token refused", extra={"error": exc.error, "client_id": client_id})
        return _oauth_problem(exc)
    token = logic.issue_token(
        channel, repository.signing_key(), now=int(time.time()), ttl=repository.settings().token_ttl_seconds
    )
    metrics.add_metric(name="TokenIssued", unit=MetricUnit.Count, value=1)
    logger.info(
        "token issued",
        extra={
            "channel": channel.channel,
            "role": channel.role.value,
            "ver": channel.ver,
            "jti": token.jti,
            "auth_method": credentials.method,
        },
    )
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(token.response()),
        headers=dict(NO_STORE),
    )


def _method_not_allowed(app: APIGatewayRestResolver) -> Response:
    from synchub_core.problem import problem

    method = app.current_event.http_method
    response = problem(
        405,
        "method-not-allowed",
        "Method not allowed",
        f"{method} is not allowed on {TOKEN_PATH}: request a token with POST.",
        instance=TOKEN_PATH,
    )
    response.headers["Allow"] = "POST"
    return response


@cache
def token_app() -> APIGatewayRestResolver:
    """The token endpoint's resolver, built on the first token request (the authorizer never needs it)."""
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from synchub_core.problem import problem

    app = APIGatewayRestResolver()
    app.post(TOKEN_PATH)(lambda: _issue(app))
    app.route(TOKEN_PATH, method=NOT_POST)(lambda: _method_not_allowed(app))

    @app.not_found
    def _no_route(exc: Exception) -> Response:
        event = app.current_event
        return problem(
            404, "not-found", "Not found", f"No route for {event.http_method} {event.path}", instance=event.path
        )

    return app


def _token(event: dict, context: LambdaContext) -> dict:
    return token_app().resolve(event, context)


token_handler = _wrap(_token, correlation_paths.API_GATEWAY_REST)


# -- the authorizer --------------------------------------------------------------------------------
def _authorize(event: dict, context: LambdaContext) -> dict[str, Any] | None:
    """The policy for a verified token; None for a missing or invalid one."""
    method_arn = str(event.get("methodArn") or "")
    try:
        token = logic.bearer_token(event.get("authorizationToken"))
        claims = logic.verify_jwt(token, repository.signing_key(), now=time.time())
    except TokenInvalid as exc:
        metrics.add_metric(name="AuthorizerUnauthorized", unit=MetricUnit.Count, value=1)
        logger.info("token rejected", extra={"reason": str(exc)})
        return None
    decision = logic.decide(claims, repository.store().get(claims["sub"]))
    metrics.add_metric(
        name="AuthorizerAllowed" if decision.allow else "AuthorizerDenied", unit=MetricUnit.Count, value=1
    )
    logger.info(
        "request authorized" if decision.allow else "request denied",
        extra={
            "channel": decision.channel,
            "role": decision.role.value,
            "reason": decision.reason,
            "jti": claims.get("jti"),
            "ver": claims["ver"],
        },
    )
    return logic.policy(decision, method_arn)


_authorize_wrapped = _wrap(_authorize)


def authorizer_handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    """TOKEN authorizer: Allow or Deny policy, or the ``Unauthorized`` error API Gateway turns into a
    401. (Raised out here, past the tracer, which would log an expected refusal as an ERROR.)"""
    policy = _authorize_wrapped(event, context)
    if policy is None:
        raise Exception("Unauthorized")  # the exact message API Gateway expects
    return dict(policy)


synchub_core.init_done()  # the end of this function's init: see synchub_core/__init__.py
