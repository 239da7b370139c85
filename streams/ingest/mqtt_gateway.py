"""The MQTT gateway: sensor messages from an MQTT broker into ``readings.raw``, none lost.

Sensors publish one ``Reading`` as JSON on ``city/<site_id>/<sensor_id>`` (after
``mqtt_topic_prefix``), each logged in as a device that the broker lets publish only under its
own sites (:mod:`streams.ingest.devices`). The gateway logs in as ``mqtt_client_id`` (password
``mqtt_password``, or the one the local stack made for it), subscribes to ``city/+/+`` with QoS 1
and forwards each
payload, unchanged, to ``readings.raw`` keyed by the sensor id. A payload that is not a Reading,
or names another site or sensor than its topic, goes to ``readings.deadletter`` (stage ``mqtt``).
The registry rules are the worker's (``Cleaner``); the gateway checks only shape and topic.

How nothing is lost: the gateway keeps a persistent MQTT 5 session (fixed client id
``mqtt_client_id``, clean start off, a session expiry), so the broker queues for it while it is
away, and it acknowledges (PUBACK) a message only once Kafka has acknowledged its record (or its
dead letter). Messages are taken in batches (``mqtt_batch_size``, ``mqtt_batch_seconds``), sent
as one acknowledged batch, then acknowledged together, in the order they came. The broker
re-sends whatever was not acknowledged when a connection ends, so delivery is at-least-once: a
record reaches Kafka twice only when a connection (to the broker or to Kafka) broke while its
batch was on its way, or the gateway was killed. Only QoS 1 (or 2) messages are covered: QoS 0
is neither queued nor acknowledged by the broker.

The paho client runs its network loop in a thread of its own (it reconnects there, with
backoff); messages are handed to the asyncio loop that publishes to Kafka.

>>> check("", "city/S0001/S0001-air_pm25", b"{oops").reason
<Reason.NOT_JSON: 'not_json'>
>>> check("", "city/S0001", b"{}").detail
"MQTT topic 'city/S0001' is not city/<site_id>/<sensor_id>"
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import click
from aiokafka.errors import KafkaError

from sensors.cleaning import DeadLetter, Reason, Rejection, parse
from sensors.reading import Reading
from streams.ingest.devices import TOPIC_ROOT as TOPIC_ROOT
from streams.ingest.mqtt_source import Inbound, MqttSource, topic_filter
from streams.kafka.publisher import Publisher, Record
from streams.kafka.topics import ensure_topics
from streams.settings import Settings

log = logging.getLogger("streams.ingest.mqtt_gateway")  # also when run as __main__

STAGE = "mqtt"
_FIRST_BACKOFF_SECONDS = 0.5
_STATS_EVERY_SECONDS = 10.0
STOP_GRACE_SECONDS = 5.0
"""How long a stop waits for a Kafka send in progress (then for the producer to close) before
leaving the messages unacknowledged."""


def check(prefix: str, topic: str, payload: bytes) -> Reading | Rejection:
    """The Reading in ``payload``, or why it is not one that may come on MQTT ``topic``.

    >>> reading = ('{"sensor_id": "S2-x", "site_id": "S2", "kind": "x", "value": 1.0, "unit": "u",'
    ...            ' "observed_at": "2026-11-29T01:00:00Z", "seq": 1}').encode()
    >>> check("", "city/S2/S2-x", reading).seq
    1
    >>> check("", "city/S1/S1-x", reading).detail
    "MQTT topic 'city/S1/S1-x' is site 'S1', sensor 'S1-x', but the payload is site 'S2', sensor 'S2-x'"
    """
    path = topic.removeprefix(prefix).split("/")
    if len(path) != 3 or path[0] != TOPIC_ROOT or not path[1] or not path[2]:
        return Rejection(Reason.SCHEMA, f"MQTT topic {topic!r} is not {TOPIC_ROOT}/<site_id>/<sensor_id>")
    site_id, sensor_id = path[1], path[2]
    reading = parse(Reading, payload)
    if isinstance(reading, Rejection):
        return reading
    if reading.site_id != site_id or reading.sensor_id != sensor_id:
        return Rejection(
            Reason.SCHEMA,
            f"MQTT topic {topic!r} is site {site_id!r}, sensor {sensor_id!r}, but the payload is"
            f" site {reading.site_id!r}, sensor {reading.sensor_id!r}",
        )
    return reading


def sensor_key(prefix: str, topic: str) -> bytes | None:
    """The Kafka key of a message on ``topic``: the sensor id, its last level (None if empty)."""
    last = topic.removeprefix(prefix).rpartition("/")[2]
    return last.encode() if last else None


@dataclass
class GatewayStats:
    """What a gateway has done since it started."""

    forwarded: int = 0
    dead_lettered: int = 0
    batches: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def count_rejection(self, reason: Reason) -> None:
        self.by_reason[reason.value] = self.by_reason.get(reason.value, 0) + 1
        self.dead_lettered += 1


class Gateway:
    """Forwards MQTT messages to Kafka until ``stop`` is called."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stats = GatewayStats()
        self._stopping = asyncio.Event()
        self._source: MqttSource | None = None
        self._publisher = Publisher(settings)
        self._raw = settings.topic("readings.raw")
        self._deadletter = settings.topic("readings.deadletter")

    def stop(self) -> None:
        """Finish the batch in hand (forward, acknowledge), then disconnect; safe to call twice."""
        self._stopping.set()
        if self._source is not None:
            self._source.interrupt()

    @property
    def subscribed(self) -> int:
        """How many times the subscription has been granted (0 until the first SUBACK)."""
        return 0 if self._source is None else self._source.subscribed

    async def run(self) -> GatewayStats:
        """Run until ``stop``; returns the stats. Kafka or MQTT outages are waited out."""
        try:
            if not await self._retry("creating the topics", lambda: ensure_topics(self.settings)):
                return self.stats
            source = self._source = MqttSource(self.settings, asyncio.get_running_loop())
            if self._stopping.is_set():
                return self.stats
            source.start()
            try:
                await self._forward_all(source)
            finally:
                await asyncio.to_thread(source.close)
        finally:
            await self._close_publisher()
        return self.stats

    async def _forward_all(self, source: MqttSource) -> None:
        reported_at, reported = time.monotonic(), 0
        while not self._stopping.is_set():
            batch = await source.next_batch(self.settings.mqtt_batch_size, self.settings.mqtt_batch_seconds)
            if not batch:
                continue
            records, letters, reasons = self._sort(batch)

            async def send(records: list[Record] = records, letters: list[Record] = letters) -> None:
                if records:
                    await self._publisher.publish(self._raw, records)
                if letters:
                    await self._publisher.publish(self._deadletter, letters)

            if not await self._retry(f"publishing {len(batch)} messages", send):
                return  # stopped during a Kafka outage: unacknowledged, the broker keeps them
            source.ack(batch)
            self.stats.forwarded += len(records)
            self.stats.batches += 1
            for reason in reasons:
                self.stats.count_rejection(reason)
            now = time.monotonic()
            if now - reported_at >= _STATS_EVERY_SECONDS:
                done = self.stats.forwarded + self.stats.dead_lettered
                log.info(
                    "forwarded %d, dead-lettered %d (%.0f messages/s)",
                    self.stats.forwarded,
                    self.stats.dead_lettered,
                    (done - reported) / (now - reported_at),
                )
                reported_at, reported = now, done

    def _sort(self, batch: list[Inbound]) -> tuple[list[Record], list[Record], list[Reason]]:
        """Split a batch into records for readings.raw and dead letters (with their reasons)."""
        prefix = self.settings.mqtt_topic_prefix
        records: list[Record] = []
        letters: list[Record] = []
        reasons: list[Reason] = []
        now = datetime.now(UTC)
        for message in batch:
            key = sensor_key(prefix, message.topic)
            checked = check(prefix, message.topic, message.payload)
            if not isinstance(checked, Rejection):
                records.append((key, message.payload))
                continue
            letter = DeadLetter.of(
                checked,
                stage=STAGE,
                original=message.payload,
                key=key,
                source=(f"mqtt:{message.topic}", -1, -1),
                at=now,
            )
            letters.append(letter.record())
            reasons.append(checked.reason)
        return records, letters, reasons

    async def _retry(self, what: str, attempt: Callable[[], Awaitable[object]]) -> bool:
        """Run ``attempt`` until it succeeds (True) or the gateway is stopped (False).

        Kafka errors are logged and retried with backoff doubling up to
        ``mqtt_max_backoff_seconds``, the producer made anew each time. Asked to stop meanwhile,
        an attempt in progress gets ``STOP_GRACE_SECONDS`` to finish.
        """
        backoff = _FIRST_BACKOFF_SECONDS
        while True:
            try:
                return await self._unless_stopped(attempt())
            except (KafkaError, OSError, TimeoutError) as error:
                log.warning("Kafka: %s failed (%r); retrying in %.1f s", what, error, backoff)
            await self._close_publisher()
            self._publisher = Publisher(self.settings)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)
            if self._stopping.is_set():
                return False
            backoff = min(2 * backoff, float(self.settings.mqtt_max_backoff_seconds))

    async def _close_publisher(self) -> None:
        """Stop the producer; one that cannot flush (Kafka is away) is given up after the grace."""
        try:
            await asyncio.wait_for(self._publisher.stop(), STOP_GRACE_SECONDS)
        except TimeoutError:
            log.warning("gave up a Kafka producer that could not flush in %g s", STOP_GRACE_SECONDS)
        except Exception as error:  # closing must not hide the error that led here
            log.warning("closing the Kafka producer failed: %r", error)

    async def _unless_stopped(self, work: Awaitable[object]) -> bool:
        """Await ``work``; False if the gateway was stopped and it did not end within the grace."""
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((task, stopping), return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                await asyncio.wait((task,), timeout=STOP_GRACE_SECONDS)
            if not task.done():
                log.warning("stopping: abandoning a Kafka send that did not finish (not acknowledged)")
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                return False
            task.result()
            return True
        finally:
            stopping.cancel()


async def serve(settings: Settings) -> GatewayStats:
    """Run a gateway until SIGINT or SIGTERM; both stop it gracefully."""
    gateway = Gateway(settings)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, gateway.stop)
    try:
        return await gateway.run()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


@click.command(name="gateway")
@click.option(
    "--loglevel",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
)
def mqtt_gateway_command(loglevel: str) -> None:
    """Forward MQTT city/<site_id>/<sensor_id> messages to readings.raw (Ctrl-C stops it)."""
    logging.basicConfig(
        level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    settings = Settings()
    log.info(
        "gateway: MQTT %s:%d %s -> Kafka %s %s",
        settings.mqtt_host,
        settings.mqtt_port,
        topic_filter(settings),
        settings.bootstrap_servers,
        settings.topic("readings.raw"),
    )
    stats = asyncio.run(serve(settings))
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(stats.by_reason.items()))
    click.echo(
        f"gateway stopped: forwarded {stats.forwarded:,} readings, dead-lettered {stats.dead_lettered:,}"
        + (f" ({reasons})" if reasons else "")
    )


if __name__ == "__main__":
    mqtt_gateway_command()
