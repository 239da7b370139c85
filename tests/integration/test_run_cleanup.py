"""A run of its own (a benchmark's, a chaos run's) leaves nothing behind on the real services: its
topics and its InfluxDB database are deleted, and nothing else is."""

from __future__ import annotations

import asyncio

import pytest

from streams import stack
from streams.kafka.topics import TopicNames, delete_topics, topics_of
from streams.settings import Settings
from streams.sinks.influx import influxql
from tests.conftest import isolated


async def _databases(settings: Settings) -> set[str]:
    series = await influxql(settings.model_copy(update={"influx_database": ""}), "SHOW DATABASES")
    return {row[0] for s in series for row in s.get("values", [])}


def test_a_runs_topics_and_database_are_deleted_and_no_others(
    pipeline_settings: Settings, stack_settings: Settings
) -> None:
    run, neighbour = pipeline_settings, isolated(stack_settings)
    runs = sorted(topic for topic in asyncio.run(_all_topics(run)) if topic.startswith(run.topic_prefix))
    assert set(TopicNames.of(run).all()) <= set(runs)
    assert TopicNames.of(run).owner("owner-001") in runs, "its owners' alarm topics too"
    assert run.influx_database in asyncio.run(_databases(run))

    deleted = asyncio.run(delete_topics(run))
    stack.drop_database(run)

    assert deleted == runs
    left = asyncio.run(_all_topics(run))
    assert not {topic for topic in left if topic.startswith(run.topic_prefix)}
    assert set(TopicNames.of(neighbour).all()) <= left
    databases = asyncio.run(_databases(run))
    assert run.influx_database not in databases
    assert neighbour.influx_database in databases
    asyncio.run(delete_topics(neighbour))
    stack.drop_database(neighbour)


async def test_deleting_without_a_prefix_of_ones_own_is_refused(stack_settings: Settings) -> None:
    with pytest.raises(ValueError, match="needs a topic prefix"):
        await delete_topics(stack_settings.model_copy(update={"topic_prefix": ""}))


async def _all_topics(settings: Settings) -> set[str]:
    return set(await topics_of(settings, ""))
