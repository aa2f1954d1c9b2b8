"""What other domains may use of reconciliation: the event it emits and the stored result of a run."""

from __future__ import annotations

from .models import RECONCILIATION_COMPLETED, ReconciliationCompletedData
from .repository import load as load_result

__all__ = ["RECONCILIATION_COMPLETED", "ReconciliationCompletedData", "load_result"]
