"""``synchub reconcile``: its arguments, its report and its exit status (the run itself is
tests/unit/test_reconciliation_logic.py's and tests/component/test_reconciliation.py's)."""

from __future__ import annotations

import argparse
import json
from datetime import date
from typing import Any

import pytest

from synchub import reconcile


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="synchub")
    reconcile.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["reconcile", *argv])


def listed(refs: list[str], count: int | None = None) -> dict[str, Any]:
    count = len(refs) if count is None else count
    return {"count": count, "references": refs, "truncated": count > len(refs)}


def result(**changes: Any) -> dict[str, Any]:
    categories = ("missing", "in_flight", "rejected", "extra", "mismatched", "repair_failed", "deferred")
    empty = {k: listed([]) for k in categories}
    base: dict[str, Any] = {
        "run_id": "rec-20261123T120000Z-abcdef12",
        "window_from": "2026-11-22",
        "window_to": "2026-11-23",
        "repair": True,
        "invoices": {"hub": 3, "finance": 3, "matched": 3, "missing": 0, "in_flight": 0, "rejected": 0, "extra": 0,
                     "mismatched": 0, "reposted": 0},
        "erp_orders": {"hub": 2, "acknowledged": 2, "matched": 2, "missing": 0, "in_flight": 0, "rejected": 0,
                       "extra": 0, "mismatched": 0, "resent": 0},
        "invoice_match_rate": "100.00",
        "erp_match_rate": "100.00",
        "completed_at": "2026-11-23T12:00:01.000Z",
        "exceptions_raised": {"invoices": 0, "erp_orders": 0},
        "references": {"invoices": dict(empty), "erp_orders": dict(empty)},
        "differences": {"invoices": [], "erp_orders": []},
    }  # fmt: skip
    base.update(changes)
    return base


def test_arguments() -> None:
    args = parse("--from", "2026-11-01", "--to", "2026-11-02T23:30:00+01:00", "--no-repair", "--json", "--stack", "S")
    assert (args.window_from, args.window_to) == (date(2026, 11, 1), date(2026, 11, 2))
    assert args.no_repair and args.json and args.stack == "S" and args.fn is reconcile.cmd_reconcile
    args = parse()
    assert args.window_from is None and args.window_to is None and not args.no_repair and args.state_dir is None
    assert parse("--to", "2026-11-02T23:30:00-02:00").window_to == date(2026, 11, 3)  # its UTC day


@pytest.mark.parametrize("argv", [("--from", "yesterday"), ("--stack", "S", "--state-dir", "d")])
def test_bad_arguments(argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse(*argv)
    assert exit_.value.code == 2


def test_a_clean_report() -> None:
    text = reconcile.render(result())
    assert "rec-20261123T120000Z-abcdef12: UTC days 2026-11-22 to 2026-11-23, repair on" in text
    assert "Invoices: 3 in the hub, 3 finance documents, match rate 100.00%" in text
    assert "Accepted orders: 2 in the hub, 2 acknowledged by the ERP, match rate 100.00%" in text
    assert "business exceptions" in text  # the row labels
    assert not reconcile.discrepancies(result())


def test_the_report_lists_20_references_and_how_many_more() -> None:
    missing = [f"inv_{n:024d}" for n in range(500)]
    r = result(
        invoices={"hub": 700, "finance": 101, "matched": 100, "missing": 598, "in_flight": 0, "rejected": 0,
                  "extra": 0, "mismatched": 1, "reposted": 598},
        invoice_match_rate="14.31",
    )  # fmt: skip
    r["references"]["invoices"]["missing"] = listed(missing, 598)
    r["references"]["invoices"]["mismatched"] = listed(["inv_x"])
    r["differences"]["invoices"] = [
        {"reference": "inv_x", "differences": "gross_total 45.00 in the hub, 40.00 in finance"}
    ]
    r["exceptions_raised"] = {"invoices": 1, "erp_orders": 0}
    text = reconcile.render(r)
    assert "match rate 14.31%" in text
    assert "(598 re-posted)" in text
    for ref in missing[:20]:
        assert f"      {ref}" in text
    assert missing[20] not in text
    assert "      and 578 more" in text
    assert "      inv_x: gross_total 45.00 in the hub, 40.00 in finance" in text
    assert "business exceptions raised: 1 invoice(s), 0 order(s)" in text
    assert "not re-sent" not in text and "could not be re-sent" not in text
    assert reconcile.discrepancies(r)
    r["references"]["erp_orders"]["deferred"] = listed(["ord_1"])
    r["references"]["invoices"]["repair_failed"] = listed(["inv_y"])
    text = reconcile.render(r)
    assert "not re-sent: the circuit is open, its buffer holds them" in text and "      ord_1" in text
    assert "could not be re-sent (tried again next run)" in text and "      inv_y" in text


def test_the_command_prints_the_report_or_the_stored_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple] = []
    stored = result()
    monkeypatch.setattr(reconcile.environment, "local", lambda path: "ENV")
    monkeypatch.setattr(reconcile, "reconcile", lambda env, f, t, repair: calls.append((env, f, t, repair)) or stored)
    assert reconcile.cmd_reconcile(parse("--json", "--no-repair")) == 0
    assert json.loads(capsys.readouterr().out) == stored
    assert calls == [("ENV", None, None, False)]
    stored["invoices"]["missing"] = 1
    assert reconcile.cmd_reconcile(parse()) == reconcile.EXIT_DISCREPANCIES
    assert "match rate" in capsys.readouterr().out


def test_a_failed_run_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def boom(*a: Any, **k: Any) -> dict[str, Any]:
        raise RuntimeError("finance unavailable: connection refused")

    monkeypatch.setattr(reconcile.environment, "local", lambda path: "ENV")
    monkeypatch.setattr(reconcile, "reconcile", boom)
    assert reconcile.cmd_reconcile(parse()) == 1
    assert "reconciliation failed: RuntimeError: finance unavailable" in capsys.readouterr().err
