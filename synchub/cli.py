"""``synchub`` command line: local hub, demo, DLQ replay, synth."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "functions") not in sys.path:  # replay runs the outbox sweep's own code
    sys.path.insert(0, str(ROOT / "functions"))


def _synth() -> None:
    from infra.app import build

    build().synth()


def cmd_synth(args: argparse.Namespace) -> int:
    _synth()
    print(f"synthesized into {ROOT / 'cdk.out'}")
    return 0


def cmd_local_up(args: argparse.Namespace) -> int:
    from synchub.local.runtime import LocalHub

    if not args.no_synth:
        _synth()
    kwargs = {"state_dir": Path(args.state_dir)} if args.state_dir else {}
    hub = LocalHub(endpoint=args.endpoint, api_port=args.port, region=args.region, **kwargs)
    hub.start()
    print(f"synchub local hub is up ({'moto, embedded' if args.endpoint is None else args.endpoint})")
    print(f"  API            {hub.api_url}   (POST /orders, GET /orders/{{order_id}})")
    print(f"  AWS endpoint   {hub.endpoint}   region {hub.region}")
    print(f"  function logs  {hub.state_dir / 'logs'}")
    print(f"  state          {hub.state_dir / 'local.json'}")
    code = 0
    try:
        if args.demo:
            from synchub import demo, environment

            print("\nrunning the demo:")
            try:
                demo.run(environment.local(hub.state_dir / "local.json"))
                print("demo: order -> reservation -> shipment -> exactly one invoice: OK")
            except demo.DemoFailed as exc:
                print(f"demo FAILED: {exc}", file=sys.stderr)
                code = 1
        if not args.exit:
            print("\nhub running; Ctrl-C to stop")
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                stop.wait()
            except KeyboardInterrupt:
                pass
    finally:
        hub.stop()
    return code


def cmd_demo(args: argparse.Namespace) -> int:
    from synchub import demo, environment

    try:
        demo.run(environment.local(Path(args.state_dir) / "local.json" if args.state_dir else environment.LOCAL_STATE))
    except demo.DemoFailed as exc:
        print(f"demo FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from synchub import environment, replay

    if args.stack:
        env = environment.from_stack(args.stack, args.region)
    else:
        env = environment.local(Path(args.state_dir) / "local.json" if args.state_dir else environment.LOCAL_STATE)
    if args.list:
        for name, url in env.queues.items():
            if "DeadLetter" in name:
                count = env.clients()("sqs").get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
                print(f"{name:45s} {count['ApproximateNumberOfMessages']:>6} message(s)")
        return 0
    if not args.queue:
        print("name a dead-letter queue (or --list)", file=sys.stderr)
        return 2
    report = replay.replay(env, args.queue, dry_run=args.dry_run)
    replay.main_print(report, args.dry_run)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="synchub", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("synth", help="synthesize the CDK app into cdk.out (offline, no Docker)").set_defaults(fn=cmd_synth)
    local = sub.add_parser("local", help="the local hub").add_subparsers(dest="local_command", required=True)
    up = local.add_parser("up", help="start emulated AWS + the stack's functions, event sources and API")
    up.add_argument("--port", type=int, default=3000, help="API port on 127.0.0.1 (0 = any free port)")
    up.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL") or None,
                    help="use this AWS endpoint (e.g. LocalStack http://localhost:4566) instead of embedded "
                         "moto; defaults to $AWS_ENDPOINT_URL when set")
    up.add_argument("--state-dir", default=None, help="where the state file and function logs go (.synchub)")
    up.add_argument("--region", default="eu-west-1")
    up.add_argument("--demo", action="store_true", help="run the demo once the hub is up")
    up.add_argument("--exit", action="store_true", help="stop after start-up (and the demo) instead of serving")
    up.add_argument("--no-synth", action="store_true", help="use the existing cdk.out")
    up.set_defaults(fn=cmd_local_up)
    dm = sub.add_parser("demo", help="drive a sample order through a running local hub")
    dm.add_argument("--state-dir", default=None, help="the running hub's state dir (.synchub)")
    dm.set_defaults(fn=cmd_demo)
    rp = sub.add_parser("replay", help="redrive a dead-letter queue (safe to repeat)")
    rp.add_argument("queue", nargs="?", help="DLQ name (as `--list` shows), physical name or URL")
    rp.add_argument("--list", action="store_true", help="list dead-letter queues and their depth")
    rp.add_argument("--dry-run", action="store_true", help="show what would be replayed")
    rp.add_argument("--stack", default=None, help="a deployed stack name (default: the running local hub)")
    rp.add_argument("--region", default=None)
    rp.add_argument("--state-dir", default=None, help="the running local hub's state dir (.synchub)")
    rp.set_defaults(fn=cmd_replay)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
