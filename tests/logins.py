"""Devices' and gateways' logins on the test stack's broker and ingest (:mod:`streams.ingest.devices`).

A test that publishes over MQTT or posts to ``openlab ingest`` makes a login of its own, named
after its run, and removes it at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from streams.city import load_city
from streams.ingest.devices import DeviceStore
from streams.settings import Settings
from streams.stack.logins import apply_logins


@dataclass(frozen=True)
class DeviceLogin:
    """A device's name, secret (its MQTT password and bearer token) and sites."""

    name: str
    secret: str
    sites: tuple[str, ...]

    @property
    def authorization(self) -> dict[str, str]:
        """The HTTP header that shows its token."""
        return {"Authorization": f"Bearer {self.secret}"}


@contextmanager
def device_login(settings: Settings, sites: Sequence[str] | None = None) -> Iterator[DeviceLogin]:
    """A device for ``sites`` (default: every site of the city), on the broker until the end."""
    city = load_city(settings)
    chosen = tuple(sites) if sites is not None else tuple(site.site_id for site in city.sites)
    name = f"device-{uuid.uuid4().hex[:10]}"
    store = DeviceStore(settings)
    secret = store.add_device(name, chosen, city)
    assert apply_logins(settings), "the test stack's mosquitto is not running"
    try:
        yield DeviceLogin(name, secret, chosen)
    finally:
        store.remove(name)
        apply_logins(settings)


@contextmanager
def gateway_login(settings: Settings) -> Iterator[None]:
    """The login of the gateway of ``settings`` (``mqtt_client_id``, reading under
    ``mqtt_topic_prefix``), its secret kept where the gateway finds it; removed at the end."""
    DeviceStore(settings).add_gateway()
    assert apply_logins(settings), "the test stack's mosquitto is not running"
    try:
        yield
    finally:
        DeviceStore(settings).remove(settings.mqtt_client_id)
        apply_logins(settings)


def mqtt_client(
    login: DeviceLogin | None, protocol: MQTTProtocolVersion = mqtt.MQTTv5, client_id: str = ""
) -> mqtt.Client:
    """A paho client logged in as ``login`` (None: without a login), not yet connected."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"openlab-test-{uuid.uuid4().hex[:10]}",
        protocol=protocol,
    )
    if login is not None:
        client.username_pw_set(login.name, login.secret)
    return client
