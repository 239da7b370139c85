"""Devices' logins at both doors, on the real mosquitto and the real HTTP endpoint: a device writes
its own sites only, nobody without a login gets in, and a secret is shown once and kept nowhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
import stat
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from aiohttp import test_utils, web
from click.testing import CliRunner
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import SecretStr

from sensors.reading import Reading
from streams.city import load_city
from streams.cli.root import main
from streams.ingest.devices import (
    RELOAD_CHECK_USER,
    DeviceError,
    DeviceFiles,
    DeviceStore,
    TokenBook,
    gateway_password,
    matches_mosquitto_hash,
)
from streams.ingest.http_endpoint import build_app
from streams.ingest.mqtt_gateway import Gateway
from streams.kafka.topics import read_records, record_counts
from streams.settings import Settings
from streams.stack.logins import apply_logins
from streams.stack.mosquitto import connack
from tests.feeding import wait_for
from tests.logins import DeviceLogin, device_login, mqtt_client

NOT_AUTHORIZED = 135
"""MQTT 5's reason code "Not authorized" (CONNACK, PUBACK)."""

Client = test_utils.TestClient[web.Request, web.Application]


def _reading(settings: Settings, site_index: int, seq: int = 1) -> Reading:
    """A well-formed reading of the first sensor of the city's ``site_index``-th site."""
    site = load_city(settings).sites[site_index]
    sensor = site.sensors[0]
    return Reading(
        sensor_id=sensor.sensor_id,
        site_id=site.site_id,
        kind=sensor.kind,
        value=1.5,
        unit=sensor.unit,
        observed_at=datetime.now(UTC),
        seq=seq,
    )


# The devices folder, without services.


def test_the_folder_keeps_hashes_only_and_the_broker_files_grant_each_login_its_own_topics(
    tmp_path: Path,
) -> None:
    settings = Settings(devices_dir=tmp_path / "devices", sites=40, mqtt_topic_prefix="t1/")
    city = load_city(settings)
    s1, s2 = city.sites[0].site_id, city.sites[1].site_id
    store = DeviceStore(settings)
    secret = store.add_device("hub-1", [s1], city)
    store.add_gateway()
    files = DeviceFiles.of(settings)
    gateway_secret = gateway_password(settings)
    assert gateway_secret and files.secret("openlab-gateway").read_text().strip() == gateway_secret

    assert stat.S_IMODE(files.folder.stat().st_mode) == 0o700
    kept = [files.logins, files.passwd, files.acl, files.secret("openlab-gateway")]
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in kept)
    assert not any(secret in path.read_text() for path in files.folder.iterdir() if path.is_file())
    passwd = dict(line.split(":", 1) for line in files.passwd.read_text().splitlines())
    assert sorted(passwd) == ["hub-1", "openlab-gateway"]
    assert matches_mosquitto_hash(secret, passwd["hub-1"])
    assert matches_mosquitto_hash(gateway_secret, passwd["openlab-gateway"])
    assert not matches_mosquitto_hash(gateway_secret, passwd["hub-1"])
    assert files.acl.read_text().splitlines()[1:] == [
        "",
        "user hub-1",
        f"topic write t1/city/{s1}/+",
        "",
        "user openlab-gateway",
        "topic read t1/city/+/+",
    ]

    tokens = TokenBook(settings)
    device = tokens.device(secret)
    assert device is not None and (device.name, device.sites) == ("hub-1", (s1,))
    assert tokens.device(gateway_secret) is None, "the gateway's secret is no bearer token"

    # Added again: a new secret and these sites; the old secret is worthless at once.
    renewed = store.add_device("hub-1", [s1, s2, s1], city)
    assert tokens.device(secret) is None
    device = tokens.device(renewed)
    assert device is not None and device.sites == (s1, s2)
    store.add_gateway()
    assert gateway_password(settings) == gateway_secret, "the gateway keeps its secret"

    store.remove("hub-1")
    assert tokens.device(renewed) is None
    assert "hub-1" not in files.acl.read_text() + files.passwd.read_text()
    store.remove("openlab-gateway")
    assert not files.secret("openlab-gateway").exists()

    given = settings.model_copy(update={"mqtt_password": SecretStr("from-the-settings")})
    DeviceStore(given).add_gateway()
    assert gateway_password(given) == "from-the-settings"
    assert matches_mosquitto_hash("from-the-settings", files.passwd.read_text().partition(":")[2].strip())


