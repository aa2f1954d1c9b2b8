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


# a function's log is rotated to <name>.log.1 beyond this size (SYNCHUB_LOCAL_LOG_MAX_BYTES overrides)
LOG_MAX_BYTES = 10 * 1024 * 1024


def _open_log(path: str) -> None:
    """Point stdout and stderr (what Lambda sends to CloudWatch Logs) at the function's log file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)


def _rotate_log(path: str, max_bytes: int) -> None:
    """Keep the log bounded: past LOG_MAX_BYTES it becomes ``.1`` (the previous ``.1`` is dropped).
    Instances of one function share the file: one that finds it rotated by another reopens it."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        _open_log(path)
        return
    mine = os.fstat(1)
    if (mine.st_dev, mine.st_ino) != (current.st_dev, current.st_ino):
        _open_log(path)
    elif mine.st_size > max_bytes:
        try:
            os.replace(path, path + ".1")
        except FileNotFoundError:
            pass  # another instance of the function rotated it a moment ago
        _open_log(path)


def _exit_now() -> None:
    """Exit without the interpreter's teardown (freeing every module of the SDKs costs a loaded machine
    tenths of a second per process, and a hub stops all of them at once); the log is flushed first."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


def main(conn: Any, spec: dict[str, Any]) -> None:
    # Ctrl-C in the terminal reaches the whole process group: the hub stops its workers itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    log_path = spec.get("log_path")
    log_max_bytes = int(os.environ.get("SYNCHUB_LOCAL_LOG_MAX_BYTES") or LOG_MAX_BYTES)
    if log_path:
        _open_log(log_path)
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
        init_error = {
            "errorType": "Runtime.ImportModuleError",
            "errorMessage": f"{type(exc).__name__}: {exc}",
            "stackTrace": traceback.format_exc(),
        }
        traceback.print_exc()
    conn.send(("ready", init_error))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:  # the hub stops: leave at once, as a sandbox is shut down
            _exit_now()
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
            conn.send(
                (
                    "error",
                    {
                        "errorType": type(exc).__name__,
                        "errorMessage": str(exc),
                        "stackTrace": traceback.format_exc().splitlines(),
                    },
                )
            )
        sys.stdout.flush()
        if log_path:
            try:
                _rotate_log(log_path, log_max_bytes)
            except OSError:
                traceback.print_exc()  # a log that cannot rotate must not take the function down
