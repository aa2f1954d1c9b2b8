"""The local hub: emulated AWS + the synthesized stack's functions, event sources and API, and the local
stand-ins of the systems of record (cloud finance, the legacy ERP) the connectors talk to."""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from .functions import FunctionPool
from .pollers import Poller, ScheduleRunner, SqsPoller, StreamPoller, schedule_seconds
from .provision import Deployment, provision
from .template import Template

log = logging.getLogger("synchub.local")
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REGION = "eu-west-1"
DEFAULT_STATE_DIR = ROOT / ".synchub"
# the environment variables (fixed by the functions' contract) that name what the stand-ins need
FINANCE_SECRET_ENV = "FINANCE_CREDENTIALS_SECRET_ARN"
FINANCE_URL_PARAMETER_ENV = "FINANCE_BASE_URL_PARAMETER"
EXCHANGE_BUCKET_ENV = "EXCHANGE_BUCKET"
# every variable of the connector functions a CLI command needs to run their logic in-process (local.json)
CONNECTOR_ENV = (
    "CONNECTORS_TABLE",
    "MASTERDATA_TABLE",
    "EXCHANGE_BUCKET",
    FINANCE_URL_PARAMETER_ENV,
    FINANCE_SECRET_ENV,
    "FINANCE_QUEUE_URL",
    "ERP_QUEUE_URL",
)
STANDIN_WAIT_S = 10.0  # for the stand-ins of a hub that was killed to notice and exit


def aws_clients(endpoint: str | None, region: str) -> Any:
    """A cached ``service -> boto3 client`` factory. With an emulator endpoint, credentials default
    to dummies; without one (a real AWS account) boto3's own credential chain applies."""
    config = Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=30)
    kwargs: dict[str, Any] = {"region_name": region, "config": config}
    if endpoint:
        kwargs.update(
            endpoint_url=endpoint,
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        )
    cache: dict[str, Any] = {}

    def get(service: str) -> Any:
        if service not in cache:
            cache[service] = boto3.session.Session().client(service, **kwargs)
        return cache[service]

    return get


class HubStartError(RuntimeError):
    """The hub cannot start, for a reason one line explains (port taken, state dir in use)."""


def reset_moto(endpoint: str) -> None:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).read()


