
import synchub_core  # noqa: F401  # first: Powertools batch before pydantic (synchub_core/__init__.py)
