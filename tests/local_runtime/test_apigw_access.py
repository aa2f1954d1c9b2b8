"""The local API Gateway's access checks, in API Gateway's order: the Lambda TOKEN authorizer (identity
header, validation expression, Unauthorized / failures / policies, result cache), the API key and its
usage plan (unknown, disabled, unplanned keys; throttle and quota per key), required request parameters,
then the integration with ``requestContext.authorizer`` and ``identity.apiKey``.

Hand-made routes and gateway responses, a fake invoker for the functions and a fake API Gateway client
for keys and plans (one test reads them from the emulator itself); clocks are injected, nothing sleeps.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from synchub.local.apigw import ApiGateway
from synchub.local.authorizer import ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, evaluate, method_arn
from synchub.local.functions import InvocationError
from synchub.local.provision import AuthorizerSpec, GatewayResponseSpec, RouteSpec
from synchub.local.usage_plans import ApiKeys, Meter, Plan, quota_window

REGION, ACCOUNT, API_ID, STAGE = "eu-west-1", "123456789012", "a1b2c3d4e5", "v1"
TOKEN_RE = r"^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
GOOD = "Bearer aaa.bbb.ccc"


def _response(kind: str, status: int, **headers: str) -> GatewayResponseSpec:
    body = (
        '{"type": ' + json.dumps(kind) + ', "detail": $context.error.messageString, "requestId": "$context.requestId"}'
    )
    return GatewayResponseSpec(
        kind,
        status,
        {"Content-Type": "'application/problem+json'", **{k: f"'{v}'" for k, v in headers.items()}},
        {"application/json": body},
    )


RESPONSES = {
    "UNAUTHORIZED": _response("UNAUTHORIZED", 401, **{"WWW-Authenticate": 'Bearer realm="synchub"'}),
    "ACCESS_DENIED": _response("ACCESS_DENIED", 403),
    "THROTTLED": _response("THROTTLED", 429, **{"Retry-After": "1"}),
    "QUOTA_EXCEEDED": _response("QUOTA_EXCEEDED", 429, **{"Retry-After": "3600"}),
    "BAD_REQUEST_PARAMETERS": _response("BAD_REQUEST_PARAMETERS", 400),
    "INVALID_API_KEY": _response("INVALID_API_KEY", 403),
    "DEFAULT_5XX": GatewayResponseSpec(
        "DEFAULT_5XX", None, {}, {"application/json": '{"m": $context.error.messageString}'}
    ),
}


def authorizer(ttl: int = 0) -> AuthorizerSpec:
    return AuthorizerSpec("ChannelsAuthorizer", "channels", "AuthFn", "Authorization", TOKEN_RE, ttl)


def routes(auth: AuthorizerSpec, key_source: str = "AUTHORIZER") -> list[RouteSpec]:
    guarded = {
        "authorization_type": "CUSTOM",
        "authorizer": auth,
        "api_key_required": True,
        "api_key_source": key_source,
    }
    return [
        RouteSpec(
            "POST",
            "/orders",
            "OrdersFn",
            request_parameters={"method.request.header.Idempotency-Key": True, "method.request.querystring.x": False},
            validate_parameters=True,
            **guarded,  # type: ignore[arg-type]
        ),
        RouteSpec("GET", "/orders/{order_id}", "OrdersFn", **guarded),  # type: ignore[arg-type]
        RouteSpec("ANY", "/orders/{order_id}", "OrdersFn", **guarded),  # type: ignore[arg-type]
        RouteSpec("POST", "/oauth2/token", "TokenFn"),
    ]


class FakeApiGateway:
    """The API Gateway client calls the local gateway makes: get_api_keys and get_usage_plans(keyId)."""

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, Any]] = {}
        self.plans: dict[str, dict[str, Any]] = {}
        self.plan_keys: dict[str, set[str]] = {}
        self.calls = 0

    def add(self, key_id: str, value: str, *, enabled: bool = True, plan: dict[str, Any] | None = None) -> None:
        self.keys[key_id] = {"id": key_id, "value": value, "enabled": enabled, "name": key_id}
        if plan is not None:
            plan = {"id": f"plan-{key_id}", "apiStages": [{"apiId": API_ID, "stage": STAGE}], **plan}
            self.plans[plan["id"]] = plan
            self.plan_keys.setdefault(plan["id"], set()).add(key_id)

    def get_api_keys(self, includeValues: bool = False, limit: int = 25, position: str | None = None) -> Any:
        self.calls += 1
        assert includeValues
        return {"items": [dict(k) for k in self.keys.values()]}

    def get_usage_plans(self, keyId: str, limit: int = 25, position: str | None = None) -> Any:
        self.calls += 1
        return {"items": [dict(p) for pid, p in self.plans.items() if keyId in self.plan_keys.get(pid, set())]}


@dataclass
class Clock:
    t: float = 1000.0
    day: datetime = field(default_factory=lambda: datetime(2026, 12, 2, 12, tzinfo=UTC))

    def __call__(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.day


def allow(arn: str = "*", **extra: Any) -> dict[str, Any]:
    return {
        "principalId": "webshop-nl",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": arn}],
        },
        "context": {"channel": "webshop-nl", "ver": 3, "trusted": True},
        "usageIdentifierKey": "value-of-key-1",
        **extra,
    }


class Functions:
    """The functions behind the routes: the authorizer answers what ``answer`` says, the others echo."""

    def __init__(self) -> None:
        self.answer: Callable[[dict[str, Any]], Any] = lambda event: allow()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def __call__(self, fn: str, event: dict[str, Any]) -> Any:
        with self.lock:
            self.calls.append((fn, event))
        if fn == "AuthFn":
            return self.answer(event)
        return {"statusCode": 200, "body": json.dumps({"fn": fn, "method": event["httpMethod"]})}

    def of(self, fn: str) -> list[dict[str, Any]]:
        return [e for f, e in self.calls if f == fn]


@dataclass
class Api:
    gw: ApiGateway
    fns: Functions
    keys: FakeApiGateway
    clock: Clock

    def request(
        self, method: str, path: str, token: str | None = GOOD, body: bytes | None = None, **headers: str
    ) -> tuple[int, dict[str, str], Any]:
        host, port = self.gw.server.server_address[:2]
        conn = http.client.HTTPConnection(host, port, timeout=10)
        sent = {k.replace("_", "-"): v for k, v in headers.items()}
        if token is not None:
            sent["Authorization"] = token
        if method == "POST" and "Idempotency-Key" not in sent and not headers.get("no_key"):
            sent["Idempotency-Key"] = "k-1"
        sent.pop("no-key", None)
        conn.request(method, path, body=body, headers=sent)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(data) if data else None


def _api(
    auth: AuthorizerSpec | None = None, key_source: str = "AUTHORIZER", rate: float = 100, burst: int = 100
) -> Api:
    fns, keys, clock = Functions(), FakeApiGateway(), Clock()
    keys.add("key-1", "value-of-key-1", plan={"throttle": {"rateLimit": rate, "burstLimit": burst}})
    gw = ApiGateway(
        routes(auth or authorizer(), key_source),
        fns,
        STAGE,
        REGION,
        ACCOUNT,
        gateway_responses=RESPONSES,
        api_id=API_ID,
        api_keys=ApiKeys(keys, API_ID, STAGE, clock=clock),
        meter=Meter(clock, clock.now),
        clock=clock,
    )
    gw.start()
    return Api(gw, fns, keys, clock)


@pytest.fixture
def api() -> Iterator[Api]:
    a = _api()
    yield a
    a.gw.stop()


# --------------------------------------------------------------------------------------------------
# the authorizer
# --------------------------------------------------------------------------------------------------


def test_an_allowed_request_reaches_the_integration_with_the_authorizer_context_and_api_key(api: Api) -> None:
    status, _, body = api.request("GET", "/orders/ord_1")
    assert status == 200 and body == {"fn": "OrdersFn", "method": "GET"}
    (auth_event,) = api.fns.of("AuthFn")
    assert auth_event == {
        "type": "TOKEN",
        "authorizationToken": GOOD,
        "methodArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/GET/orders/ord_1",
    }
    (event,) = api.fns.of("OrdersFn")
    context = event["requestContext"]
    assert {k: v for k, v in context["authorizer"].items() if k != "integrationLatency"} == {
        "channel": "webshop-nl",
        "ver": "3",  # REST APIs pass context values on as strings
        "trusted": "true",
        "principalId": "webshop-nl",
    }
    assert context["identity"]["apiKey"] == "value-of-key-1" and context["identity"]["apiKeyId"] == "key-1"
    assert context["apiId"] == API_ID and context["stage"] == STAGE
    assert event["headers"]["Authorization"] == GOOD  # the integration sees the header too, as on AWS


def test_methods_without_an_authorizer_need_no_token_and_no_key(api: Api) -> None:
    status, _, body = api.request("POST", "/oauth2/token", token=None)
    assert status == 200 and body["fn"] == "TokenFn"
    (event,) = api.fns.of("TokenFn")
    assert "authorizer" not in event["requestContext"] and event["requestContext"]["identity"]["apiKey"] is None
    assert api.fns.of("AuthFn") == []


@pytest.mark.parametrize("token", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer a.b", "Bearer a.b.c extra"])
def test_a_missing_or_malformed_token_is_401_without_calling_the_authorizer(api: Api, token: str | None) -> None:
    status, headers, body = api.request("GET", "/orders/ord_1", token=token)
    assert status == 401 and body["type"] == "UNAUTHORIZED" and body["detail"] == "Unauthorized"
    assert headers["www-authenticate"] == 'Bearer realm="synchub"'
    assert headers["x-amzn-errortype"] == "UnauthorizedException"
    assert api.fns.calls == []


def test_the_authorizer_raising_unauthorized_is_401_and_any_other_failure_a_500(api: Api) -> None:
    def fail(message: str) -> Callable[[dict[str, Any]], Any]:
        def answer(event: dict[str, Any]) -> Any:
            raise InvocationError("AuthFn", {"errorType": "Exception", "errorMessage": message})

        return answer

    api.fns.answer = fail("Unauthorized")
    status, _, body = api.request("GET", "/orders/ord_1")
    assert status == 401 and body["detail"] == "Unauthorized"
    api.fns.answer = fail("boom: the channel store is down")
    status, headers, body = api.request("GET", "/orders/ord_1")
    assert status == 500 and body == {"m": None}  # AUTHORIZER_CONFIGURATION_ERROR, message null, via DEFAULT_5XX
    assert headers["x-amzn-errortype"] == "AuthorizerConfigurationException"
    for malformed in [None, "Allow", {"principalId": "x"}, allow(context={"nested": {"a": 1}})]:
        api.fns.answer = lambda event, m=malformed: m  # type: ignore[misc]
        assert api.request("GET", "/orders/ord_1")[0] == 500, malformed
    assert api.fns.of("OrdersFn") == []


def test_a_policy_that_does_not_allow_the_method_is_403_and_an_explicit_deny_says_so(api: Api) -> None:
    get_arn = method_arn(REGION, ACCOUNT, API_ID, STAGE, "GET", "/orders/ord_1")
    api.fns.answer = lambda event: allow(get_arn.replace("ord_1", "other"))  # another resource: implicit deny
    status, headers, body = api.request("GET", "/orders/ord_1")
    assert status == 403 and body["detail"] == "User is not authorized to access this resource"
    assert headers["x-amzn-errortype"] == "AccessDeniedException"
    deny = allow()
    deny["policyDocument"]["Statement"].append({"Action": "execute-api:*", "Effect": "Deny", "Resource": get_arn})
    api.fns.answer = lambda event: deny
    status, _, body = api.request("GET", "/orders/ord_1")
    assert status == 403 and body["detail"] == "User is not authorized to access this resource with an explicit deny"
    assert api.request("GET", "/orders/ord_2")[0] == 200  # the Deny names ord_1 only
    assert len(api.fns.of("OrdersFn")) == 1


def test_policy_evaluation_follows_iam() -> None:
    arn = method_arn(REGION, ACCOUNT, API_ID, STAGE, "POST", "/orders")

    def policy(*statements: dict[str, Any]) -> dict[str, Any]:
        return {"Version": "2012-10-17", "Statement": list(statements)}

    base = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}"
    assert evaluate(policy({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{base}/*"}), arn) == ALLOW
    assert evaluate(policy({"Effect": "Allow", "Action": "EXECUTE-API:invoke", "Resource": [arn]}), arn) == ALLOW
    assert evaluate(policy({"Effect": "Allow", "Action": "*", "Resource": f"{base}/v?/POST/*"}), arn) == ALLOW
    assert evaluate(
        policy({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{base}/*/GET/*"}), arn
    ) == (IMPLICIT_DENY)
    assert evaluate(policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}), arn) == IMPLICIT_DENY
    assert evaluate(policy({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}), arn) == ALLOW
    assert evaluate(policy({"Effect": "Allow", "Action": "*", "NotResource": arn}), arn) == IMPLICIT_DENY
    assert evaluate(policy({"Effect": "Allow", "Action": "*", "Resource": base.upper() + "/*"}), arn) == IMPLICIT_DENY
    assert (
        evaluate(
            policy(
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": f"{base}/*/POST/orders"},
            ),
            arn,
        )
        == EXPLICIT_DENY
    )
    assert evaluate({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}, arn) == ALLOW  # one, unlisted


def test_authorizer_results_are_cached_by_token_for_the_ttl_and_evaluated_per_method() -> None:
    api = _api(authorizer(ttl=300))
    try:
        get_arn = method_arn(REGION, ACCOUNT, API_ID, STAGE, "GET", "/orders/ord_1")
        api.fns.answer = lambda event: allow(get_arn)  # names the first method it was asked about only
        assert api.request("GET", "/orders/ord_1")[0] == 200
        assert api.request("GET", "/orders/ord_1")[0] == 200
        assert len(api.fns.of("AuthFn")) == 1  # the second answer came from the cache
        assert api.request("GET", "/orders/ord_2")[0] == 403  # the cached policy does not name it, as on AWS
        assert api.request("GET", "/orders/ord_1", token="Bearer xxx.yyy.zzz")[0] == 200  # another token: asked
        assert len(api.fns.of("AuthFn")) == 2
        api.clock.t += 301
        assert api.request("GET", "/orders/ord_1")[0] == 200
        assert len(api.fns.of("AuthFn")) == 3  # expired: asked again
    finally:
        api.gw.stop()


def test_with_a_ttl_of_zero_every_request_asks_the_authorizer(api: Api) -> None:
    for _ in range(3):
        assert api.request("GET", "/orders/ord_1")[0] == 200
    assert len(api.fns.of("AuthFn")) == 3
    assert len(api.gw.authorizer_cache) == 0


def test_any_methods_are_authorized_with_the_requests_own_method(api: Api) -> None:
    status, _, body = api.request("DELETE", "/orders/ord_1")
    assert status == 200 and body["method"] == "DELETE"
    assert api.fns.of("AuthFn")[0]["methodArn"].endswith(f"/{STAGE}/DELETE/orders/ord_1")
    assert api.request("DELETE", "/orders/ord_1", token=None)[0] == 401


# --------------------------------------------------------------------------------------------------
# API keys and usage plans
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["unknown", "disabled", "no plan", "plan of another stage", "none named"])
def test_unknown_disabled_or_unplanned_keys_are_403_forbidden(api: Api, case: str) -> None:
    value = {"unknown": "no-such-key-value"}.get(case, "value-of-key-2")
    if case == "disabled":
        api.keys.add("key-2", "value-of-key-2", enabled=False, plan={})
    elif case == "no plan":
        api.keys.add("key-2", "value-of-key-2")
    elif case == "plan of another stage":
        api.keys.add("key-2", "value-of-key-2", plan={"apiStages": [{"apiId": API_ID, "stage": "prod"}]})
    answer = allow(usageIdentifierKey=value)
    if case == "none named":
        del answer["usageIdentifierKey"]
    api.fns.answer = lambda event: answer
    status, headers, body = api.request("GET", "/orders/ord_1")
    assert status == 403 and body == {"type": "INVALID_API_KEY", "detail": "Forbidden", "requestId": body["requestId"]}
    assert headers["x-amzn-errortype"] == "ForbiddenException"
    assert api.fns.of("OrdersFn") == []


def test_with_header_key_source_the_key_comes_from_x_api_key() -> None:
    api = _api(key_source="HEADER")
    try:
        api.fns.answer = lambda event: allow(usageIdentifierKey="ignored")
        assert api.request("GET", "/orders/ord_1")[0] == 403
        status, _, _ = api.request("GET", "/orders/ord_1", x_api_key="value-of-key-1")
        assert status == 200
        assert api.fns.of("OrdersFn")[0]["requestContext"]["identity"]["apiKeyId"] == "key-1"
    finally:
        api.gw.stop()


def test_keys_and_plans_are_reread_so_changes_apply_without_a_restart(api: Api) -> None:
    api.fns.answer = lambda event: allow(usageIdentifierKey="value-of-key-2")
    assert api.request("GET", "/orders/ord_1")[0] == 403
    api.keys.add("key-2", "value-of-key-2", plan={})  # `synchub channels add` while the hub runs
    assert api.request("GET", "/orders/ord_1")[0] == 403  # an unknown key reloads at most every 0.25 s
    api.clock.t += 0.3
    assert api.request("GET", "/orders/ord_1")[0] == 200  # ... and at once after that
    calls = api.keys.calls
    for _ in range(5):
        assert api.request("GET", "/orders/ord_1")[0] == 200
    assert api.keys.calls == calls  # known keys are served from the cache
    api.keys.keys["key-2"]["enabled"] = False  # `synchub channels revoke`
    assert api.request("GET", "/orders/ord_1")[0] == 200  # still cached
    api.clock.t += 2.0
    assert api.request("GET", "/orders/ord_1")[0] == 403  # within the cache's 2 s


def test_throttle_is_a_token_bucket_per_key_answered_with_the_throttled_response() -> None:
    api = _api(rate=1, burst=2)
    try:
        api.keys.add("key-2", "value-of-key-2", plan={"throttle": {"rateLimit": 1, "burstLimit": 2}})
        assert [api.request("GET", "/orders/ord_1")[0] for _ in range(2)] == [200, 200]  # the burst
        status, headers, body = api.request("GET", "/orders/ord_1")
        assert status == 429 and headers["retry-after"] == "1" and body["type"] == "THROTTLED"
        assert body["detail"] == "Too Many Requests" and headers["x-amzn-errortype"] == "TooManyRequestsException"
        api.fns.answer = lambda event: allow(usageIdentifierKey="value-of-key-2")
        assert api.request("GET", "/orders/ord_1")[0] == 200  # another key has a bucket of its own
        api.fns.answer = lambda event: allow()
        api.clock.t += 1.0  # one token back
        assert [api.request("GET", "/orders/ord_1")[0] for _ in range(2)] == [200, 429]
        assert len(api.fns.of("OrdersFn")) == 4
    finally:
        api.gw.stop()


def test_quota_counts_admitted_requests_per_period_and_resets_with_the_period(api: Api) -> None:
    api.keys.add(
        "key-2",
        "value-of-key-2",
        plan={"throttle": {"rateLimit": 1, "burstLimit": 1}, "quota": {"limit": 2, "period": "DAY"}},
    )
    api.fns.answer = lambda event: allow(usageIdentifierKey="value-of-key-2")
    assert api.request("GET", "/orders/ord_1")[0] == 200
    assert api.request("GET", "/orders/ord_1")[0] == 429  # throttled: not counted against the quota
    api.clock.t += 1
    assert api.request("GET", "/orders/ord_1")[0] == 200
    api.clock.t += 1
    status, headers, body = api.request("GET", "/orders/ord_1")
    assert status == 429 and body["type"] == "QUOTA_EXCEEDED" and body["detail"] == "Limit Exceeded"
    assert headers["retry-after"] == "3600" and headers["x-amzn-errortype"] == "LimitExceededException"
    api.clock.day += timedelta(days=1)  # a new UTC day
    assert api.request("GET", "/orders/ord_1")[0] == 200


def test_quota_periods_are_utc_days_weeks_from_sunday_and_months() -> None:
    wednesday = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)
    assert quota_window("DAY", wednesday).isoformat() == "2026-12-02"
    assert quota_window("WEEK", wednesday).isoformat() == "2026-11-29"  # a Sunday
    assert quota_window("WEEK", datetime(2026, 11, 29, 0, 0, tzinfo=UTC)).isoformat() == "2026-11-29"
    assert quota_window("MONTH", wednesday).isoformat() == "2026-12-01"
    amsterdam = datetime(2026, 12, 3, 0, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Amsterdam"))
    assert quota_window("DAY", amsterdam).isoformat() == "2026-12-03"
    meter, plan = Meter(), Plan("p", quota_limit=1, quota_period="MONTH")
    assert meter.admit("k", plan) is None and meter.admit("k", plan) == "QUOTA_EXCEEDED" and meter.used("k", plan) == 1


def test_usage_plans_are_read_from_the_emulator(moto_server: Any) -> None:
    gw = moto_server("apigateway")
    api_id = gw.create_rest_api(name="synchub-orders")["id"]
    keys = ApiKeys(gw, api_id, STAGE, ttl=60, miss_interval=0)
    assert keys.key("v" * 30) is None
    key = gw.create_api_key(name="k", enabled=True, value="v" * 30)
    plan = gw.create_usage_plan(
        name="p",
        apiStages=[{"apiId": api_id, "stage": STAGE}],
        throttle={"rateLimit": 5.0, "burstLimit": 10},
        quota={"limit": 1000, "period": "WEEK"},
    )
    other = gw.create_usage_plan(name="other", apiStages=[{"apiId": "elsewhere", "stage": STAGE}])
    gw.create_usage_plan_key(usagePlanId=other["id"], keyId=key["id"], keyType="API_KEY")
    gw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    found = keys.key("v" * 30)
    assert found is not None and found.id == key["id"] and found.enabled
    assert keys.plan(found) == Plan(plan["id"], 5.0, 10, 1000, "WEEK")


# --------------------------------------------------------------------------------------------------
# required request parameters, and the order of the checks
# --------------------------------------------------------------------------------------------------


def test_a_missing_or_blank_required_header_is_400_after_authorization(api: Api) -> None:
    status, headers, body = api.request("POST", "/orders", body=b"{}", no_key="1")
    assert status == 400 and body["type"] == "BAD_REQUEST_PARAMETERS"
    assert body["detail"] == "Missing required request parameters: [Idempotency-Key]"
    assert headers["x-amzn-errortype"] == "BadRequestException"
    assert api.request("POST", "/orders", body=b"{}", Idempotency_Key="  ")[0] == 400
    assert api.request("POST", "/orders", body=b"{}", Idempotency_Key="k-2")[0] == 200
    assert api.request("POST", "/orders", token=None, body=b"{}", no_key="1")[0] == 401  # authorizer first
    assert len(api.fns.of("OrdersFn")) == 1


def test_checks_run_in_api_gateways_order(api: Api) -> None:
    """Unknown route before the authorizer, authorizer before the key, key before the parameters."""
    api.fns.answer = lambda event: allow(usageIdentifierKey="unknown-key-value")
    assert api.request("GET", "/nope", token=None)[0] == 403  # MISSING_AUTHENTICATION_TOKEN (default)
    assert api.request("POST", "/orders", token=None, body=b"{}", no_key="1")[0] == 401
    status, _, body = api.request("POST", "/orders", body=b"{}", no_key="1")
    assert status == 403 and body["type"] == "INVALID_API_KEY"
