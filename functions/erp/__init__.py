"""The legacy ERP connector: accepted orders out as CSV files through the exchange bucket, the ERP's
acknowledgement files back in (docs in the README, "Legacy ERP")."""

import synchub_core  # noqa: F401  # first: see synchub_core/__init__.py
