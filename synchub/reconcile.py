"""``synchub reconcile``: run the reconciliation now, in-process, against the hub's environment (the
running local hub by default, ``--stack NAME`` for a deployed one), and print its report.

The run is the scheduled function's own code (``reconciliation.logic.run``) with the environment a
function gets (``HubEnvironment.function_env``): it reads the same tables, the same finance API and
repairs through the same queues, and stores its result (``RECON#<run_id>``) and its
``ReconciliationCompleted`` event like a scheduled run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from synchub import environment
from synchub.environment import HubEnvironment

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "functions") not in sys.path:  # the run is the function's own code
    sys.path.insert(0, str(ROOT / "functions"))

SHOWN = 20  # references printed per category (the stored result keeps up to 500, --json prints them)
EXIT_DISCREPANCIES = 3  # the run completed and found something missing, extra or mismatched

T = TypeVar("T")

INVOICE_ROWS = (
    ("matched", "matched", None),
    ("missing", "missing in finance", "reposted"),
    ("in_flight", "in flight (issued within the grace period)", None),
    ("rejected", "rejected by finance (business exceptions)", None),
    ("extra", "extra in finance (unknown to the hub)", None),
    ("mismatched", "mismatched (amount, currency, lines)", None),
)
ORDER_ROWS = (
    ("matched", "matched", None),
    ("missing", "missing in the ERP (no acknowledgement)", "resent"),
    ("in_flight", "in flight (awaiting acknowledgement)", None),
    ("rejected", "rejected by the ERP (business exceptions)", None),
    ("extra", "extra in the ERP (orders unknown to the hub)", None),
    ("mismatched", "mismatched (currency, net total, line count)", None),
)


def _day(text: str) -> date:
    """A UTC day: ``YYYY-MM-DD`` or an ISO instant (its UTC date)."""
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO instant") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.date()


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconcile",
        help="compare the hub with finance and the ERP now, repair what is missing",
        description="Compare, over whole UTC days, the hub's invoices with finance's documents and the "
        "hub's accepted orders with the ERP's acknowledgements: matched, missing, extra and mismatched, "
        "each listed with references. Missing documents are re-sent (idempotently) and mismatches raised "
        "as business exceptions unless --no-repair. The result is stored and emitted as "
        "ReconciliationCompleted, as the hourly schedule does. Exit status: 0 all matched (or in flight), "
        f"{EXIT_DISCREPANCIES} discrepancies found, 1 the run failed.",
    )
    p.add_argument("--from", dest="window_from", type=_day, default=None, help="first UTC day (YYYY-MM-DD)")
    p.add_argument(
        "--to",
        dest="window_to",
        type=_day,
        default=None,
        help="last UTC day, inclusive (default: today; with neither: the days of the last RECONCILE_WINDOW_HOURS)",
    )
    p.add_argument("--no-repair", action="store_true", help="report only: re-send nothing, raise no exceptions")
    p.add_argument("--json", action="store_true", help="print the stored result as JSON")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--stack", default=None, help="a deployed stack name (default: the running local hub)")
    where.add_argument("--state-dir", default=None, help="the running local hub's state dir (.synchub)")
    p.add_argument("--region", default=None)
    p.set_defaults(fn=cmd_reconcile)


def cmd_reconcile(args: argparse.Namespace) -> int:
    env = environment.from_args(args)
    try:
        result = reconcile(env, args.window_from, args.window_to, repair=not args.no_repair)
    except Exception as exc:  # the run failed: nothing was stored
        print(f"reconciliation failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, sort_keys=True) if args.json else render(result))
    return EXIT_DISCREPANCIES if discrepancies(result) else 0


def reconcile(
    env: HubEnvironment, window_from: date | None = None, window_to: date | None = None, *, repair: bool = True
) -> dict[str, Any]:
    """Run ``reconciliation.logic.run`` in-process with the environment's function env; the stored result."""

    def run() -> dict[str, Any]:
        from reconciliation import logic

        return logic.run(window_from, window_to, repair=repair)

    return with_function_env(env, run)


def with_function_env(env: HubEnvironment, fn: Callable[[], T]) -> T:
    with env.running_functions():
        return fn()


def discrepancies(result: dict[str, Any]) -> bool:
    """Anything missing, extra or mismatched on either side (in flight and rejected are not)."""
    return any(
        result[side][category] for side in ("invoices", "erp_orders") for category in ("missing", "extra", "mismatched")
    )


def _listing(result: dict[str, Any], side: str, category: str) -> list[str]:
    listed = result.get("references", {}).get(side, {}).get(category) or {}
    references: list[str] = list(listed.get("references") or [])
    count = int(listed.get("count", len(references)))
    why = {d["reference"]: d["differences"] for d in result.get("differences", {}).get(side, [])}
    lines = [f"      {ref}: {why[ref]}" if ref in why else f"      {ref}" for ref in references[:SHOWN]]
    if count > min(len(references), SHOWN):
        lines.append(f"      and {count - min(len(references), SHOWN)} more")
    return lines


def render(result: dict[str, Any]) -> str:
    """The report: each category with its count and references (the first 20, "and N more"), and
    the match rates."""
    out = [
        f"reconciliation {result['run_id']}: UTC days {result['window_from']} to {result['window_to']}, "
        f"repair {'on' if result.get('repair', True) else 'off (report only)'}",
        "",
    ]
    sections = (
        ("invoices", "Invoices", "finance", "invoice_match_rate", INVOICE_ROWS),
        ("erp_orders", "Accepted orders", "acknowledged", "erp_match_rate", ORDER_ROWS),
    )
    for side, title, other, rate, rows in sections:
        counts = result[side]
        peer = "finance documents" if side == "invoices" else "acknowledged by the ERP"
        out.append(f"{title}: {counts['hub']} in the hub, {counts[other]} {peer}, match rate {result[rate]}%")
        for category, label, repaired in rows:
            count = counts.get(category, 0)
            extra = f" ({counts[repaired]} {'re-posted' if repaired == 'reposted' else 're-sent'})" if repaired else ""
            out.append(f"  {label:<48} {count:>6}{extra if count else ''}")
            if category != "matched" and count:
                out.extend(_listing(result, side, category))
        for category, label in (
            ("deferred", "not re-sent: the circuit is open, its buffer holds them"),
            ("repair_failed", "could not be re-sent (tried again next run)"),
        ):
            listed = result.get("references", {}).get(side, {}).get(category) or {}
            if listed.get("count"):
                out.append(f"  {label:<48} {listed['count']:>6}")
                out.extend(_listing(result, side, category))
        out.append("")
    raised = result.get("exceptions_raised") or {}
    if any(raised.values()):
        out.append(
            f"business exceptions raised: {raised.get('invoices', 0)} invoice(s), {raised.get('erp_orders', 0)} "
            "order(s): see `synchub exceptions list`"
        )
    out.append(f"stored as RECON#{result['run_id']}; ReconciliationCompleted emitted")
    return "\n".join(out)
