"""Runtime configuration, read from the Lambda environment set by the CDK stack."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Settings:
    orders_table: str
    inventory_table: str
    event_bus_name: str
    source_system: str

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            orders_table=os.environ.get("ORDERS_TABLE", "synchub-orders"),
            inventory_table=os.environ.get("INVENTORY_TABLE", "synchub-inventory"),
            event_bus_name=os.environ.get("EVENT_BUS_NAME", "synchub-bus"),
            source_system=os.environ.get("SOURCE_SYSTEM", "synchub"),
        )


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between cases)."""
    settings.cache_clear()
