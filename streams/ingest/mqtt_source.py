"""The gateway's MQTT side: a paho MQTT 5 client in its own network thread, subscribed to
``city/+/+`` (after ``mqtt_topic_prefix``) on a persistent session, handing messages in batches to
the asyncio loop and acknowledging them (PUBACK) only when told to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from streams.ingest.devices import TOPIC_ROOT, gateway_password
from streams.settings import Settings

log = logging.getLogger(__name__)

_KEEPALIVE_SECONDS = 30


def topic_filter(settings: Settings) -> str:
    """The gateway's subscription, e.g. ``city/+/+``."""
    return f"{settings.mqtt_topic_prefix}{TOPIC_ROOT}/+/+"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One MQTT message as received: what to forward, and what to acknowledge it with."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    connection: int
    """Which connection brought it; a packet id means something only on its own connection."""


class MqttSource:
    """A paho MQTT 5 client in its own network thread, handing messages to the asyncio loop.

    The thread connects, reconnects with backoff (1 s doubling to ``mqtt_max_backoff_seconds``)
    and subscribes after every connection. ``ack`` may be called from the asyncio thread.
    """

    def __init__(self, settings: Settings, loop: asyncio.AbstractEventLoop) -> None:
        self.settings = settings
        self.subscribed = 0
        """How many SUBACKs granted the subscription (one per connection)."""
        self._loop = loop
        self._filter = topic_filter(settings)
        self._lock = threading.Lock()
        self._connection = 0
        self._closing = False
        # Hand-over to asyncio: the network thread appends, and wakes the loop only once the
        # inbox holds what the waiting batch wants (the first message, or a full batch) and no
        # wake-up is pending yet: a few wake-ups per batch rather than one per message.
        self._inbox: deque[Inbound] = deque()
        self._ready = asyncio.Event()
        self._wake_pending = False
        self._wanted = 1
        self._stopped = False
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.mqtt_client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.suppress_exceptions = True  # a callback's bug must not end the network thread
        client.username_pw_set(settings.mqtt_client_id, gateway_password(settings) or None)
        client.reconnect_delay_set(min_delay=1, max_delay=settings.mqtt_max_backoff_seconds)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = settings.mqtt_session_expiry_seconds
        # Unacknowledged messages the broker may send ahead: room for the batch in flight to Kafka
        # and the next one filling meanwhile.
        properties.ReceiveMaximum = min(65535, 2 * settings.mqtt_batch_size)
        client.connect_async(
            settings.mqtt_host,
            settings.mqtt_port,
            keepalive=_KEEPALIVE_SECONDS,
            clean_start=False,
            properties=properties,
        )
        self._client = client

    def start(self) -> None:
        """Start the network thread; it connects (and keeps reconnecting) by itself."""
        self._client.loop_start()

    def interrupt(self) -> None:
        """Make ``next_batch`` return at once, now and from now on (the gateway is stopping)."""
        self._stopped = True
        self._ready.set()

    async def next_batch(self, size: int, seconds: float) -> list[Inbound]:
        """Wait for a message, then take up to ``size`` for at most ``seconds`` more.

        Returns [] once ``interrupt`` was called; a batch being filled is returned as it is.
        """
        self._wanted = 1
        while not self._inbox:
            if self._stopped:
                return []
            self._ready.clear()
            if not self._inbox:
                await self._ready.wait()
        batch: list[Inbound] = []
        deadline = self._loop.time() + seconds
        while True:
            while self._inbox and len(batch) < size:
                batch.append(self._inbox.popleft())
            remaining = deadline - self._loop.time()
            if len(batch) >= size or remaining <= 0 or self._stopped:
                return batch
            self._wanted = size - len(batch)
            self._ready.clear()
            if len(self._inbox) < self._wanted:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ready.wait(), remaining)

    def close(self) -> None:
        """Send the acknowledgements queued so far, disconnect, and end the thread (blocking).

        The session stays on the broker, which queues for it until the gateway is back.
        """
        with self._lock:
            self._closing = True
            self._connection += 1  # nothing received so far is acknowledged from now on
        self._client.disconnect()
        self._client.loop_stop()

    def ack(self, messages: Sequence[Inbound]) -> int:
        """Acknowledge ``messages`` (in order) if they came on the current connection.

        Returns how many were acknowledged; the others will be re-sent by the broker.
        """
        done = 0
        with self._lock:
            for message in messages:
                if message.connection == self._connection and message.qos > 0:
                    self._client.ack(message.mid, message.qos)
                    done += 1
        return done

    # The callbacks run in paho's network thread.

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.warning(
                "the MQTT broker refused the connection as %r: %s (the local stack makes the gateway's"
                " login at `openlab stack up`; another broker needs OPENLAB_MQTT_CLIENT_ID and"
                " OPENLAB_MQTT_PASSWORD of a login that may read %s)",
                self.settings.mqtt_client_id,
                reason,
                self._filter,
            )
            return
        with self._lock:
            self._connection += 1
        log.info(
            "connected to MQTT %s:%d as %r (session %s)",
            self.settings.mqtt_host,
            self.settings.mqtt_port,
            self.settings.mqtt_client_id,
            "resumed" if flags.session_present else "new",
        )
        # Subscribing again to the session's own subscription is harmless; retained messages
        # are sent only for a subscription that is new.
        options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
        client.subscribe(self._filter, options=options)

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        if any(reason.is_failure for reason in reasons):
            log.error("the MQTT broker refused the subscription to %s: %s", self._filter, reasons)
            return
        self.subscribed += 1
        log.info("subscribed to %s (QoS 1)", self._filter)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        with self._lock:
            self._connection += 1
            closing = self._closing
        if not closing:
            log.warning("lost the MQTT connection (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # brokers refuse such topics; dead-letter it all the same
            topic = "<not UTF-8>"
        self._inbox.append(Inbound(topic, bytes(message.payload), message.mid, message.qos, self._connection))
        if len(self._inbox) < self._wanted:
            return
        with self._lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        # A closed loop (the gateway has stopped): the message stays unacknowledged, the broker
        # sends it again next time.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:  # in the asyncio thread
        with self._lock:
            self._wake_pending = False
        self._ready.set()
