"""Reconciliation: the ``ReconciliationCompleted`` event and the result of a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

RECONCILIATION_COMPLETED = "ReconciliationCompleted"
RECONCILIATION_SOURCE = "synchub.connectors"  # the connectors' EventBridge source (spec: one source for them all)
RECONCILIATION_MISMATCH = "reconciliation-mismatch"  # the business exception code of a difference
MAX_LISTED = 500  # references stored per category; the counts are always whole
MAX_DETAILED = 100  # mismatches stored with their differences (the exceptions carry every one)
MAX_REASON_CHARS = 300  # of one mismatch's differences in the stored result
MAX_REFERENCE_CHARS = 128  # a finance document's reference is whatever was booked there
RATE_PATTERN = r"^(?:100|[0-9]{1,2})\.[0-9]{2}$"


# Counts of one run over the hub's invoices (the comments, not docstrings, keep the schemas short).
class InvoiceCounts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hub: int = Field(ge=0, description="invoices the hub issued in the window")
    finance: int = Field(ge=0, description="documents finance holds in the window")
    matched: int = Field(ge=0, description="in both, the same amounts, currency and lines")
    missing: int = Field(ge=0, description="in the hub, not in finance (issued before the grace period)")
    in_flight: int = Field(default=0, ge=0, description="in the hub only, issued within the grace period")
    rejected: int = Field(
        default=0, ge=0, description="finance refused them: business exceptions already, not re-posted"
    )
    extra: int = Field(ge=0, description="in finance, unknown to the hub")
    mismatched: int = Field(ge=0, description="in both, with different amounts, currency or lines")
    reposted: int = Field(ge=0, description="missing invoices re-posted to finance by this run")


class ErpOrderCounts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hub: int = Field(ge=0, description="orders the hub accepted in the window")
    acknowledged: int = Field(ge=0, description="of those, ACCEPTED by the ERP")
    matched: int = Field(ge=0, description="ACCEPTED with the hub's currency, net total and line count")
    missing: int = Field(ge=0, description="without an ACCEPTED or REJECTED acknowledgement")
    in_flight: int = Field(default=0, ge=0, description="without an acknowledgement yet, within the grace period")
    rejected: int = Field(default=0, ge=0, description="REJECTED by the ERP: business exceptions already")
    extra: int = Field(ge=0, description="acknowledgements for orders the hub does not know")
    mismatched: int = Field(ge=0, description="ACCEPTED with another currency, net total or line count")
    resent: int = Field(ge=0, description="missing orders sent to the ERP again by this run")


class ReconciliationCompletedData(BaseModel):
    """``data`` of the ReconciliationCompleted event: the counts of one run (the references are in
    the stored result, ``synchub reconcile --json``)."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(min_length=1, max_length=64)
    window_from: date = Field(description="first UTC day compared")
    window_to: date = Field(description="last UTC day compared (inclusive)")
    repair: bool = Field(default=True, description="whether missing documents were re-sent and mismatches raised")
    invoices: InvoiceCounts
    erp_orders: ErpOrderCounts
    invoice_match_rate: str = Field(
        pattern=RATE_PATTERN,
        description="matched / (hub invoices - in flight - rejected) in percent, 2 places; 100.00 when none",
    )
    erp_match_rate: str = Field(
        default="100.00",
        pattern=RATE_PATTERN,
        description="matched / (hub orders - in flight - rejected) in percent, 2 places; 100.00 when none",
    )
    completed_at: str


@dataclass
class Listed:
    """The references of one category: every one counted, the first ``MAX_LISTED`` kept."""

    count: int = 0
    references: list[str] = field(default_factory=list)

    def add(self, reference: str) -> None:
        self.count += 1
        if len(self.references) < MAX_LISTED:
            self.references.append(reference[:MAX_REFERENCE_CHARS])

    def as_dict(self) -> dict[str, object]:
        return {"count": self.count, "references": list(self.references), "truncated": self.count > MAX_LISTED}


@dataclass
class Mismatch:
    reference: str
    differences: list[str]


class ReconciliationFailed(Exception):
    """A side could not be read (finance unreachable, ...): nothing is stored, the run fails."""


class WindowInvalid(ValueError):
    """The window asked for is not a range of whole UTC days."""
