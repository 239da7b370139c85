"""Owners on the real broker, with its authorizer on: each reads its own alarms and nothing else."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AclOperation

from streams.kafka.clients import librdkafka_config
from streams.owners.acls import OwnerAccess, grant, revoke
from streams.settings import Settings


@dataclass
class Attempt:
    values: list[bytes] = field(default_factory=list)
    errors: list[KafkaError] = field(default_factory=list)

    def codes(self) -> set[int]:
        return {error.code() for error in self.errors}


def read_as(
    settings: Settings,
    user: str | None,
    password: str,
    topic: str,
    seconds: float = 20.0,
    bootstrap: str | None = None,
) -> Attempt:
    """Subscribe to ``topic`` as ``user`` (``None``: without logging in) on the SASL listener (or
    at ``bootstrap``) until a record or an error comes."""
    attempt = Attempt()
    login: dict[str, str] = {}
    if user is not None:
        login = {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": user,
            "sasl.password": password,
        }
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap or f"{settings.kafka_sasl_host}:{settings.kafka_sasl_port}",
            **login,
            "group.id": f"owner.{user}.test-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "error_cb": attempt.errors.append,
        }
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not attempt.values and not attempt.errors:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error, value = message.error(), message.value()
            if error is not None:
                attempt.errors.append(error)
            elif value is not None:
                attempt.values.append(value)
    finally:
        consumer.close()
    return attempt


def publish(settings: Settings, topic: str, value: bytes) -> None:
    producer = Producer(librdkafka_config(settings))
    producer.produce(topic, value)
    assert producer.flush(30) == 0


def test_an_owner_reads_its_alarms_and_nothing_else(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    run = uuid.uuid4().hex[:6]
    a, b = f"owner-a{run}", f"owner-b{run}"
    access_a = grant(settings, a, "secret-a")
    access_b = grant(settings, b, "secret-b")
    publish(settings, access_a.topic, b"alarm of A")
    publish(settings, access_b.topic, b"alarm of B")
    publish(settings, settings.topic("alerts"), b"every alarm")

    assert read_as(settings, a, "secret-a", access_a.topic).values == [b"alarm of A"]
    refused = KafkaError.TOPIC_AUTHORIZATION_FAILED
    for topic in (access_b.topic, settings.topic("alerts"), settings.topic("readings.raw")):
        attempt = read_as(settings, a, "secret-a", topic)
        assert attempt.values == [] and refused in attempt.codes(), topic

    wrong = read_as(settings, a, "not-the-password", access_a.topic)
    assert wrong.values == [] and KafkaError._AUTHENTICATION in wrong.codes()

    revoke(settings, a)
    gone = read_as(settings, a, "secret-a", access_a.topic)
    assert gone.values == [] and KafkaError._AUTHENTICATION in gone.codes()
    # The other owner is untouched.
    assert read_as(settings, b, "secret-b", access_b.topic).values == [b"alarm of B"]


def test_granting_twice_changes_only_the_password(pipeline_settings: Settings) -> None:
    owner = f"owner-c{uuid.uuid4().hex[:6]}"
    access = grant(pipeline_settings, owner, "first")
    assert grant(pipeline_settings, owner, "second") == access
    publish(pipeline_settings, access.topic, b"x")
    assert KafkaError._AUTHENTICATION in read_as(pipeline_settings, owner, "first", access.topic).codes()
    assert read_as(pipeline_settings, owner, "second", access.topic).values == [b"x"]
    revoke(pipeline_settings, owner)


def test_owner_access_names_one_topic_and_a_group_prefix() -> None:
    access = OwnerAccess.of(Settings(topic_prefix="t."), "owner-007")
    assert (access.topic, access.group_prefix, access.principal) == (
        "t.alerts.owner.owner-007",
        "owner.owner-007.",
        "User:owner-007",
    )
    assert [(acl.name, acl.operation) for acl in access.acls()] == [
        ("t.alerts.owner.owner-007", AclOperation.READ),
        ("t.alerts.owner.owner-007", AclOperation.DESCRIBE),
        ("owner.owner-007.", AclOperation.READ),
    ]
