"""``synchub channels`` and ``synchub operators``: the API's principals as OAuth 2.0 clients
(docs/decisions/0008-channel-authentication.md).

A channel is registered once (:func:`add_channel`): an API key and a usage plan of its own
(``synchub-<channel>``: throttle and quota on the API's stage), then the channel item with the
sha256 of a new client secret, which is shown once and never stored. :func:`rotate` issues a new
secret and bumps the credential version (older tokens stop working); :func:`revoke` marks the
channel REVOKED, bumps the version and disables its API key: its next request is refused, without
a redeploy. Works against the running local hub and a deployed stack alike
(:class:`synchub.environment.HubEnvironment`); tests and the demo call these functions directly.

Operators (:func:`add_operator`, ``synchub operators add|rotate|list|revoke NAME``) are the same
records made the same way (API key, usage plan, secret), with ``role`` ``operator``: their tokens
carry the claim ``role: operator``, the authorizer passes it on, and the API serves them the
business exceptions routes (``/exceptions``) and refuses them the orders routes. Channels and
operators share one id space; each command acts only on principals of its own role.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shlex
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from synchub.environment import TOKEN_PATH, HubEnvironment

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "functions") not in sys.path:  # the channel store is the channels domain's own code
    sys.path.insert(0, str(ROOT / "functions"))

from channels.api import (  # noqa: E402  (after the path set-up)
    CHANNEL_ID,
    MAX_SHELF_LIFE_DAYS,
    Channel,
    ChannelExists,
    ChannelNotFound,
    ChannelRevoked,
    ChannelStatus,
    ChannelStore,
    Role,
    hash_secret,
    new_secret,
)
from synchub_core.envelope import now_iso  # noqa: E402

QUOTA_PERIODS = ("DAY", "WEEK", "MONTH")
DEFAULT_RATE = 50.0
DEFAULT_BURST = 100
DEFAULT_QUOTA = 100_000
DEFAULT_QUOTA_PERIOD = "DAY"
# an operator works exceptions by hand or with a script: lower limits than a channel's order traffic
OPERATOR_RATE = 10.0
OPERATOR_BURST = 20
OPERATOR_QUOTA = 10_000
_NOUN = {Role.CHANNEL: "channel", Role.OPERATOR: "operator"}
_COMMAND = {Role.CHANNEL: "channels", Role.OPERATOR: "operators"}


class ChannelError(Exception):
    """A request the CLI refuses (exit status 2): the message says why and what to do."""


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str
    token_url: str | None
    ver: int

    def as_json(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "client_secret": self.client_secret, "token_url": self.token_url}


@dataclass(frozen=True)
class Limits:
    rate: float  # requests per second (token bucket refill)
    burst: int
    quota: int
    quota_period: str


@dataclass(frozen=True)
class ChannelInfo:
    """What ``list`` shows of a channel: no secret, no API key value."""

    channel: str
    status: str
    ver: int
    created_at: str
    updated_at: str
    revoked_at: str | None
    limits: Limits | None  # None: the usage plan is gone (deleted by hand)
    role: str = Role.CHANNEL.value
    min_shelf_life_days: int = 0


def store(env: HubEnvironment) -> ChannelStore:
    return ChannelStore(env.channels_table, env.clients()("dynamodb"))


def _check_name(name: str, role: Role = Role.CHANNEL) -> None:
    if not CHANNEL_ID.match(name):
        raise ChannelError(
            f"{name!r} is not a{'n' if role is Role.OPERATOR else ''} {_NOUN[role]} id: 2-32 characters of "
            "a-z, 0-9 and '-', starting with a letter or digit"
        )


def _check_role(found: Channel, role: Role) -> None:
    """Refuse to act on a principal of the other role through this command."""
    if found.role is not role:
        raise ChannelError(
            f"{found.channel} is a{'n' if found.role is Role.OPERATOR else ''} {_NOUN[found.role]}, not a"
            f"{'n' if role is Role.OPERATOR else ''} {_NOUN[role]}: use `synchub {_COMMAND[found.role]}`"
        )


def _check_limits(rate: float, burst: int, quota: int, quota_period: str) -> None:
    if not rate > 0:
        raise ChannelError(f"--rate must be more than 0 requests per second, not {rate}")
    if burst < 1:
        raise ChannelError(f"--burst must be at least 1, not {burst}")
    if quota < 1:
        raise ChannelError(f"--quota must be at least 1 request per period, not {quota}")
    if quota_period not in QUOTA_PERIODS:
        raise ChannelError(f"--quota-period must be one of {', '.join(QUOTA_PERIODS)}, not {quota_period!r}")


def _check_shelf_life(days: int) -> None:
    if not 0 <= days <= MAX_SHELF_LIFE_DAYS:
        raise ChannelError(
            f"the minimum shelf life must be 0 to {MAX_SHELF_LIFE_DAYS} days, not {days} "
            "(0: no minimum; N: a lot is sold to the channel only with at least N days to its best-before date)"
        )


def add_channel(
    env: HubEnvironment,
    name: str,
    *,
    rate: float = DEFAULT_RATE,
    burst: int = DEFAULT_BURST,
    quota: int = DEFAULT_QUOTA,
    quota_period: str = DEFAULT_QUOTA_PERIOD,
    min_shelf_life_days: int = 0,
) -> Credentials:
    """Register ``name``: API key, usage plan ``synchub-<name>`` with its key, then the channel item
    (conditional: an id is registered once). Anything created before a failure is removed again.
    ``min_shelf_life_days``: lots with fewer days left to their best-before date are not sold to it."""
    return _add_principal(
        env,
        name,
        Role.CHANNEL,
        rate=rate,
        burst=burst,
        quota=quota,
        quota_period=quota_period,
        min_shelf_life_days=min_shelf_life_days,
    )


def set_shelf_life(env: HubEnvironment, name: str, days: int) -> Channel:
    """Change the channel's minimum remaining shelf life (days). Its tokens keep working; the
    authorizer passes the new value from the channel's next request (new orders and inquiries;
    orders already accepted keep the value they were accepted with)."""
    _check_shelf_life(days)
    _own(env, name, Role.CHANNEL)
    try:
        return store(env).set_shelf_life(name, days, now_iso())
    except ChannelNotFound:
        raise ChannelError(f"no channel {name}; `synchub channels list` shows them") from None


def add_operator(
    env: HubEnvironment,
    name: str,
    *,
    rate: float = OPERATOR_RATE,
    burst: int = OPERATOR_BURST,
    quota: int = OPERATOR_QUOTA,
    quota_period: str = DEFAULT_QUOTA_PERIOD,
) -> Credentials:
    """Register the operator ``name`` as :func:`add_channel` registers a channel, with role
    ``operator``: its tokens open the business exceptions API and none of the orders routes."""
    return _add_principal(env, name, Role.OPERATOR, rate=rate, burst=burst, quota=quota, quota_period=quota_period)


def _add_principal(
    env: HubEnvironment,
    name: str,
    role: Role,
    *,
    rate: float,
    burst: int,
    quota: int,
    quota_period: str,
    min_shelf_life_days: int = 0,
) -> Credentials:
    noun, command = _NOUN[role], _COMMAND[role]
    _check_name(name, role)
    _check_limits(rate, burst, quota, quota_period)
    _check_shelf_life(min_shelf_life_days)
    if not env.api_id or not env.stage:
        raise ChannelError(
            "this deployment does not name its API (api_id/stage missing): restart the local hub with a "
            "current synchub, or deploy the stack with the ApiId and ApiStage outputs"
        )
    channels = store(env)
    existing = channels.get(name)
    if existing is not None:
        _check_role(existing, role)
        raise ChannelError(f"{noun} {name} already exists; `synchub {command} rotate {name}` issues a new secret")
    apigw = env.clients()("apigateway")
    tags = {"synchub-channel": name, "synchub-role": role.value}
    undo: list[Callable[[], Any]] = []
    try:
        key = apigw.create_api_key(
            name=f"synchub-{name}",
            description=f"synchub {noun} {name}: named by the authorizer, never sent by the client",
            enabled=True,
            value=secrets.token_urlsafe(30),
            tags=tags,
        )
        undo.append(lambda: apigw.delete_api_key(apiKey=key["id"]))
        plan = apigw.create_usage_plan(
            name=f"synchub-{name}",
            description=f"synchub {noun} {name}",
            apiStages=[{"apiId": env.api_id, "stage": env.stage}],
            throttle={"rateLimit": float(rate), "burstLimit": int(burst)},
            quota={"limit": int(quota), "period": quota_period},
            tags=tags,
        )
        undo.append(lambda: _delete_usage_plan(apigw, plan["id"], f"{env.api_id}:{env.stage}"))
        apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
        undo.append(lambda: apigw.delete_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"]))
        secret = new_secret()
        now = now_iso()
        channels.create(
            Channel(
                channel=name,
                secret_hash=hash_secret(secret),
                status=ChannelStatus.ACTIVE,
                ver=1,
                created_at=now,
                updated_at=now,
                api_key_id=key["id"],
                api_key_value=key["value"],
                usage_plan_id=plan["id"],
                role=role,
                min_shelf_life_days=min_shelf_life_days,
            )
        )
    except BaseException as exc:
        for step in reversed(undo):
            try:
                step()
            except Exception:  # best effort: the original error is the one to report
                pass
        if isinstance(exc, ChannelExists):  # registered meanwhile by someone else
            raise ChannelError(f"{name} already exists (a channel or an operator has this id)") from None
        raise
    return Credentials(client_id=name, client_secret=secret, token_url=env.token_url, ver=1)


def _delete_usage_plan(apigw: Any, plan_id: str, api_stage: str) -> None:
    """API Gateway deletes a usage plan only once no API stage is attached to it."""
    apigw.update_usage_plan(
        usagePlanId=plan_id, patchOperations=[{"op": "remove", "path": "/apiStages", "value": api_stage}]
    )
    apigw.delete_usage_plan(usagePlanId=plan_id)


def _own(env: HubEnvironment, name: str, role: Role) -> Channel:
    """The principal ``name``, refused unless it exists and has ``role``."""
    _check_name(name, role)
    found = store(env).get(name)
    if found is None:
        raise ChannelError(f"no {_NOUN[role]} {name}; `synchub {_COMMAND[role]} list` shows the {_COMMAND[role]}")
    _check_role(found, role)
    return found


def rotate(env: HubEnvironment, name: str, *, role: Role = Role.CHANNEL) -> Credentials:
    """A new client secret; the credential version goes up, so tokens issued before are refused."""
    _own(env, name, role)
    secret = new_secret()
    try:
        channel = store(env).rotate(name, hash_secret(secret), now_iso())
    except ChannelNotFound:
        raise ChannelError(f"no {_NOUN[role]} {name}; `synchub {_COMMAND[role]} list` shows them") from None
    except ChannelRevoked:
        raise ChannelError(f"{_NOUN[role]} {name} is revoked: its credentials cannot be rotated") from None
    return Credentials(client_id=name, client_secret=secret, token_url=env.token_url, ver=channel.ver)


def revoke(env: HubEnvironment, name: str, *, role: Role = Role.CHANNEL) -> Channel:
    """REVOKED, version + 1 and the API key disabled: the principal's next request is refused (no
    redeploy, the authorizer reads the record on every request). Safe to repeat."""
    _own(env, name, role)
    try:
        channel = store(env).revoke(name, now_iso())
    except ChannelNotFound:
        raise ChannelError(f"no {_NOUN[role]} {name}; `synchub {_COMMAND[role]} list` shows them") from None
    if channel.api_key_id:
        env.clients()("apigateway").update_api_key(
            apiKey=channel.api_key_id, patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}]
        )
    return channel


def rotate_operator(env: HubEnvironment, name: str) -> Credentials:
    return rotate(env, name, role=Role.OPERATOR)


def revoke_operator(env: HubEnvironment, name: str) -> Channel:
    return revoke(env, name, role=Role.OPERATOR)


def list_channels(env: HubEnvironment, *, role: Role = Role.CHANNEL) -> list[ChannelInfo]:
    """The principals of ``role`` (channels by default), with their usage plan's limits."""
    apigw = env.clients()("apigateway")
    out = []
    for c in store(env).list():
        if c.role is not role:
            continue
        limits = None
        if c.usage_plan_id:
            try:
                plan = apigw.get_usage_plan(usagePlanId=c.usage_plan_id)
            except apigw.exceptions.NotFoundException:
                plan = None
            if plan is not None:
                throttle, quota = plan.get("throttle") or {}, plan.get("quota") or {}
                limits = Limits(
                    rate=float(throttle.get("rateLimit", 0)),
                    burst=int(throttle.get("burstLimit", 0)),
                    quota=int(quota.get("limit", 0)),
                    quota_period=str(quota.get("period", "")),
                )
        out.append(
            ChannelInfo(
                c.channel,
                c.status.value,
                c.ver,
                c.created_at,
                c.updated_at,
                c.revoked_at,
                limits,
                role=c.role.value,
                min_shelf_life_days=c.min_shelf_life_days,
            )
        )
    return out


