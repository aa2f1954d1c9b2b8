"""The legal entity documents are numbered under: the hub's (env ``LEGAL_ENTITY``) or a warehouse
site's own (``legal_entity`` in the WAREHOUSES registry)."""

from __future__ import annotations

import json

import pytest

from synchub_core.config import WarehousesUnavailable, _parse_warehouses, legal_entity


def registry(**site: object) -> str:
    return json.dumps({"wms.dc1": {"warehouse_id": "DC1", "location_prefix": "DC1-", **site}})


def test_the_hub_entity_defaults_to_sh01_and_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEGAL_ENTITY", raising=False)
    assert legal_entity() == "SH01"
    monkeypatch.setenv("LEGAL_ENTITY", "")
    assert legal_entity() == "SH01"
    monkeypatch.setenv("LEGAL_ENTITY", "NL02")
    assert legal_entity() == "NL02"


@pytest.mark.parametrize("bad", ["s", "sh01", "SH-01", "ABCDEFGHI", "SH 1"])
def test_a_malformed_hub_entity_fails_loudly(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("LEGAL_ENTITY", bad)
    with pytest.raises(RuntimeError, match="LEGAL_ENTITY"):
        legal_entity()


def test_a_site_without_its_own_entity_invoices_as_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGAL_ENTITY", "SH01")
    site = _parse_warehouses(registry())["wms.dc1"]
    assert site.legal_entity is None
    assert site.invoicing_entity() == "SH01"


def test_a_site_with_its_own_entity_invoices_as_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGAL_ENTITY", "SH01")
    site = _parse_warehouses(registry(legal_entity="DE02"))["wms.dc1"]
    assert site.legal_entity == "DE02"
    assert site.invoicing_entity() == "DE02"


@pytest.mark.parametrize("bad", ["de02", "D", "DE-02", 7, "", "ABCDEFGHI"])
def test_a_malformed_site_entity_makes_the_registry_unavailable(bad: object) -> None:
    with pytest.raises(WarehousesUnavailable, match="legal_entity"):
        _parse_warehouses(registry(legal_entity=bad))
