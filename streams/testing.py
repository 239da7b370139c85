"""The real local stack for tests: openlab's own and a stream agent's (a pytest plugin, registered
as the entry point ``pytest11: openlab``, so an agent's package needs no conftest of its own).

- ``openlab_stack`` (session): :func:`local_stack`'s settings.
- ``openlab_settings``: :func:`isolated` settings on it, new for each test.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from streams import stack
from streams.city import load_city
from streams.kafka.topics import ensure_city_topics
from streams.settings import Settings


@contextmanager
def local_stack(settings: Settings | None = None) -> Iterator[Settings]:
    """The local stack on ``settings``' ports (default: the environment's).

    A stack already running there (all of its services), or a test session's (in
    ``tests-<ports>`` under ``OPENLAB_HOME``, so that tests run by a test share it), is used as
    it is. Otherwise one of its own, empty, is started there, and stopped and wiped afterwards
    (its logs are kept until the next time): every test makes topics and a database of its own,
    and a broker that kept them all from run to run (tens of thousands of partitions) took
    minutes to start and slowed every request; nor does a test touch the data ``openlab run``
    left in its stack.
    """
    settings = settings or Settings()
    own = settings.model_copy(
        update={"stack_dir": settings.home / f"tests-{settings.kafka_port}-{settings.influx_port}"}
    )
    for running in (settings, own):
        if all(service.running for service in stack.status(running).values()):
            yield running
            return
    stack.down(own)  # what an interrupted session left running
    shutil.rmtree(own.run_dir, ignore_errors=True)  # and its data and logs
    stack.up(own)
    try:
        yield own
    finally:
        stack.down(own, wipe=True)  # the logs stay until the next session, for a post-mortem


def isolated(settings: Settings, **changes: Any) -> Settings:
    """Settings of a pipeline nobody else uses: own topics (created, with the alarm topic of
    every owner of its city), consumer groups and database (created), a city of 40 sites on 4
    partitions, and any ``changes``."""
    run = f"t{uuid.uuid4().hex[:10]}"
    mine = settings.model_copy(
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
    asyncio.run(ensure_city_topics(mine, load_city(mine)))
    stack.create_database(mine)
    return mine


@pytest.fixture(scope="session")
def openlab_stack() -> Iterator[Settings]:
    """The local stack, once for the whole session (see :func:`local_stack`)."""
    with local_stack() as settings:
        yield settings


@pytest.fixture
def openlab_settings(openlab_stack: Settings) -> Settings:
    """Settings of a pipeline nobody else uses (see :func:`isolated`)."""
    return isolated(openlab_stack)
