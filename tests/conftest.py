"""Fixtures: the real local stack (started once if it is not running), and isolated pipelines.

Each integration test gets its own topic prefix, consumer group and InfluxDB database, so tests
never see each other's data, and a worker process that it can kill.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import subprocess
import uuid
from collections.abc import Callable, Coroutine, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from streams import stack
from streams.settings import Settings
from streams.topics import ensure_topics
from streams.worker import start_worker, stop_worker

_DEADLINE_MARGIN_SECONDS = 30.0
"""How long before pytest-timeout's limit an async test is cancelled where it waits."""


def _with_deadline(
    test: Callable[..., Coroutine[Any, Any, None]], seconds: float
) -> Callable[..., Coroutine[Any, Any, None]]:
    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> None:
        try:
            async with asyncio.timeout(seconds):
                await test(*args, **kwargs)
        except TimeoutError as exc:
            raise TimeoutError(
                f"still running after {seconds:g} s; cancelled where it waited (the traceback above)"
            ) from exc

    return run


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every async test a deadline inside its event loop, just before pytest-timeout's.

    pytest-timeout interrupts a hung test from a signal, whose traceback shows only the event loop
    waiting in ``select``; cancelling the test's task instead shows the ``await`` it hung on, and
    leaves the session's event loop usable for the tests after it.
    """
    for item in items:
        test = getattr(item, "obj", None)
        if isinstance(item, pytest.Function) and asyncio.iscoroutinefunction(test):
            marker = item.get_closest_marker("timeout")
            limit = float(marker.args[0] if marker and marker.args else config.getini("timeout"))
            item.obj = _with_deadline(test, max(limit - _DEADLINE_MARGIN_SECONDS, limit / 2))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test, for fixtures that report more when it failed."""
    report: pytest.TestReport = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def failed_report(request: pytest.FixtureRequest) -> pytest.TestReport | None:
    """The report of the phase (setup or call) in which the test of ``request`` failed, if it did."""
    return next((r for r in request.node.stash.get(_REPORTS, {}).values() if r.failed), None)


@pytest.fixture(scope="session")
def stack_settings() -> Iterator[Settings]:
    """The local stack on the configured ports.

    A stack already running there (all of its services) is used as it is. Otherwise the session
    starts one of its own, empty, in a directory of its own (``tests-<ports>`` under
    ``OPENLAB_HOME``), and stops and wipes it afterwards (its logs are kept until the next
    session): every test makes topics and a database of its own, and a broker that kept them all
    from run to run (tens of thousands of partitions) took minutes to start and slowed every
    request; nor does the suite touch the data ``openlab run`` left in its stack.
    """
    settings = Settings()
    if all(service.running for service in stack.status(settings).values()):
        yield settings
        return
    own = settings.model_copy(
        update={"stack_dir": settings.home / f"tests-{settings.kafka_port}-{settings.influx_port}"}
    )
    stack.down(own)  # what an interrupted session left running
    shutil.rmtree(own.run_dir, ignore_errors=True)  # and its data and logs
    stack.up(own)
    try:
        yield own
    finally:
        stack.down(own, wipe=True)  # the logs stay until the next session, for a post-mortem


def isolated(stack_settings: Settings, **changes: Any) -> Settings:
    """Settings of a pipeline nobody else uses: own topics (created), consumer group and database
    (created), a city of 40 sites on 4 partitions, and any ``changes``."""
    run = f"t{uuid.uuid4().hex[:10]}"
    settings = stack_settings.model_copy(
        update={
            "topic_prefix": f"{run}.",
            "app_id": f"openlab-{run}",
            "influx_database": run,
            "worker_web_port": 0,
            "sites": 40,
            "partitions": 4,
            **changes,
        }
    )
    asyncio.run(ensure_topics(settings))
    stack.create_database(settings)
    return settings


@pytest.fixture
def pipeline_settings(stack_settings: Settings) -> Settings:
    """Settings of a pipeline nobody else uses (see :func:`isolated`)."""
    return isolated(stack_settings)


WorkerFactory = Callable[[Settings], subprocess.Popen[bytes]]


_LOG_TAIL_LINES = 60


@pytest.fixture
def worker(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[WorkerFactory]:
    """Start worker processes; every one still running at the end is stopped. When the test
    failed, the end of each worker's log is shown with the failure."""
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []

    def start(settings: Settings) -> subprocess.Popen[bytes]:
        logs.append(tmp_path / f"worker-{len(processes)}.log")
        process = start_worker(settings, logs[-1])
        processes.append(process)
        return process

    yield start
    for process in processes:
        stop_worker(process)
    report = failed_report(request)
    if report is not None:
        for log in logs:
            lines = log.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
            report.sections.append((f"last {len(lines)} lines of {log.name}", "\n".join(lines)))
