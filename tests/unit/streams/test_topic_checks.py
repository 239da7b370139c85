"""What an existing topic must be (``streams.kafka.topic_checks``), judged without a broker; the
same checks on a real one: tests/integration/test_topics.py."""

from __future__ import annotations

import pytest

from streams.kafka.topic_checks import (
    TopicFound,
    TopicMismatchError,
    TopicNeeds,
    mismatches,
    refuse_mismatches,
)

NEEDS = {
    "t.readings.raw": TopicNeeds(partitions=4, compacted=False),
    "t.sensors.state": TopicNeeds(partitions=4, compacted=True),
    "t.alerts.owner.owner-007": TopicNeeds(partitions=None, compacted=False),
}


def test_topics_as_the_pipeline_needs_them_pass() -> None:
    found = {
        "t.readings.raw": TopicFound(4, "delete"),
        "t.sensors.state": TopicFound(4, "compact"),
        "t.alerts.owner.owner-007": TopicFound(12, "delete"),
    }
    assert mismatches(NEEDS, found) == []
    refuse_mismatches(NEEDS, found)


def test_a_topic_partitioned_otherwise_is_named_with_its_count_and_the_one_needed() -> None:
    found = {"t.readings.raw": TopicFound(12, "delete"), "t.sensors.state": TopicFound(4, "compact")}
    assert mismatches(NEEDS, found) == [
        "topic 't.readings.raw' has 12 partitions and needs 4 (OPENLAB_PARTITIONS)"
    ]


@pytest.mark.parametrize("policy", ["delete", "", "delete,compaction"])
def test_a_changelog_that_deletes_old_records_is_named_with_its_policy(policy: str) -> None:
    (mismatch,) = mismatches(NEEDS, {"t.sensors.state": TopicFound(4, policy)})
    assert mismatch == (
        f"topic 't.sensors.state' has cleanup.policy={policy or '?'} and needs cleanup.policy=compact"
    )


@pytest.mark.parametrize("policy", ["compact", "compact,delete", "delete,compact"])
def test_a_compacted_changelog_may_also_delete(policy: str) -> None:
    assert mismatches(NEEDS, {"t.sensors.state": TopicFound(4, policy)}) == []


def test_a_topic_with_both_wrong_gets_both_and_topics_not_needed_are_not_judged() -> None:
    found = {"t.sensors.state": TopicFound(1, "delete"), "t.someone.elses": TopicFound(1, "delete")}
    assert mismatches(NEEDS, found) == [
        "topic 't.sensors.state' has 1 partitions and needs 4 (OPENLAB_PARTITIONS)",
        "topic 't.sensors.state' has cleanup.policy=delete and needs cleanup.policy=compact",
    ]


def test_a_mismatch_refuses_with_every_topic_at_fault() -> None:
    found = {"t.readings.raw": TopicFound(12, "delete"), "t.sensors.state": TopicFound(4, "delete")}
    with pytest.raises(TopicMismatchError) as refused:
        refuse_mismatches(NEEDS, found)
    message = str(refused.value)
    assert "'t.readings.raw' has 12 partitions and needs 4" in message
    assert "'t.sensors.state' has cleanup.policy=delete" in message
    assert "owner-007" not in message
