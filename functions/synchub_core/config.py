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
        )


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between cases)."""
    settings.cache_clear()
