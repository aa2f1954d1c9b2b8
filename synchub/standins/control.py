"""Control of the local stand-ins: start them, talk to their admin APIs, and the CLI commands
``synchub fault``, ``synchub erp`` and ``synchub finance``.

Python API (tests, demo, the local hub):

* :func:`start_finance` / :func:`start_erp` spawn a stand-in process, wait for its ready file and
  return a :class:`StandIn` (``.url``, ``.admin_url``, ``.pid``, ``.stop()``);
* :class:`FinanceAdmin` / :class:`ErpAdmin` wrap each admin endpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import MODES

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("products", "customers", "prices")
MODE_EFFECT = {
    "finance": {
        "down": "every API call answers 503",
        "slow": "every API call takes effect but is answered only after {slow}s",
        "flaky": "1 API call in 3 answers 500/502 without effect",
        "duplicate-accept": "a new invoice is booked, then the connection closes without an answer",
        "recover": "normal service",
    },
    "erp": {
        "down": "order files are no longer picked up",
        "slow": "each order file waits {slow}s before it is processed",
        "flaky": "1 order file in 3 is refused whole (FILE_REJECTED)",
        "duplicate-accept": "every ack file is written twice (the second with -2)",
        "recover": "normal service; waiting files are picked up",
    },
}


class AdminError(RuntimeError):
    """An admin call failed: the stand-in answered an error (``status``) or did not answer."""

    def __init__(self, message: str, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.status, self.body = status, body


class _Admin:
    name = "stand-in"

    def __init__(self, admin_url: str, timeout: float = 30.0):
        self.admin_url = admin_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None, missing_ok: bool = False) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.admin_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = raw.decode(errors="replace")
            if exc.code == 404 and missing_ok:
                return None
            detail = payload.get("detail") if isinstance(payload, dict) else payload
            raise AdminError(f"{self.name} stand-in: {method} {path}: {exc.code} {detail}", exc.code, payload) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AdminError(
                f"the {self.name} stand-in at {self.admin_url} does not answer ({reason}): "
                "is the local hub running? (`synchub local up`)"
            ) from None
        return json.loads(raw) if raw else None

    def fault(self, mode: str, slow_seconds: float | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"mode": mode}
        if slow_seconds is not None:
            body["slow_seconds"] = slow_seconds
        return dict(self._call("POST", "/_admin/fault", body))

    def status(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_admin/status"))


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class FinanceAdmin(_Admin):
    """The finance stand-in's admin endpoints (no auth; stand-in only)."""

    name = "finance"

    def add_account(self, account: str) -> dict[str, Any]:
        return dict(self._call("POST", "/_admin/accounts", {"account": account}))

    def remove_account(self, account: str) -> dict[str, Any]:
        return dict(self._call("DELETE", f"/_admin/accounts/{_q(account)}"))

    def has_account(self, account: str) -> bool:
        return self._call("GET", f"/_admin/accounts/{_q(account)}", missing_ok=True) is not None

    def invoices(self, external_reference: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        query = f"external_reference={_q(external_reference)}" if external_reference else f"limit={limit}"
        return list(self._call("GET", f"/_admin/invoices?{query}")["items"])

    def invoice(self, external_reference: str) -> dict[str, Any] | None:
        return self._call("GET", f"/_admin/invoices/{_q(external_reference)}", missing_ok=True)

    def delete_invoice(self, external_reference: str) -> dict[str, Any]:
        """Inject "missing": finance loses the document."""
        return dict(self._call("DELETE", f"/_admin/invoices/{_q(external_reference)}"))

    def patch_invoice(self, external_reference: str, **changes: Any) -> dict[str, Any]:
        """Inject "mismatched": change fields of the booked document (e.g. gross_total="40.00")."""
        return dict(self._call("PATCH", f"/_admin/invoices/{_q(external_reference)}", changes))

    def inject_invoice(self, document: dict[str, Any]) -> dict[str, Any]:
        """Inject "extra": a document the hub never posted."""
        return dict(self._call("POST", "/_admin/invoices", document))

    def revoke_tokens(self) -> int:
        """Every access token stops working (the next API call answers 401 invalid_token)."""
        return int(self._call("POST", "/_admin/tokens/revoke", {})["revoked"])


class ErpAdmin(_Admin):
    """The ERP stand-in's admin endpoints."""

    name = "erp"

    def export(self, kinds: Sequence[str] = KINDS, bad_rows: bool = False) -> list[dict[str, Any]]:
        """Write master data files into the bucket; each ``{"kind","key","rows","bad_rows"}``."""
        return list(self._call("POST", "/_admin/export", {"kinds": list(kinds), "bad_rows": bad_rows})["files"])

    def set_customer_status(self, customer_id: str, status: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/_admin/customers/{_q(customer_id)}", {"status": status}))

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        return self._call("GET", f"/_admin/customers/{_q(customer_id)}", missing_ok=True)

    def product(self, sku: str) -> dict[str, Any] | None:
        return self._call("GET", f"/_admin/products/{_q(sku)}", missing_ok=True)

    def order(self, order_id: str) -> dict[str, Any] | None:
        """A booked order with its lines, or None (never booked, rejected, or deleted)."""
        return self._call("GET", f"/_admin/orders/{_q(order_id)}", missing_ok=True)

    def orders(self, limit: int = 1000) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/_admin/orders?limit={limit}")["items"])

    def delete_order(self, order_id: str) -> dict[str, Any]:
        """Inject "missing": the ERP loses the order (a resend books it again, with a new SO number)."""
        return dict(self._call("DELETE", f"/_admin/orders/{_q(order_id)}"))

    def patch_order(self, order_id: str, **changes: Any) -> dict[str, Any]:
        """Inject a mismatch: net_total, currency or line_count of the booked order."""
        return dict(self._call("PATCH", f"/_admin/orders/{_q(order_id)}", changes))

    def file(self, name: str) -> dict[str, Any] | None:
        """How an order file was processed (status DONE | FILE_REJECTED, counts, ack keys)."""
        return self._call("GET", f"/_admin/files/{_q(name)}", missing_ok=True)

    def poll(self) -> None:
        """Look at the bucket now instead of at the next poll interval."""
        self._call("POST", "/_admin/poll", {})


# ---------------------------------------------------------------------- processes


class StandInStartError(RuntimeError):
    """A stand-in did not come up; the message carries the end of its log."""


@dataclass
class StandIn:
    name: str
    process: subprocess.Popen[bytes]
    admin_url: str
    url: str | None
    log_file: Path
    ready: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def state(self) -> dict[str, Any]:
        """What the local hub's state file keeps under ``standins.<name>``."""
        out: dict[str, Any] = {"admin_url": self.admin_url, "pid": self.pid}
        if self.url is not None:
            out = {"url": self.url, **out}
        return out

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _spawn(
    name: str,
    module: str,
    args: list[str],
    data_dir: Path,
    ready_timeout: float,
    log_file: Path | None,
    exit_with_parent: bool,
    extra_env: dict[str, str] | None = None,
) -> StandIn:
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    ready_file = data_dir / f"{name}.ready.json"
    ready_file.unlink(missing_ok=True)
    log_path = Path(log_file) if log_file else data_dir / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra_env or {})
    cmd = [sys.executable, "-m", module, "--data-dir", str(data_dir), "--ready-file", str(ready_file), *args]
    if exit_with_parent:
        cmd.append("--exit-with-parent")
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    deadline = time.monotonic() + ready_timeout
    while True:
        if process.poll() is not None:
            raise StandInStartError(
                f"the {name} stand-in exited with code {process.returncode} while starting; its log "
                f"({log_path}):\n{_tail(log_path)}"
            )
        try:
            ready = json.loads(ready_file.read_text())
            if ready.get("pid") == process.pid:
                return StandIn(name, process, ready["admin_url"], ready.get("url"), log_path, ready)
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            process.kill()
            process.wait(5)
            raise StandInStartError(
                f"the {name} stand-in was not ready after {ready_timeout:g}s; its log ({log_path}):\n{_tail(log_path)}"
            )
        time.sleep(0.05)


def start_finance(
    data_dir: Path,
    *,
    client_id: str,
    client_secret: str,
    port: int = 0,
    rate_limit: float = 50.0,
    token_ttl: int | None = None,
    ready_timeout: float = 30.0,
    log_file: Path | None = None,
    exit_with_parent: bool = True,
) -> StandIn:
    """Start the finance stand-in (``python -m synchub.standins.finance``) and wait until it listens."""
    args = ["--port", str(port), "--client-id", client_id, "--rate-limit", str(rate_limit)]
    if token_ttl is not None:
        args += ["--token-ttl", str(token_ttl)]
    env = {"FINANCE_STANDIN_CLIENT_SECRET": client_secret}  # not in argv: the process list shows argv
    return _spawn("finance", "synchub.standins.finance", args, data_dir, ready_timeout, log_file, exit_with_parent, env)


def start_erp(
    data_dir: Path,
    *,
    s3_endpoint: str,
    bucket: str,
    region: str = "eu-west-1",
    port: int = 0,
    poll_interval: float = 1.0,
    ready_timeout: float = 30.0,
    log_file: Path | None = None,
    exit_with_parent: bool = True,
) -> StandIn:
    """Start the ERP stand-in (``python -m synchub.standins.erp``) and wait until it listens."""
    args = ["--port", str(port), "--s3-endpoint", s3_endpoint, "--region", region, "--bucket", bucket]
    args += ["--poll-interval", str(poll_interval)]
    return _spawn("erp", "synchub.standins.erp", args, data_dir, ready_timeout, log_file, exit_with_parent)


# ---------------------------------------------------------------------- CLI


class _Refused(Exception):
    pass


def _state_file(args: argparse.Namespace) -> Path:
    if getattr(args, "state_dir", None):
        return Path(args.state_dir) / "local.json"
    from synchub.environment import LOCAL_STATE

    return LOCAL_STATE


def admin_url(args: argparse.Namespace, name: str) -> str:
    """The admin URL of the stand-in ``name``: --admin-url, else the local hub's state file."""
    if getattr(args, "admin_url", None):
        return str(args.admin_url)
    return _from_state(_state_file(args), name)


def finance_admin(state_file: Path | None = None) -> FinanceAdmin:
    """The running local hub's finance stand-in (state file: ``.synchub/local.json`` by default)."""
    try:
        return FinanceAdmin(_from_state(state_file or _state_file(argparse.Namespace()), "finance"))
    except _Refused as exc:
        raise AdminError(str(exc)) from None


def erp_admin(state_file: Path | None = None) -> ErpAdmin:
    """The running local hub's ERP stand-in (state file: ``.synchub/local.json`` by default)."""
    try:
        return ErpAdmin(_from_state(state_file or _state_file(argparse.Namespace()), "erp"))
    except _Refused as exc:
        raise AdminError(str(exc)) from None


def _from_state(state_file: Path, name: str) -> str:
    if not state_file.exists():
        raise _Refused(f"no local hub is running ({state_file} missing): start one with `synchub local up`")
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError) as exc:
        raise _Refused(f"cannot read the local hub's state file {state_file} ({exc})") from None
    entry = (state.get("standins") or {}).get(name) or {}
    if not entry.get("admin_url"):
        raise _Refused(
            f"the local hub ({state_file}) runs no {name} stand-in: restart it with `synchub local up` "
            "(or pass --admin-url)"
        )
    return str(entry["admin_url"])


