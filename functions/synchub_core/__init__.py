"""Shared building blocks for every synchub Lambda: configuration, DynamoDB helpers,
the event envelope, the transactional outbox and RFC 9457 problem details.

Imported first by every domain package (its ``__init__``), so before anything else a function's
cold start imports (benchmarks/coldstart.py measures it; tests/unit/test_lean_imports.py holds it):

* **No garbage collection while the function initialises.** Importing boto3, Powertools and the
  pydantic models allocates a few hundred thousand long-lived objects; the collector's full passes
  over them were a quarter of a worker's init. In Lambda (``LAMBDA_TASK_ROOT``) collection is off
  until the handler module's last line, :func:`init_done`, freezes what init built (``gc.freeze``:
  never scanned again, so warm invocations' collections stay small) and turns it back on.
* **Powertools' batch utility before pydantic.** It imports its parser's pydantic record models
  (SQS, DynamoDB, Kinesis, Kafka: ~40 ms) only when pydantic is already imported, and the hub's
  batch handlers use none of them.
"""

import gc
import os

_collecting_after_init = bool(os.environ.get("LAMBDA_TASK_ROOT")) and gc.isenabled()
if _collecting_after_init:
    gc.disable()

import aws_lambda_powertools.utilities.batch  # noqa: E402, F401  # before pydantic: see above


def init_done() -> None:
    """The end of the function's init (the handler module's last line): what init built is frozen
    and collection resumes."""
    global _collecting_after_init
    if _collecting_after_init:
        _collecting_after_init = False
        gc.freeze()
        gc.enable()
