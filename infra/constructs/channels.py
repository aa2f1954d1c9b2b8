"""Sales channels as OAuth 2.0 clients: the token endpoint's Lambda, the API's TOKEN authorizer and
the key both use to sign and verify access tokens (docs/decisions/0008-channel-authentication.md)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra import context

from .common import LambdaDefaults, allow, grant_table
from .data import DataStores

TOKEN_TTL_SECONDS = 3600
# `Authorization: Bearer <header>.<payload>.<signature>` (base64url): anything else is a 401 from
# API Gateway itself, without invoking the authorizer
BEARER_JWT = r"^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"


class ChannelAuth(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, defaults: LambdaDefaults, data: DataStores) -> None:
        super().__init__(scope, construct_id)
        # the HS256 key: the secret string itself (64 alphanumerics, ~380 bits)
        self.signing_secret = secretsmanager.Secret(
            self,
            "TokenSigningSecret",
            description="synchub: HS256 key that signs and verifies channel access tokens",
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True, password_length=64),
        )
        environment = {
            "CHANNELS_TABLE": data.channels.table_name,
            "TOKEN_SIGNING_SECRET_ARN": self.signing_secret.secret_arn,
            "TOKEN_TTL_SECONDS": str(TOKEN_TTL_SECONDS),
        }
        self.token_function = defaults.function(
            self,
            "TokenFunction",
            handler="channels.handler.token_handler",
            service="channels",
            description="OAuth 2.0 token endpoint (client credentials)",
            timeout=Duration.seconds(10),
            environment=environment,
        )
        self.authorizer_function = defaults.function(
            self,
            "AuthorizerFunction",
            handler="channels.handler.authorizer_handler",
            service="channels",
            description="API Gateway TOKEN authorizer: verifies channel access tokens",
            timeout=Duration.seconds(10),
            environment=environment,
        )
        for fn in (self.token_function, self.authorizer_function):
            # read the channel (ConsistentRead GetItem) and the signing key; nothing else
            grant_table(fn, data.channels, "GetItem")
            allow(fn, ["secretsmanager:GetSecretValue"], [self.signing_secret.secret_arn])
        cache = context.integer(self, context.AUTHORIZER_CACHE_SECONDS, 0, minimum=0, maximum=3600)
        self.authorizer = apigw.TokenAuthorizer(
            self,
            "Authorizer",
            handler=self.authorizer_function,
            authorizer_name="synchub-channels",
            identity_source=apigw.IdentitySource.header("Authorization"),
            validation_regex=BEARER_JWT,
            # 0 (the default): every request is authorized afresh, so a revocation takes effect at once
            results_cache_ttl=Duration.seconds(cache),
        )
