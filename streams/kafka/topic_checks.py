"""What a topic that already exists must be for the pipeline: its partition count, its compaction.

A topic made by hand, by a broker on first use or by an openlab with other settings can exist
with another partition count than ``OPENLAB_PARTITIONS``, or delete old records where the pipeline
keeps the latest record of each key. Neither fails at once: partition *p* of ``readings.raw`` no
longer goes with partition *p* of ``sensors.state``, so a worker restores the state of other
sensors than those it is given; or a sensor's state is deleted after a week, and a restore
forgets it. So :func:`streams.kafka.topics.ensure_topics` checks every topic it finds, and a
worker does not start on a mismatch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

CLEANUP_POLICY = "cleanup.policy"


@dataclass(frozen=True, slots=True)
class TopicNeeds:
    """What the pipeline needs of one topic: ``partitions`` (``None``: any count, for a topic
    read whole, whose partitions go with no other topic's) and whether it must be compacted."""

    partitions: int | None
    compacted: bool


@dataclass(frozen=True, slots=True)
class TopicFound:
    """What the broker says of one topic: its partition count and its ``cleanup.policy``
    (``delete``, ``compact`` or both, comma-separated)."""

    partitions: int
    cleanup_policy: str


class TopicMismatchError(RuntimeError):
    """Topics that exist but are not what the pipeline needs."""


def mismatches(needs: Mapping[str, TopicNeeds], found: Mapping[str, TopicFound]) -> list[str]:
    """Every difference between what each topic of ``found`` is and what ``needs`` says it must
    be, one sentence each, naming the topic, what it has and what it needs. A topic in one of
    them only is not compared.

    >>> needs = {
    ...     "readings.raw": TopicNeeds(partitions=12, compacted=False),
    ...     "sensors.state": TopicNeeds(partitions=12, compacted=True),
    ...     "alerts.owner.owner-007": TopicNeeds(partitions=None, compacted=False),
    ... }
    >>> found = {
    ...     "readings.raw": TopicFound(partitions=4, cleanup_policy="delete"),
    ...     "sensors.state": TopicFound(partitions=12, cleanup_policy="delete"),
    ...     "alerts.owner.owner-007": TopicFound(partitions=1, cleanup_policy="delete"),
    ... }
    >>> for mismatch in mismatches(needs, found):
    ...     print(mismatch)
    topic 'readings.raw' has 4 partitions and needs 12 (OPENLAB_PARTITIONS)
    topic 'sensors.state' has cleanup.policy=delete and needs cleanup.policy=compact
    >>> mismatches(needs, {"sensors.state": TopicFound(12, "compact,delete")})
    []
    """
    found_wrong: list[str] = []
    for name, topic in found.items():
        need = needs.get(name)
        if need is None:
            continue
        if need.partitions is not None and topic.partitions != need.partitions:
            found_wrong.append(
                f"topic {name!r} has {topic.partitions} partitions and needs {need.partitions}"
                " (OPENLAB_PARTITIONS)"
            )
        if need.compacted and "compact" not in topic.cleanup_policy.split(","):
            found_wrong.append(
                f"topic {name!r} has {CLEANUP_POLICY}={topic.cleanup_policy or '?'} and needs"
                f" {CLEANUP_POLICY}=compact"
            )
    return found_wrong


def refuse_mismatches(needs: Mapping[str, TopicNeeds], found: Mapping[str, TopicFound]) -> None:
    """Raise :class:`TopicMismatchError` if any topic of ``found`` is not what ``needs`` says.

    >>> refuse_mismatches({"alerts": TopicNeeds(12, False)}, {"alerts": TopicFound(3, "delete")})
    Traceback (most recent call last):
    ...
    streams.kafka.topic_checks.TopicMismatchError: topic 'alerts' has 3 partitions and needs 12 ...
    """
    wrong = mismatches(needs, found)
    if wrong:
        raise TopicMismatchError(
            "; ".join(wrong) + ": delete those topics (their records with them) or alter them,"
            " or set OPENLAB_PARTITIONS to their count"
        )


async def describe(
    admin: AIOKafkaAdminClient, topics: Iterable[str], compacted: Iterable[str]
) -> dict[str, TopicFound]:
    """The partition count of every topic of ``topics`` that exists, and the ``cleanup.policy``
    of those also in ``compacted`` (of the others: empty, it is not asked for)."""
    names = list(topics)
    if not names:
        return {}
    counts = {
        topic["topic"]: len(topic["partitions"])
        for topic in await admin.describe_topics(names)
        if topic["error_code"] == 0
    }
    policies = await cleanup_policies(admin, [name for name in dict.fromkeys(compacted) if name in counts])
    return {name: TopicFound(count, policies.get(name, "")) for name, count in counts.items()}


async def cleanup_policies(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, str]:
    """The ``cleanup.policy`` of every topic of ``topics``, as the broker describes it."""
    if not topics:
        return {}
    resources = [ConfigResource(ConfigResourceType.TOPIC, name, {CLEANUP_POLICY: None}) for name in topics]
    policies: dict[str, str] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            if resource["error_code"] != 0:
                raise TopicMismatchError(
                    f"cannot describe topic {resource['resource_name']!r}: error {resource['error_code']}"
                    f" {resource['error_message'] or ''}".rstrip()
                )
            for entry in resource["config_entries"]:
                if entry["config_names"] == CLEANUP_POLICY:
                    policies[resource["resource_name"]] = entry["config_value"]
    return policies
