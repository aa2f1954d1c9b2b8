"""Master data from the ERP: products, customers and prices dropped as CSV files, validated row by
row, stored, and checked by the order intake (``masterdata.api``)."""

import synchub_core  # noqa: F401  # first: see synchub_core/__init__.py