def list_operators(env: HubEnvironment) -> list[ChannelInfo]:
    return list_channels(env, role=Role.OPERATOR)


# -- the command line (wired in synchub/cli.py) ------------------------------------------------------
def _quoted(text: str) -> str:
    """Single-quoted for a POSIX shell, always (easier to read and to copy than shlex's minimum)."""
    return shlex.quote(text) if "'" in text else f"'{text}'"


def curl_line(credentials: Credentials) -> str:
    """A ready ``curl`` call that gets an access token with HTTP Basic client authentication.
    (``curl -u`` does not URL-encode; the secrets the hub issues need no encoding.)"""
    url = credentials.token_url or "<token URL>"
    user = f"{credentials.client_id}:{credentials.client_secret}"
    return f"curl -s -u {_quoted(user)} -d grant_type=client_credentials {_quoted(url)}"


def _print_credentials(credentials: Credentials, as_json: bool, headline: str) -> None:
    if as_json:
        print(json.dumps(credentials.as_json()))
        return
    print(headline)
    print(f"  client_id      {credentials.client_id}")
    print(f"  client_secret  {credentials.client_secret}")
    print("                 (shown once: store it now; it is kept only as a hash)")
    print(f"  token URL      {credentials.token_url or '(unknown: the deployment has no API URL)'}")
    print("\nget an access token (client credentials, HTTP Basic):")
    print(f"  {curl_line(credentials)}")


