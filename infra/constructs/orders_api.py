"""Channel-facing REST API (stage v1).

* ``POST /oauth2/token``: the token endpoint (OAuth 2.0 client credentials), public;
* ``GET /openapi.json``: the API's description, public;
* ``POST /orders``, ``GET /orders/{order_id}``, ``POST /orders/{order_id}/cancel``,
  ``POST /orders/{order_id}/returns``, ``GET /invoices/{invoice_id}``,
  ``GET /credit-memos/{credit_memo_id}``, ``GET /availability``, ``POST /availability/query``: a
  channel's calls, behind the TOKEN authorizer and the channel's API key (``ApiKeySourceType:
  AUTHORIZER``: the authorizer names it, the channel never sends one), throttled by the channel's
  own usage plan; the POSTs that change an order require an ``Idempotency-Key`` header;
* ``GET /exceptions``, ``GET /exceptions/{exception_id}``, ``POST /exceptions/{exception_id}/resubmit``,
  ``POST /exceptions/{exception_id}/discard``: the business-exceptions API of the operations function
  (infra/constructs/connectors.py), behind the same authorizer and API key; the function answers
  only operator principals (the token's ``role``), channels get 403;
* ``ANY`` on each of these resources: the same function answers 405 with an ``Allow`` header.

API Gateway's own errors are problem+json like the functions'; access logs (JSON, no personal
data) and execution errors go to CloudWatch Logs; a WAF web ACL sits in front of the stage.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import context

from .channels import ChannelAuth
from .common import PROBLEM_BASE, PROBLEM_CONTENT_TYPE, WAITING_KEYS, LambdaDefaults, grant_table
from .data import DataStores
from .waf import ApiFirewall

STAGE = "v1"
IDEMPOTENCY_KEY_HEADER = "method.request.header.Idempotency-Key"
# one line per request; ids, outcomes and timings only: no source IP, user agent or caller (personal
# data), no bodies. `channel` is the authorizer's principalId (the OAuth client id, not a person)
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "channel": "$context.authorizer.principalId",
    "authorizerStatus": "$context.authorizer.status",
    "authorizerLatency": "$context.authorizer.latency",
    "apiKeyId": "$context.identity.apiKeyId",
    "integrationStatus": "$context.integration.status",
    "integrationLatency": "$context.integration.latency",
    "errorType": "$context.error.responseType",
    "wafStatus": "$context.waf.status",
    "xrayTraceId": "$context.xrayTraceId",
}


def _problem_template(
    slug: str, title: str, detail: str, status: int | None = None, *, error_type: bool = False
) -> str:
    """A gateway response body template: JSON with API Gateway's `$context` variables substituted in.

    Gateway response templates are not VTL, only `$context...` substitution. `detail` is either a JSON
    literal or `$context.error.messageString` (already a quoted JSON string). `status` is left out
    where one template serves several status codes (RFC 9457 makes the member optional); those
    templates name API Gateway's response type instead.
    """
    fields = [f'"type": {json.dumps(PROBLEM_BASE + slug)}', f'"title": {json.dumps(title)}']
    if status is not None:
        fields.append(f'"status": {status}')
    fields.append(f'"detail": {detail}')
    if error_type:  # which of API Gateway's errors it was (THROTTLED, BAD_REQUEST_BODY, ...)
        fields.append('"errorType": "$context.error.responseType"')
    fields.append('"requestId": "$context.requestId"')
    return "{" + ", ".join(fields) + "}"


class OrdersApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: LambdaDefaults,
        data: DataStores,
        auth: ChannelAuth,
        warehouses: str,
    ) -> None:
        """``warehouses``: the ``WAREHOUSES`` variable (infra.context.warehouses_env): availability
        names each location's site by its location prefix."""
        super().__init__(scope, construct_id)
        lifecycle = context.lifecycle_settings(self)
        # below API Gateway's 29 s integration timeout, so a slow call is a clean 5xx, not a dangling write
        self.function = defaults.function(
            self,
            "Function",
            handler="orders.handler.lambda_handler",
            service="orders",
            description="Order intake API",
            timeout=Duration.seconds(10),
            environment={
                "WAREHOUSES": warehouses,
                "AVAILABILITY_STALE_AFTER_SECONDS": str(lifecycle.availability_stale_after_seconds),
            },
        )
        # create, cancel, return: GetItem (idempotency record, the order) + TransactWriteItems of Puts
        # (the order, its history, its events); read: Query of the order's items, BatchGetItem of its
        # documents (invoices, credit memos; a document by id: its pointer, then it, GetItem); a
        # cancelled backorder's hints (WAITING#<sku>) are dropped in a batch
        grant_table(self.function, data.orders, "BatchGetItem", "GetItem", "PutItem", "Query")
        grant_table(self.function, data.orders, "BatchWriteItem", leading_keys=WAITING_KEYS)
        # availability: one Query per SKU of its positions; a cancel of a reserved order gives its
        # reservations back to the positions in the same transaction (UpdateItem)
        grant_table(self.function, data.inventory, "Query", "UpdateItem")
        # the order check against the ERP's master data (masterdata.api.check_order): one BatchGetItem
        grant_table(self.function, data.masterdata, "BatchGetItem")
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=RemovalPolicy.RETAIN
        )
        # access and execution logs need the region's API Gateway CloudWatch role (AWS::ApiGateway::Account,
        # one per account and region): the stack sets it unless context says the account already has one
        self.manages_account_role = context.flag(self, context.API_GATEWAY_CLOUDWATCH_ROLE, True)
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name="synchub-orders",
            description="Sales channels post orders here",
            api_key_source_type=apigw.ApiKeySourceType.AUTHORIZER,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                tracing_enabled=True,
                throttling_rate_limit=200,
                throttling_burst_limit=400,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))),
                # errors only, never request or response bodies (data trace stays off: personal data)
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
            ),
            cloud_watch_role=self.manages_account_role,
        )
        self.stage = self.api.deployment_stage
        # API Gateway would create this group itself, without retention: create it first, with one
        execution_logs = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=f"API-Gateway-Execution-Logs_{self.api.rest_api_id}/{STAGE}",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.stage.node.add_dependency(execution_logs)
        self._routes(auth)
        self._problem_responses()
        self.firewall: ApiFirewall | None = None
        if context.flag(self, context.WAF, True):
            self.firewall = ApiFirewall(
                self,
                "Firewall",
                stage=self.stage,
                rate_limit=context.integer(self, context.WAF_RATE_LIMIT, 6000, minimum=10, maximum=2_000_000_000),
            )

    def _routes(self, auth: ChannelAuth) -> None:
        # the test-invoke permissions (console "Test" button) are left out: two Lambda permissions per
        # method would double the functions' resource policies for nothing the hub uses
        orders = apigw.LambdaIntegration(self.function, proxy=True, allow_test_invoke=False)
        token = apigw.LambdaIntegration(auth.token_function, proxy=True, allow_test_invoke=False)
        public: dict[str, Any] = {"authorization_type": apigw.AuthorizationType.NONE, "api_key_required": False}
        channel: dict[str, Any] = {
            "authorizer": auth.authorizer,
            "authorization_type": apigw.AuthorizationType.CUSTOM,
            "api_key_required": True,
        }
        self._protected = channel
        # parameters only: the body is validated by the function, which answers problem+json with a
        # JSON pointer per error (API Gateway's model validation could not)
        self.parameters_validator = self.api.add_request_validator(
            "ParametersValidator",
            request_validator_name="parameters",
            validate_request_parameters=True,
            validate_request_body=False,
        )
        root = self.api.root

        token_resource = root.add_resource("oauth2").add_resource("token")
        token_resource.add_method("POST", token, **public)
        token_resource.add_method("ANY", token, **public)

        root.add_resource("openapi.json").add_method("GET", orders, **public)

        orders_resource = root.add_resource("orders")
        orders_resource.add_method(
            "POST",
            orders,
            **channel,
            request_parameters={IDEMPOTENCY_KEY_HEADER: True},
            request_validator=self.parameters_validator,
        )
        orders_resource.add_method("ANY", orders, **channel)
        order_resource = orders_resource.add_resource("{order_id}")
        order_resource.add_method("GET", orders, **channel)
        order_resource.add_method("ANY", orders, **channel)
        # a cancellation and a return change the order: retried with the same Idempotency-Key
        for action in ("cancel", "returns"):
            resource = order_resource.add_resource(action)
            resource.add_method(
                "POST",
                orders,
                **channel,
                request_parameters={IDEMPOTENCY_KEY_HEADER: True},
                request_validator=self.parameters_validator,
            )
            resource.add_method("ANY", orders, **channel)

        # an order's documents, by id (the function answers the owning channel only, 404 otherwise)
        for collection, parameter in (("invoices", "{invoice_id}"), ("credit-memos", "{credit_memo_id}")):
            document = root.add_resource(collection).add_resource(parameter)
            document.add_method("GET", orders, **channel)
            document.add_method("ANY", orders, **channel)

        # availability: GET for a few SKUs (?sku=A&sku=B), POST .../query for order lines; a query
        # changes nothing, so no Idempotency-Key
        availability = root.add_resource("availability")
        availability.add_method("GET", orders, **channel)
        availability.add_method("ANY", orders, **channel)
        query = availability.add_resource("query")
        query.add_method("POST", orders, **channel)
        query.add_method("ANY", orders, **channel)

    def add_exceptions_routes(self, function: lambda_.IFunction) -> None:
        """The operators' business-exceptions API: the same TOKEN authorizer and API key as the orders
        routes (operators are principals of the channels table with role ``operator``; the function
        refuses channel tokens with 403 ``operators-only``), and ``ANY`` for the function's 405s."""
        integration = apigw.LambdaIntegration(function, proxy=True, allow_test_invoke=False)
        exceptions = self.api.root.add_resource("exceptions")
        exceptions.add_method("GET", integration, **self._protected)
        exceptions.add_method("ANY", integration, **self._protected)
        exception = exceptions.add_resource("{exception_id}")
        exception.add_method("GET", integration, **self._protected)
        exception.add_method("ANY", integration, **self._protected)
        for action in ("resubmit", "discard"):
            resource = exception.add_resource(action)
            resource.add_method("POST", integration, **self._protected)
            resource.add_method("ANY", integration, **self._protected)

    def _problem_responses(self) -> None:
        """Errors API Gateway answers itself (no Lambda involved) as problem+json too, like the function's.

        The local runtime reads these resources from the synthesized template and answers the same way.
        """
        # header values are static values, so single-quoted; the template is keyed by application/json too,
        # the content type API Gateway falls back to when the request's Accept names no template
        content_type = {"Content-Type": f"'{PROBLEM_CONTENT_TYPE}'"}

        def add(
            construct_id: str,
            response_type: apigw.ResponseType,
            template: str,
            status_code: str | None = None,
            headers: dict[str, str] | None = None,
        ) -> None:
            self.api.add_gateway_response(
                construct_id,
                type=response_type,
                status_code=status_code,
                response_headers={**content_type, **(headers or {})},
                templates={PROBLEM_CONTENT_TYPE: template, "application/json": template},
            )

        # an undefined resource or method: API Gateway's 403 "Missing Authentication Token" becomes a 404
        add(
            "NotFoundResponse",
            apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
            _problem_template(
                "not-found", "Not found", json.dumps("This API has no such resource, or no such method on it"), 404
            ),
            status_code="404",
        )
        add(
            "TooLargeResponse",
            apigw.ResponseType.REQUEST_TOO_LARGE,
            _problem_template(
                "payload-too-large",
                "Payload too large",
                json.dumps("The request is larger than API Gateway's 10 MB payload limit"),
                413,
            ),
        )
        # no or a bad access token (the authorizer raised "Unauthorized", or the Authorization header
        # is missing or not `Bearer <jwt>`)
        add(
            "UnauthorizedResponse",
            apigw.ResponseType.UNAUTHORIZED,
            _problem_template(
                "unauthorized",
                "Authentication required",
                json.dumps(
                    "Send Authorization: Bearer <access token>; get a token from POST /oauth2/token with the "
                    "channel's client credentials, and a new one when it expires"
                ),
                401,
            ),
            status_code="401",
            headers={"WWW-Authenticate": "'Bearer realm=\"synchub\"'"},
        )
        # the authorizer's Deny: the channel was revoked, or its credentials rotated since the token
        add(
            "AccessDeniedResponse",
            apigw.ResponseType.ACCESS_DENIED,
            _problem_template(
                "access-denied",
                "Access denied",
                json.dumps(
                    "This access token is no longer valid for its channel (credentials rotated or revoked): "
                    "request a new token; if that is refused, ask the hub operator"
                ),
                403,
            ),
            status_code="403",
        )
        # the channel's usage plan: rate / burst, then its quota for the period
        add(
            "ThrottledResponse",
            apigw.ResponseType.THROTTLED,
            _problem_template(
                "too-many-requests",
                "Too many requests",
                json.dumps("Request rate above this channel's limit: retry after the Retry-After seconds"),
                429,
            ),
            status_code="429",
            headers={"Retry-After": "'1'"},
        )
        add(
            "QuotaExceededResponse",
            apigw.ResponseType.QUOTA_EXCEEDED,
            _problem_template(
                "quota-exceeded",
                "Request quota exceeded",
                json.dumps(
                    "This channel has used its request quota for the period: retry later, or ask the hub "
                    "operator for a larger quota"
                ),
                429,
            ),
            status_code="429",
            headers={"Retry-After": "'3600'"},
        )
        # the request validator: the only required parameter is the Idempotency-Key of the POSTs that
        # change an order (a test keeps it so), so this is the function's own `idempotency-key-missing`
        add(
            "BadRequestParametersResponse",
            apigw.ResponseType.BAD_REQUEST_PARAMETERS,
            _problem_template(
                "idempotency-key-missing",
                "Idempotency-Key header required",
                json.dumps(
                    "Send a unique Idempotency-Key header (8-128 of A-Z a-z 0-9 - _ . :) with every "
                    "POST /orders, POST /orders/{order_id}/cancel and POST /orders/{order_id}/returns; "
                    "retries reuse the same key."
                ),
                400,
            ),
            status_code="400",
        )
        # the authorizer named an API key that is disabled or unknown (a channel half set up or removed)
        add(
            "InvalidApiKeyResponse",
            apigw.ResponseType.INVALID_API_KEY,
            _problem_template(
                "api-key-invalid",
                "Channel API key not valid",
                json.dumps("This channel's API key is disabled or unknown: ask the hub operator"),
                403,
            ),
            status_code="403",
        )
        add(
            "Default4xxResponse",
            apigw.ResponseType.DEFAULT_4_XX,
            _problem_template(
                "gateway-rejected", "Request rejected by API Gateway", "$context.error.messageString", error_type=True
            ),
        )
        add(
            "Default5xxResponse",
            apigw.ResponseType.DEFAULT_5_XX,
            _problem_template("gateway-error", "API Gateway error", "$context.error.messageString", error_type=True),
        )
