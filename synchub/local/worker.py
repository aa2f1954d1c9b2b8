"""One Lambda function instance in its own process (spawned, never forked).

The parent sends ``(event, request_id, timeout_ms)`` over a pipe; the child runs the handler named
in the template against the staged code asset and answers ``("ok", result)`` or
``("error", {...})`` the way the Lambda runtime reports a function error.
"""
from __future__ import annotations

import importlib
import os
import signal
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    def __init__(self, name: str, memory: int, arn: str, request_id: str, timeout_ms: int) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = memory
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = f"local/{os.getpid()}"
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main(conn: Any, spec: dict[str, Any]) -> None:
    # Ctrl-C in the terminal reaches the whole process group: the hub stops its workers itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if spec.get("log_path"):
        fd = os.open(spec["log_path"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    for key in [k for k in os.environ if k.startswith(("AWS_", "POWERTOOLS_"))]:
        del os.environ[key]
    os.environ.update(spec["environment"])
    sys.path.insert(0, spec["code_dir"])
    module_name, func_name = spec["handler"].rsplit(".", 1)
    try:
        handler = getattr(importlib.import_module(module_name), func_name)
        init_error = None
    except Exception as exc:  # reported on every invoke, like Runtime.ImportModuleError
        handler = None
        init_error = {"errorType": "Runtime.ImportModuleError", "errorMessage": f"{type(exc).__name__}: {exc}",
                      "stackTrace": traceback.format_exc()}
        traceback.print_exc()
    conn.send(("ready", init_error))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        event, request_id, timeout_ms = message
        if handler is None:
            conn.send(("error", init_error))
            continue
        ctx = LambdaContext(spec["name"], spec["memory"], spec["arn"], request_id, timeout_ms)
        try:
            result = handler(event, ctx)
            conn.send(("ok", result))
        except Exception as exc:
            traceback.print_exc()
            conn.send(("error", {"errorType": type(exc).__name__, "errorMessage": str(exc),
                                 "stackTrace": traceback.format_exc().splitlines()}))
        sys.stdout.flush()
