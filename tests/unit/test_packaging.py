"""The code asset must run on the Lambda runtime + the Powertools v3 layer alone: it bundles no
third-party packages (no Docker bundling), so every import must come from those."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from helpers import ROOT

FUNCTIONS = ROOT / "functions"
# Lambda's Python runtime ships boto3/botocore (and urllib3, which botocore sends its requests with: the
# connectors' HTTP client uses it too); the Powertools v3 layer adds the rest
PROVIDED = {
    "urllib3",
    "aws_lambda_powertools",
    "pydantic",
    "pydantic_core",
    "aws_xray_sdk",
    "boto3",
    "botocore",
    "jmespath",
    "typing_extensions",
}


def test_functions_import_only_the_runtime_the_layer_and_themselves() -> None:
    own = {p.name for p in FUNCTIONS.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert own == {
        "orders",
        "outbox",
        "inventory",
        "reservation",
        "invoicing",
        "channels",
        "connectors",
        "finance",
        "erp",
        "masterdata",
        "reconciliation",
        "operations",
        "fulfilment",
        "synchub_core",
    }
    foreign: dict[str, str] = {}
    for path in FUNCTIONS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if (
                    top not in own
                    and top not in PROVIDED
                    and top not in sys.stdlib_module_names
                    and top != "__future__"
                ):
                    foreign[f"{path.relative_to(ROOT)}: {name}"] = top
    assert foreign == {}


def _top_level_imports(path: Path) -> set[str]:
    tops: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            tops.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tops.add(node.module.split(".")[0])
    return tops


def test_functions_never_import_the_developer_tooling() -> None:
    for path in FUNCTIONS.rglob("*.py"):
        assert not _top_level_imports(path) & {"synchub", "infra", "moto", "aws_cdk", "pytest"}, path
