"""``synchub`` command line: local hub, demo, DLQ replay, channels and operators, business exceptions,
reconciliation, the local stand-ins (fault, erp, finance), synth."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "functions") not in sys.path:  # replay, exceptions and reconcile run the functions' own code
    sys.path.insert(0, str(ROOT / "functions"))

from synchub import channels, environment, exceptions, reconcile  # noqa: E402  (after the functions' path)
from synchub.local.runtime import LocalHub  # noqa: E402
from synchub.standins import control  # noqa: E402


def _synth() -> None:
    from infra.app import build

    build().synth()


def cmd_synth(args: argparse.Namespace) -> int:
    _synth()
    print(f"synthesized into {ROOT / 'cdk.out'}")
    return 0


def cmd_local_up(args: argparse.Namespace) -> int:
    from synchub.local.runtime import DEFAULT_STATE_DIR, HubStartError

    # a job started in the background by a script inherits SIGINT ignored: take it back, and treat
    # SIGTERM the same way, so both stop the hub cleanly
    stop, serving = threading.Event(), threading.Event()

    def on_signal(*_: object) -> None:
        stop.set()
        if not serving.is_set():  # still starting or running the demo: abandon it
            raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    if not args.no_synth:
        _synth()
    hub = LocalHub(
        endpoint=args.endpoint,
        api_port=args.port,
        emulator_port=args.emulator_port,
        region=args.region,
        fresh=args.fresh,
        state_dir=Path(args.state_dir) if args.state_dir else DEFAULT_STATE_DIR,
        standins=not args.no_standins,
    )
    try:
        hub.start()
    except HubStartError as exc:
        print(f"synchub: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"synchub local hub is up ({'moto, embedded' if args.endpoint is None else args.endpoint})")
    print(f"  API            {hub.api_url}   (orders, invoices, credit memos, availability; contract: /openapi.json)")
    print(f"  token URL      {hub.api_url}/oauth2/token   (OAuth 2.0 client credentials)")
    print("  credentials    .venv/bin/synchub channels add <channel>   (prints the channel's client id and secret)")
    print(f"  AWS endpoint   {hub.endpoint}   region {hub.region}")
    _print_connectors(hub)
    print(f"  function logs  {hub.state_dir / 'logs'}")
    print(f"  state          {hub.state_dir / 'local.json'}")
    if hub.recovered_from is not None:
        print(
            f"  recovered      the previous hub (pid {hub.recovered_from.get('pid', '?')}) did not stop cleanly; "
            "its data was recovered from the journal"
        )
    if hub.store is not None:
        print(
            f"  data           {hub.store.dir} ({'restored: ' + str(hub.restored) if hub.restored else 'empty'}; "
            "--fresh starts empty)"
        )
    sys.stdout.flush()
    code = 0
    try:
        if args.demo:
            from synchub import demo, environment

            print("\nrunning the demo:")
            try:
                demo.run(environment.local(hub.state_dir / "local.json"))
                print(
                    "demo: order -> reservation -> shipment -> exactly one invoice -> ERP acknowledged, "
                    "finance posted, through a finance outage -> reconciled: OK"
                )
            except demo.DemoFailed as exc:
                print(f"demo FAILED: {exc}", file=sys.stderr)
                code = 1
        if not args.exit:
            serving.set()
            print("\nhub running; Ctrl-C to stop", flush=True)
            while not stop.wait(0.2):
                pass
    except KeyboardInterrupt:
        code = 130
    finally:
        serving.set()
        print("stopping the hub ...", flush=True)
        hub.stop()
        print("hub stopped; data kept" + (f" in {hub.state_dir / 'data'}" if hub.persist else ""), flush=True)
    return code


def _print_connectors(hub: LocalHub) -> None:
    """The exchange bucket and the stand-ins' URLs (or, with --no-standins, where the connectors look)."""
    env = hub.connector_env()
    bucket, parameter = env.get("EXCHANGE_BUCKET"), env.get("FINANCE_BASE_URL_PARAMETER")
    if bucket:
        print(f"  ERP exchange   s3://{bucket}   (to-erp/orders/, from-erp/acks/, from-erp/master/)")
    finance, erp = hub.standins.get("finance"), hub.standins.get("erp")
    if finance is not None:
        print(f"  finance        {finance.url}   (stand-in, SSM {parameter}; admin {finance.admin_url}/_admin)")
    if erp is not None:
        print(f"  ERP            {erp.admin_url}/_admin   (stand-in; data {hub.state_dir / 'standins'})")
    if finance is not None or erp is not None:
        print("  failures       .venv/bin/synchub fault finance|erp down|slow|flaky|duplicate-accept|recover")
    for note in hub.standin_notes:
        print(f"  no stand-in    {note}")
    if finance is None and parameter:
        print(f"  finance URL    {hub.parameter_value(parameter)}   (SSM {parameter}, no stand-in; point it at yours:")
        command = f"aws --endpoint-url {hub.endpoint} ssm put-parameter --overwrite --name {parameter} --value URL"
        print(f"                 {command})")


