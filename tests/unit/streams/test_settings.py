"""Settings: defaults, ``OPENLAB_*`` overrides, topic prefixes and the environment of a child process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from models.alarms import AlarmRules
from streams.settings import Settings
from streams.worker import worker_environment


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OPENLAB_* variable of the surrounding shell leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("OPENLAB_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_defaults(tmp_path: Path) -> None:
    settings = Settings()
    assert settings.kafka_host == "127.0.0.1"
    assert settings.kafka_port == 9092
    assert settings.topic_prefix == ""
    assert settings.partitions == 12
    assert settings.sites == 3300
    assert settings.seed == 0
    assert settings.registry_file is None
    assert settings.max_future_seconds == 300.0
    assert settings.home == tmp_path / "home" / ".cache" / "openlab"
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.influx_url == "http://127.0.0.1:8086"
    assert settings.influx_bucket == "openlab/autogen"


def test_environment_variables_override_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENLAB_KAFKA_HOST", "kafka.internal")
    monkeypatch.setenv("OPENLAB_KAFKA_PORT", "19092")
    monkeypatch.setenv("OPENLAB_TOPIC_PREFIX", "run7.")
    monkeypatch.setenv("OPENLAB_PARTITIONS", "3")
    monkeypatch.setenv("OPENLAB_INFLUX_PORT", "18086")
    monkeypatch.setenv("OPENLAB_INFLUX_DATABASE", "lab")
    monkeypatch.setenv("OPENLAB_BATCH_SECONDS", "0.25")
    monkeypatch.setenv("OPENLAB_SITES", "40")
    monkeypatch.setenv("OPENLAB_SEED", "-3")
    monkeypatch.setenv("OPENLAB_REGISTRY_FILE", str(tmp_path / "city.json"))
    monkeypatch.setenv("OPENLAB_MAX_FUTURE_SECONDS", "60")
    settings = Settings()
    assert settings.kafka_host == "kafka.internal"
    assert settings.kafka_port == 19092
    assert settings.topic_prefix == "run7."
    assert settings.partitions == 3
    assert settings.influx_database == "lab"
    assert settings.batch_seconds == 0.25
    assert settings.sites == 40
    assert settings.seed == -3
    assert settings.registry_file == tmp_path / "city.json"
    assert settings.max_future_seconds == 60.0
    assert settings.bootstrap_servers == "kafka.internal:19092"
    assert settings.influx_url == "http://127.0.0.1:18086"
    assert settings.influx_bucket == "lab/autogen"


def test_variables_without_the_prefix_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_PORT", "1")
    monkeypatch.setenv("SITES", "1")
    settings = Settings()
    assert settings.kafka_port == 9092
    assert settings.sites == 3300


def test_explicit_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENLAB_SITES", "40")
    assert Settings(sites=7).sites == 7


@pytest.mark.parametrize(
    ("name", "value"),
    [("OPENLAB_PARTITIONS", "0"), ("OPENLAB_KAFKA_PORT", "not-a-port"), ("OPENLAB_BATCH_SECONDS", "0")],
)
def test_invalid_environment_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert name.removeprefix("OPENLAB_").lower() in str(caught.value)


def test_topic_applies_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().topic("readings.raw") == "readings.raw"
    assert Settings(topic_prefix="t1.").topic("readings.raw") == "t1.readings.raw"
    monkeypatch.setenv("OPENLAB_TOPIC_PREFIX", "env-")
    assert Settings().topic("readings.deadletter") == "env-readings.deadletter"


def test_run_dir_is_keyed_by_port_unless_given(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, kafka_port=1, influx_port=2)
    assert settings.run_dir == tmp_path / "stack-1-2"
    assert Settings(stack_dir=tmp_path / "s").run_dir == tmp_path / "s"


def feed_back(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]) -> Settings:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_as_environment_names_every_set_field_with_the_prefix() -> None:
    settings = Settings()
    environment = settings.as_environment()
    assert all(name.startswith("OPENLAB_") and name.isupper() for name in environment)
    assert all(isinstance(value, str) for value in environment.values())
    assert environment["OPENLAB_KAFKA_PORT"] == "9092"
    assert "OPENLAB_REGISTRY_FILE" not in environment
    assert len(environment) == sum(1 for value in settings.model_dump().values() if value is not None)


def test_as_environment_round_trips_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert feed_back(monkeypatch, settings.as_environment()) == settings


def test_as_environment_round_trips_changed_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = Settings(
        kafka_host="10.0.0.5",
        kafka_port=29092,
        topic_prefix="t42.",
        partitions=4,
        influx_database="t42",
        influx_token="user:pa ss=word",
        app_id="openlab-t42",
        worker_web_port=0,
        batch_size=17,
        batch_seconds=0.125,
        sink_retry_backoff_seconds=0.3,
        sites=40,
        seed=9,
        registry_file=tmp_path / "registry.json",
        max_future_seconds=12.5,
        alarm_open_after_seconds=90.0,
        alarm_clear_after=7,
        home=tmp_path / "cache",
        stack_dir=tmp_path / "stack",
        stack_timeout_seconds=30.0,
    )
    assert settings != Settings()
    again = feed_back(monkeypatch, settings.as_environment())
    assert again == settings
    assert again.model_dump() == settings.model_dump()
    assert again.topic("readings.raw") == "t42.readings.raw"


def test_a_worker_does_not_inherit_a_setting_its_parent_dropped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENLAB_REGISTRY_FILE", str(tmp_path / "shell-city.json"))
    settings = Settings().model_copy(update={"registry_file": None})
    assert settings.registry_file is None
    child = worker_environment(settings)
    assert "OPENLAB_REGISTRY_FILE" not in child
    assert child["OPENLAB_KAFKA_PORT"] == str(settings.kafka_port)


def test_the_alarm_rules_follow_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENLAB_ALARM_OPEN_AFTER", "4")
    monkeypatch.setenv("OPENLAB_ALARM_OPEN_AFTER_SECONDS", "600")
    monkeypatch.setenv("OPENLAB_ALARM_CLEAR_AFTER", "8")
    monkeypatch.setenv("OPENLAB_ALARM_FLAP_LIMIT", "2")
    monkeypatch.setenv("OPENLAB_ALARM_FLAP_WINDOW_SECONDS", "1800")
    monkeypatch.setenv("OPENLAB_ALARM_OPEN_RARITY", "100")
    monkeypatch.setenv("OPENLAB_ALARM_OPEN_BLIP", "12")
    monkeypatch.setenv("OPENLAB_ALARM_FELL_WITH_SPEED", "3")
    monkeypatch.setenv("OPENLAB_ALARM_GAP_READINGS", "3")
    monkeypatch.setenv("OPENLAB_ALARM_GAP_SECONDS", "600")
    monkeypatch.setenv("OPENLAB_ALARM_FLATLINE", "false")
    assert Settings().alarm_rules() == AlarmRules(
        open_after=4,
        open_after_seconds=600.0,
        open_rarity=100.0,
        open_blip=12.0,
        fell_with_speed=3.0,
        gap_readings=3,
        gap_seconds=600.0,
        flatline=False,
        clear_after=8,
        flap_limit=2,
        flap_window_seconds=1800.0,
    )
    assert Settings(alarm_open_after_seconds=None).alarm_rules().open_after_seconds is None
