"""No personal data or tokens in X-Ray: Powertools' tracer records a traced function's return value
as segment metadata unless told not to, and the API's returns carry customer names and addresses
(GET /orders/{id}) or access tokens (POST /oauth2/token). Every tracer decorator in the functions
therefore says capture_response=False; this test reads the code, so a new one cannot forget it."""

from __future__ import annotations

import ast

from helpers import ROOT

CAPTURE = {"capture_method", "capture_lambda_handler"}


def _tracer_decorations() -> list[tuple[str, int, ast.expr]]:
    found = []
    for path in sorted((ROOT / "functions").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        for node in ast.walk(tree):
            target = node.func if isinstance(node, ast.Call) else node
            bare_attribute_of_a_call = isinstance(node, ast.Attribute) and id(node) in called
            if isinstance(target, ast.Attribute) and target.attr in CAPTURE and not bare_attribute_of_a_call:
                found.append((str(path.relative_to(ROOT)), node.lineno, node))
    return found


def test_every_traced_function_keeps_its_return_value_out_of_the_trace() -> None:
    decorations = _tracer_decorations()
    files = {path for path, _, _ in decorations}
    # the API handlers and the shared wrapper every worker goes through are all covered
    assert {
        "functions/orders/handler.py",
        "functions/channels/handler.py",
        "functions/synchub_core/lambda_support.py",
    } <= files
    bare = [
        f"{path}:{line}"
        for path, line, node in decorations
        if not (
            isinstance(node, ast.Call)
            and any(
                k.arg == "capture_response" and isinstance(k.value, ast.Constant) and k.value.value is False
                for k in node.keywords
            )
        )
    ]
    assert bare == [], f"tracer decorators without capture_response=False: {bare}"
