"""The stack's settings from CDK context (cdk.json, or ``-c key=value`` on the CDK CLI).

Context given on the command line arrives as a string (``-c synchub:waf=false``), context from
cdk.json as JSON values; every reader here accepts both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from constructs import Construct

WAREHOUSES = "synchub:warehouses"
WAF = "synchub:waf"
WAF_RATE_LIMIT = "synchub:wafRateLimit"
AUTHORIZER_CACHE_SECONDS = "synchub:authorizerCacheSeconds"
API_GATEWAY_CLOUDWATCH_ROLE = "synchub:apiGatewayCloudWatchRole"
POWERTOOLS_LAYER_VERSION = "synchub:powertoolsLayerVersion"
NAG = "synchub:nag"
# the connectors (infra/constructs/connectors.py)
FINANCE_BASE_URL = "synchub:financeBaseUrl"  # initial value of SSM /synchub/finance/base-url
BREAKER_FAILURE_THRESHOLD = "synchub:breakerFailureThreshold"  # consecutive failures that open a breaker
BREAKER_OPEN_SECONDS = "synchub:breakerOpenSeconds"  # first open period before a half-open probe
BREAKER_MAX_OPEN_SECONDS = "synchub:breakerMaxOpenSeconds"  # cap of the doubling open period
FINANCE_RATE_PER_SECOND = "synchub:financeRatePerSecond"  # posts per second to finance, all instances together
ERP_FILES_PER_MINUTE = "synchub:erpFilesPerMinute"  # order files per minute to the ERP drop
ERP_ACK_TIMEOUT_SECONDS = "synchub:erpAckTimeoutSeconds"  # an order file unacknowledged longer is overdue
RECONCILE_WINDOW_HOURS = "synchub:reconcileWindowHours"  # what the hourly reconciliation looks back over
# the order-to-cash lifecycle (infra/constructs/workers.py, orders_api.py)
LEGAL_ENTITY = "synchub:legalEntity"  # who issues invoices and credit memos (their gap-free numbers)
AVAILABILITY_STALE_AFTER_MINUTES = "synchub:availabilityStaleAfterMinutes"  # a position older is `stale`
SHIPMENT_HOLD_MAX_HOURS = "synchub:shipmentHoldMaxHours"  # a shipment waits this long for its reservation

DEFAULT_FINANCE_BASE_URL = "https://finance.example.invalid"
URL = re.compile(r"^https?://[^\s/?#]+(?:/[^\s?#]*)?$")
# the legal entity code in invoice and credit memo numbers (INV-SH01-2026-000001): the functions check
# the same pattern (functions/synchub_core/config.py LEGAL_ENTITY)
DEFAULT_LEGAL_ENTITY = "SH01"
LEGAL_ENTITY_CODE = re.compile(r"^[A-Z0-9]{2,8}$")

# the default sites (also in cdk.json, which wins): kept here so a synth without cdk.json's context
# (a test app, `cdk synth` from another directory) still has the producers the consumers check against
DEFAULT_WAREHOUSES: dict[str, dict[str, str]] = {
    "utrecht": {"warehouse_id": "UTR", "location_prefix": "UTR-"},
    "tilburg": {"warehouse_id": "TLB", "location_prefix": "TLB-"},
}
# a site name becomes `wms.<site>` (functions/synchub_core/config.py WAREHOUSE_SOURCE) and the role
# name synchub-wms-<site>-producer, which IAM caps at 64 characters
SITE_NAME = re.compile(r"^[a-z0-9][a-z0-9\-]{0,42}$")


@dataclass(frozen=True)
class WarehouseSite:
    """A WMS site: a partner producer whose events carry ``source`` = ``wms.<site>``."""

    name: str  # utrecht
    warehouse_id: str  # UTR: the warehouse_id its shipments carry
    location_prefix: str  # UTR-: every location it reports starts with this
    # the legal entity that invoices what this site ships (its own number series); None: the hub's
    # (synchub:legalEntity)
    legal_entity: str | None = None

    @property
    def source(self) -> str:
        return f"wms.{self.name}"

    @property
    def pascal(self) -> str:
        """``den-bosch`` -> ``DenBosch``: construct ids and output names (ProducerRoleArnDenBosch)."""
        return "".join(part.capitalize() for part in self.name.split("-"))

    @property
    def role_name(self) -> str:
        return f"synchub-wms-{self.name}-producer"


def _raw(scope: Construct, key: str) -> Any:
    return scope.node.try_get_context(key)


def flag(scope: Construct, key: str, default: bool) -> bool:
    value = _raw(scope, key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"context {key}: expected true or false, got {value!r}")


def integer(scope: Construct, key: str, default: int, *, minimum: int, maximum: int) -> int:
    value = _raw(scope, key)
    if value is None:
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"context {key}: expected an integer, got {value!r}") from None
    if not minimum <= number <= maximum:
        raise ValueError(f"context {key}: {number} is outside {minimum}..{maximum}")
    return number


def url(scope: Construct, key: str, default: str) -> str:
    """An http(s) base URL (no query, no fragment), without its trailing slash."""
    value = _raw(scope, key)
    if value is None:
        return default
    text = str(value).strip()
    if not URL.match(text):
        raise ValueError(f"context {key}: expected an http(s) URL without query or fragment, got {value!r}")
    return text.rstrip("/")


@dataclass(frozen=True)
class ConnectorSettings:
    """The connectors' tunables (context ``synchub:breaker*``, ``synchub:finance*``, ``synchub:erp*``,
    ``synchub:reconcileWindowHours``), checked together."""

    finance_base_url: str
    breaker_failure_threshold: int
    breaker_open_seconds: int
    breaker_max_open_seconds: int
    finance_rate_per_second: int
    erp_files_per_minute: int
    erp_ack_timeout_seconds: int
    reconcile_window_hours: int


def connector_settings(scope: Construct) -> ConnectorSettings:
    settings = ConnectorSettings(
        finance_base_url=url(scope, FINANCE_BASE_URL, DEFAULT_FINANCE_BASE_URL),
        breaker_failure_threshold=integer(scope, BREAKER_FAILURE_THRESHOLD, 5, minimum=1, maximum=100),
        breaker_open_seconds=integer(scope, BREAKER_OPEN_SECONDS, 15, minimum=1, maximum=900),
        breaker_max_open_seconds=integer(scope, BREAKER_MAX_OPEN_SECONDS, 300, minimum=1, maximum=86_400),
        finance_rate_per_second=integer(scope, FINANCE_RATE_PER_SECOND, 20, minimum=1, maximum=10_000),
        erp_files_per_minute=integer(scope, ERP_FILES_PER_MINUTE, 30, minimum=1, maximum=6_000),
        erp_ack_timeout_seconds=integer(scope, ERP_ACK_TIMEOUT_SECONDS, 120, minimum=10, maximum=86_400),
        reconcile_window_hours=integer(scope, RECONCILE_WINDOW_HOURS, 24, minimum=1, maximum=24 * 31),
    )
    if settings.breaker_max_open_seconds < settings.breaker_open_seconds:
        raise ValueError(
            f"context {BREAKER_MAX_OPEN_SECONDS}: {settings.breaker_max_open_seconds} is below "
            f"{BREAKER_OPEN_SECONDS} {settings.breaker_open_seconds}"
        )
    return settings


def legal_entity(scope: Construct) -> str:
    """The hub's legal entity (context ``synchub:legalEntity``): env ``LEGAL_ENTITY`` of the functions
    that number invoices and credit memos. Checked here so a bad code fails the synth, not every
    invoice at run time."""
    value = _raw(scope, LEGAL_ENTITY)
    if value is None:
        return DEFAULT_LEGAL_ENTITY
    text = str(value).strip()
    if not LEGAL_ENTITY_CODE.match(text):
        raise ValueError(f"context {LEGAL_ENTITY}: expected 2 to 8 capital letters or digits (SH01), got {value!r}")
    return text


@dataclass(frozen=True)
class LifecycleSettings:
    """The order-to-cash lifecycle's settings (context ``synchub:legalEntity``,
    ``synchub:availabilityStaleAfterMinutes``, ``synchub:shipmentHoldMaxHours``), as the functions'
    environment wants them."""

    legal_entity: str
    availability_stale_after_seconds: int
    shipment_hold_max_hours: int


def lifecycle_settings(scope: Construct) -> LifecycleSettings:
    return LifecycleSettings(
        legal_entity=legal_entity(scope),
        # up to a week: an answer older than that is no availability, whatever it is called
        availability_stale_after_seconds=60
        * integer(scope, AVAILABILITY_STALE_AFTER_MINUTES, 60, minimum=1, maximum=7 * 24 * 60),
        # up to 30 days: a held shipment is parked again and again (a new message each time), so the
        # queue's retention does not cap it; the hold does, then the shipment is dead-lettered
        shipment_hold_max_hours=integer(scope, SHIPMENT_HOLD_MAX_HOURS, 48, minimum=1, maximum=30 * 24),
    )


def warehouses(scope: Construct) -> list[WarehouseSite]:
    """The sites of context ``synchub:warehouses`` (a JSON object, or its text), checked the way the
    consumers check the ``WAREHOUSES`` variable built from it, so a bad registry fails the synth
    instead of refusing every warehouse event at run time."""
    value = _raw(scope, WAREHOUSES)
    if value is None:
        value = DEFAULT_WAREHOUSES
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(f"context {WAREHOUSES}: not JSON: {value!r}") from None
    if not isinstance(value, dict) or not value:
        raise ValueError(f"context {WAREHOUSES}: expected a non-empty object of sites, got {value!r}")
    sites: list[WarehouseSite] = []
    for name, entry in value.items():
        if not isinstance(name, str) or not SITE_NAME.match(name):
            raise ValueError(f"context {WAREHOUSES}: site name {name!r} must match {SITE_NAME.pattern}")
        fields = entry if isinstance(entry, dict) else {}
        warehouse_id, prefix = fields.get("warehouse_id"), fields.get("location_prefix")
        if not (isinstance(warehouse_id, str) and warehouse_id and isinstance(prefix, str) and prefix):
            raise ValueError(f"context {WAREHOUSES}: site {name} needs a warehouse_id and a location_prefix")
        extra = set(fields) - {"warehouse_id", "location_prefix", "legal_entity"}
        if extra:
            raise ValueError(f"context {WAREHOUSES}: site {name} has unknown keys {sorted(extra)}")
        entity = fields.get("legal_entity")
        if entity is not None and not (isinstance(entity, str) and LEGAL_ENTITY_CODE.match(entity)):
            raise ValueError(
                f"context {WAREHOUSES}: site {name}'s legal_entity must be 2 to 8 capital letters or digits, "
                f"got {entity!r}"
            )
        sites.append(WarehouseSite(name, warehouse_id, prefix, entity))
    for a in sites:
        for b in sites:
            if a is b:
                continue
            if a.warehouse_id == b.warehouse_id:
                raise ValueError(f"context {WAREHOUSES}: {a.name} and {b.name} share warehouse_id {a.warehouse_id}")
            if b.location_prefix.startswith(a.location_prefix):
                raise ValueError(
                    f"context {WAREHOUSES}: location prefix {a.location_prefix!r} of {a.name} also covers "
                    f"{b.name}'s {b.location_prefix!r}"
                )
            if a.pascal == b.pascal:
                raise ValueError(f"context {WAREHOUSES}: {a.name} and {b.name} give the same output name")
    return sites


def warehouses_env(sites: list[WarehouseSite], producer_role_ids: Mapping[str, str] | None = None) -> str:
    """The ``WAREHOUSES`` variable of the consumers: ``{"wms.utrecht": {"warehouse_id": ..., ...}}``.

    ``producer_role_ids`` (site name -> the ``RoleId`` of its producer role, a CloudFormation token:
    the string becomes an ``Fn::Join``) adds each site's ``producer_role_id``: the inventory worker
    takes a site's reports only from that role (the SQS ``SenderId``). A site with its own
    ``legal_entity`` carries it (functions/synchub_core/config.py WarehouseSite.legal_entity)."""
    registry: dict[str, dict[str, str]] = {}
    for s in sites:
        entry = {"warehouse_id": s.warehouse_id, "location_prefix": s.location_prefix}
        if s.legal_entity is not None:
            entry["legal_entity"] = s.legal_entity
        if producer_role_ids is not None:
            entry["producer_role_id"] = producer_role_ids[s.name]
        registry[s.source] = entry
    return json.dumps(registry, separators=(",", ":"), sort_keys=True)
