"""Pools of worker processes, one pool per Lambda function of the template."""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from . import worker
from .provision import FunctionSpec

_SPAWN = multiprocessing.get_context("spawn")
INIT_TIMEOUT_S = 60


class InvocationError(Exception):
    """The function raised, timed out or crashed: the whole invocation failed."""

    def __init__(self, function: str, payload: dict[str, Any]):
        super().__init__(f"{function}: {payload.get('errorType')}: {payload.get('errorMessage')}")
        self.payload = payload
        # one line for the hub's console: Powertools' BatchProcessingError carries every record's
        # traceback in its message, which the function's own log (.synchub/logs) has already
        first = str(payload.get("errorMessage") or "").strip().splitlines()[:1]
        self.summary = f"{function}: {payload.get('errorType')}: {first[0] if first else ''}"[:300]


class _Instance:
    def __init__(self, spec: FunctionSpec, runtime_env: dict[str, str], log_path: Path, arn: str) -> None:
        self.spec = spec
        self.child_spec = {
            "name": spec.name,
            "handler": spec.handler,
            "code_dir": str(spec.code_dir),
            "memory": spec.memory,
            "arn": arn,
            "log_path": str(log_path),
            "environment": {
                **runtime_env,
                **spec.environment,
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
                "LAMBDA_TASK_ROOT": str(spec.code_dir),
            },
        }
        self.process: Any = None
        self.conn: Any = None
        self.stopping = False

    def start(self) -> None:
        self.launch()
        self.await_ready()

    def launch(self) -> None:
        parent, child = _SPAWN.Pipe()
        self.process = _SPAWN.Process(
            target=worker.main, args=(child, self.child_spec), name=f"lambda:{self.spec.name}", daemon=True
        )
        self.process.start()
        child.close()
        self.conn = parent

    def await_ready(self) -> None:
        if not self.conn.poll(INIT_TIMEOUT_S):
            self.kill()
            raise RuntimeError(f"{self.spec.name} did not start within {INIT_TIMEOUT_S}s")
        self.conn.recv()  # ("ready", init_error): an init error is reported per invoke

    def invoke(self, event: dict[str, Any]) -> Any:
        if self.process is None or not self.process.is_alive():
            if self.stopping:
                raise InvocationError(
                    self.spec.name, {"errorType": "Runtime.Shutdown", "errorMessage": "the local hub is stopping"}
                )
            self.start()
        request_id = str(uuid.uuid4())
        self.conn.send((event, request_id, self.spec.timeout * 1000))
        if not self.conn.poll(self.spec.timeout):
            self.kill()  # like Lambda: the sandbox is torn down after a timeout
            raise InvocationError(
                self.spec.name,
                {"errorType": "Sandbox.Timedout", "errorMessage": f"timed out after {self.spec.timeout}s"},
            )
        try:
            status, payload = self.conn.recv()
        except (EOFError, OSError):  # the process died mid-invocation
            self.kill()
            raise InvocationError(
                self.spec.name, {"errorType": "Runtime.ExitError", "errorMessage": "the function process exited"}
            ) from None
        if status == "error":
            raise InvocationError(self.spec.name, payload)
        return payload

    def kill(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.process = None

    def ask_to_stop(self) -> None:
        self.stopping = True
        if self.process is not None and self.process.is_alive():
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass

    def stop(self, deadline: float) -> None:
        """Wait for the process to finish its invocation and exit, until ``deadline``; then kill it."""
        if self.process is not None:
            self.process.join(max(0.0, deadline - time.monotonic()))
        self.kill()


class FunctionPool:
    """Up to ``concurrency`` warm instances of one function; invocations wait for a free one."""

    def __init__(
        self, spec: FunctionSpec, runtime_env: dict[str, str], log_dir: Path, arn: str, concurrency: int = 1
    ) -> None:
        self.spec = spec
        self.log_path = log_dir / f"{spec.name}.log"
        self._free: queue.Queue[_Instance] = queue.Queue()
        self._all = [_Instance(spec, runtime_env, self.log_path, arn) for _ in range(concurrency)]
        for inst in self._all:
            self._free.put(inst)
        self.invocations = 0
        self.errors = 0
        self.stopped = False
        self._lock = threading.Lock()

    def launch(self) -> None:
        """Start every instance's process without waiting (see :meth:`await_ready`)."""
        for inst in self._all:
            inst.launch()

    def await_ready(self) -> None:
        for inst in self._all:
            inst.await_ready()

    def warm(self) -> None:
        self.launch()
        self.await_ready()

    def invoke(self, event: dict[str, Any]) -> Any:
        if self.stopped:
            raise InvocationError(
                self.spec.name, {"errorType": "Runtime.Shutdown", "errorMessage": "the local hub is stopping"}
            )
        inst = self._free.get()
        try:
            with self._lock:
                self.invocations += 1
            return inst.invoke(event)
        except InvocationError:
            with self._lock:
                self.errors += 1
            raise
        finally:
            self._free.put(inst)

    def ask_to_stop(self) -> None:
        """Refuse new invocations and tell every instance to exit once its invocation is done (no wait)."""
        self.stopped = True
        for inst in self._all:
            inst.ask_to_stop()

    def stop(self, deadline: float | None = None) -> None:
        deadline = time.monotonic() + 5 if deadline is None else deadline
        self.ask_to_stop()
        for inst in self._all:
            inst.stop(deadline)
