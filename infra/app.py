"""CDK app entry point: ``python -m infra.app`` synthesizes into ./cdk.out (no Docker, offline)."""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk

from infra.stack import SynchubStack

ROOT = Path(__file__).resolve().parent.parent
STACK_NAME = "Synchub"


def build(outdir: str | os.PathLike[str] | None = None) -> cdk.App:
    # the same context the CDK CLI would pass from cdk.json, so `python -m infra.app` and
    # `cdk synth` produce the same template
    context = json.loads((ROOT / "cdk.json").read_text()).get("context", {})
    app = cdk.App(outdir=str(outdir or ROOT / "cdk.out"), context=context)
    SynchubStack(app, STACK_NAME, description="synchub: order-to-cash integration hub")
    return app


def main() -> None:
    build().synth()


if __name__ == "__main__":
    main()