def _limits_text(limits: Limits | None) -> tuple[str, str, str]:
    if limits is None:
        return ("-", "-", "-")
    rate = f"{limits.rate:g}"
    return (rate, str(limits.burst), f"{limits.quota}/{limits.quota_period}")


def command(env: HubEnvironment, args: argparse.Namespace) -> int:
    """Run ``synchub channels <add|rotate|list|revoke|set-shelf-life>``; 2 for a request refused (message on stderr)."""
    return _run(env, args, Role.CHANNEL, args.channels_command, getattr(args, "channel", None))


def operators_command(env: HubEnvironment, args: argparse.Namespace) -> int:
    """Run ``synchub operators <add|rotate|list|revoke>``; 2 for a request refused (message on stderr)."""
    return _run(env, args, Role.OPERATOR, args.operators_command, getattr(args, "operator", None))


def _exceptions_url(credentials: Credentials) -> str:
    base = (credentials.token_url or "").removesuffix(TOKEN_PATH)
    return f"{base}/exceptions" if base else "<API URL>/exceptions"


def _run(env: HubEnvironment, args: argparse.Namespace, role: Role, sub_command: str, name: str | None) -> int:
    noun, plural = _NOUN[role], _COMMAND[role]
    try:
        if sub_command == "add":
            assert name is not None
            shelf_life = int(getattr(args, "min_shelf_life_days", 0) or 0)
            creds = _add_principal(
                env,
                name,
                role,
                rate=args.rate,
                burst=args.burst,
                quota=args.quota,
                quota_period=args.quota_period,
                min_shelf_life_days=shelf_life,
            )
            shelf = f", minimum shelf life {shelf_life} days" if shelf_life else ""
            _print_credentials(
                creds,
                args.json,
                f"{noun} {creds.client_id} added: {args.rate:g} req/s, burst {args.burst}, "
                f"quota {args.quota} per {args.quota_period} (usage plan synchub-{creds.client_id}){shelf}",
            )
            if role is Role.OPERATOR and not args.json:
                print("\nthen list the open business exceptions (operators only; channels get 403):")
                print(f'  curl -s -H "Authorization: Bearer $TOKEN" {_quoted(_exceptions_url(creds))}')
        elif sub_command == "rotate":
            assert name is not None
            creds = rotate(env, name, role=role)
            _print_credentials(
                creds,
                args.json,
                f"{noun} {creds.client_id}: new secret (credential version {creds.ver}); "
                "tokens issued with the old one are refused from now on",
            )
        elif sub_command == "set-shelf-life":
            assert name is not None
            channel = set_shelf_life(env, name, args.days)
            print(
                f"channel {channel.channel}: minimum shelf life {channel.min_shelf_life_days} days, from its next "
                "request (orders accepted before keep theirs)"
            )
        elif sub_command == "revoke":
            assert name is not None
            channel = revoke(env, name, role=role)
            print(
                f"{noun} {channel.channel} revoked at {channel.revoked_at} (credential version {channel.ver}): "
                "its tokens are refused from the next request, it gets no new ones, its API key is disabled"
            )
        else:
            infos = list_channels(env, role=role)
            if args.json:
                print(json.dumps([asdict(i) for i in infos], indent=2))
            elif not infos:
                print(f"no {plural} yet: `synchub {plural} add <{noun}>` registers one")
            else:
                with_shelf = role is Role.CHANNEL  # shelf life is a channel's (operators order nothing)
                print(
                    f"{noun.upper():<20} {'STATUS':<8} {'VER':>3}  {'CREATED':<24}  {'RATE':>6} {'BURST':>6}  "
                    f"{'QUOTA':<14}" + ("  SHELF LIFE" if with_shelf else "")
                )
                for i in infos:
                    rate, burst, quota = _limits_text(i.limits)
                    print(
                        f"{i.channel:<20} {i.status:<8} {i.ver:>3}  {i.created_at:<24}  {rate:>6} {burst:>6}  "
                        f"{quota:<14}" + (f"  {i.min_shelf_life_days}d" if with_shelf else "")
                    )
    except ChannelError as exc:
        print(f"synchub {plural}: {exc}", file=sys.stderr)
        return 2
    return 0


