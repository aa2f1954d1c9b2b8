"""``python -m benchmarks.coldstart``: every function's cold start against ``import boto3``.

A cold start's init phase imports the handler's module: that is what a user pays on every
scale-out (latency) and, since Lambda bills the init phase of on-demand functions, in money. Each
row is one function of the synthesized template (``cdk.out``), imported in a fresh interpreter
exactly as Lambda imports it: the handler's module from the code asset CDK staged in ``cdk.out``
(``functions/`` with the bytecode the asset ships, ``infra.constructs.common.stage_code``), the function's
environment from the template, the variables the Lambda runtime sets (``LAMBDA_TASK_ROOT``,
``AWS_LAMBDA_FUNCTION_NAME``, ``_X_AMZN_TRACE_ID`` unset at init...) and X-Ray tracing as the template
enables it. The baseline is the same interpreter running ``import boto3`` (the least a function
that calls AWS imports), measured in the same rounds, interleaved with the functions' so drift hits
both alike.

The functions turn the garbage collector off for their init (``synchub_core``); the baseline is
``import boto3`` as the issue defines it, with the collector on, and the reference rows show the
same import with it off and the libraries' floor, so the ratios can be read either way.

Time is the child process's CPU time (user + system, from ``wait4``): wall time on a shared
machine measures the neighbours too. Memory is the child's peak resident set, as the child itself
reads it at the end (``VmHWM`` of ``/proc/self/status``): ``ru_maxrss`` of a child starts at its
parent's peak when it is forked, so under ``make bench`` (a parent of a few hundred MB after the
sections before) every row would show the parent's size.
Figures are the least over ``BENCH_COLD_ROUNDS`` rounds (default 15): the work of an import is
the same every time, and a busy neighbour only ever adds to it. Goal: every function within
1.5x of ``import boto3``.

``BENCH_COLD=0`` skips it in ``make bench``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("BENCH_COLD_ROUNDS", "15"))
GOAL = 1.5
BASELINE = "import boto3"
# the floor under the functions, measured alongside: what the product's libraries cost before a
# line of the hub is imported, used the lean way as the functions use them (Powertools' batch
# utility before pydantic, X-Ray patching botocore only, no garbage collection during init: see
# functions/synchub_core/__init__.py), with X-Ray tracing active as deployed
GC_OFF = "import gc\ngc.disable()\n"
POWERTOOLS = (
    "import boto3\n"
    "from aws_lambda_powertools.utilities.batch import BatchProcessor, process_partial_response\n"
    "from aws_lambda_powertools import Logger, Metrics, Tracer\n"
    "Logger(service='floor'); Metrics(namespace='floor', service='floor')\n"
    "Tracer(service='floor', patch_modules=('botocore',))"
)
PYDANTIC = POWERTOOLS + "\nfrom pydantic import BaseModel\nclass Floor(BaseModel):\n    sku: str\n    quantity: int"
REFERENCES: dict[str, tuple[str, dict[str, str]]] = {
    "import boto3 with the collector off, as the functions do": (GC_OFF + BASELINE, {}),
    "boto3 + Powertools (Logger, Metrics, Tracer, Batch)": (GC_OFF + POWERTOOLS, {}),
    "  the same without the X-Ray SDK (tracer disabled)": (GC_OFF + POWERTOOLS, {"POWERTOOLS_TRACE_DISABLED": "true"}),
    "  + pydantic (one model)": (GC_OFF + PYDANTIC, {}),
}


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler: str  # module.attribute
    memory_mb: int
    environment: dict[str, str]

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def code(self) -> str:
        module, attribute = self.handler.rsplit(".", 1)
        return f"from {module} import {attribute}"


@dataclass(frozen=True)
class Sample:
    cpu_s: float
    peak_mb: float


def functions(template_path: Path = ROOT / "cdk.out" / "Synchub.template.json") -> list[Function]:
    """The stack's own functions (the CDK-provided custom resource handlers are not ours)."""
    resources = json.loads(template_path.read_text())["Resources"]
    found = []
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] != "AWS::Lambda::Function" or "Architectures" not in props:
            continue
        variables = props.get("Environment", {}).get("Variables", {})
        # a Ref/GetAtt is a name or ARN once deployed: any string of that shape does at import
        environment = {k: v if isinstance(v, str) else f"synchub-{k.lower()}" for k, v in variables.items()}
        found.append(Function(logical_id, props["Handler"], int(props.get("MemorySize", 128)), environment))
    return sorted(found, key=lambda f: f.logical_id)


def tracing_active(template_path: Path = ROOT / "cdk.out" / "Synchub.template.json") -> dict[str, bool]:
    resources = json.loads(template_path.read_text())["Resources"]
    return {
        k: r["Properties"].get("TracingConfig", {}).get("Mode") == "Active"
        for k, r in resources.items()
        if r["Type"] == "AWS::Lambda::Function"
    }


def asset_dir(logical_id: str) -> Path:
    """The function's code asset as CDK staged it in ``cdk.out`` (what is zipped and deployed)."""
    sys.path[:0] = [str(ROOT)]
    from synchub.local.template import Template

    return Template.load(ROOT / "cdk.out", "Synchub", "eu-west-1").asset_dir(logical_id)


