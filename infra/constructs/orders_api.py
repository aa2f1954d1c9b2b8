"""Channel-facing REST API: POST /orders, GET /orders/{order_id}."""
from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from constructs import Construct

from .common import LambdaDefaults
from .data import DataStores


class OrdersApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, defaults: LambdaDefaults, data: DataStores) -> None:
        super().__init__(scope, construct_id)
        # below API Gateway's 29 s integration timeout, so a slow call is a clean 5xx, not a dangling write
        self.function = defaults.function(self, "Function", handler="orders.handler.lambda_handler",
                                          service="orders", description="Order intake API",
                                          timeout=Duration.seconds(10))
        data.orders.grant_read_write_data(self.function)
        self.api = apigw.RestApi(
            self, "Api", rest_api_name="synchub-orders",
            description="Sales channels post orders here",
            deploy_options=apigw.StageOptions(stage_name="v1", tracing_enabled=True,
                                              throttling_rate_limit=200, throttling_burst_limit=400),
            cloud_watch_role=False,
        )
        integration = apigw.LambdaIntegration(self.function, proxy=True)
        orders = self.api.root.add_resource("orders")
        orders.add_method("POST", integration)
        orders.add_resource("{order_id}").add_method("GET", integration)
