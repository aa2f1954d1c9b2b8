"""CDK app entry point: ``python -m infra.app`` synthesizes into ./cdk.out (no Docker, offline).

cdk-nag's AwsSolutions and Serverless packs run on every synth (``infra/nag.py``); like ``cdk
synth``, ``python -m infra.app`` fails when they report an unsuppressed error. ``-c synchub:nag=false``
(CDK CLI) or ``build(context={"synchub:nag": False})`` leaves them out.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk

from infra import context as ctx
from infra import nag
from infra.stack import SynchubStack

ROOT = Path(__file__).resolve().parent.parent
STACK_NAME = "Synchub"


def build(
    outdir: str | os.PathLike[str] | None = None,
    *,
    context: Mapping[str, Any] | None = None,
    nag_verbose: bool = False,
    log_suppressed: bool = False,
) -> cdk.App:
    """The app, with cdk.json's context (overridden by ``context``), so `python -m infra.app` and
    `cdk synth` produce the same template. ``nag_verbose`` / ``log_suppressed``: see infra.nag.apply."""
    settings = {**json.loads((ROOT / "cdk.json").read_text()).get("context", {}), **(context or {})}
    app = cdk.App(outdir=str(outdir or ROOT / "cdk.out"), context=settings)
    stack = SynchubStack(app, STACK_NAME, description="synchub: order-to-cash integration hub")
    if ctx.flag(stack, ctx.NAG, True):
        nag.apply(stack, verbose=nag_verbose, log_suppressed=log_suppressed)
    return app


def nag_findings(assembly: cdk.cx_api.CloudAssembly, level: str) -> list[str]:
    """The stack's unsuppressed cdk-nag findings of ``level`` ("error" or "warning")."""
    artifact = assembly.get_stack_artifact(STACK_NAME)
    return [
        f"{m.id}: {str(m.entry.data).strip()}"
        for m in artifact.messages
        if str(m.level.value).lower() == level
        and str(m.entry.data).startswith(("AwsSolutions-", "Serverless-", "CdkNag"))
    ]


def main() -> None:
    assembly = build().synth()
    for line in nag_findings(assembly, "warning"):
        print(f"[cdk-nag warning] {line}", file=sys.stderr)
    errors = nag_findings(assembly, "error")
    if errors:
        for line in errors:
            print(f"[cdk-nag error] {line}", file=sys.stderr)
        raise SystemExit(f"cdk-nag: {len(errors)} unsuppressed error(s); fix them or suppress them in infra/nag.py")


if __name__ == "__main__":
    main()