def _run(args: argparse.Namespace, fn: Any) -> int:
    try:
        fn(args)
    except (_Refused, AdminError) as exc:
        print(f"synchub: {exc}", file=sys.stderr)
        return 1
    return 0


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def cmd_fault(args: argparse.Namespace) -> int:
    def go(a: argparse.Namespace) -> None:
        admin = (FinanceAdmin if a.target == "finance" else ErpAdmin)(admin_url(a, a.target))
        out = admin.fault(a.mode, a.slow_seconds)
        effect = MODE_EFFECT[a.target][out["mode"]].format(slow=f"{out.get('slow_seconds', 0):g}")
        print(f"{a.target}: fault mode {out['mode']} ({effect})")

    return _run(args, go)


def cmd_erp(args: argparse.Namespace) -> int:
    def go(a: argparse.Namespace) -> None:
        admin = ErpAdmin(admin_url(a, "erp"))
        if a.erp_command == "status":
            s = admin.status()
            if a.json:
                _print_json(s)
                return
            pending = "?" if s.get("files_pending") is None else s["files_pending"]
            print(
                f"erp stand-in {admin.admin_url}: mode {s['mode']}; {s['orders_booked']} order(s) booked, "
                f"{s['orders_rejected']} rejected; {s['files_processed']} file(s) processed, "
                f"{s['files_rejected']} refused, {pending} pending (bucket {s['bucket']})"
            )
            if s.get("last_error"):
                print(f"  last error: {s['last_error']}")
        elif a.erp_command == "export":
            kinds = list(KINDS) if a.kind == "all" else [a.kind]
            files = admin.export(kinds, a.bad_rows)
            if a.json:
                _print_json(files)
                return
            for f in files:
                bad = f" (invalid rows: {', '.join(map(str, f['bad_rows']))})" if f["bad_rows"] else ""
                print(f"{f['kind']:10s} {f['rows']:>6} row(s)  {f['key']}{bad}")
        elif a.erp_command == "customer":
            if a.status is None:
                c = admin.customer(a.customer_id)
                if c is None:
                    raise _Refused(f"the ERP has no customer {a.customer_id}")
                print(f"{c['customer_id']}: {c['status']} (price group {c['price_group']}, {c['country']})")
                return
            out = admin.set_customer_status(a.customer_id, a.status)
            print(f"{out['customer_id']}: {out['status']} in the ERP (export customers to send it to the hub)")
        elif a.erp_command == "order":
            order = admin.order(a.order_id)
            if order is None:
                raise _Refused(f"the ERP has no booked order {a.order_id}")
            _print_json(order)

    return _run(args, go)


