"""The site registry published to the compacted topic sites.registry, on the real Kafka."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner
from click.testing import CliRunner

from sensors.site import Site
from sensors.sites import SiteRegistry
from streams.cli.sites import sites
from streams.kafka.clients import aiokafka_options
from streams.kafka.site_registry import (
    REGISTRY_TOPIC,
    RegistryTopicError,
    ensure_registry_topic,
    publish_registry,
    read_registry,
    topic_configs,
)
from streams.kafka.topics import OWNER_PARTITIONS, TopicNames, end_offsets, read_records
from streams.settings import Settings

pytestmark = pytest.mark.services


async def test_the_city_is_published_to_a_compacted_topic_and_read_back(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    city = SiteRegistry.generate(count=3300, seed=0)
    assert await publish_registry(settings, city) == (3300, 0)
    topic = settings.topic(REGISTRY_TOPIC)

    configs = await topic_configs(settings, topic)
    assert configs["cleanup.policy"] == "compact"

    records = await read_records(settings, topic)
    assert len(records) == 3300
    partitioner = DefaultPartitioner()
    partitions = list(range(settings.partitions))
    for partition, key, _ in records:
        assert key is not None
        assert partition == partitioner(key, partitions, partitions)  # as Kafka's Java client would
    latest = await read_registry(settings)
    assert len(latest) == 3300
    assert set(latest) == {site.site_id for site in city.sites}
    assert all(latest[site.site_id] == site for site in city.sites)

    # Publishing again: the latest value of each key wins; nothing else changes.
    moved = city.sites[10].model_copy(update={"name": "renamed", "owner_id": "owner-999"})
    changed = SiteRegistry([moved if site.site_id == moved.site_id else site for site in city.sites])
    assert await publish_registry(settings, changed) == (3300, 0)
    assert len(await read_records(settings, topic)) == 6600
    latest = await read_registry(settings)
    assert len(latest) == 3300
    assert latest[moved.site_id] == moved
    assert latest[city.sites[11].site_id] == city.sites[11]
    # The new owner's alarm topic was made with the publication, before any alarm names it.
    owner_topic = TopicNames.of(settings).owner("owner-999")
    assert len(await end_offsets(settings, (owner_topic,))) == OWNER_PARTITIONS


async def test_pruning_deletes_the_sites_that_left_the_registry(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    city = SiteRegistry.generate(count=50, seed=2)
    await publish_registry(settings, city)
    smaller = SiteRegistry(city.sites[:30])
    assert await publish_registry(settings, smaller) == (30, 0)
    assert len(await read_registry(settings)) == 50  # without prune, the others stay
    assert await publish_registry(settings, smaller, prune=True) == (30, 20)
    latest = await read_registry(settings)
    assert sorted(latest) == sorted(site.site_id for site in smaller.sites)
    records = await read_records(settings, settings.topic(REGISTRY_TOPIC))
    tombstones = sorted(key or b"" for _, key, value in records if value is None)
    assert tombstones == sorted(site.site_id.encode() for site in city.sites[30:])


async def test_an_existing_topic_that_is_not_compacted_is_refused(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(settings.topic(REGISTRY_TOPIC), 1, 1)])
    finally:
        await admin.close()
    with pytest.raises(
        RegistryTopicError, match=r"cleanup\.policy=delete; the site registry needs a compacted"
    ):
        await ensure_registry_topic(settings)


def test_openlab_sites_publish(pipeline_settings: Settings, tmp_path: Path) -> None:
    settings = pipeline_settings
    registry = SiteRegistry.generate(count=40, seed=5)
    path = tmp_path / "city.csv"
    registry.dump_csv(path)
    env = {**settings.as_environment(), "OPENLAB_REGISTRY_FILE": None}
    result = CliRunner().invoke(sites, ["--registry", str(path), "publish"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"published 40 sites to {settings.topic(REGISTRY_TOPIC)}" in result.output
    latest: dict[str, Site] = asyncio.run(read_registry(settings))
    assert list(latest.values()) != [] and set(latest) == {site.site_id for site in registry.sites}
    assert all(latest[site.site_id] == site for site in registry.sites)
