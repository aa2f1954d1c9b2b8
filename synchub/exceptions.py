"""``synchub exceptions``: the business exceptions, worked from the command line.

A permanent rejection by finance or the ERP (an unknown account, a blocked customer, a validation
error) is not retried: the connector keeps it as a business exception until an operator fixes the
cause (master data, an account) and resubmits it, or discards it::

    synchub exceptions list [--status OPEN|RESUBMITTED|RESOLVED|DISCARDED|all] [--target finance|erp] [--json]
    synchub exceptions show ID [--json]
    synchub exceptions resubmit ID
    synchub exceptions discard ID --reason TEXT

The commands run the operations domain's own code (``operations.api``, on top of the connectors'
exception store) in-process, with the environment a function of the hub gets
(:meth:`HubEnvironment.function_env`): the running local hub by default (``--state-dir``), a
deployed stack with ``--stack NAME``. The API (``/exceptions``, operators only) does the same.
``show`` prints the payload (the order or invoice as it was refused: it may hold personal data);
``list`` never does.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from synchub.environment import HubEnvironment

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "functions") not in sys.path:  # the operations domain's own code
    sys.path.insert(0, str(ROOT / "functions"))

from operations import api as operations  # noqa: E402  (after the path set-up)

ALL = "all"
T = TypeVar("T")


class ExceptionsError(Exception):
    """A request the CLI refuses (exit status 2): the message says why and what to do."""


@contextmanager
def function_environment(env: HubEnvironment) -> Iterator[None]:
    """Run function code against ``env``: its environment variables set, cached clients and
    settings dropped before and after (as ``synchub replay`` runs the outbox sweep)."""
    if not env.connector("CONNECTORS_TABLE"):
        raise ExceptionsError(
            "this deployment has no connectors table (DataConnectorsTable): synthesize and deploy (or restart "
            "the local hub) with the connectors stack"
        )
    with env.running_functions():
        yield


def _in(env: HubEnvironment, fn: Callable[[], T]) -> T:
    with function_environment(env):
        return fn()


def operator() -> str:
    """Who acts, as the exception's history records it: ``cli:<login name>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in the environment (a container)
        return "cli"


def _check_id(exception_id: str) -> None:
    if not operations.valid_id(exception_id):
        raise ExceptionsError(
            f"{exception_id!r} is not an exception id: exc_ followed by 20 hex digits "
            "(`synchub exceptions list` shows them)"
        )


def _missing(exception_id: str) -> ExceptionsError:
    return ExceptionsError(f"no business exception {exception_id}; `synchub exceptions list --status all` lists them")


def _not_open(exc: operations.ExceptionClosed) -> ExceptionsError:
    return ExceptionsError(
        f"business exception {exc.exception_id} is {exc.status}, not OPEN: only an open exception can be "
        "resubmitted or discarded; nothing was changed"
    )