@pytest.mark.parametrize(
    ("name", "sites", "error"),
    [
        ("a b", ["GJ-00001"], "login name 'a b' must be 1-64 letters"),
        ("-x", ["GJ-00001"], "login name '-x' must be"),
        (RELOAD_CHECK_USER, ["GJ-00001"], f"(and not {RELOAD_CHECK_USER!r})"),
        ("hub-2", [], "give device 'hub-2' at least one site"),
        ("hub-2", ["GJ-00001", "nowhere", "city/+"], "not in the site registry: nowhere, city/+"),
        ("openlab-gateway", ["GJ-00001"], "'openlab-gateway' is the MQTT gateway's login"),
    ],
)
def test_a_device_that_cannot_be_made_is_refused_with_the_reason(
    tmp_path: Path, name: str, sites: list[str], error: str
) -> None:
    settings = Settings(devices_dir=tmp_path / "devices", sites=40)
    with pytest.raises(DeviceError) as caught:
        DeviceStore(settings).add_device(name, sites, load_city(settings))
    assert error in str(caught.value)
    assert DeviceStore(settings).logins() == []


# The real broker.


@pytest.fixture
async def running_gateway(mqtt_settings: Settings) -> AsyncIterator[Gateway]:
    """The MQTT gateway in this process (of ``mqtt_settings``: its own topic prefix and login),
    subscribed; stopped at the end."""
    gateway = Gateway(mqtt_settings)
    task = asyncio.create_task(gateway.run())

    async def subscribed() -> bool:
        assert not task.done(), f"the gateway stopped: {task.exception()!r}"
        return gateway.subscribed >= 1

    await wait_for("the gateway's subscription", subscribed, seconds=30)
    yield gateway
    gateway.stop()
    await task