def _environment(args: argparse.Namespace) -> HubEnvironment:
    from synchub.environment import from_args

    return from_args(args)


def cmd_operators(args: argparse.Namespace) -> int:
    return operators_command(_environment(args), args)


def cmd_channels(args: argparse.Namespace) -> int:
    return command(_environment(args), args)


def add_channels_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``synchub channels add|rotate|list|revoke|set-shelf-life`` (wired in synchub/cli.py)."""
    from synchub.environment import where_options

    where = where_options()
    ch = sub.add_parser(
        "channels",
        help="sales channels: OAuth 2.0 client credentials, API keys and usage plans",
        description="Register sales channels as OAuth 2.0 clients (client_id = channel id) and manage "
        "their credentials and minimum shelf life. Changes take effect at the channel's next request; "
        "nothing is redeployed.",
    )
    ch.set_defaults(fn=cmd_channels)
    cmds = ch.add_subparsers(dest="channels_command", required=True)
    add = cmds.add_parser(
        "add", parents=[where], help="register a channel: API key, usage plan, client secret (shown once)"
    )
    add.add_argument("channel", help="channel id = client_id: 2-32 of a-z 0-9 -, e.g. webshop-nl")
    add.add_argument(
        "--rate", type=float, default=DEFAULT_RATE, help=f"throttle: requests per second (default {DEFAULT_RATE:g})"
    )
    add.add_argument("--burst", type=int, default=DEFAULT_BURST, help=f"throttle: burst (default {DEFAULT_BURST})")
    add.add_argument(
        "--quota", type=int, default=DEFAULT_QUOTA, help=f"requests per quota period (default {DEFAULT_QUOTA})"
    )
    add.add_argument("--quota-period", default=DEFAULT_QUOTA_PERIOD, choices=list(QUOTA_PERIODS), help="default DAY")
    add.add_argument(
        "--min-shelf-life-days",
        type=int,
        default=0,
        metavar="N",
        help="sell the channel only lots with at least N days to their best-before date (default 0: no minimum)",
    )
    add.add_argument("--json", action="store_true", help="print {client_id, client_secret, token_url} as JSON")
    rot = cmds.add_parser(
        "rotate", parents=[where], help="new client secret; tokens issued with the old one stop working"
    )
    rot.add_argument("channel")
    rot.add_argument("--json", action="store_true", help="print {client_id, client_secret, token_url} as JSON")
    ls = cmds.add_parser("list", parents=[where], help="channels, status, limits and shelf life (no secrets)")
    ls.add_argument("--json", action="store_true", help="print the list as JSON")
    rv = cmds.add_parser(
        "revoke", parents=[where], help="refuse the channel from its next request and disable its API key"
    )
    rv.add_argument("channel")
    sl = cmds.add_parser(
        "set-shelf-life",
        parents=[where],
        help="change the channel's minimum remaining shelf life in days (0: no minimum)",
    )
    sl.add_argument("channel")
    sl.add_argument("days", type=int, help=f"0 to {MAX_SHELF_LIFE_DAYS}")


def add_operators_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``synchub operators add|rotate|list|revoke`` (wired in synchub/cli.py)."""
    from synchub.environment import where_options

    where = where_options()
    op = sub.add_parser(
        "operators",
        help="operators: OAuth 2.0 clients of the business exceptions API (/exceptions)",
        description="Register operators, the people or tools that work the business exceptions through the "
        "API (GET /exceptions, resubmit, discard). An operator gets credentials like a channel (client id = "
        "its name, a secret shown once, an API key and usage plan); its tokens carry role operator: they open "
        "the exceptions routes and none of the orders routes. Changes take effect at the next request.",
    )
    op.set_defaults(fn=cmd_operators)
    cmds = op.add_subparsers(dest="operators_command", required=True)
    add = cmds.add_parser(
        "add", parents=[where], help="register an operator: API key, usage plan, client secret (shown once)"
    )
    add.add_argument("operator", help="operator name = client_id: 2-32 of a-z 0-9 -, e.g. ops-alice")
    add.add_argument(
        "--rate", type=float, default=OPERATOR_RATE, help=f"throttle: requests per second (default {OPERATOR_RATE:g})"
    )
    add.add_argument("--burst", type=int, default=OPERATOR_BURST, help=f"throttle: burst (default {OPERATOR_BURST})")
    add.add_argument(
        "--quota", type=int, default=OPERATOR_QUOTA, help=f"requests per quota period (default {OPERATOR_QUOTA})"
    )
    add.add_argument("--quota-period", default=DEFAULT_QUOTA_PERIOD, choices=list(QUOTA_PERIODS), help="default DAY")
    add.add_argument("--json", action="store_true", help="print {client_id, client_secret, token_url} as JSON")
    rot = cmds.add_parser(
        "rotate", parents=[where], help="new client secret; tokens issued with the old one stop working"
    )
    rot.add_argument("operator")
    rot.add_argument("--json", action="store_true", help="print {client_id, client_secret, token_url} as JSON")
    ls = cmds.add_parser("list", parents=[where], help="operators, status and limits (no secrets)")
    ls.add_argument("--json", action="store_true", help="print the list as JSON")
    rv = cmds.add_parser(
        "revoke", parents=[where], help="refuse the operator from its next request and disable its API key"
    )
    rv.add_argument("operator")


__all__ = [
    "ChannelError",
    "ChannelInfo",
    "Credentials",
    "Limits",
    "add_channel",
    "add_channels_parser",
    "add_operator",
    "add_operators_parser",
    "command",
    "curl_line",
    "list_channels",
    "list_operators",
    "operators_command",
    "revoke",
    "revoke_operator",
    "rotate",
    "rotate_operator",
    "set_shelf_life",
]
