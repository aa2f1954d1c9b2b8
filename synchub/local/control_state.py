"""The embedded emulator's control-plane state the local hub keeps across restarts.

Secrets Manager secrets (their current value, name and ARN), SSM parameters (every version, tags), S3
buckets (name, versioning, queue notification configuration; their objects are kept by the journal), the
RestApis' ids, and the API keys, usage plans and usage plan keys ``synchub channels add`` creates while
the hub runs. It is small, so it is captured whole and written (atomically) whenever it changed, and put
back before the template is provisioned: provisioning then finds the secrets, parameters, buckets and
RestApis there and keeps them (a token signed before a restart stays valid, a parameter value someone set
stays, a bucket's notifications are not configured again (S3 sends its test event only when they are),
usage plans keep naming the same API id, channels keep their keys).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("synchub.local")
FORMAT = "synchub-local-control"
VERSION = 1


def _secrets(account: str, region: str) -> Any:
    from moto.secretsmanager.models import secretsmanager_backends

    return secretsmanager_backends[account][region]


def _apigateway(account: str, region: str) -> Any:
    from moto.apigateway.models import apigateway_backends

    return apigateway_backends[account][region]


def _ssm(account: str, region: str) -> Any:
    from moto.ssm.models import ssm_backends

    return ssm_backends[account][region]


def _s3(account: str) -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[account]["aws"]


def _items(mapping: dict[Any, Any]) -> list[tuple[Any, Any]]:
    """A copy of a dict's items that another thread of the emulator may be changing."""
    for _ in range(10):
        try:
            return list(dict.items(mapping))
        except RuntimeError:
            continue
    return list(dict.items(mapping))


def _values(mapping: dict[Any, Any]) -> list[Any]:
    """A copy of a dict's values that another thread of the emulator may be changing."""
    for _ in range(10):
        try:
            return list(dict.values(mapping))
        except RuntimeError:  # changed size during iteration
            continue
    return list(dict.values(mapping))


def capture(account: str, region: str) -> dict[str, Any]:
    from moto.secretsmanager.models import FakeSecret

    secrets = []
    for secret in _values(_secrets(account, region).secrets):
        if not isinstance(secret, FakeSecret) or secret.deleted_date is not None:
            continue
        version = secret.versions.get(secret.default_version_id) if secret.default_version_id else None
        if version is None:
            continue
        secrets.append(
            {
                "name": secret.name,
                "arn": secret.arn,
                "description": secret.description,
                "tags": secret.tags,
                "kms_key_id": secret.kms_key_id,
                "string": version.get("secret_string"),
                "binary": version.get("secret_binary"),
            }
        )
    gw = _apigateway(account, region)
    return {
        "format": FORMAT,
        "version": VERSION,
        "secrets": sorted(secrets, key=lambda s: s["name"]),
        "parameters": _capture_parameters(account, region),
        "buckets": _capture_buckets(account, region),
        "rest_apis": sorted(
            (
                {"id": a.id, "name": a.name, "description": a.description, "api_key_source": a.api_key_source}
                for a in _values(gw.apis)
            ),
            key=lambda a: a["id"],
        ),
        "api_keys": sorted((k.to_json() for k in _values(gw.keys)), key=lambda k: k["id"]),
        "usage_plans": sorted(
            (
                {
                    "id": p.id,
                    "name": p.name,
                    "description": p.description,
                    "apiStages": p.api_stages,
                    "throttle": p.throttle,
                    "quota": p.quota,
                    "productCode": p.product_code,
                    "tags": p.tags,
                }
                for p in _values(gw.usage_plans)
            ),
            key=lambda p: p["id"],
        ),
        "usage_plan_keys": sorted(
            (
                {"plan": plan_id, "key": k.id, "type": k.type}
                for plan_id, keys in list(gw.usage_plan_keys.items())
                for k in _values(keys)
            ),
            key=lambda pk: (pk["plan"], pk["key"]),
        ),
    }