@dataclass
class Session:
    """One MQTT connection of a test: the broker's answers and what it was sent."""

    client: mqtt.Client
    connack: list[ReasonCode] = field(default_factory=list)
    pubacks: dict[int, ReasonCode | None] = field(default_factory=dict)
    received: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    dropped: threading.Event = field(default_factory=threading.Event)
    """Set when the broker ends the connection."""

    def publish(self, topic: str, payload: bytes) -> int:
        return self.client.publish(topic, payload, qos=1).mid

    def answers(self, mids: list[int]) -> list[ReasonCode | None]:
        """The PUBACK of each of ``mids``, waiting for them (None: acknowledged without a reason,
        as MQTT 3.1.1 does)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.lock:
                if all(mid in self.pubacks for mid in mids):
                    return [self.pubacks[mid] for mid in mids]
            time.sleep(0.05)
        raise AssertionError(f"no PUBACK for some of {mids}: {self.pubacks}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _connect(
    settings: Settings,
    login: DeviceLogin | None,
    protocol: MQTTProtocolVersion = mqtt.MQTTv5,
    client_id: str = "",
    properties: Properties | None = None,
) -> Session:
    session = Session(mqtt_client(login, protocol, client_id))
    connected = threading.Event()

    def on_connect(
        _client: mqtt.Client, _userdata: object, _flags: object, reason: ReasonCode, _props: object
    ) -> None:
        session.connack.append(reason)
        connected.set()

    def on_publish(
        _client: mqtt.Client, _userdata: object, mid: int, reason: ReasonCode, _props: object
    ) -> None:
        with session.lock:
            session.pubacks[mid] = reason if protocol == mqtt.MQTTv5 else None

    def on_message(_client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        session.received.append(message.topic)

    def on_disconnect(
        _client: mqtt.Client, _userdata: object, _flags: object, _reason: ReasonCode, _props: object
    ) -> None:
        session.dropped.set()

    session.client.on_connect = on_connect
    session.client.on_disconnect = on_disconnect
    session.client.on_publish = on_publish
    session.client.on_message = on_message
    if protocol == mqtt.MQTTv5:
        session.client.connect(
            settings.mqtt_host, settings.mqtt_port, clean_start=True, properties=properties
        )
    else:
        session.client.connect(settings.mqtt_host, settings.mqtt_port)
    session.client.loop_start()
    assert connected.wait(10), "the broker did not answer the connection"
    assert not session.connack[0].is_failure, f"the broker refused {login}: {session.connack[0]}"
    return session


def _codes(answers: list[ReasonCode | None]) -> list[int | None]:
    return [None if answer is None else int(answer.value) for answer in answers]


async def _raw_values(settings: Settings) -> list[bytes | None]:
    return [value for _, _, value in await read_records(settings, settings.topic("readings.raw"))]


@pytest.mark.services
async def test_a_device_publishes_for_its_own_sites_only_and_reads_nothing(
    mqtt_settings: Settings, running_gateway: Gateway
) -> None:
    settings = mqtt_settings
    own, foreign, marker = _reading(settings, 0), _reading(settings, 1), _reading(settings, 0, seq=2)
    root = f"{settings.mqtt_topic_prefix}city"

    def topic(reading: Reading) -> str:
        return f"{root}/{reading.site_id}/{reading.sensor_id}"

    with (
        device_login(settings, [own.site_id]) as device,
        device_login(settings, [foreign.site_id]) as neighbour,
    ):
        watcher = await asyncio.to_thread(_connect, settings, device)
        try:
            watcher.client.subscribe([(f"{root}/+/+", 1), ("#", 1)])
            neighbour_session = await asyncio.to_thread(_connect, settings, neighbour)
            try:
                mid = neighbour_session.publish(topic(foreign), foreign.model_dump_json().encode())
                assert _codes(await asyncio.to_thread(neighbour_session.answers, [mid])) == [0]
            finally:
                neighbour_session.close()

            payload = own.model_dump_json().encode()
            refused = [
                (topic(foreign), foreign.model_dump_json().encode()),  # another site's sensor
                (topic(foreign), payload),  # its own reading under another site
                (f"{root}//{own.sensor_id}", payload),
                (f"{topic(own)}/extra", payload),
                (f"city/{own.site_id}/{own.sensor_id}", payload),  # outside its topic prefix
            ]
            mids = [watcher.publish(name, body) for name, body in refused]
            allowed = watcher.publish(topic(own), payload)
            answers = await asyncio.to_thread(watcher.answers, [*mids, allowed])
            assert _codes(answers) == [NOT_AUTHORIZED] * 5 + [0]
        finally:
            watcher.close()

        async def both_arrived() -> bool:
            counts = await record_counts(settings, (settings.topic("readings.raw"),))
            return counts[settings.topic("readings.raw")] >= 2

        await wait_for("the two allowed readings in readings.raw", both_arrived, seconds=60)
        assert watcher.received == [], "a device read what another published"

        # MQTT 3.1.1 has no way to refuse a publish: the broker acknowledges it and drops it.
        old = await asyncio.to_thread(_connect, settings, device, mqtt.MQTTv311)
        try:
            dropped = old.publish(
                topic(foreign), foreign.model_copy(update={"seq": 9}).model_dump_json().encode()
            )
            last = old.publish(topic(own), marker.model_dump_json().encode())
            assert await asyncio.to_thread(old.answers, [dropped, last]) == [None, None]
        finally:
            old.close()

        async def marker_arrived() -> bool:
            return marker.model_dump_json().encode() in await _raw_values(settings)

        await wait_for("the 3.1.1 device's own reading", marker_arrived, seconds=60)
        await asyncio.sleep(1)  # anything else forwarded would be there by now
    assert sorted(value or b"" for value in await _raw_values(settings)) == sorted(
        reading.model_dump_json().encode() for reading in (own, foreign, marker)
    )
    assert running_gateway.stats.dead_lettered == 0


@pytest.mark.services
async def test_the_broker_lets_in_the_logins_of_the_devices_folder_only(mqtt_settings: Settings) -> None:
    settings = mqtt_settings
    host, port = settings.mqtt_host, settings.mqtt_port

    async def answer(username: str | None, password: str | None) -> int | None:
        reason = await asyncio.to_thread(connack, host, port, 5.0, username, password)
        return None if reason is None else int(reason.value)

    with device_login(settings, [load_city(settings).sites[0].site_id]) as device:
        assert await answer(device.name, device.secret) == 0
        assert await answer(None, None) == NOT_AUTHORIZED, "an anonymous client"
        assert await answer(device.name, "not-its-secret") == NOT_AUTHORIZED
        assert await answer(device.name, None) == NOT_AUTHORIZED
        assert await answer(RELOAD_CHECK_USER, device.secret) == NOT_AUTHORIZED
        assert await answer(settings.mqtt_client_id, gateway_password(settings)) == 0

        # Given a new secret, the old one no longer opens.
        renewed = DeviceStore(settings).add_device(device.name, device.sites, load_city(settings))
        assert apply_logins(settings)
        assert await answer(device.name, device.secret) == NOT_AUTHORIZED
        assert await answer(device.name, renewed) == 0

        # Changes at once: each waits until the broker has taken the one before (else one's check
        # password could be replaced by another's before the broker read it, and it would wait in
        # vain).
        changes = [asyncio.to_thread(apply_logins, settings) for _ in range(8)]
        assert await asyncio.wait_for(asyncio.gather(*changes), 30) == [True] * 8
        connected = await asyncio.to_thread(
            _connect, settings, DeviceLogin(device.name, renewed, device.sites)
        )
        assert await asyncio.to_thread(apply_logins, settings)
        assert not await asyncio.to_thread(connected.dropped.wait, 1), "a reload ended a valid login"
    try:
        # Removed: the broker ends the connection it had, and it cannot log in again.
        assert await asyncio.to_thread(connected.dropped.wait, 10), "a removed device is still connected"
        assert await answer(device.name, renewed) == NOT_AUTHORIZED
    finally:
        connected.close()


@pytest.mark.services
async def test_a_device_cannot_take_over_the_gateways_session(
    mqtt_settings: Settings, running_gateway: Gateway
) -> None:
    settings = mqtt_settings
    reading = _reading(settings, 0)
    with device_login(settings, [reading.site_id]) as device:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 0
        # A clean start under the gateway's client id would end the gateway's connection and
        # throw away its session; the broker makes the client id the device's login instead.
        session = await asyncio.to_thread(
            _connect, settings, device, mqtt.MQTTv5, settings.mqtt_client_id, properties
        )
        try:
            mid = session.publish(
                f"{settings.mqtt_topic_prefix}city/{reading.site_id}/{reading.sensor_id}",
                reading.model_dump_json().encode(),
            )
            assert _codes(await asyncio.to_thread(session.answers, [mid])) == [0]
        finally:
            session.close()

        async def arrived() -> bool:
            return reading.model_dump_json().encode() in await _raw_values(settings)

        await wait_for("the device's reading through the gateway", arrived, seconds=60)
        await asyncio.sleep(2)  # a gateway thrown off would have reconnected (after 1 s) by now
    assert running_gateway.subscribed == 1, "the gateway lost its connection"


# The real HTTP endpoint.


@pytest.fixture
async def ingest(pipeline_settings: Settings) -> AsyncIterator[Client]:
    """A client of the ingest server, showing no token unless a request does."""
    async with test_utils.TestClient(test_utils.TestServer(build_app(pipeline_settings))) as client:
        yield client


@pytest.mark.services
async def test_ingest_answers_401_without_a_devices_token(
    pipeline_settings: Settings, ingest: Client, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps([json.loads(_reading(pipeline_settings, 0).model_dump_json())])
    with device_login(pipeline_settings, [load_city(pipeline_settings).sites[0].site_id]) as device:
        removed = device.secret
    cases = {
        "no header": {},
        "another scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
        "an empty token": {"Authorization": "Bearer "},
        "an unknown token": {"Authorization": "Bearer not-a-token-of-any-device"},
        "a removed device's token": {"Authorization": f"Bearer {removed}"},
    }
    with caplog.at_level(logging.WARNING, logger="streams.ingest.http_endpoint"):
        for case, headers in cases.items():
            response = await ingest.post("/v1/readings", data=body, headers=headers)
            assert response.status == 401, case
            answer = await response.json()
            assert answer["error"] == "unauthorized" and answer["detail"], case
            assert response.headers["WWW-Authenticate"].startswith('Bearer realm="openlab ingest"'), case
    assert (await ingest.get("/healthz")).status == 200, "the health check needs no token"
    refusals = [record.getMessage() for record in caplog.records if "with a 401" in record.getMessage()]
    assert len(refusals) == len(cases)
    assert not any(removed in line or "not-a-token" in line for line in caplog.messages)
    assert await _raw_values(pipeline_settings) == []


@pytest.mark.services
async def test_a_batch_with_another_sites_reading_is_403_and_nothing_of_it_is_stored(
    pipeline_settings: Settings, ingest: Client, caplog: pytest.LogCaptureFixture
) -> None:
    settings = pipeline_settings
    own, foreign, also_foreign = _reading(settings, 0), _reading(settings, 1), _reading(settings, 2)
    garbage = {"sensor_id": own.sensor_id, "value": "high"}
    items = [json.loads(reading.model_dump_json()) for reading in (own, foreign)]
    with device_login(settings, [own.site_id]) as device:
        batch = [items[0], garbage, items[1], json.loads(also_foreign.model_dump_json())]
        with caplog.at_level(logging.WARNING, logger="streams.ingest.http_endpoint"):
            response = await ingest.post("/v1/readings", json=batch, headers=device.authorization)
        assert response.status == 403
        answer = await response.json()
        assert answer["error"] == "forbidden"
        assert answer["detail"] == (
            f"device {device.name!r} may write sites {own.site_id} only: item 2 is sensor"
            f" {foreign.sensor_id!r} of site {foreign.site_id!r} (and 1 more); nothing of the batch"
            " was stored"
        )
        assert answer["items"] == [
            {"index": 2, "sensor_id": foreign.sensor_id, "site_id": foreign.site_id},
            {"index": 3, "sensor_id": also_foreign.sensor_id, "site_id": also_foreign.site_id},
        ]
        assert any("with a 403" in line and device.name in line for line in caplog.messages)
        assert not any(device.secret in line for line in caplog.messages)
        assert await _raw_values(settings) == []
        assert await read_records(settings, settings.topic("readings.deadletter")) == []

        # Its own sites' readings pass; a malformed item is judged as ever (dead-lettered).
        response = await ingest.post("/v1/readings", json=[items[0], garbage], headers=device.authorization)
        assert response.status == 200
        assert (await response.json())["accepted"] == 1
    assert [Reading.model_validate_json(value or b"") for value in await _raw_values(settings)] == [own]


# The command.


@pytest.mark.services
def test_openlab_devices_shows_a_secret_once_that_works_at_both_doors(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    site = load_city(settings).sites[0].site_id
    runner = CliRunner()
    env = settings.as_environment()

    added = runner.invoke(main, ["devices", "add", "cli-hub", "--sites", site], env=env)
    assert added.exit_code == 0, added.output
    secret = next(line.split()[1] for line in added.output.splitlines() if line.strip().startswith("secret "))
    assert added.output.count(secret) == 1
    assert "The local MQTT broker has taken the change." in added.output
    try:
        reason = connack(settings.mqtt_host, settings.mqtt_port, 5.0, "cli-hub", secret)
        assert reason is not None and not reason.is_failure
        device = TokenBook(settings).device(secret)
        assert device is not None and device.sites == (site,)

        listed = runner.invoke(main, ["devices", "list"], env=env)
        assert listed.exit_code == 0 and "cli-hub" in listed.output and secret not in listed.output
        folder = DeviceFiles.of(settings).folder
        assert not any(secret in path.read_text() for path in folder.iterdir() if path.is_file())
        assert secret not in (settings.run_dir / "mosquitto.log").read_text(errors="replace")
    finally:
        removed = runner.invoke(main, ["devices", "remove", "cli-hub"], env=env)
    assert removed.exit_code == 0, removed.output
    reason = connack(settings.mqtt_host, settings.mqtt_port, 5.0, "cli-hub", secret)
    assert reason is not None and reason.value == NOT_AUTHORIZED
    refused = runner.invoke(main, ["devices", "add", "cli-hub", "--sites", "nowhere"], env=env)
    assert refused.exit_code == 1 and "not in the site registry: nowhere" in refused.output
