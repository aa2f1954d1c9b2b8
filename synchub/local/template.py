"""Read a synthesized CloudFormation template and resolve the intrinsics the stack uses."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HASH_SUFFIX = re.compile(r"[0-9A-F]{8}$")


def friendly(logical_id: str) -> str:
    """``WorkersReservationWorkerQueue36E8C9C3`` -> ``WorkersReservationWorkerQueue``."""
    return HASH_SUFFIX.sub("", logical_id) or logical_id


@dataclass
class Template:
    path: Path
    body: dict[str, Any]
    region: str
    account: str = "123456789012"
    physical: dict[str, dict[str, Any]] = field(default_factory=dict)  # logical id -> attributes

    @classmethod
    def load(cls, cdk_out: Path, stack: str, region: str) -> Template:
        path = cdk_out / f"{stack}.template.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: run `make synth` (or `synchub synth`) first")
        return cls(path=path, body=json.loads(path.read_text()), region=region)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.body["Resources"]

    def of_type(self, type_name: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == type_name}

    def asset_dir(self, function_logical_id: str) -> Path:
        """Where CDK staged a function's code (``aws:asset:path`` metadata, else the asset manifest)."""
        res = self.resources[function_logical_id]
        meta = res.get("Metadata") or {}
        if "aws:asset:path" in meta:
            return (self.path.parent / meta["aws:asset:path"]).resolve()
        key = res["Properties"]["Code"]["S3Key"]
        key = key if isinstance(key, str) else json.dumps(key)
        digest = re.search(r"([0-9a-f]{64})", key)
        if not digest:
            raise ValueError(f"cannot locate the code asset of {function_logical_id}")
        return (self.path.parent / f"asset.{digest.group(1)}").resolve()

    # -- intrinsic functions -------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((fn, arg),) = value.items()
            handlers: dict[str, Callable[[Any], Any]] = {
                "Ref": self._ref,
                "Fn::GetAtt": self._get_att,
                "Fn::Join": self._join,
                "Fn::Sub": self._sub,
                "Fn::Select": self._select,
                "Fn::Split": self._split,
            }
            handler = handlers.get(fn)
            if handler:
                return handler(arg)
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "Synchub",
            "AWS::NoValue": None,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.physical:
            return self.physical[name]["Ref"]
        params = self.body.get("Parameters", {})
        if name in params:
            return params[name].get("Default")
        raise KeyError(f"unresolved Ref {name} (not provisioned locally)")

    def _get_att(self, arg: list[str] | str) -> Any:
        logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
        try:
            return self.physical[logical][attr]
        except KeyError:
            if attr == "RoleId" and self.resources.get(logical, {}).get("Type") == "AWS::IAM::Role":
                # IAM is not emulated locally (roles are skipped, and no local sender assumes one):
                # a role's RoleId is empty, which tells the inventory worker to skip its sender
                # check (WAREHOUSES producer_role_id, REPLAY_ROLE_ID) and keep the source check
                return ""
            raise KeyError(f"unresolved Fn::GetAtt {logical}.{attr}") from None

    def _join(self, arg: list[Any]) -> str:
        sep, parts = arg
        return sep.join(str(self.resolve(p)) for p in self.resolve(parts))

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        variables = {k: self.resolve(v) for k, v in variables.items()}

        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                return str(self._get_att(name))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", repl, text)

    def _select(self, arg: list[Any]) -> Any:
        index, items = arg
        return self.resolve(items)[int(self.resolve(index))]

    def _split(self, arg: list[Any]) -> list[str]:
        sep, text = arg
        return str(self.resolve(text)).split(sep)
