"""The local service stack against real processes, on ports of its own (Kafka 19092-19094,
InfluxDB 18086/18088, MQTT 11883) so a stack on the default ports is not disturbed; the program
cache in ``settings.home`` is shared."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from streams import stack
from streams.kafka.clients import aiokafka_options
from streams.settings import Settings
from streams.stack import install
from streams.stack.install import influxd_binary, kafka_lib
from streams.stack.mosquitto import mqtt_answers
from streams.stack.procs import port_open

pytestmark = pytest.mark.services


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    """A second stack with its state in ``tmp_path``; always stopped afterwards."""
    test_settings = Settings(
        kafka_port=19092,
        kafka_controller_port=19093,
        kafka_sasl_port=19094,
        influx_port=18086,
        mqtt_port=11883,
        stack_dir=tmp_path / "stack",
    )
    try:
        yield test_settings
    finally:
        stack.down(test_settings)


def _any_port_open(settings: Settings) -> bool:
    return any(
        port_open(service.host(settings), port)
        for service in stack.SERVICES.values()
        for port in service.ports(settings).values()
    )


def _any_process_exists(pids: list[int | None]) -> bool:
    return any(Path(f"/proc/{pid}").exists() for pid in pids)


def _influx_ping(settings: Settings) -> int:
    with urllib.request.urlopen(f"{settings.influx_url}/ping", timeout=5) as reply:
        return int(reply.status)


def _influx_databases(settings: Settings) -> list[str]:
    query = urllib.parse.urlencode({"q": "SHOW DATABASES"})
    with urllib.request.urlopen(f"{settings.influx_url}/query?{query}", timeout=5) as reply:
        answer = json.load(reply)
    return [row[0] for row in answer["results"][0]["series"][0]["values"]]


async def _kafka_broker_ids(settings: Settings) -> list[int]:
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    return [broker["node_id"] for broker in cluster["brokers"]]


async def test_up_is_idempotent_and_down_stops_everything(settings: Settings) -> None:
    # The stack calls block; called straight from a coroutine they must cope with a running loop.
    assert sorted(stack.up(settings)) == ["influxd", "kafka", "mosquitto"]
    before = stack.status(settings)
    assert all(state.running and state.pid for state in before.values())
    assert before["kafka"].log == settings.run_dir / "kafka.log"
    assert before["mosquitto"].port == settings.mqtt_port

    assert await _kafka_broker_ids(settings) == [1]
    assert _influx_ping(settings) == 204
    assert settings.influx_database in _influx_databases(settings)
    assert mqtt_answers(settings.mqtt_host, settings.mqtt_port, 5.0)

    assert stack.up(settings) == []
    assert stack.status(settings) == before

    # An outage of influxd alone: Kafka keeps running, the database survives a restart.
    assert stack.stop_service(settings, "influxd")
    assert not port_open(settings.influx_host, settings.influx_port)
    assert stack.status(settings)["kafka"] == before["kafka"]
    assert stack.up(settings) == ["influxd"]
    assert settings.influx_database in _influx_databases(settings)

    # mosquitto alone, likewise; its persistence file is written when it stops.
    assert stack.stop_service(settings, "mosquitto")
    assert not mqtt_answers(settings.mqtt_host, settings.mqtt_port, 1.0)
    assert (settings.run_dir / "mosquitto" / "data" / "mosquitto.db").is_file()
    assert stack.up(settings) == ["mosquitto"]
    assert mqtt_answers(settings.mqtt_host, settings.mqtt_port, 5.0)

    pids = [state.pid for state in stack.status(settings).values()]
    assert sorted(stack.down(settings)) == ["influxd", "kafka", "mosquitto"]
    assert not _any_process_exists(pids)
    assert not _any_port_open(settings)
    assert not list(settings.run_dir.glob("*.pid"))
    assert stack.down(settings) == []


def test_stale_pid_files_are_ignored_and_removed(settings: Settings) -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    settings.run_dir.mkdir(parents=True)
    kafka_pid = settings.run_dir / "kafka.pid"
    influxd_pid = settings.run_dir / "influxd.pid"
    kafka_pid.write_text(f"{finished.pid}\n")  # a process that is gone
    influxd_pid.write_text(f"{os.getpid()}\n")  # alive, but not influxd: must never be signalled

    assert not any(state.running for state in stack.status(settings).values())
    assert not kafka_pid.exists()
    assert not influxd_pid.exists()

    influxd_pid.write_text(f"{os.getpid()}\n")
    assert stack.down(settings) == []
    assert stack.start_service(settings, "influxd")
    started = stack.status(settings)["influxd"]
    assert started.running
    assert started.pid not in (None, os.getpid())
    assert _influx_ping(settings) == 204


def test_a_port_taken_by_another_process_is_refused(settings: Settings) -> None:
    with (
        socket.create_server((settings.influx_host, settings.influx_port)),
        pytest.raises(stack.StackError, match=rf"{settings.influx_port} .*already in use"),
    ):
        stack.start_service(settings, "influxd")
    assert not stack.status(settings)["influxd"].running


def test_missing_java_names_the_package(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    fresh = settings.model_copy(update={"home": tmp_path / "empty-home"})
    with pytest.raises(stack.MissingToolError, match=r"java.*openjdk-17"):
        stack.up(fresh)
    assert not stack.status(fresh)["kafka"].running


def test_missing_maven_and_go_name_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    java = shutil.which("java")
    if java is None:
        pytest.skip("needs java on PATH")
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "java").symlink_to(java)
    monkeypatch.setenv("PATH", str(tools))
    fresh = Settings(home=tmp_path / "empty-home")
    with pytest.raises(stack.MissingToolError, match=r"mvn.*maven"):
        kafka_lib(fresh)
    with pytest.raises(stack.MissingToolError, match=r"go.*Go 1\.21"):
        influxd_binary(fresh)
    assert not fresh.home.exists()  # nothing half-installed is left behind


def test_missing_mosquitto_names_the_package_when_it_cannot_be_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(install, "_SBIN_DIRS", ())
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # not root: no apt-get for us
    with pytest.raises(stack.MissingToolError, match=r"apt-get install mosquitto$") as caught:
        install.mosquitto_binary()
    assert "\n" not in str(caught.value)
