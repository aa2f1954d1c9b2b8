"""Channel-facing REST API: POST /orders, GET /orders/{order_id}."""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from constructs import Construct

from .common import LambdaDefaults
from .data import DataStores

# the `type` base of every RFC 9457 problem the API answers (synchub_core.problem.PROBLEM_BASE, which
# infra cannot import: it pulls in Powertools); tests/test_infra.py checks the two agree
PROBLEM_BASE = "https://synchub.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


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
    def __init__(self, scope: Construct, construct_id: str, *, defaults: LambdaDefaults, data: DataStores) -> None:
        super().__init__(scope, construct_id)
        # below API Gateway's 29 s integration timeout, so a slow call is a clean 5xx, not a dangling write
        self.function = defaults.function(
            self,
            "Function",
            handler="orders.handler.lambda_handler",
            service="orders",
            description="Order intake API",
            timeout=Duration.seconds(10),
        )
        data.orders.grant_read_write_data(self.function)
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name="synchub-orders",
            description="Sales channels post orders here",
            deploy_options=apigw.StageOptions(
                stage_name="v1", tracing_enabled=True, throttling_rate_limit=200, throttling_burst_limit=400
            ),
            cloud_watch_role=False,
        )
        integration = apigw.LambdaIntegration(self.function, proxy=True)
        orders = self.api.root.add_resource("orders")
        orders.add_method("POST", integration)
        orders.add_resource("{order_id}").add_method("GET", integration)
        self._problem_responses()

    def _problem_responses(self) -> None:
        """Errors API Gateway answers itself (no Lambda involved) as problem+json too, like the function's.

        The local runtime reads these resources from the synthesized template and answers the same way.
        """
        # header values are static values, so single-quoted; the template is keyed by application/json too,
        # the content type API Gateway falls back to when the request's Accept names no template
        headers = {"Content-Type": f"'{PROBLEM_CONTENT_TYPE}'"}

        def add(
            construct_id: str, response_type: apigw.ResponseType, template: str, status_code: str | None = None
        ) -> None:
            self.api.add_gateway_response(
                construct_id,
                type=response_type,
                status_code=status_code,
                response_headers=headers,
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
