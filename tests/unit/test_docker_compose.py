"""docker-compose.yml and the Dockerfile against the code, since Docker cannot run here: every
``OPENLAB_*`` variable compose sets is a setting, and a valid one; every service the code needs is
there, at the versions the local stack runs, reached by the names and ports the settings give;
every wait on a service's health has a healthcheck behind it; volumes are declared and mounted
where the settings look; the one-shot topic creation makes every topic of the pipeline; the image
is slim, runs as an unprivileged user, installs the pinned versions and the example agent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.cli.root import main
from streams.kafka.topics import TopicNames
from streams.settings import Settings
from streams.stack.install import INFLUXD_VERSION, KAFKA_VERSION

REPOSITORY = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((REPOSITORY / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
_DEFAULT_VALUES = {
    name: field.get_default(call_default_factory=True) for name, field in Settings.model_fields.items()
}
DEFAULTS = Settings(**_DEFAULT_VALUES)
"""The settings' own defaults, whatever this process's environment says (every field given)."""

_VARIABLE = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def _interpolated(value: object) -> str:
    """A value as compose makes it with nothing set in its environment: ``${X:-default}`` is the
    default, ``${X:?message}`` (a value compose demands) an example value."""
    return _VARIABLE.sub(lambda m: m.group(3) if m.group(2) == "-" else "a-secret", str(value))


def _environment(service: str) -> dict[str, str]:
    return {key: _interpolated(value) for key, value in (SERVICES[service].get("environment") or {}).items()}


def _settings_of(service: str) -> Settings:
    """The settings of a service's container (its OPENLAB_* variables over the defaults)."""
    fields = {
        k[len("OPENLAB_") :].lower(): v for k, v in _environment(service).items() if k.startswith("OPENLAB_")
    }
    return Settings(**{**_DEFAULT_VALUES, **fields})


def _openlab_services() -> list[str]:
    return [name for name, service in SERVICES.items() if service.get("build") == "."]


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_openlab_variable_compose_sets_is_a_valid_setting(service: str) -> None:
    for key in _environment(service):
        if key.startswith("OPENLAB_"):
            assert key[len("OPENLAB_") :].lower() in Settings.model_fields, f"{service}: {key} is no setting"
    _settings_of(service)  # raises if a value is not one the setting takes


