"""inventory: what a WMS position report may say, which site may say it about which location, and
how the hub's own shipments the WMS has not counted yet change the on_hand it reports. Applying
reports to the table is tested through moto in tests/component/test_inventory.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from inventory.logic import Sender, admit, reported_on_hand, still_pending
from inventory.models import PendingShipment, PositionReport
from synchub_core.config import WarehouseSite, WarehousesUnavailable, _parse_warehouses
from synchub_core.envelope import EventEnvelope, Refused, new_event


def report(**overrides: object) -> PositionReport:
    fields: dict[str, object] = {
        "sku": "FLOUR-T55-25KG",
        "location_id": "UTR-A01",
        "on_hand": 120,
        "quality_hold": 5,
        "in_transit": 0,
        "as_of": "2026-11-23T07:45:00Z",
    } | overrides
    return PositionReport.model_validate(fields)


SHIPPED_BEFORE = PendingShipment("SHP-1", "2026-11-23T07:00:00.000Z", 2)
SHIPPED_AT = PendingShipment("SHP-2", "2026-11-23T07:45:00.000Z", 3)
SHIPPED_AFTER = PendingShipment("SHP-3", "2026-11-23T08:30:00.000Z", 4)


def test_shipments_after_the_report_stay_pending_those_at_or_before_it_are_counted() -> None:
    pending = [SHIPPED_BEFORE, SHIPPED_AT, SHIPPED_AFTER]
    assert still_pending(pending, "2026-11-23T07:45:00.000Z") == [SHIPPED_AFTER]
    assert still_pending(pending, "2026-11-23T06:00:00.000Z") == pending
    assert still_pending(pending, "2026-11-24T00:00:00.000Z") == []
    assert still_pending([], "2026-11-23T07:45:00.000Z") == []


def test_reported_on_hand_lacks_what_the_hub_shipped_since_the_report() -> None:
    assert reported_on_hand(report(on_hand=120), []) == 120
    assert reported_on_hand(report(on_hand=120), [SHIPPED_AFTER]) == 116
    assert reported_on_hand(report(on_hand=120), [SHIPPED_AT, SHIPPED_AFTER]) == 113


def test_a_report_holds_absolute_quantities_of_one_sku_at_one_location() -> None:
    parsed = report(as_of="2026-11-23T08:45:00+01:00")
    assert (parsed.on_hand, parsed.quality_hold, parsed.in_transit) == (120, 5, 0)
    assert parsed.as_of == datetime(2026, 11, 23, 7, 45, tzinfo=UTC)
    assert report(quality_hold=120).quality_hold == 120  # everything on hold is fine


@pytest.mark.parametrize(
    "overrides, complaint",
    [
        ({"quality_hold": 121}, "quality_hold cannot exceed on_hand"),
        ({"on_hand": -1}, "greater than or equal to 0"),
        ({"in_transit": -1}, "greater than or equal to 0"),
        ({"reserved": 3}, "Extra inputs are not permitted"),  # reserved belongs to the hub
        ({"sku": "flour"}, "should match pattern"),
        ({"location_id": "UTR A01"}, "should match pattern"),
        ({"as_of": "yesterday"}, "datetime"),
    ],
)
def test_reports_the_hub_cannot_trust_are_refused(overrides: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        report(**overrides)


# -- which site may report which location --------------------------------------------------------

SITES_JSON = (
    '{"wms.utrecht": {"warehouse_id": "UTR", "location_prefix": "UTR-"},'
    ' "wms.tilburg": {"warehouse_id": "TLB", "location_prefix": "TLB-"}}'
)


def envelope(source_system: str, location_id: str, **data: object) -> EventEnvelope:
    return new_event(
        "InventoryPositionReported",
        f"FLOUR-T55-25KG@{location_id}",
        7,
        report(location_id=location_id, **data).model_dump(mode="json"),
        correlation_id="c",
        causation_id=None,
        source_system=source_system,
        event_id="e-7",
    )


def test_a_site_reports_its_own_locations_only() -> None:
    sites = _parse_warehouses(SITES_JSON)
    assert admit(envelope("wms.utrecht", "UTR-A01"), sites).location_id == "UTR-A01"
    assert admit(envelope("wms.tilburg", "TLB-Z99"), sites).location_id == "TLB-Z99"
    with pytest.raises(Refused) as refused:
        admit(envelope("wms.tilburg", "UTR-A01"), sites)
    assert refused.value.reason == (
        "inventory report e-7 from wms.tilburg names location UTR-A01, which is not one of its own: "
        "wms.tilburg reports only locations starting with TLB-"
    )
    with pytest.raises(Refused, match=re.escape("not a registered warehouse site (the site is spelled wms.utrecht)")):
        admit(envelope("wms-utrecht", "UTR-A01"), sites)  # the old spelling
    with pytest.raises(
        Refused, match=re.escape("'wms.breda': not a registered warehouse site; registered: wms.tilburg, wms.utrecht")
    ):
        admit(envelope("wms.breda", "UTR-A01"), sites)
    with pytest.raises(Refused, match="registered: none"):
        admit(envelope("wms.utrecht", "UTR-A01"), _parse_warehouses("{}"))


def test_the_site_is_checked_before_the_report_is_believed() -> None:
    """An unregistered sender's report is refused as such, whatever its content."""
    sites = _parse_warehouses(SITES_JSON)
    bad = envelope("wms.utrecht", "UTR-A01").model_copy(update={"source_system": "wms.nowhere"})
    with pytest.raises(Refused, match="not a registered"):
        admit(bad.model_copy(update={"data": {**bad.data, "on_hand": -1}}), sites)
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        admit(envelope("wms.utrecht", "UTR-A01").model_copy(update={"data": {**bad.data, "on_hand": -1}}), sites)


