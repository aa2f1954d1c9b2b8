"""Domain boundaries in functions/ (CONTRIBUTING.md, "Dependency rules"):

* a domain imports nothing of another domain but its ``api`` module;
* ``synchub_core``, the shared kernel, imports no domain;
* a domain's ``logic.py`` does no I/O itself: no ``boto3``/``botocore``, no ``synchub_core.aws``
  or ``synchub_core.ddb`` (its ``repository.py`` does that);
* every domain has ``handler.py``, ``logic.py``, ``repository.py``, ``models.py`` and ``api.py``.

``check`` reads the code (it imports nothing), so it runs on the real tree and on
fixtures/boundary_violation/functions/, a small tree that breaks each rule on purpose: the test
of that tree shows what a violation looks like and proves the check catches it. (What functions
may import from outside functions/ is test_packaging.py's job.)
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from helpers import ROOT

KERNEL = "synchub_core"
PUBLIC_MODULE = "api"
DOMAIN_MODULES = ("handler.py", "logic.py", "repository.py", "models.py", "api.py")
NO_IO_IN_LOGIC = ("boto3", "botocore", f"{KERNEL}.aws", f"{KERNEL}.ddb")
KERNEL_IMPORTS_DOMAIN = "the shared kernel imports no domain"
LOGIC_DOES_IO = "logic does no I/O: that is the repository's job"
MISSING = "missing: every domain has all five modules"
VIOLATIONS = Path(__file__).resolve().parent / "fixtures" / "boundary_violation" / "functions"


@dataclass(frozen=True, order=True)
class Violation:
    path: str  # relative to the functions/ root
    line: int  # 0 for a missing module
    imported: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.imported}: {self.rule}"


def private(domain: str) -> str:
    return f"private to {domain}: import {domain}.{PUBLIC_MODULE} instead"


def _packages(functions: Path) -> list[str]:
    return sorted(p.name for p in functions.iterdir() if p.is_dir() and (p / "__init__.py").exists())


def _imports(path: Path, package: tuple[str, ...]) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of everything a module imports; ``from a import b`` counts as
    ``a.b`` (``b`` may be a module), relative imports are made absolute against ``package``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def check(functions: Path) -> list[Violation]:
    """Every boundary violation under a functions/ root, sorted."""
    packages = _packages(functions)
    domains = [p for p in packages if p != KERNEL]
    found: list[Violation] = []
    for owner in packages:
        for path in sorted((functions / owner).rglob("*.py")):
            rel = path.relative_to(functions)
            package = rel.parent.parts
            for line, name in _imports(path, package):
                target = name.split(".")[0]
                where = str(rel)
                if owner == KERNEL and target in domains:
                    found.append(Violation(where, line, name, KERNEL_IMPORTS_DOMAIN))
                elif target in domains and target != owner and not _within(name, f"{target}.{PUBLIC_MODULE}"):
                    found.append(Violation(where, line, name, private(target)))
                if owner != KERNEL and path.name == "logic.py" and any(_within(name, m) for m in NO_IO_IN_LOGIC):
                    found.append(Violation(where, line, name, LOGIC_DOES_IO))
    for domain in domains:
        for module in DOMAIN_MODULES:
            if not (functions / domain / module).exists():
                found.append(Violation(f"{domain}/{module}", 0, "", MISSING))
    return sorted(found)


def test_the_functions_keep_their_boundaries() -> None:
    functions = ROOT / "functions"
    assert set(_packages(functions)) == {
        "orders",
        "inventory",
        "reservation",
        "invoicing",
        "outbox",
        "channels",
        "connectors",
        "finance",
        "erp",
        "masterdata",
        "reconciliation",
        "operations",
        "fulfilment",
        KERNEL,
    }
    assert [str(v) for v in check(functions)] == []


def test_a_deliberate_violation_of_each_rule_is_reported() -> None:
    assert check(VIOLATIONS) == [
        Violation("invoicing/logic.py", 5, "boto3", LOGIC_DOES_IO),
        Violation("invoicing/logic.py", 7, "orders", private("orders")),
        Violation("invoicing/logic.py", 8, "orders.models", private("orders")),
        Violation("invoicing/logic.py", 9, "orders.repository.load", private("orders")),
        Violation("invoicing/logic.py", 10, "synchub_core.ddb", LOGIC_DOES_IO),
        Violation("invoicing/logic.py", 11, "synchub_core.aws.client", LOGIC_DOES_IO),
        Violation("reservation/api.py", 0, "", MISSING),
        Violation("reservation/handler.py", 0, "", MISSING),
        Violation("reservation/models.py", 0, "", MISSING),
        Violation("reservation/repository.py", 0, "", MISSING),
        Violation("synchub_core/envelope.py", 5, "orders.models.ORDER_ACCEPTED", KERNEL_IMPORTS_DOMAIN),
    ]


def test_what_the_fixture_tree_does_right_is_not_reported() -> None:
    reported = {(v.path, v.imported) for v in check(VIOLATIONS)}
    allowed = [
        ("invoicing/logic.py", "orders.api"),  # `from orders import api, models`: api is public
        ("invoicing/logic.py", "synchub_core.envelope"),  # the kernel, minus its I/O modules
        ("invoicing/logic.py", "invoicing.repository"),  # `from . import repository`
        ("invoicing/repository.py", "orders.api.load"),
        ("invoicing/repository.py", "boto3"),  # a repository does the I/O
        ("orders/logic.py", "synchub_core.envelope.EVENT_TYPES"),
    ]
    for rel, name in allowed:
        path = VIOLATIONS / rel
        assert name in {imported for _, imported in _imports(path, path.relative_to(VIOLATIONS).parent.parts)}
        assert (rel, name) not in reported