def test_the_services_the_code_needs_are_there_at_the_local_stacks_versions() -> None:
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert SERVICES["init-topics"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    influx_minor = ".".join(INFLUXD_VERSION.split(".")[:2])
    assert SERVICES["influxdb"]["image"] == f"influxdb:{influx_minor}"
    assert SERVICES["grafana"]["image"].startswith("grafana/grafana-oss:11.6")  # the dashboards' build
    assert SERVICES["mosquitto"]["image"].startswith("eclipse-mosquitto:2")
    # The openlab image runs the worker, the MQTT gateway, the HTTP ingest, the simulator and the
    # devices' logins: each an openlab command.
    commands = {name: SERVICES[name]["command"][0] for name in _openlab_services()}
    assert commands == {
        "worker": "worker",
        "init-devices": "devices",
        "gateway": "gateway",
        "ingest": "ingest",
        "simulator": "simulate",
    }
    assert set(commands.values()) <= set(main.commands)


def test_the_worker_runs_the_pass_and_every_installed_agent() -> None:
    worker = _settings_of("worker")
    assert worker.pipeline and worker.agents == "all"
    assert worker.influx_host in SERVICES and worker.kafka_host in SERVICES
    assert worker.influx_database == _environment("influxdb")["INFLUXDB_DB"]
    assert worker.partitions == DEFAULTS.partitions


def test_services_reach_each_other_by_the_names_and_ports_the_settings_give() -> None:
    kafka_listeners = _environment("kafka")["KAFKA_LISTENERS"]
    for name in ("worker", "gateway", "ingest", "simulator"):
        settings = _settings_of(name)
        assert settings.kafka_host == "kafka" and f"INTERNAL://:{settings.kafka_port}" in kafka_listeners
        assert settings.kafka_password.get_secret_value(), f"{name} must log in to Kafka"
        assert f"OWNERS://:{settings.kafka_sasl_port}" in kafka_listeners
    assert _settings_of("worker").influx_port == DEFAULTS.influx_port
    assert f"{DEFAULTS.influx_port}:{DEFAULTS.influx_port}" in SERVICES["influxdb"]["ports"][0]
    gateway = _settings_of("gateway")
    assert gateway.mqtt_host == "mosquitto"
    assert _interpolated(SERVICES["mosquitto"]["ports"][0]).endswith(f":{gateway.mqtt_port}")
    assert f"listener {gateway.mqtt_port}" in COMPOSE["configs"]["mosquitto-config"]["content"]
    ingest = SERVICES["ingest"]["command"]
    port = ingest[ingest.index("--port") + 1]
    assert int(port) == DEFAULTS.ingest_port and _interpolated(SERVICES["ingest"]["ports"][0]).endswith(
        f":{port}"
    )
    # The worker's healthcheck asks its own web server, on the port its settings give it.
    worker_check = " ".join(SERVICES["worker"]["healthcheck"]["test"])
    assert f"http://127.0.0.1:{_settings_of('worker').worker_web_port}/metrics" in worker_check


def test_every_published_port_is_on_the_loopback_address_unless_told_otherwise() -> None:
    for name, service in SERVICES.items():
        for mapping in service.get("ports", []):
            address = str(mapping).split(":")[0]
            assert address in ("127.0.0.1", "${OPENLAB_KAFKA_SASL_HOST", "${DEVICES_ADDRESS"), (
                f"{name}: {mapping}"
            )
            assert _interpolated(mapping).startswith("127.0.0.1:"), f"{name}: {mapping} by default"


def test_a_wait_for_a_services_health_or_completion_has_a_healthcheck_or_a_one_shot_behind_it() -> None:
    for name, service in SERVICES.items():
        for needed, how in (service.get("depends_on") or {}).items():
            assert needed in SERVICES, f"{name} depends on a service that is not there: {needed}"
            if how["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[needed], (
                    f"{name} waits for {needed}'s health, which is unchecked"
                )
            if how["condition"] == "service_completed_successfully":
                assert SERVICES[needed].get("restart") == "no", f"{needed} is not a one-shot"
    for name in ("kafka", "influxdb", "worker"):
        check = SERVICES[name]["healthcheck"]
        assert check["test"][0] == "CMD" and check["retries"] >= 3


def test_volumes_are_declared_and_mounted_where_the_settings_look() -> None:
    declared = set(COMPOSE["volumes"])
    used = set()
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if not source.startswith("."):
                used.add(source)
            if source == "devices":
                assert target == "/devices"
                devices_dir = _settings_of(name).devices_dir if name in _openlab_services() else None
                assert devices_dir in (None, Path("/devices")), f"{name} looks for the devices elsewhere"
            elif source.startswith("."):
                assert (REPOSITORY / source).is_dir(), (
                    f"{name} mounts {source}, which is not in the repository"
                )
    assert used == declared
    devices = {str(_settings_of(name).devices_dir) for name in ("gateway", "ingest", "init-devices")}
    assert devices == {"/devices"}


def test_the_one_shot_creates_every_topic_of_the_pipeline_compacted_where_the_code_compacts() -> None:
    script = SERVICES["init-topics"]["command"][0]
    plain, compacted = (
        set(block.split(";", 1)[0].replace("\\", " ").split())
        for block in re.findall(r"for topic in (.*?); do", script, flags=re.DOTALL)
    )
    names = TopicNames.of(DEFAULTS)
    assert compacted == {names.checkpoints, names.state}
    assert plain | compacted == set(names.all())
    assert "cleanup.policy=compact" in script.split("for topic in detectors.checkpoints")[1]


def test_the_image_is_slim_unprivileged_pinned_and_carries_the_example_agent() -> None:
    dockerfile = (REPOSITORY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, flags=re.MULTILINE)
    users = re.findall(r"^USER (\S+)$", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    install = next(line for line in dockerfile.splitlines() if "pip install" in line)
    assert (
        "-c constraints.txt" in install and "--no-cache-dir" in install and "./examples/congestion" in install
    )
    assert (REPOSITORY / "examples/congestion/pyproject.toml").is_file()
    ignored = (REPOSITORY / ".dockerignore").read_text().splitlines()
    assert "examples" not in ignored and ".venv" in ignored