def _capture_parameters(account: str, region: str) -> list[dict[str, Any]]:
    """Every SSM parameter (not AWS's public ``/aws/...`` ones) with all its versions and its tags."""
    ssm = _ssm(account, region)
    tags = dict(ssm._resource_tags.get("Parameter", {}))
    out = []
    for name, versions in _items(ssm._parameters):
        if not versions or str(name).startswith("/aws/"):
            continue
        out.append(
            {
                "name": name,
                "tags": dict(tags.get(name) or {}),
                "versions": [
                    {
                        "value": p.value,  # as stored (a SecureString's is kept encrypted)
                        "type": p.parameter_type,
                        "description": p.description,
                        "allowed_pattern": p.allowed_pattern,
                        "keyid": p.keyid,
                        "last_modified": _iso(p.last_modified_date),
                        "version": p.version,
                        "data_type": p.data_type,
                        "labels": list(p.labels or []),
                        "tier": p.tier,
                        "policies": p.policies,
                    }
                    for p in list(versions)
                ],
            }
        )
    return sorted(out, key=lambda p: p["name"])


def _capture_buckets(account: str, region: str) -> list[dict[str, Any]]:
    """The region's S3 buckets: name, versioning and queue notifications (objects: the journal's)."""
    out = []
    for bucket in _values(_s3(account).buckets):
        if bucket.region_name != region:
            continue
        config = bucket.notification_configuration
        queues = [
            {"Id": n.id, "Queue": n.arn, "Event": list(n.events), **({"Filter": n.filters} if n.filters else {})}
            for n in (config.queue if config is not None else [])
        ]
        out.append({"name": bucket.name, "versioning": bucket.versioning_status, "queue_notifications": queues})
    return sorted(out, key=lambda b: b["name"])


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _datetime(value: Any) -> datetime:
    from moto.core.utils import utcnow

    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else value or utcnow()
    except ValueError:
        return utcnow()


def _restore_parameters(state: dict[str, Any], account: str, region: str) -> int:
    from moto.ssm.models import Parameter

    parameter: Any = Parameter  # a CloudFormationModel: mypy takes it for abstract
    ssm = _ssm(account, region)
    count = 0
    for saved in state.get("parameters", []):
        name = saved["name"]
        if dict.get(ssm._parameters, name):
            continue
        versions = []
        for v in saved["versions"]:
            p = parameter(
                account_id=account,
                name=name,
                value="",
                parameter_type=v["type"],
                description=v.get("description"),
                allowed_pattern=v.get("allowed_pattern"),
                keyid=v.get("keyid"),
                last_modified_date=_datetime(v.get("last_modified")),
                version=int(v["version"]),
                data_type=v.get("data_type") or "text",
                labels=v.get("labels") or [],
                tier=v.get("tier"),
                policies=v.get("policies"),
            )
            p.value = v["value"]  # as it was stored: not encrypted a second time
            versions.append(p)
        ssm._parameters[name] = versions
        if saved.get("tags"):
            ssm._resource_tags["Parameter"][name] = dict(saved["tags"])
        count += 1
    return count


def _restore_buckets(state: dict[str, Any], account: str, region: str) -> int:
    """Buckets as they were, without sending S3's test event again (the notifications are not new)."""
    from moto.s3.models import NotificationConfiguration

    s3 = _s3(account)
    count = 0
    for saved in state.get("buckets", []):
        if saved["name"] in s3.buckets:
            continue
        bucket = s3.create_bucket(saved["name"], region)
        bucket.versioning_status = saved.get("versioning")
        if saved.get("queue_notifications"):
            bucket.notification_configuration = NotificationConfiguration(queue=saved["queue_notifications"])
        count += 1
    return count


@contextmanager
def _custom_id(identifier: Any, custom: str) -> Iterator[None]:
    """Make moto give the next resource ``identifier`` names the id ``custom``."""
    from moto.utilities.id_generator import moto_id_manager

    moto_id_manager.set_custom_id(identifier, custom)
    try:
        yield
    finally:
        moto_id_manager.unset_custom_id(identifier)


