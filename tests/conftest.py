"""Fixtures: the real local stack (started once if it is not running), and isolated pipelines.

Each integration test gets its own topic prefix, consumer group and InfluxDB database, so tests
never see each other's data, and a worker process that it can kill.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streams import stack
from streams.settings import Settings
from streams.topics import ensure_topics
from streams.worker import start_worker, stop_worker


@pytest.fixture(scope="session")
def stack_settings() -> Iterator[Settings]:
    """The local stack on the configured ports; stopped afterwards only if this session started it."""
    settings = Settings()
    started = stack.up(settings)
    yield settings
    for name in started:
        stack.stop_service(settings, name)


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


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start worker processes; every one still running at the end is stopped."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(settings: Settings) -> subprocess.Popen[bytes]:
        process = start_worker(settings, tmp_path / f"worker-{len(processes)}.log")
        processes.append(process)
        return process

    yield start
    for process in processes:
        stop_worker(process)
