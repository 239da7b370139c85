"""The site registry on Kafka: the compacted topic ``sites.registry``, one record per site.

Key = ``site_id``, value = the :class:`~sensors.site.Site` as JSON. The topic is compacted
(``cleanup.policy=compact``): Kafka keeps at least the latest value of every key, so a consumer
that reads it from the start has the whole current registry, whatever was published before. A
site that leaves the registry is deleted with a tombstone (a record with the key and no value),
which ``publish_registry(..., prune=True)`` sends for every site on the topic that is no longer in
the registry being published.
"""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from sensors.site import Site
from sensors.sites import SiteRegistry
from streams.kafka.clients import aiokafka_options
from streams.kafka.publisher import Publisher, Record
from streams.kafka.topics import COMPACTED, ensure_city_topics, read_records
from streams.settings import Settings

REGISTRY_TOPIC = "sites.registry"
_BATCH = 1000


class RegistryTopicError(RuntimeError):
    """The registry topic exists but is not what a registry needs (a compacted topic)."""


async def topic_configs(settings: Settings, topic: str) -> dict[str, str]:
    """Every configuration entry of ``topic``, as the broker describes it."""
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    configs: dict[str, str] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"] != 0:
                raise RegistryTopicError(
                    f"cannot describe topic {topic!r}: error {resource['error_code']}"
                    f" {resource['error_message'] or ''}".rstrip()
                )
            for entry in resource["config_entries"]:
                configs[entry["config_names"]] = entry["config_value"]
    return configs


async def ensure_registry_topic(settings: Settings) -> bool:
    """Create the compacted registry topic if it does not exist; return whether it was created.

    An existing topic that is not compacted raises :class:`RegistryTopicError`: on a topic that
    deletes old records, sites that have not been republished for a while would disappear.
    """
    name = settings.topic(REGISTRY_TOPIC)
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        created = False
        if name not in set(await admin.list_topics()):
            topic = NewTopic(
                name,
                settings.partitions,
                settings.replication_factor,
                topic_configs=dict(COMPACTED),
            )
            response = (await admin.create_topics([topic])).to_object()
            for error in response["topic_errors"]:
                if error["error_code"] not in (0, TopicAlreadyExistsError.errno):
                    raise RegistryTopicError(
                        f"cannot create topic {name!r}: error {error['error_code']} {error['error_message']}"
                    )
                created = error["error_code"] == 0
    finally:
        await admin.close()
    for attempt in range(20):  # a topic just created can take a moment to be known to every broker
        try:
            policy = (await topic_configs(settings, name)).get("cleanup.policy", "")
            break
        except RegistryTopicError:
            if attempt == 19:
                raise
            await asyncio.sleep(0.25)
    if "compact" not in policy.split(","):
        raise RegistryTopicError(
            f"topic {name!r} exists with cleanup.policy={policy or '?'}; the site registry needs a"
            " compacted topic (cleanup.policy=compact): delete it, or alter its cleanup.policy"
        )
    return created


async def read_registry(settings: Settings) -> dict[str, Site]:
    """The registry as the topic holds it now: the latest value of every site id not deleted."""
    latest: dict[str, Site] = {}
    for _, key, value in await read_records(settings, settings.topic(REGISTRY_TOPIC)):
        if key is None:
            continue
        site_id = key.decode()
        if value is None:
            latest.pop(site_id, None)
        else:
            latest[site_id] = Site.model_validate_json(value)
    return latest


def site_records(registry: SiteRegistry) -> list[Record]:
    """The registry as records of the topic: key = site id, value = the site as JSON."""
    return [(site.site_id.encode(), site.model_dump_json().encode()) for site in registry.sites]


async def publish_registry(
    settings: Settings, registry: SiteRegistry, *, prune: bool = False
) -> tuple[int, int]:
    """Publish every site of ``registry`` to the (created if need be) compacted registry topic.

    Returns ``(published, deleted)`` once Kafka has acknowledged every record. With ``prune``,
    every site on the topic that ``registry`` does not hold gets a tombstone (``deleted``).
    The pipeline's topics and the alarm topic of every owner ``registry`` names are created
    first, if missing: a worker routes an owner's alarms as soon as it reads the owner's sites.
    """
    await ensure_registry_topic(settings)
    await ensure_city_topics(settings, registry)
    topic = settings.topic(REGISTRY_TOPIC)
    records = site_records(registry)
    gone: list[bytes] = []
    if prune:
        wanted = {site.site_id for site in registry.sites}
        gone = [key.encode() for key in await read_registry(settings) if key not in wanted]
    publisher = Publisher(settings)
    try:
        for start in range(0, len(records), _BATCH):
            await publisher.publish(topic, records[start : start + _BATCH])
        if gone:
            # Publisher takes values as bytes only: tombstones go through its producer.
            deliveries = [await publisher.producer.send(topic, value=None, key=key) for key in gone]
            await asyncio.gather(*deliveries)
    finally:
        await publisher.stop()
    return len(records), len(gone)