def cmd_demo(args: argparse.Namespace) -> int:
    from synchub import demo, environment

    try:
        demo.run(environment.from_args(args))
    except demo.DemoFailed as exc:
        print(f"demo FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from synchub import environment, replay

    env = environment.from_args(args)
    if args.list:
        for name, url in env.queues.items():
            if "DeadLetter" in name:
                count = env.clients()("sqs").get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]
                print(f"{name:45s} {count['ApproximateNumberOfMessages']:>6} message(s)")
        return 0
    if not args.queue:
        print("name a dead-letter queue (or --list)", file=sys.stderr)
        return 2
    verb = "listed" if args.dry_run else "processed"

    def progress(count: int, done: bool) -> None:  # on stderr: stdout stays the listing / the report
        print(f"{args.queue}: {count} message(s) {verb}{', done' if done else ' ...'}", file=sys.stderr, flush=True)

    report = replay.replay(env, args.queue, dry_run=args.dry_run, progress=progress)
    replay.main_print(report, args.dry_run)
    return 1 if report.failed else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="synchub", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("synth", help="synthesize the CDK app into cdk.out (offline, no Docker)").set_defaults(fn=cmd_synth)
    local = sub.add_parser("local", help="the local hub").add_subparsers(dest="local_command", required=True)
    up = local.add_parser("up", help="start emulated AWS + the stack's functions, event sources and API")
    up.add_argument("--port", type=int, default=3000, help="API port on 127.0.0.1 (0 = any free port)")
    up.add_argument(
        "--emulator-port",
        type=int,
        default=4566,
        help="port of the embedded AWS emulator on 127.0.0.1, for the AWS CLI and SDKs "
        "(--endpoint-url http://127.0.0.1:4566); 0 = any free port",
    )
    up.add_argument(
        "--endpoint",
        default=os.environ.get("AWS_ENDPOINT_URL") or None,
        help="use this AWS endpoint (e.g. LocalStack http://localhost:4566) instead of embedded "
        "moto; defaults to $AWS_ENDPOINT_URL when set",
    )
    up.add_argument("--state-dir", default=None, help="where the state file and function logs go (.synchub)")
    up.add_argument("--region", default="eu-west-1")
    up.add_argument("--demo", action="store_true", help="run the demo once the hub is up")
    up.add_argument("--exit", action="store_true", help="stop after start-up (and the demo) instead of serving")
    up.add_argument("--no-synth", action="store_true", help="use the existing cdk.out")
    up.add_argument(
        "--fresh",
        action="store_true",
        help="start empty: delete the data the hub kept in its state dir (tables, queues, DLQs, the "
        "exchange bucket's files, and the stand-ins' finance documents and ERP orders)",
    )
    up.add_argument(
        "--no-standins",
        action="store_true",
        help="do not start the local finance and ERP stand-ins: the connectors talk to the systems the SSM "
        "parameter /synchub/finance/base-url and the finance credentials secret name (real ones)",
    )
    up.set_defaults(fn=cmd_local_up)
    dm = sub.add_parser("demo", help="drive a sample order through a running local hub")
    dm.add_argument("--state-dir", default=None, help="the running hub's state dir (.synchub)")
    dm.set_defaults(fn=cmd_demo)
    rp = sub.add_parser(
        "replay",
        parents=[environment.where_options()],
        help="redrive a dead-letter queue (safe to repeat)",
        description="Redrive a dead-letter queue as it is when the run starts (messages that fail "
        "again meanwhile wait for the next run). Progress goes to stderr; the exit "
        "status is 1 when SQS refused to take some messages back (they stay in the DLQ).",
    )
    rp.add_argument("queue", nargs="?", help="DLQ name (as `--list` shows), physical name or URL")
    rp.add_argument("--list", action="store_true", help="list dead-letter queues and their depth")
    rp.add_argument("--dry-run", action="store_true", help="show what would be replayed")
    rp.set_defaults(fn=cmd_replay)
    channels.add_channels_parser(sub)
    channels.add_operators_parser(sub)
    exceptions.add_parser(sub)
    reconcile.add_parser(sub)
    control.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    code = args.fn(args)
    if args.fn is cmd_local_up and argv is None:
        # the hub has stopped and saved its data: skip tearing down the emulator's heap object by object
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