def cmd_finance(args: argparse.Namespace) -> int:
    def go(a: argparse.Namespace) -> None:
        admin = FinanceAdmin(admin_url(a, "finance"))
        if a.finance_command == "status":
            s = admin.status()
            if a.json:
                _print_json(s)
                return
            answers = ", ".join(f"{k}: {v}" for k, v in sorted(s.get("responses", {}).items()))
            print(
                f"finance stand-in {admin.admin_url}: mode {s['mode']}; {s['documents']} document(s), "
                f"{s['accounts']} account(s), {s['requests']} API request(s)" + (f" ({answers})" if answers else "")
            )
        elif a.finance_command == "account":
            if a.action == "add":
                admin.add_account(a.account)
                print(f"finance account {a.account} added")
            else:
                admin.remove_account(a.account)
                print(f"finance account {a.account} removed")
        elif a.finance_command == "invoice":
            doc = admin.invoice(a.external_reference)
            if doc is None:
                raise _Refused(f"finance has no document with external_reference {a.external_reference}")
            _print_json(doc)

    return _run(args, go)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``fault``, ``erp`` and ``finance`` on the ``synchub`` command line."""
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--state-dir", default=None, help="the running local hub's state dir (.synchub)")
    where.add_argument("--admin-url", default=None, help="talk to this stand-in directly (its admin URL)")

    fault = sub.add_parser(
        "fault",
        parents=[where],
        help="switch a local stand-in (finance, erp) into a failure mode",
        description="Switch the local finance or ERP stand-in into a failure mode; `recover` ends it. "
        "finance: down = every call 503, slow = answers after slow_seconds (default 8), flaky = 1 call "
        "in 3 fails with 500/502, duplicate-accept = books a new invoice and closes the connection "
        "unanswered. erp: down = stops picking up order files, slow = waits slow_seconds (default 20) "
        "per file, flaky = refuses 1 file in 3 (FILE_REJECTED), duplicate-accept = writes every ack twice. "
        "The mode is kept across restarts of the stand-in.",
    )
    fault.add_argument("target", choices=["finance", "erp"])
    fault.add_argument("mode", choices=list(MODES))
    fault.add_argument("--slow-seconds", type=float, default=None, help="delay of the slow mode")
    fault.set_defaults(fn=cmd_fault)

    erp = sub.add_parser("erp", help="the local legacy ERP stand-in: master data export, customers, status")
    erp.set_defaults(fn=cmd_erp)
    ec = erp.add_subparsers(dest="erp_command", required=True)
    ex = ec.add_parser(
        "export",
        parents=[where],
        help="drop the ERP's master data files into the exchange bucket (from-erp/master/...)",
    )
    ex.add_argument("--kind", choices=[*KINDS, "all"], default="all")
    ex.add_argument("--bad-rows", action="store_true", help="add a few invalid rows (for the reject report)")
    ex.add_argument("--json", action="store_true")
    cu = ec.add_parser("customer", parents=[where], help="show a customer, or block / unblock it in the ERP")
    cu.add_argument("customer_id", metavar="ID")
    cu.add_argument("--status", choices=["ACTIVE", "BLOCKED"], default=None)
    st = ec.add_parser("status", parents=[where], help="fault mode, orders booked, files processed and pending")
    st.add_argument("--json", action="store_true")
    od = ec.add_parser("order", parents=[where], help="an order as the ERP booked it (JSON)")
    od.add_argument("order_id", metavar="ORDER_ID")

    fin = sub.add_parser("finance", help="the local cloud finance stand-in: status, accounts, documents")
    fin.set_defaults(fn=cmd_finance)
    fc = fin.add_subparsers(dest="finance_command", required=True)
    fs = fc.add_parser("status", parents=[where], help="fault mode, documents, accounts, requests")
    fs.add_argument("--json", action="store_true")
    ac = fc.add_parser("account", parents=[where], help="add or remove a customer account in finance")
    ac.add_argument("action", choices=["add", "remove"])
    ac.add_argument("account", metavar="ID")
    iv = fc.add_parser("invoice", parents=[where], help="a finance document by external reference (JSON)")
    iv.add_argument("external_reference", metavar="EXTERNAL_REFERENCE")
