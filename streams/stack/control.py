"""Start, check and stop the services of one stack (one ``settings.run_dir``).

Every service has ``run_dir/<name>.pid`` and ``run_dir/<name>.log``. A pid file counts only while
its process is alive and its command line shows the service and this stack's config file; any
other pid file is stale and removed. Changes are serialised by a lock file in ``run_dir``.
"""

from __future__ import annotations

import fcntl
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from streams.settings import Settings
from streams.stack.errors import StackError
from streams.stack.influx import Influxd
from streams.stack.kafka import Kafka
from streams.stack.mosquitto import Mosquitto
from streams.stack.procs import command_line, is_alive, kill, port_open, spawn, tail, terminate
from streams.stack.service import Service

SERVICES: dict[str, Service] = {service.name: service for service in (Kafka(), Influxd(), Mosquitto())}
"""The services in start order, by name."""

STOP_GRACE_SECONDS = 20.0
_PROBE_TIMEOUT_SECONDS = 5.0
_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class ServiceStatus:
    """What ``status`` knows about one service."""

    name: str
    running: bool
    pid: int | None
    port: int
    log: Path


def up(settings: Settings) -> list[str]:
    """Start every service that is not running and wait until all answer.

    Returns the names of the services started; empty when all were already running.
    """
    with _locked(settings):
        started = [name for name, service in SERVICES.items() if _start(settings, service)]
        _wait_ready(settings, SERVICES.values())
    return started


def down(settings: Settings, wipe: bool = False) -> list[str]:
    """Stop the running services; returns the names of those stopped.

    With ``wipe`` also delete their configuration and data (logs are kept).
    """
    with _locked(settings):
        stopped = [name for name, service in reversed(SERVICES.items()) if _stop(settings, service)]
        if wipe:
            for service in SERVICES.values():
                shutil.rmtree(service.workdir(settings), ignore_errors=True)
    return stopped


def start_service(settings: Settings, name: str) -> bool:
    """Start service ``name`` ("kafka", "influxd" or "mosquitto") unless running, then wait until it answers.

    Returns whether it was started.
    """
    service = _service(name)
    with _locked(settings):
        started = _start(settings, service)
        _wait_ready(settings, [service])
    return started


def stop_service(settings: Settings, name: str) -> bool:
    """Stop service ``name`` (its data is kept); returns whether it was running."""
    service = _service(name)
    with _locked(settings):
        return _stop(settings, service)


def kill_service(settings: Settings, name: str) -> bool:
    """Kill service ``name`` with SIGKILL, as a crash would (its data is kept as the crash left
    it); returns whether it was running."""
    service = _service(name)
    with _locked(settings):
        pid = _running_pid(settings, service)
        if pid is None:
            return False
        kill(pid)
        _pid_file(settings, service).unlink(missing_ok=True)
        return True


def wait_ready(settings: Settings, names: Sequence[str] = tuple(SERVICES)) -> None:
    """Wait up to ``settings.stack_timeout_seconds`` until the named services answer.

    Raises StackError naming the log file, with its last lines, when one is not running or does
    not answer in time.
    """
    _wait_ready(settings, [_service(name) for name in names])


def status(settings: Settings) -> dict[str, ServiceStatus]:
    """The state of every service, by name (stale pid files are removed)."""
    result = {}
    for name, service in SERVICES.items():
        pid = _running_pid(settings, service)
        port = next(iter(service.ports(settings).values()))
        result[name] = ServiceStatus(name, pid is not None, pid, port, _log(settings, service))
    return result


def _service(name: str) -> Service:
    try:
        return SERVICES[name]
    except KeyError:
        raise StackError(f"Unknown service {name!r}; known: {', '.join(SERVICES)}") from None


def _pid_file(settings: Settings, service: Service) -> Path:
    return settings.run_dir / f"{service.name}.pid"


def _log(settings: Settings, service: Service) -> Path:
    return settings.run_dir / f"{service.name}.log"


@contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """Hold an exclusive lock on this stack while changing it."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    with (settings.run_dir / "stack.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _running_pid(settings: Settings, service: Service) -> int | None:
    """The pid of the running service per its pid file; removes a stale pid file."""
    pid_file = _pid_file(settings, service)
    try:
        text = pid_file.read_text().strip()
    except FileNotFoundError:
        return None
    pid = int(text) if text.isdigit() else 0
    if pid and is_alive(pid) and _is_ours(command_line(pid), settings, service):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def _is_ours(argv: list[str], settings: Settings, service: Service) -> bool:
    """Whether a command line runs ``service`` (program or main class) with this stack's config."""
    marked = any(arg == service.marker or arg.endswith(f"/{service.marker}") for arg in argv)
    return marked and str(service.config_path(settings)) in argv


def _start(settings: Settings, service: Service) -> bool:
    """Spawn ``service`` unless it runs; refuses when one of its ports is taken by another."""
    if _running_pid(settings, service) is not None:
        return False
    host = service.host(settings)
    for setting, port in service.ports(settings).items():
        if port_open(host, port):
            raise StackError(
                f"Cannot start {service.name}: {host}:{port} ({setting}) is already in use by a "
                f"process this stack ({settings.run_dir}) did not start; stop it or pick free "
                "ports with the OPENLAB_* settings"
            )
    argv = service.prepare(settings)
    pid = spawn(argv, service.workdir(settings), _log(settings, service))
    _pid_file(settings, service).write_text(f"{pid}\n")
    return True


def _stop(settings: Settings, service: Service) -> bool:
    pid = _running_pid(settings, service)
    if pid is None:
        return False
    terminate(pid, STOP_GRACE_SECONDS)
    _pid_file(settings, service).unlink(missing_ok=True)
    return True


def _wait_ready(settings: Settings, services: Iterable[Service]) -> None:
    deadline = time.monotonic() + settings.stack_timeout_seconds
    for service in services:
        _wait_one(settings, service, deadline)
        service.on_ready(settings)


def _wait_one(settings: Settings, service: Service, deadline: float) -> None:
    log = _log(settings, service)
    while True:
        pid = _running_pid(settings, service)
        if pid is None:
            raise StackError(
                f"{service.name} is not running (did it exit?); last lines of {log}:\n{tail(log)}"
            )
        remaining = deadline - time.monotonic()
        if service.probe(settings, max(0.5, min(_PROBE_TIMEOUT_SECONDS, remaining))):
            return
        if time.monotonic() >= deadline:
            raise StackError(
                f"{service.name} (pid {pid}) did not answer within "
                f"{settings.stack_timeout_seconds:g} s; last lines of {log}:\n{tail(log)}"
            )
        time.sleep(_POLL_SECONDS)