@pytest.mark.parametrize(
    "raw, problem",
    [
        (None, "WAREHOUSES is not set"),
        ("", "WAREHOUSES is not set"),
        ("[", "not JSON"),
        ("[]", "not a JSON object of sites"),
        ('{"WMS.Utrecht": {"warehouse_id": "UTR", "location_prefix": "UTR-"}}', "not spelled wms.<site>"),
        ('{"wms.utrecht": {"warehouse_id": "", "location_prefix": "UTR-"}}', "needs a warehouse_id and a location"),
        ('{"wms.utrecht": "UTR"}', "needs a warehouse_id and a location_prefix"),
        (
            '{"wms.utrecht": {"warehouse_id": "UTR", "location_prefix": "UTR-", "producer_role_id": 7}}',
            "has a producer_role_id that is no role id",
        ),
        (
            '{"wms.utrecht": {"warehouse_id": "UTR", "location_prefix": "UTR-", "producer_role_id": "AROA1:s"}}',
            "has a producer_role_id that is no role id",
        ),
        (
            '{"wms.a": {"warehouse_id": "X", "location_prefix": "A-"}, "wms.b": {"warehouse_id": "X", '
            '"location_prefix": "B-"}}',
            "share warehouse_id X",
        ),
        (
            '{"wms.a": {"warehouse_id": "A", "location_prefix": "A-"}, "wms.b": {"warehouse_id": "B", '
            '"location_prefix": "A-B-"}}',
            "'A-' of wms.a also covers wms.b's 'A-B-'",
        ),
    ],
)
def test_a_registry_that_cannot_be_trusted_refuses_everything(raw: str | None, problem: str) -> None:
    with pytest.raises(WarehousesUnavailable, match=re.escape(problem)) as unavailable:
        _parse_warehouses(raw)
    assert isinstance(unavailable.value, Refused)  # a refusal: dead-lettered with the reason, replayable
    assert unavailable.value.reason.startswith("warehouse site registry unavailable: ")


def test_the_registry_maps_each_source_to_its_site() -> None:
    sites = _parse_warehouses(SITES_JSON)
    assert dict(sites) == {
        "wms.utrecht": WarehouseSite("wms.utrecht", "UTR", "UTR-"),
        "wms.tilburg": WarehouseSite("wms.tilburg", "TLB", "TLB-"),
    }
    with pytest.raises(TypeError):
        sites["wms.breda"] = WarehouseSite("wms.breda", "BRD", "BRD-")  # type: ignore[index]


# -- the sender: a site's reports come from its own producer role -------------------------------------

UTR_ROLE, TLB_ROLE, REPLAY_ROLE = "AROAUTRECHTPRODUCER01", "AROATILBURGPRODUCER01", "AROAREPLAYROLE000001"
SITES_WITH_ROLES = (
    f'{{"wms.utrecht": {{"warehouse_id": "UTR", "location_prefix": "UTR-", "producer_role_id": "{UTR_ROLE}"}}, '
    f'"wms.tilburg": {{"warehouse_id": "TLB", "location_prefix": "TLB-", "producer_role_id": "{TLB_ROLE}"}}}}'
)
NOT_UTRECHTS = (
    "inventory report e-7 from wms.utrecht: the sender is not wms.utrecht's producer role (AROAUTRECHTPRODUCER01) but "
)


