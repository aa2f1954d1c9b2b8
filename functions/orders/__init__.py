import synchub_core  # noqa: F401  # first: see synchub_core/__init__.py