class LocalHub:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager).

    ``endpoint=None`` starts an embedded moto server (no Docker); any other endpoint (for example
    LocalStack's ``http://localhost:4566``) is used as it is.

    ``standins=True`` also starts the local finance and ERP stand-ins (``synchub.standins``) once the
    stack is provisioned: finance accepts exactly the client credentials of the provisioned finance
    secret and the finance base URL parameter is pointed at it; the ERP exchanges files through the
    provisioned exchange bucket. Their data lives in ``<state dir>/standins/``. With ``standins=False``
    the connectors talk to whatever the parameter and the secret name (real systems).

    ``schedule_interval`` runs every schedule that often instead of its rate (tests);
    ``schedule_intervals`` overrides it per function handler (``None``: that schedule does not run).
    """

    def __init__(
        self,
        cdk_out: Path = ROOT / "cdk.out",
        stack: str = "Synchub",
        *,
        endpoint: str | None = None,
        region: str = DEFAULT_REGION,
        api_port: int = 0,
        emulator_port: int = 0,
        retry_delay: float = 1.0,
        state_dir: Path = DEFAULT_STATE_DIR,
        api_concurrency: int = 2,
        schedule_interval: float | None = None,
        persist: bool = True,
        fresh: bool = False,
        flush_interval: float = 1.0,
        standins: bool = True,
        schedule_intervals: dict[str, float | None] | None = None,
    ) -> None:
        self.cdk_out, self.stack, self.endpoint, self.region = cdk_out, stack, endpoint, region
        self.api_port, self.retry_delay, self.state_dir = api_port, retry_delay, state_dir
        self.emulator_port = emulator_port
        self.api_concurrency, self.schedule_interval = api_concurrency, schedule_interval
        self.persist, self.fresh, self.flush_interval = persist, fresh, flush_interval
        self.moto: Any = None
        self.store: Any = None
        self.restored: Any = None
        self.recovered_from: dict[str, Any] | None = None  # the state file of a hub that did not stop cleanly
        self._lock_fd: int | None = None
        self.pools: dict[str, FunctionPool] = {}
        self.pollers: list[Poller] = []
        self.api: Any = None
        self.deployment: Deployment | None = None
        self.standins_enabled = standins
        self.schedule_intervals = dict(schedule_intervals or {})
        self.standins: dict[str, Any] = {}  # name -> synchub.standins.control.StandIn
        self.standin_notes: list[str] = []  # why a stand-in was not started
        self._standins_job: _Background | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> LocalHub:
        self._claim_state_dir()
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _claim_state_dir(self) -> None:
        """One hub per state dir (an flock, released by the OS even on kill -9), and free ports."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state_file = self.state_dir / "local.json"
        fd = os.open(self.state_dir / "hub.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            other = _read_json(state_file)
            raise HubStartError(
                f"another synchub hub is running on state dir {self.state_dir} "
                f"(pid {other.get('pid', '?')}, API {other.get('api_url', '?')}): stop it first, "
                "or start this one with --state-dir DIR"
            ) from None
        self._lock_fd = fd
        if state_file.exists():  # left by a hub that was killed: its data is recovered below
            self.recovered_from = _read_json(state_file)
            state_file.unlink()
        for port, what, option in (
            (self.api_port, "API", "--port"),
            (self.emulator_port, "emulator", "--emulator-port"),
        ):
            if port and (what == "API" or self.endpoint is None):
                _check_port_free(port, what, option)

    def _start(self) -> LocalHub:
        from .apigw import ApiGateway
        from .usage_plans import ApiKeys

        if self.endpoint is None:
            from moto.core import DEFAULT_ACCOUNT_ID
            from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

            from .emulator_server import EmulatorServer
            from .moto_isolation import install
            from .persistence import Store

            install()

            self.moto = EmulatorServer(DomainDispatcherApplication(create_backend_app), port=self.emulator_port)
            self.moto.start()
            host, port = self.moto.host_and_port
            self.endpoint = f"http://{host}:{port}"
            reset_moto(self.endpoint)  # moto's backends are per process, not per server
            if self.persist:
                self.store = Store(self.state_dir / "data", DEFAULT_ACCOUNT_ID, self.region, self.flush_interval)
                if self.fresh:
                    self.store.wipe()
        self.clients = aws_clients(self.endpoint, self.region)
        template = Template.load(self.cdk_out, self.stack, self.region)
        if self.store is not None:  # secrets, RestApi ids, API keys and usage plans: before provisioning
            self.store.restore_control()
        dep = self.deployment = provision(template, self.clients, self.endpoint)
        if self.store is not None:
            self.restored = self.store.restore()
            self.store.start()
        log_dir = self.state_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        if self.standins_enabled:
            self._standins_job = _Background(self._start_standins)
        runtime_env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
            "AWS_EXECUTION_ENV": "synchub-local",
        }
        api_functions = {r.function for r in dep.routes} | {r.authorizer.function for r in dep.routes if r.authorizer}
        for lid, spec in dep.functions.items():
            concurrency = self.api_concurrency if lid in api_functions else 1
            for src in dep.event_sources:  # an event source mapping's MaximumConcurrency is an upper bound
                if src.function == lid and src.max_concurrency:
                    concurrency = min(concurrency, src.max_concurrency)
            self.pools[lid] = FunctionPool(
                spec, runtime_env, log_dir, template.physical[lid]["Arn"], concurrency=concurrency
            )
            self.pools[lid].launch()  # cold starts in parallel
        for pool in self.pools.values():
            pool.await_ready()
        if self._standins_job is not None:
            self._standins_job.result()  # before any poller runs: the functions find the stand-ins' URL in SSM
        for src in dep.event_sources:
            pool = self.pools[src.function]
            if src.kind == "sqs":
                poller: Poller = SqsPoller(src, pool, self.clients("sqs"), self.region, self.retry_delay)
            else:
                dlq = dep.queue_by_arn(src.on_failure_arn)["url"] if src.on_failure_arn else None
                poller = StreamPoller(
                    src,
                    pool,
                    self.clients("dynamodbstreams"),
                    self.clients("sqs"),
                    self.region,
                    dlq,
                    template.physical[src.function]["Arn"],
                    self.retry_delay,
                )
            self.pollers.append(poller)
        for sched in dep.schedules:
            handler = dep.functions[sched.function].handler
            if handler in self.schedule_intervals:
                interval = self.schedule_intervals[handler]
                if interval is None:
                    log.info("schedule %s (%s) is switched off", sched.logical_id, handler)
                    continue
            else:
                interval = self.schedule_interval or schedule_seconds(sched.expression)
            if interval is None:
                log.warning("schedule %s (%s) is not emulated", sched.logical_id, sched.expression)
                continue
            self.pollers.append(
                ScheduleRunner(
                    sched,
                    self.pools[sched.function],
                    self._send_to_arn,
                    self.region,
                    template.account,
                    interval,
                    self.retry_delay,
                    function_arn=template.physical[sched.function]["Arn"],
                    send_failure=self._send_record,
                )
            )
        for p in self.pollers:
            p.start()
        if self.restored:  # publish outbox events and retry backorders left pending when the hub stopped
            for p in self.pollers:
                if isinstance(p, ScheduleRunner):
                    p.fire_soon()
        self.api = ApiGateway(
            dep.routes,
            self.invoke,
            dep.stage,
            self.region,
            template.account,
            port=self.api_port,
            api_id=dep.api_id,
            api_keys=ApiKeys(self.clients("apigateway"), dep.api_id, dep.stage),
        )
        self.api.start()
        self._write_state()
        return self

    def stop(self, timeout: float = 4.0) -> None:
        """Stop taking requests, let in-flight work finish (bounded by ``timeout``), persist, shut down."""
        deadline = time.monotonic() + timeout
        for p in self.pollers:
            p.stop()
        if self.api:
            self.api.stop()
            self.api = None
        for p in self.pollers:
            p.join(max(0.0, deadline - time.monotonic()))
        self.pollers = []
        for pool in self.pools.values():  # every process exits at the same time, not one pool after another
            pool.ask_to_stop()
        for pool in self.pools.values():
            pool.stop(deadline)
        self.pools = {}
        self._stop_standins(max(1.0, deadline - time.monotonic()))
        if self.store is not None:
            self.store.stop()
            self.store = None
        if self.moto:
            self.moto.stop()
            self.moto = None
        state = self.state_dir / "local.json"
        if self._lock_fd is not None:
            state.unlink(missing_ok=True)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- stand-ins ---------------------------------------------------------------------------
    def _start_standins(self) -> None:
        """Start the finance and ERP stand-ins the template's connectors need (in parallel)."""
        from synchub.standins import control

        dep = self.deployment
        assert dep is not None
        env = _function_env(dep, (FINANCE_SECRET_ENV, FINANCE_URL_PARAMETER_ENV, EXCHANGE_BUCKET_ENV))
        root = self.state_dir / "standins"
        if self.fresh:
            shutil.rmtree(root, ignore_errors=True)
        jobs: dict[str, _Background] = {}
        secret_arn, parameter = env.get(FINANCE_SECRET_ENV), env.get(FINANCE_URL_PARAMETER_ENV)
        bucket = env.get(EXCHANGE_BUCKET_ENV)
        if secret_arn and parameter:
            client_id, client_secret = self._finance_credentials(secret_arn)
            _await_free(root / "finance", "finance", self.recovered_from)
            jobs["finance"] = _Background(
                lambda: control.start_finance(
                    root / "finance",
                    client_id=client_id,
                    client_secret=client_secret,
                    log_file=self.state_dir / "logs" / "standin-finance.log",
                )
            )
        else:
            self.standin_notes.append("finance: the template has no finance connector (no secret and URL parameter)")
        if bucket:
            assert self.endpoint
            endpoint = self.endpoint
            _await_free(root / "erp", "erp", self.recovered_from)
            jobs["erp"] = _Background(
                lambda: control.start_erp(
                    root / "erp",
                    s3_endpoint=endpoint,
                    bucket=bucket,
                    region=self.region,
                    log_file=self.state_dir / "logs" / "standin-erp.log",
                )
            )
        else:
            self.standin_notes.append("erp: the template has no ERP exchange bucket")
        failures = []
        for name, job in jobs.items():
            try:
                self.standins[name] = job.result()
            except control.StandInStartError as exc:
                failures.append(str(exc))
        if failures:
            raise HubStartError("; ".join(failures))
        if "finance" in self.standins and parameter:
            self._point_parameter(parameter, self.standins["finance"].url)

    def _finance_credentials(self, secret_arn: str) -> tuple[str, str]:
        value = self.clients("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
        try:
            creds = json.loads(value)
            return str(creds["client_id"]), str(creds["client_secret"])
        except (ValueError, KeyError, TypeError):
            raise HubStartError(
                f"the finance credentials secret {secret_arn} is not JSON with client_id and client_secret: "
                "fix it (aws secretsmanager put-secret-value), or start with --no-standins"
            ) from None

    def _point_parameter(self, name: str, url: str) -> None:
        """Set the finance base URL parameter to the stand-in (a new version only when it changes)."""
        ssm = self.clients("ssm")
        try:
            current = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            current = None
        if current != url:
            ssm.put_parameter(Name=name, Value=url, Type="String", Overwrite=True)

    def _stop_standins(self, timeout: float) -> None:
        if self._standins_job is not None:  # a start that failed meanwhile: stop what it started
            try:
                self._standins_job.result()
            except BaseException:  # reported by start()
                pass
            self._standins_job = None
        for standin in self.standins.values():  # every stand-in stops at the same time
            if standin.alive():
                standin.process.terminate()
        for standin in self.standins.values():
            standin.stop(timeout)
        self.standins = {}

    # -- helpers -----------------------------------------------------------------------------
    def connector_env(self) -> dict[str, str]:
        """The connector variables (CONNECTOR_ENV) as the provisioned functions get them."""
        assert self.deployment
        return _function_env(self.deployment, CONNECTOR_ENV)

    def parameter_value(self, name: str) -> str | None:
        ssm = self.clients("ssm")
        try:
            return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
        except ssm.exceptions.ParameterNotFound:
            return None

    def invoke(self, function_logical_id: str, event: dict[str, Any]) -> Any:
        return self.pools[function_logical_id].invoke(event)

    def _send_to_arn(self, arn: str, body: str) -> None:
        self.clients("sqs").send_message(QueueUrl=self._queue_url(arn), MessageBody=body)

    def _queue_url(self, arn: str) -> str:
        assert self.deployment
        try:
            return self.deployment.queue_by_arn(arn)["url"]
        except StopIteration:  # a queue the template does not create
            return str(self.clients("sqs").get_queue_url(QueueName=arn.split(":")[-1])["QueueUrl"])

    def _send_record(self, arn: str, record: dict[str, Any]) -> None:
        """Deliver an asynchronous invocation record to a Lambda destination: a queue, a function or a bus."""
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        if service == "sqs":
            self._send_to_arn(arn, json.dumps(record))
        elif service == "lambda":
            assert self.deployment
            target = ":".join(arn.split(":")[:7])
            lid = next(
                lid for lid in self.deployment.functions if self.deployment.template.physical[lid]["Arn"] == target
            )
            self.invoke(lid, record)
        elif service == "events":
            self.clients("events").put_events(
                Entries=[
                    {
                        "Source": "lambda",
                        "DetailType": "Lambda Function Invocation Result - Failure",
                        "Detail": json.dumps(record),
                        "EventBusName": arn,
                        "Resources": [record["requestContext"]["functionArn"]],
                    }
                ]
            )
        else:
            log.error("on-failure destination %s is not emulated; record dropped: %.500s", arn, json.dumps(record))

    @property
    def api_url(self) -> str:
        return self.api.url

    def state(self) -> dict[str, Any]:
        assert self.deployment
        return {
            **self.deployment.summary(),
            "standins": {name: standin.state() for name, standin in self.standins.items()},
            "connector_env": self.connector_env(),
            "api_url": self.api_url,
            "pid": os.getpid(),
            "logs": str(self.state_dir / "logs"),
        }

    def _write_state(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_dir / "local.json.tmp"
        tmp.write_text(json.dumps(self.state(), indent=2))
        os.replace(tmp, self.state_dir / "local.json")  # readers never see half a file


class _Background:
    """Run ``fn`` in a thread now; :meth:`result` waits for it and returns (or raises) what it did."""

    def __init__(self, fn: Any) -> None:
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Any) -> None:
        try:
            self._result = fn()
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


def _function_env(dep: Deployment, wanted: tuple[str, ...]) -> dict[str, str]:
    """Variables as the template's functions get them (the first function that has each)."""
    out: dict[str, str] = {}
    for fn in dep.functions.values():
        for key in wanted:
            if fn.environment.get(key) and key not in out:
                out[key] = fn.environment[key]
    return out


def _await_free(data_dir: Path, name: str, previous: dict[str, Any] | None) -> None:
    """Wait until no stand-in holds ``data_dir`` (those of a killed hub stop when they notice it died)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + STANDIN_WAIT_S
    with open(data_dir / f"{name}.lock", "a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
                return
            except OSError:
                if time.monotonic() > deadline:
                    pid = ((previous or {}).get("standins") or {}).get(name, {}).get("pid", "?")
                    raise HubStartError(
                        f"the {name} stand-in's data dir {data_dir} is in use by another process (pid {pid}?): "
                        "stop it first"
                    ) from None
                time.sleep(0.1)


def _check_port_free(port: int, what: str, option: str) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise HubStartError(
                f"port {port} on 127.0.0.1 (the {what}) is already in use, by another hub or "
                f"program: stop it, or pick another port with {option} N ({option} 0 picks a "
                "free one)"
            ) from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


__all__ = ["HubStartError", "LocalHub", "aws_clients", "reset_moto"]