# -- the commands, as functions (tests and scripts call these) ---------------------------------------
def list_exceptions(
    env: HubEnvironment,
    *,
    status: str = "OPEN",
    target: str | None = None,
    limit: int = operations.DEFAULT_LIMIT,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Exceptions newest first, as the API lists them (no payload), and the cursor of the next page.
    ``status`` ``all``: the newest ``limit`` of every status, merged (no cursor: the next page of one
    status is a ``--status`` away)."""
    if status != ALL and status not in operations.STATUSES:
        raise ExceptionsError(f"--status must be one of {', '.join(operations.STATUSES)} or {ALL}, not {status!r}")
    if target is not None and target not in operations.TARGETS:
        raise ExceptionsError(f"--target must be one of {', '.join(operations.TARGETS)}, not {target!r}")
    if not 1 <= limit <= operations.MAX_LIMIT:
        raise ExceptionsError(f"--limit must be 1 to {operations.MAX_LIMIT}, not {limit}")
    if status == ALL and cursor:
        raise ExceptionsError("--cursor pages one status: use it with --status")

    def run() -> tuple[list[dict[str, Any]], str | None]:
        if status != ALL:
            try:
                items, next_cursor = operations.page(status, target, limit, cursor)
            except operations.CursorInvalid:
                raise ExceptionsError(
                    "--cursor is not one `synchub exceptions list` printed for this status and target"
                ) from None
            return [_summary(i) for i in items], next_cursor
        merged: list[dict[str, Any]] = []
        for each in operations.STATUSES:
            items, _ = operations.page(each, target, limit, None)
            merged.extend(_summary(i) for i in items)
        merged.sort(key=lambda i: (str(i["raised_at"]), str(i["exception_id"])), reverse=True)
        return merged[:limit], None

    return _in(env, run)


def show(env: HubEnvironment, exception_id: str) -> dict[str, Any]:
    """One exception in full: reason, refs, history and the payload a resubmission sends."""
    _check_id(exception_id)

    def run() -> dict[str, Any]:
        try:
            return dict(operations.detail(operations.get(exception_id)).model_dump(mode="json"))
        except operations.ExceptionMissing:
            raise _missing(exception_id) from None

    return _in(env, run)


def resubmit(env: HubEnvironment, exception_id: str, *, by: str | None = None) -> dict[str, Any]:
    """Send the payload back to its connector's queue, once; the exception becomes RESUBMITTED."""
    _check_id(exception_id)

    def run() -> dict[str, Any]:
        try:
            item = operations.resubmit(exception_id, by or operator())
        except operations.ExceptionMissing:
            raise _missing(exception_id) from None
        except operations.ExceptionClosed as exc:
            raise _not_open(exc) from None
        return dict(operations.record(item).model_dump(mode="json"))

    return _in(env, run)


def discard(env: HubEnvironment, exception_id: str, reason: str, *, by: str | None = None) -> dict[str, Any]:
    """Give the exception up, with the reason why; nothing is sent. It becomes DISCARDED."""
    _check_id(exception_id)
    problem = operations.reason_problems(reason)
    if problem is not None:
        raise ExceptionsError(f"--reason: {problem}")

    def run() -> dict[str, Any]:
        try:
            item = operations.discard(exception_id, by or operator(), reason.strip())
        except operations.ExceptionMissing:
            raise _missing(exception_id) from None
        except operations.ExceptionClosed as exc:
            raise _not_open(exc) from None
        return dict(operations.record(item).model_dump(mode="json"))

    return _in(env, run)


def _summary(item: dict[str, Any]) -> dict[str, Any]:
    return dict(operations.summary(item).model_dump(mode="json"))


# -- printing ----------------------------------------------------------------------------------------
def _short(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_list(items: list[dict[str, Any]], next_cursor: str | None, status: str) -> None:
    if not items:
        print(f"no {'' if status == ALL else status + ' '}business exceptions")
        return
    print(f"{'EXCEPTION':<24}  {'STATUS':<11}  {'TARGET':<7}  {'ENTITY':<44}  {'RAISED':<24}  {'N':>2}  REASON")
    for i in items:
        entity = _short(f"{i['entity_type']} {i['entity_id']}", 44)
        print(
            f"{i['exception_id']:<24}  {i['status']:<11}  {i['target']:<7}  {entity:<44}  {i['raised_at']:<24}  "
            f"{i['attempts']:>2}  {_short(i['reason'], 80)}"
        )
    if next_cursor:
        print(f"\nmore: --cursor {next_cursor}")


def _print_detail(item: dict[str, Any]) -> None:
    for key in ("exception_id", "status", "target", "entity_type", "entity_id", "code", "reason"):
        print(f"{key:<16}{item.get(key)}")
    print(f"{'raised_at':<16}{item.get('raised_at')} (first {item.get('first_raised_at') or item.get('raised_at')})")
    print(f"{'updated_at':<16}{item.get('updated_at')}")
    print(f"{'attempts':<16}{item.get('attempts')}")
    for key, value in sorted((item.get("refs") or {}).items()):
        print(f"{'ref ' + key:<16}{value}")
    print("history")
    for entry in item.get("history") or []:
        who = f" by {entry['by']}" if entry.get("by") else ""
        why = f": {entry['reason']}" if entry.get("reason") else ""
        print(f"  {entry.get('at')}  {entry.get('status')}{who}{why}")
    if "payload" in item:
        print("payload (sent again on resubmit; may hold personal data)")
        try:
            print(json.dumps(json.loads(item["payload"]), indent=2, sort_keys=True))
        except ValueError:
            print(item["payload"])


def command(env: HubEnvironment, args: argparse.Namespace) -> int:
    """Run ``synchub exceptions <list|show|resubmit|discard>``; 2 for a request refused."""
    try:
        if args.exceptions_command == "list":
            items, next_cursor = list_exceptions(
                env, status=args.status, target=args.target, limit=args.limit, cursor=args.cursor
            )
            if args.json:
                print(json.dumps({"items": items, "next_cursor": next_cursor}, indent=2))
            else:
                _print_list(items, next_cursor, args.status)
        elif args.exceptions_command == "show":
            item = show(env, args.exception_id)
            if args.json:
                print(json.dumps(item, indent=2))
            else:
                _print_detail(item)
        elif args.exceptions_command == "resubmit":
            item = resubmit(env, args.exception_id)
            print(
                f"{item['exception_id']} resubmitted: {item['entity_type']} {item['entity_id']} goes to "
                f"{item['target']} again; refused again, the exception re-opens; once it goes through, it is RESOLVED"
            )
        else:
            item = discard(env, args.exception_id, args.reason)
            print(f"{item['exception_id']} discarded: nothing is sent to {item['target']}")
    except ExceptionsError as exc:
        print(f"synchub exceptions: {exc}", file=sys.stderr)
        return 2
    return 0


def _environment(args: argparse.Namespace) -> HubEnvironment:
    from synchub.environment import from_args

    return from_args(args)


def cmd_exceptions(args: argparse.Namespace) -> int:
    return command(_environment(args), args)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``synchub exceptions list|show|resubmit|discard`` (wired in synchub/cli.py)."""
    from synchub.environment import where_options

    where = where_options()
    ex = sub.add_parser(
        "exceptions",
        help="business exceptions: permanent rejections by finance or the ERP, to resubmit or discard",
        description="Work the business exceptions: what finance or the ERP refused for good (an unknown account, "
        "a blocked customer, a validation error). Fix the cause, then resubmit; or discard with a reason. "
        "Technical failures go to the DLQs instead (`synchub replay`).",
    )
    ex.set_defaults(fn=cmd_exceptions)
    cmds = ex.add_subparsers(dest="exceptions_command", required=True)
    ls = cmds.add_parser("list", parents=[where], help="exceptions, newest first (no payloads)")
    ls.add_argument(
        "--status",
        default="OPEN",
        type=lambda s: s if s == ALL else s.upper(),
        choices=[*operations.STATUSES, ALL],
        help="which (default OPEN; all: every status)",
    )
    ls.add_argument("--target", default=None, choices=list(operations.TARGETS), help="finance or erp only")
    ls.add_argument(
        "--limit",
        type=int,
        default=operations.DEFAULT_LIMIT,
        help=f"how many (1-{operations.MAX_LIMIT}, default {operations.DEFAULT_LIMIT})",
    )
    ls.add_argument("--cursor", default=None, help="the next page: the cursor the previous list printed")
    ls.add_argument("--json", action="store_true", help='print {"items": [...], "next_cursor"} as JSON')
    sh = cmds.add_parser("show", parents=[where], help="one exception in full, with its payload and history")
    sh.add_argument("exception_id", metavar="ID")
    sh.add_argument("--json", action="store_true", help="print the exception as JSON")
    rs = cmds.add_parser("resubmit", parents=[where], help="send it again to its target (after fixing the cause), once")
    rs.add_argument("exception_id", metavar="ID")
    ds = cmds.add_parser("discard", parents=[where], help="give it up, with the reason why")
    ds.add_argument("exception_id", metavar="ID")
    ds.add_argument("--reason", required=True, help=f"why (1-{operations.MAX_REASON_CHARS} characters)")


__all__ = [
    "ExceptionsError",
    "add_parser",
    "command",
    "discard",
    "function_environment",
    "list_exceptions",
    "resubmit",
    "show",
]
