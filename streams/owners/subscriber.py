"""An owner's alarm subscription: read ``alerts.owner.<owner_id>`` as that owner, filter, print,
and optionally forward each alarm event to a webhook.

Delivery to the webhook is at-least-once and resumes where it left off: the subscriber commits
an alarm event's offset (in the owner's own consumer group, ``owner.<owner_id>.<name>``) only
after the webhook answered 2xx, retrying with capped exponential backoff meanwhile. A subscriber
stopped between a delivery and its commit delivers that event again after a restart; every
event carries its ``alarm_id`` and update number, so the receiver can tell a repeat.

Each POST carries ``X-Openlab-Signature: sha256=<hex HMAC-SHA256 of the body with the shared
secret>`` so the receiver can check it came from here.

>>> sign(b'{"alarm_id": "a1"}', "s3cret")
'sha256=...'
>>> Filter(sites=frozenset({"S1"})).admits({"site_id": "S2", "severity": "major", "state": "active"})
False
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.owners.acls import OwnerAccess
from streams.settings import Settings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Openlab-Signature"


def sign(body: bytes, secret: str) -> str:
    """The signature header's value for ``body``: HMAC-SHA256 with the shared secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Filter:
    """Which alarm events to pass on: by site, severity and state (empty: any)."""

    sites: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()
    states: frozenset[str] = frozenset()

    def admits(self, alarm: dict[str, Any]) -> bool:
        return (
            (not self.sites or alarm.get("site_id") in self.sites)
            and (not self.severities or alarm.get("severity") in self.severities)
            and (not self.states or alarm.get("state") in self.states)
        )


@dataclass
class Webhook:
    """Where alarm events are POSTed, signed, until the receiver takes them."""

    url: str
    secret: str
    max_backoff_seconds: float = 30.0
    attempts: int = field(default=0, init=False)

    async def deliver(self, session: aiohttp.ClientSession, body: bytes) -> None:
        """Return once the webhook answered 2xx; retry anything else, without end."""
        backoff = 0.2
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, self.secret)}
        while True:
            self.attempts += 1
            try:
                async with session.post(self.url, data=body, headers=headers) as answer:
                    if 200 <= answer.status < 300:
                        return
                    log.warning("webhook answered %s; retrying in %.1f s", answer.status, backoff)
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                log.warning("webhook unreachable (%r); retrying in %.1f s", error, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_seconds)


def owner_consumer(settings: Settings, access: OwnerAccess, password: str, name: str) -> AIOKafkaConsumer:
    """A consumer of the owner's topic, logged in as the owner, in the owner's own group."""
    return AIOKafkaConsumer(
        access.topic,
        bootstrap_servers=access.bootstrap_servers,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=access.owner_id,
        sasl_plain_password=password,
        group_id=f"{access.group_prefix}{name}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # The router copies alarm events in transactions: an aborted copy is never an owner's.
        isolation_level="read_committed",
    )


async def subscribe(
    settings: Settings,
    access: OwnerAccess,
    password: str,
    *,
    name: str,
    only: Filter,
    show: Callable[[dict[str, Any]], None],
    webhook: Webhook | None = None,
    until: Callable[[], Awaitable[bool]] | None = None,
) -> None:
    """Follow the owner's alarm events: show those the filter admits, forward them to the
    webhook, and commit each event once it is handled (shown, or delivered)."""
    consumer = owner_consumer(settings, access, password, name)
    await consumer.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            while until is None or not await until():
                batches = await consumer.getmany(timeout_ms=500, max_records=100)
                for tp, records in batches.items():
                    for record in records:
                        await _handle(record.value, only, show, webhook, session)
                        await consumer.commit({TopicPartition(tp.topic, tp.partition): record.offset + 1})
    finally:
        await consumer.stop()


async def _handle(
    value: bytes | None,
    only: Filter,
    show: Callable[[dict[str, Any]], None],
    webhook: Webhook | None,
    session: aiohttp.ClientSession,
) -> None:
    try:
        alarm = json.loads(value or b"")
    except ValueError:
        log.warning("skipping an alarm event that is not JSON")
        return
    if not isinstance(alarm, dict) or not only.admits(alarm):
        return
    show(alarm)
    if webhook is not None and value is not None:
        await webhook.deliver(session, value)
