"""Site owners on the broker: a SCRAM login and ACLs that let each read its own alarms, nothing else.

An owner ``owner-007`` gets the SCRAM-SHA-512 credential ``owner-007``, READ and DESCRIBE on its
topic ``alerts.owner.owner-007`` (one topic, named exactly: a prefix ACL on it would also cover
``owner-0070``) and READ on the consumer groups whose id starts ``owner.owner-007.``. Nothing
else: not ``alerts``, not another owner's topic, not a reading topic. Owners connect to the
SASL_PLAINTEXT listener (``OPENLAB_KAFKA_SASL_HOST``:``OPENLAB_KAFKA_SASL_PORT``); the pipeline's
own clients, which grant and revoke, connect as :mod:`streams.kafka.clients` says.

ACLs and credentials go through confluent-kafka's AdminClient (librdkafka), a maintained client
that speaks Kafka's CreateAcls, DeleteAcls and AlterUserScramCredentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from streams.kafka.clients import librdkafka_config
from streams.kafka.topics import OWNER_ID, OWNER_PARTITIONS, TopicNames
from streams.settings import Settings

SCRAM_ITERATIONS = 8192

ANONYMOUS = "ANONYMOUS"
"""Kafka's user for a client that did not log in; a super user on the local stack's loopback
listeners, so a login by that name would be one everywhere."""


class OwnerError(Exception):
    """An owner id that cannot be used, or the broker refusing an owner operation."""


@dataclass(frozen=True, slots=True)
class OwnerAccess:
    """What an owner may use on the broker, and how it connects."""

    owner_id: str
    topic: str
    group_prefix: str
    bootstrap_servers: str

    @classmethod
    def of(cls, settings: Settings, owner_id: str) -> OwnerAccess:
        """The access of ``owner_id`` (checked for the characters a Kafka user and topic take).

        >>> OwnerAccess.of(Settings(topic_prefix="t."), "owner-007").topic
        't.alerts.owner.owner-007'
        >>> OwnerAccess.of(Settings(), "a b")
        Traceback (most recent call last):
        ...
        streams.owners.acls.OwnerError: owner id 'a b' must be 1-64 letters, digits, '_' or '-'
        >>> OwnerAccess.of(Settings(kafka_user="openlab"), "ANONYMOUS")
        Traceback (most recent call last):
        ...
        streams.owners.acls.OwnerError: owner id 'ANONYMOUS' names a super user of the broker, not an owner
        """
        if not OWNER_ID.match(owner_id):
            raise OwnerError(f"owner id {owner_id!r} must be 1-64 letters, digits, '_' or '-'")
        if owner_id in (ANONYMOUS, settings.kafka_user):
            raise OwnerError(f"owner id {owner_id!r} names a super user of the broker, not an owner")
        return cls(
            owner_id=owner_id,
            topic=TopicNames.of(settings).owner(owner_id),
            group_prefix=f"owner.{owner_id}.",
            bootstrap_servers=f"{settings.kafka_sasl_host}:{settings.kafka_sasl_port}",
        )

    @property
    def principal(self) -> str:
        return f"User:{self.owner_id}"

    def acls(self) -> list[AclBinding]:
        def allow(
            kind: ResourceType, name: str, pattern: ResourcePatternType, operation: AclOperation
        ) -> AclBinding:
            return AclBinding(kind, name, pattern, self.principal, "*", operation, AclPermissionType.ALLOW)

        return [
            allow(ResourceType.TOPIC, self.topic, ResourcePatternType.LITERAL, AclOperation.READ),
            allow(ResourceType.TOPIC, self.topic, ResourcePatternType.LITERAL, AclOperation.DESCRIBE),
            allow(ResourceType.GROUP, self.group_prefix, ResourcePatternType.PREFIXED, AclOperation.READ),
        ]


def _admin(settings: Settings) -> AdminClient:
    # The pipeline's own connection: a super user (anonymous on the loopback PLAINTEXT listener).
    return AdminClient(librdkafka_config(settings))


def _wait(futures: Mapping[Any, Future[Any]], ignore: frozenset[int] = frozenset()) -> None:
    for future in futures.values():
        try:
            future.result()
        except KafkaException as error:
            kafka_error: KafkaError = error.args[0]
            if kafka_error.code() not in ignore:
                raise OwnerError(f"the broker refused: {kafka_error.str()}") from None


def set_login(settings: Settings, user: str, password: str) -> None:
    """Create ``user``'s SCRAM-SHA-512 login with ``password``, or give it that password."""
    if not password:
        raise OwnerError("a login's password cannot be empty")
    credential = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    upsertion = UserScramCredentialUpsertion(user, credential, password.encode())
    admin = _admin(settings)  # kept until the answer: a client collected meanwhile drops it
    _wait(admin.alter_user_scram_credentials([upsertion]))


def grant(settings: Settings, owner_id: str, password: str) -> OwnerAccess:
    """Create (or reset) ``owner_id``'s login with ``password``, its alarm topic if missing,
    and its ACLs. Running it again changes nothing but the password."""
    access = OwnerAccess.of(settings, owner_id)
    set_login(settings, owner_id, password)
    admin = _admin(settings)
    topic = NewTopic(access.topic, OWNER_PARTITIONS, settings.replication_factor)
    _wait(admin.create_topics([topic]), ignore=frozenset({KafkaError.TOPIC_ALREADY_EXISTS}))
    _wait(admin.create_acls(access.acls()))
    return access


def revoke(settings: Settings, owner_id: str) -> OwnerAccess:
    """Remove every ACL of ``owner_id`` and its login; its topic and alarms stay."""
    access = OwnerAccess.of(settings, owner_id)
    admin = _admin(settings)
    # None matches any resource name and host (the stubs say str).
    every = AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]
        ResourcePatternType.ANY,
        access.principal,
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    _wait(admin.delete_acls([every]))
    deletion = UserScramCredentialDeletion(owner_id, ScramMechanism.SCRAM_SHA_512)
    _wait(
        admin.alter_user_scram_credentials([deletion]),
        ignore=frozenset({KafkaError.RESOURCE_NOT_FOUND}),
    )
    return access