def test_the_registry_carries_each_sites_producer_role() -> None:
    sites = _parse_warehouses(SITES_WITH_ROLES)
    assert sites["wms.utrecht"] == WarehouseSite("wms.utrecht", "UTR", "UTR-", UTR_ROLE)
    assert _parse_warehouses(SITES_JSON)["wms.utrecht"].producer_role_id == ""  # none: not checked


def test_a_sites_report_is_taken_only_from_its_producer_role() -> None:
    sites = _parse_warehouses(SITES_WITH_ROLES)
    utrecht = envelope("wms.utrecht", "UTR-A01")
    assert admit(utrecht, sites, Sender(f"{UTR_ROLE}:wms-sync-42", None, REPLAY_ROLE)).location_id == "UTR-A01"
    for sender, who in [
        (f"{TLB_ROLE}:wms-sync-1", f"wms.tilburg's producer role ({TLB_ROLE})"),  # Tilburg posing as Utrecht
        ("AROASOMEOTHERROLE001:jane@example.com", "role AROASOMEOTHERROLE001"),  # no session name repeated
        ("AIDAUSER000000000001", "a principal that is not a role"),  # an IAM user: its id is not repeated
        ("123456789012", "a principal that is not a role"),  # the account root: no account id in the reason
        (UTR_ROLE, "role AROAUTRECHTPRODUCER01"),  # the role id without a session: not <RoleId>:<session>
        (f"{UTR_ROLE}X:s", "role AROAUTRECHTPRODUCER01X"),  # a longer id with the role's as its prefix
        (None, "an unidentified sender"),
    ]:
        with pytest.raises(Refused) as refused:
            admit(utrecht, sites, Sender(sender, None, REPLAY_ROLE))
        assert refused.value.reason == (
            f"{NOT_UTRECHTS}{who}; a site's reports are taken only from its own producer role"
        ), sender
    with pytest.raises(Refused, match="an unidentified sender"):
        admit(utrecht, sites)  # no sender given at all


def test_a_copy_the_replay_role_sent_is_judged_by_the_sender_it_records() -> None:
    sites = _parse_warehouses(SITES_WITH_ROLES)
    utrecht = envelope("wms.utrecht", "UTR-A01")
    replayed = f"{REPLAY_ROLE}:synchub-replay"
    assert admit(utrecht, sites, Sender(replayed, f"{UTR_ROLE}:wms-sync-42", REPLAY_ROLE)).sku == "FLOUR-T55-25KG"
    for recorded, who in [
        (f"{TLB_ROLE}:wms-sync-1", f"wms.tilburg's producer role ({TLB_ROLE})"),
        (None, "an unidentified sender"),
        (replayed, f"role {REPLAY_ROLE}"),
    ]:
        with pytest.raises(Refused) as refused:
            admit(utrecht, sites, Sender(replayed, recorded, REPLAY_ROLE))
        assert refused.value.reason == (
            f"{NOT_UTRECHTS}the ReplayRole, replaying a report first sent by {who}; a site's reports are taken "
            "only from its own producer role"
        )
    # anyone else's recorded sender is a mere claim: the real sender is judged
    with pytest.raises(Refused, match=re.escape(f"but wms.tilburg's producer role ({TLB_ROLE});")):
        admit(utrecht, sites, Sender(f"{TLB_ROLE}:wms-sync-1", f"{UTR_ROLE}:wms-sync-42", REPLAY_ROLE))
    # without a known ReplayRole nobody's recorded sender counts
    with pytest.raises(Refused, match=re.escape(f"but role {REPLAY_ROLE};")):
        admit(utrecht, sites, Sender(replayed, f"{UTR_ROLE}:wms-sync-42", ""))


def test_without_producer_roles_only_the_source_and_location_are_checked() -> None:
    """The local hub: IAM is not emulated, so the registry's producer_role_id is empty."""
    sites = _parse_warehouses(SITES_JSON)
    assert admit(envelope("wms.utrecht", "UTR-A01"), sites, Sender("anything", None, "")).location_id == "UTR-A01"
    with pytest.raises(Refused, match="which is not one of its own"):
        admit(envelope("wms.tilburg", "UTR-A01"), sites, Sender("anything", None, ""))


def test_the_sender_is_checked_before_the_report_is_believed() -> None:
    sites = _parse_warehouses(SITES_WITH_ROLES)
    bad = envelope("wms.utrecht", "UTR-A01")
    bad = bad.model_copy(update={"data": {**bad.data, "location_id": "TLB-A01", "on_hand": -1}})
    with pytest.raises(Refused, match=re.escape("the sender is not wms.utrecht's producer role")):
        admit(bad, sites, Sender(f"{TLB_ROLE}:s", None, REPLAY_ROLE))
