"""Runtime configuration, read from the Lambda environment set by the CDK stack."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from .basics import Refused


@dataclass(frozen=True)
class Settings:
    orders_table: str
    inventory_table: str
    event_bus_name: str
    # the connectors' and master data's tables: empty where a function (or an older test) has none;
    # the code that needs one fails loudly on an empty name (see ``require``)
    connectors_table: str = ""
    masterdata_table: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        missing = [k for k in ("ORDERS_TABLE", "INVENTORY_TABLE", "EVENT_BUS_NAME") if not os.environ.get(k)]
        if missing:  # fail at the first call, loudly, rather than write to a guessed table
            raise RuntimeError(
                f"synchub function misconfigured: {', '.join(missing)} not set "
                "(the CDK stack sets them on every function)"
            )
        return cls(
            orders_table=os.environ["ORDERS_TABLE"],
            inventory_table=os.environ["INVENTORY_TABLE"],
            event_bus_name=os.environ["EVENT_BUS_NAME"],
            connectors_table=os.environ.get("CONNECTORS_TABLE", ""),
            masterdata_table=os.environ.get("MASTERDATA_TABLE", ""),
        )

    def require(self, name: str) -> str:
        """The table name of field ``name`` (``connectors_table``...), or a loud error if it is unset."""
        value = getattr(self, name)
        if not value:
            raise RuntimeError(
                f"synchub function misconfigured: {name.upper()} not set (the CDK stack sets it on the "
                "functions that use that table)"
            )
        return str(value)


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between cases)."""
    settings.cache_clear()


# -- warehouse sites (partner producers) -------------------------------------------------------

WAREHOUSES_ENV = "WAREHOUSES"
REPLAY_ROLE_ID_ENV = "REPLAY_ROLE_ID"  # the ReplayRole's RoleId: its copies are judged by the sender they record
WAREHOUSE_SOURCE = re.compile(r"^wms\.[a-z0-9][a-z0-9\-]{0,62}$")
LEGAL_ENTITY_ENV = "LEGAL_ENTITY"
DEFAULT_LEGAL_ENTITY = "SH01"
LEGAL_ENTITY = re.compile(r"^[A-Z0-9]{2,8}$")


def legal_entity() -> str:
    """The legal entity the hub invoices as (env ``LEGAL_ENTITY``, from the ``synchub:legalEntity``
    context; ``SH01`` where unset): part of every gap-free document number, so a malformed one fails
    loudly instead of numbering documents under a name finance does not know."""
    value = os.environ.get(LEGAL_ENTITY_ENV, "").strip() or DEFAULT_LEGAL_ENTITY
    if not LEGAL_ENTITY.match(value):
        raise RuntimeError(
            f"synchub function misconfigured: {LEGAL_ENTITY_ENV} {value!r} is not 2 to 8 capital letters or "
            "digits (cdk.json context synchub:legalEntity)"
        )
    return value


@dataclass(frozen=True)
class WarehouseSite:
    """A registered WMS site: the only producer whose events may speak for its warehouse."""

    source: str  # ``wms.<site>``: EventBridge ``source`` of its events, ``source_system`` of its SQS reports
    warehouse_id: str  # the ``warehouse_id`` its shipments carry
    location_prefix: str  # every location it reports starts with this
    # the RoleId (AROA...) of its producer role: its SQS reports must carry a SenderId of
    # ``<producer_role_id>:<session>``. Empty where IAM is not emulated (the local hub): no sender check
    producer_role_id: str = ""
    # the legal entity that invoices what this site ships (its own invoice numbers); None: the hub's
    # (:func:`legal_entity`)
    legal_entity: str | None = None

    def invoicing_entity(self) -> str:
        """The legal entity whose invoices number this site's shipments: its own, else the hub's."""
        return self.legal_entity or legal_entity()


class WarehousesUnavailable(Refused):
    """``WAREHOUSES`` is unset or malformed: no warehouse event can be checked, so none is taken
    (a refusal, dead-lettered with this reason and replayable once the stack is fixed)."""


def warehouse_sites() -> Mapping[str, WarehouseSite]:
    """The registered sites by source (``wms.<site>``), from the env ``WAREHOUSES`` the CDK stack
    sets from the ``synchub:warehouses`` context. Raises :class:`WarehousesUnavailable`."""
    return _parse_warehouses(os.environ.get(WAREHOUSES_ENV))


@lru_cache(maxsize=4)
def _parse_warehouses(raw: str | None) -> Mapping[str, WarehouseSite]:
    def unavailable(problem: str) -> WarehousesUnavailable:
        return WarehousesUnavailable(
            f"warehouse site registry unavailable: {problem}; warehouse events are refused until the "
            f"stack sets {WAREHOUSES_ENV} (cdk.json context synchub:warehouses)"
        )

    if not raw:
        raise unavailable(f"{WAREHOUSES_ENV} is not set on this function")
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise unavailable(f"{WAREHOUSES_ENV} is not JSON") from None
    if not isinstance(parsed, dict):
        raise unavailable(f"{WAREHOUSES_ENV} is not a JSON object of sites")
    sites: dict[str, WarehouseSite] = {}
    for source, entry in parsed.items():
        if not WAREHOUSE_SOURCE.match(source):
            raise unavailable(f"site {source!r} is not spelled wms.<site>")
        fields = entry if isinstance(entry, dict) else {}
        values = [fields.get(k) for k in ("warehouse_id", "location_prefix")]
        if not all(isinstance(v, str) and v for v in values):
            raise unavailable(f"site {source} needs a warehouse_id and a location_prefix")
        role_id = fields.get("producer_role_id", "")
        if not isinstance(role_id, str) or ":" in role_id:
            raise unavailable(f"site {source} has a producer_role_id that is no role id")
        entity = fields.get("legal_entity")
        if entity is not None and not (isinstance(entity, str) and LEGAL_ENTITY.match(entity)):
            raise unavailable(f"site {source} has a legal_entity that is not 2 to 8 capital letters or digits")
        sites[source] = WarehouseSite(source, str(values[0]), str(values[1]), role_id, entity)
    for a in sites.values():
        for b in sites.values():
            if a is b:
                continue
            if a.warehouse_id == b.warehouse_id:
                raise unavailable(f"sites {a.source} and {b.source} share warehouse_id {a.warehouse_id}")
            if b.location_prefix.startswith(a.location_prefix):
                raise unavailable(
                    f"location prefix {a.location_prefix!r} of {a.source} also covers {b.source}'s "
                    f"{b.location_prefix!r}"
                )
    return MappingProxyType(sites)


def replay_role_id() -> str:
    """The RoleId of the role ``synchub replay`` runs as on AWS (env ``REPLAY_ROLE_ID``); empty where
    IAM is not emulated or the function does not check senders."""
    return os.environ.get(REPLAY_ROLE_ID_ENV, "").strip()