def restore(state: dict[str, Any], account: str, region: str) -> dict[str, int]:
    """Put ``state`` back into the emulator; returns how many of each kind were restored."""
    from moto.apigateway.models import ApiKey, UsagePlan, UsagePlanKey
    from moto.apigateway.utils import ApigwRestApiIdentifier
    from moto.secretsmanager.utils import SecretsManagerSecretIdentifier

    counts = {"secrets": 0, "parameters": 0, "buckets": 0, "rest_apis": 0, "api_keys": 0, "usage_plans": 0}
    sm = _secrets(account, region)
    for s in state.get("secrets", []):
        if s["name"] in sm.secrets:
            continue
        suffix = s["arn"].rsplit("-", 1)[-1]  # ...:secret:<name>-<6 random characters>
        with _custom_id(SecretsManagerSecretIdentifier(account, region, s["name"]), suffix):
            sm.create_secret(
                name=s["name"],
                secret_string=s.get("string"),
                secret_binary=s.get("binary"),
                description=s.get("description"),
                tags=s.get("tags"),
                kms_key_id=s.get("kms_key_id"),
                client_request_token=None,
                replica_regions=[],
                force_overwrite=False,
            )
        counts["secrets"] += 1
    counts["parameters"] = _restore_parameters(state, account, region)
    counts["buckets"] = _restore_buckets(state, account, region)
    gw = _apigateway(account, region)
    for a in state.get("rest_apis", []):
        if a["id"] in gw.apis:
            continue
        with _custom_id(ApigwRestApiIdentifier(account, region, a["name"]), a["id"]):
            gw.create_rest_api(a["name"], a.get("description") or "", api_key_source=a.get("api_key_source"))
        counts["rest_apis"] += 1
    for k in state.get("api_keys", []):
        key = ApiKey(
            api_key_id=k["id"],
            name=k.get("name"),
            description=k.get("description"),
            enabled=bool(k.get("enabled")),
            value=k["value"],
            stageKeys=k.get("stageKeys"),
            tags=k.get("tags"),
            customerId=k.get("customerId"),
        )
        key.created_date = k.get("createdDate") or key.created_date
        key.last_updated_date = k.get("lastUpdatedDate") or key.last_updated_date
        gw.keys[key.id] = key
        counts["api_keys"] += 1
    for p in state.get("usage_plans", []):
        gw.usage_plans[p["id"]] = UsagePlan(
            usage_plan_id=p["id"],
            name=p.get("name"),
            description=p.get("description"),
            apiStages=p.get("apiStages"),
            throttle=p.get("throttle"),
            quota=p.get("quota"),
            productCode=p.get("productCode"),
            tags=p.get("tags"),
        )
        counts["usage_plans"] += 1
    for pk in state.get("usage_plan_keys", []):
        key = gw.keys.get(pk["key"])
        if key is None or pk["plan"] not in gw.usage_plans:
            continue
        gw.usage_plan_keys.setdefault(pk["plan"], {})[key.id] = UsagePlanKey(
            plan_id=key.id, plan_type=pk.get("type") or "API_KEY", name=key.name, value=key.value
        )
    return counts


class ControlState:
    """``control.json`` in the hub's data directory: written when the captured state changed."""

    def __init__(self, path: Path, account: str, region: str) -> None:
        self.path, self.account, self.region = path, account, region
        self._last = ""

    def restore(self) -> dict[str, int]:
        try:
            state = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("%s is unreadable (%s); secrets and API keys start afresh", self.path, exc)
            return {}
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            log.warning("%s is not a synchub control state; ignored", self.path)
            return {}
        counts = restore(state, self.account, self.region)
        self._last = json.dumps(state, sort_keys=True, default=str)
        return counts

    def save(self) -> bool:
        """Write the state if it changed since the last write (or restore); True when written."""
        text = json.dumps(capture(self.account, self.region), sort_keys=True, default=str)
        if text == self._last:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._last = text
        return True

    def wipe(self) -> None:
        self.path.unlink(missing_ok=True)
        self._last = ""