def lambda_environment(fn: Function | None, task_root: Path, active: bool) -> dict[str, str]:
    """What the Lambda runtime gives the init phase, plus the function's own variables."""
    site = [p for p in sys.path if p.endswith("site-packages")]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONPATH": os.pathsep.join([str(task_root), *site]),
        "PYTHONDONTWRITEBYTECODE": "1",  # /var/task is read-only: nothing is cached between cold starts
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "example",
        "AWS_SESSION_TOKEN": "example",
    }
    if fn is not None:
        env.update(fn.environment)
        env.update(
            AWS_LAMBDA_FUNCTION_NAME=f"Synchub-{fn.logical_id}",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(fn.memory_mb),
            AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            _HANDLER=fn.handler,
        )
        if active:
            env.update(AWS_XRAY_CONTEXT_MISSING="LOG_ERROR", AWS_XRAY_DAEMON_ADDRESS="169.254.79.129:2000")
    return env


# appended to what a child runs: its own high-water mark, on the last line of its stdout (kB)
PEAK = "\nimport sys\nsys.stdout.write(next(l for l in open('/proc/self/status') if l.startswith('VmHWM:')))"


def sample(code: str, env: dict[str, str], cwd: Path) -> Sample:
    # -s: no user site; -E is not used because PYTHONPATH is how Lambda finds the task root and layer
    proc = subprocess.Popen([sys.executable, "-s", "-c", code + PEAK], env=env, cwd=cwd, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.stdout.close()
    if status != 0:
        raise RuntimeError(f"{code!r} failed with status {status}")
    peak_kb = int(out.strip().splitlines()[-1].split()[1])  # "VmHWM:   48123 kB"
    return Sample(usage.ru_utime + usage.ru_stime, peak_kb / 1024)


def measure(
    rounds: int = ROUNDS,
) -> tuple[list[Function], list[Sample], dict[str, list[Sample]], dict[str, list[Sample]]]:
    only = os.environ.get("BENCH_COLD_ONLY", "")  # a prefix of logical ids, to look at a few
    fns = [f for f in functions() if f.logical_id.startswith(tuple(only.split(",")))]
    active = tracing_active()
    base: list[Sample] = []
    refs: dict[str, list[Sample]] = {name: [] for name in REFERENCES}
    rows: dict[str, list[Sample]] = {f.logical_id: [] for f in fns}
    roots = {f.logical_id: asset_dir(f.logical_id) for f in fns}
    envs = {f.logical_id: lambda_environment(f, roots[f.logical_id], active[f.logical_id]) for f in fns}
    some_root = next(iter(roots.values()))
    base_env = lambda_environment(None, some_root, False)
    ref_env = {**base_env, **lambda_environment(fns[0], some_root, True)} if fns else base_env
    for _ in range(rounds):
        base.append(sample(BASELINE, base_env, some_root))
        for name, (code, extra) in REFERENCES.items():
            refs[name].append(sample(code, {**ref_env, **extra}, some_root))
        for f in fns:
            rows[f.logical_id].append(sample(f.code, envs[f.logical_id], roots[f.logical_id]))
    return fns, base, refs, rows


def report(fns: list[Function], base: list[Sample], rows: dict[str, list[Sample]]) -> list[dict[str, Any]]:
    base_cpu = min(s.cpu_s for s in base)
    base_mb = min(s.peak_mb for s in base)
    out = []
    for f in fns:
        samples = rows[f.logical_id]
        cpu = min(s.cpu_s for s in samples)
        mb = min(s.peak_mb for s in samples)
        out.append(
            {
                "function": f.logical_id,
                "handler": f.handler,
                "cpu_ms": cpu * 1000,
                "ratio": cpu / base_cpu,
                "peak_mb": mb,
                "memory_ratio": mb / base_mb,
                "memory_size_mb": f.memory_mb,
            }
        )
    return out


def main() -> None:
    fns, base, refs, rows = measure()
    base_cpu = min(s.cpu_s for s in base) * 1000
    base_mb = min(s.peak_mb for s in base)
    print(f"cold start: each function's init (import of its handler as deployed) vs `{BASELINE}`, {ROUNDS} rounds")
    print(f"{'function':44s} {'handler':44s} {'CPU ms':>7s} {'x':>6s} {'peak MB':>8s} {'x':>6s}")
    print(f"{'(baseline) ' + BASELINE:89s} {base_cpu:7.0f} {1:6.2f} {base_mb:8.1f} {1:6.2f}")
    for name, samples in refs.items():
        cpu = min(s.cpu_s for s in samples) * 1000
        mb = min(s.peak_mb for s in samples)
        print(f"{'(reference) ' + name:89s} {cpu:7.0f} {cpu / base_cpu:6.2f} {mb:8.1f} {mb / base_mb:6.2f}")
    over = []
    for row in report(fns, base, rows):
        flag = "" if row["ratio"] <= GOAL else "  > goal"
        if flag:
            over.append(row["function"])
        print(
            f"{row['function'][:44]:44s} {row['handler'][:44]:44s} {row['cpu_ms']:7.0f} {row['ratio']:6.2f}"
            f" {row['peak_mb']:8.1f} {row['memory_ratio']:6.2f}{flag}"
        )
    print(f"goal: every function within {GOAL}x of `{BASELINE}`: " + ("met" if not over else f"{len(over)} above"))


if __name__ == "__main__":
    main()
