"""The one settings object: every knob of openlab, read from ``OPENLAB_*`` environment variables.

>>> s = Settings(topic_prefix="t1.")
>>> s.topic("readings.raw")
't1.readings.raw'
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.alarms import AlarmRules
from models.detectors.registry import NAMED_DETECTORS
from sensors.health import HealthRules

LOGIN_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""What an MQTT login's name (and so its client id) may be: a user in mosquitto's password file and ACL."""


def _default_home() -> Path:
    return Path.home() / ".cache" / "openlab"


class Settings(BaseSettings):
    """Configuration of the pipeline and of the local service stack."""

    model_config = SettingsConfigDict(env_prefix="OPENLAB_", env_file=None, extra="ignore")

    # Kafka
    kafka_host: str = Field(
        "127.0.0.1",
        description="Kafka's host for the pipeline's clients; the local stack's PLAINTEXT and CONTROLLER"
        " listeners bind it, and it must be a loopback address there.",
    )
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_sasl_host: str = Field(
        "127.0.0.1",
        description="Address of the SASL_PLAINTEXT (SCRAM-SHA-512) listener, the one for site owners and"
        " for the pipeline's clients on other machines; the local stack binds it.",
    )
    kafka_sasl_port: int = 9094
    kafka_user: str = Field(
        "openlab", min_length=1, description="The pipeline's SCRAM-SHA-512 user on Kafka."
    )
    kafka_password: SecretStr = Field(
        SecretStr(""),
        description="Its password: when set, every pipeline client logs in (SASL_PLAINTEXT, SCRAM-SHA-512)"
        " at kafka_host:kafka_port; when empty, they connect without logging in.",
    )
    topic_prefix: str = Field("", description="Prepended to every topic name (tests isolate with it).")
    partitions: int = Field(12, ge=1)
    kafka_request_timeout_seconds: float = Field(
        1200.0, gt=0, description="How long a send is retried (e.g. across a broker restart)."
    )
    kafka_send_stall_seconds: float = Field(
        30.0,
        gt=0,
        description="How long a worker waits for Kafka to acknowledge a batch's transaction (or an"
        " ingest's send) before it aborts it (the ingest: sends it again through a new producer).",
    )
    kafka_transaction_timeout_seconds: float = Field(
        45.0,
        gt=0,
        le=900,
        description="After how long Kafka aborts a worker's transaction it has not ended (a worker"
        " frozen or gone mid-batch); until then read_committed consumers wait at it.",
    )
    kafka_session_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="How long a worker may go unheard (no heartbeat) before its group gives its"
        " partitions to the others.",
    )
    restore_deadline_seconds: float = Field(
        120.0,
        gt=0,
        description="How long a worker keeps trying to restore the state of partitions it was given;"
        " then it exits rather than run on empty state.",
    )
    replication_factor: int = Field(1, ge=1)

    # InfluxDB 1.8 (written through its /api/v2/write, read through InfluxQL /query)
    influx_host: str = "127.0.0.1"
    influx_port: int = 8086
    influx_database: str = "openlab"
    influx_org: str = "openlab"
    influx_token: str = Field("", description="'user:password' on InfluxDB 1.8 with auth, a token on 2.x.")

    # Grafana, for `openlab dashboards deploy`
    grafana_url: str = Field("http://127.0.0.1:3000", description="The Grafana to deploy the dashboards to.")
    grafana_token: str = Field("", description="A Grafana service-account token that may edit dashboards.")
    grafana_influx_url: str = Field(
        "", description="InfluxDB's address as Grafana's server reaches it (empty: OPENLAB_INFLUX_HOST/PORT)."
    )

    # MQTT: the local stack's broker and the gateway from it into readings.raw
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_client_id: str = Field(
        "openlab-gateway",
        pattern=LOGIN_NAME,
        description="The gateway's MQTT login and client id (the local broker makes every client's id"
        " its login); names its session.",
    )
    mqtt_password: SecretStr = Field(
        SecretStr(""),
        description="The gateway's MQTT password; empty: the one `openlab stack up` made for its login"
        " (kept in the devices folder, readable by this user only).",
    )
    mqtt_topic_prefix: str = Field(
        "", description="Prepended to the gateway's topic filter city/+/+ (tests isolate with it)."
    )
    mqtt_session_expiry_seconds: int = Field(
        7 * 24 * 3600,
        ge=0,
        le=2**32 - 1,
        description="How long the broker keeps the gateway's session, queueing for it, while it is away.",
    )
    mqtt_batch_size: int = Field(
        500, ge=1, le=32767, description="Most MQTT messages the gateway forwards to Kafka at once."
    )
    mqtt_batch_seconds: float = Field(
        0.005, gt=0, description="Longest the gateway waits for more messages to fill a batch."
    )
    mqtt_max_backoff_seconds: int = Field(
        30, ge=1, description="Longest wait between the gateway's reconnection attempts (MQTT, Kafka)."
    )

    # Devices' logins (openlab devices): the broker's password file and ACL, the ingest's tokens
    devices_dir: Path | None = Field(
        None, description="The devices' logins (hashed), and the broker's password file and ACL of them."
    )

    # Faust worker
    app_id: str = "openlab"
    worker_web_port: int = 6066
    agents: str = Field(
        "",
        description="Stream agents the worker runs beside the pass, comma-separated: installed agents'"
        " names (`openlab agents list`), module:attribute, or all.",
    )
    pipeline: bool = Field(True, description="Whether the worker runs the pass; off: its agents only.")
    batch_size: int = Field(2000, ge=1, description="Most events the pass takes at once.")
    batch_seconds: float = Field(
        0.2, gt=0, description="Longest the pass waits for events when none are waiting."
    )
    sink_retry_backoff_seconds: float = Field(0.1, gt=0, description="First retry delay of a write.")
    sink_max_backoff_seconds: float = Field(5.0, gt=0, description="Longest wait between retries.")
    checkpoint_seconds: float = Field(
        30.0, gt=0, description="How often the detectors that learnt are checkpointed to Kafka."
    )
    detector: str | None = Field(
        None,
        description="One detector for every sensor, by name: ours, or River's own as river.<class>"
        " (river.HalfSpaceTrees, ...); unset: each kind's own (models.detectors.registry.detector_for).",
    )
    metrics_seconds: float = Field(
        10.0, gt=0, description="How often a worker writes its stage counters to InfluxDB."
    )

    # The city
    sites: int = Field(3300, ge=1, description="How many facilities the generated city has.")
    seed: int = Field(0, description="Seed of the generated city and of the simulator.")
    registry_file: Path | None = Field(
        None, description="A city's own site registry: JSON, or CSV if the name ends in .csv."
    )

    # Cleaning
    max_future_seconds: float = Field(300.0, ge=0, description="How far ahead of now an event time may be.")
    max_lateness_seconds: float = Field(
        3600.0, ge=0, description="How far behind its sensor's latest reading a reading may arrive."
    )
    dedup_window: int = Field(
        1024,
        ge=1,
        le=65536,
        description="Recent sequence numbers per sensor checked for duplicates.",
    )
    flatline_readings: int = Field(
        10, ge=2, description="Equal readings in a row that make a sensor flatlined (for kinds that vary)."
    )
    stale_intervals: float = Field(
        5.0, gt=1, description="Expected intervals of silence after which a sensor is stale."
    )

    def health_rules(self) -> HealthRules:
        """The cleaning stage's rules for duplicates, lateness, flatlines and silence."""
        return HealthRules(
            lateness=timedelta(seconds=self.max_lateness_seconds),
            dedup_window=self.dedup_window,
            flatline_readings=self.flatline_readings,
            stale_intervals=self.stale_intervals,
        )

    # Alarms (the alarm agent's state machine)
    alarm_open_after: int = Field(3, ge=1, description="Anomalous readings in a row that open an alarm.")
    alarm_open_after_seconds: float | None = Field(
        None,
        ge=0,
        description="Or: anomalous readings in a row spanning this many seconds of event time open one.",
    )
    alarm_open_rarity: float | None = Field(
        10.0,
        ge=1,
        description="Or: one anomalous reading this many times rarer than the threshold opens one.",
    )
    alarm_open_blip: float | None = Field(
        8.0,
        gt=0,
        description="Or: one reading off both neighbours by this many times its kind's noise opens one.",
    )
    alarm_fell_with_speed: float | None = Field(
        2.5,
        gt=0,
        description="Or: a traffic flow or noise level that fell by this many standard errors as the"
        " speed at its intersection did opens one.",
    )
    alarm_gap_readings: int | None = Field(
        2,
        ge=2,
        description="Readings missing in a row after which the next opens a sensor-fault alarm.",
    )
    alarm_gap_seconds: float = Field(
        300.0, ge=0, description="The least silence, in seconds, of a gap that opens a sensor-fault alarm."
    )
    alarm_flatline: bool = Field(True, description="Whether a flatlined reading opens a sensor-fault alarm.")
    alarm_clear_after: int = Field(
        5, ge=1, description="Normal readings in a row that clear an active alarm (hysteresis)."
    )
    alarm_flap_limit: int = Field(
        3, ge=1, description="Alarms of one sensor that may open within the flap window, more: flapping."
    )
    alarm_flap_window_seconds: float = Field(3600.0, ge=0, description="The flap window, in seconds.")

    def alarm_rules(self) -> AlarmRules:
        """The alarm agent's rules for opening (on anomalies and sensor faults), clearing and flapping."""
        return AlarmRules(
            open_after=self.alarm_open_after,
            open_after_seconds=self.alarm_open_after_seconds,
            open_rarity=self.alarm_open_rarity,
            open_blip=self.alarm_open_blip,
            fell_with_speed=self.alarm_fell_with_speed,
            gap_readings=self.alarm_gap_readings,
            gap_seconds=self.alarm_gap_seconds,
            flatline=self.alarm_flatline,
            clear_after=self.alarm_clear_after,
            flap_window_seconds=self.alarm_flap_window_seconds,
            flap_limit=self.alarm_flap_limit,
        )

    # A site owner's alarm subscription (openlab alerts subscribe)
    owner_id: str = Field("", description="The owner whose alarms `openlab alerts subscribe` follows.")
    owner_password: str = Field("", description="That owner's SCRAM password (from `openlab owners grant`).")
    webhook_secret: str = Field("", description="Shared secret of the webhook's HMAC-SHA256 signature.")

    # HTTP ingest (openlab ingest)
    ingest_host: str = Field("127.0.0.1", description="Address the HTTP ingest server listens on.")
    ingest_port: int = Field(8089, ge=0, le=65535, description="Port of the HTTP ingest server.")
    ingest_max_body_bytes: int = Field(
        1024 * 1024, ge=2, description="Largest request body the HTTP ingest server takes (else 413)."
    )

    # Local stack
    home: Path = Field(default_factory=_default_home, description="Cache for Kafka jars and influxd.")
    stack_dir: Path | None = Field(None, description="Logs, pid files and data of the local stack.")
    stack_timeout_seconds: float = 90.0

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.kafka_host}:{self.kafka_port}"

    @property
    def influx_url(self) -> str:
        return f"http://{self.influx_host}:{self.influx_port}"

    @property
    def influx_bucket(self) -> str:
        """InfluxDB 1.8 maps a v2 bucket to ``database/retention-policy``."""
        return f"{self.influx_database}/autogen"

    @property
    def run_dir(self) -> Path:
        """Where this stack's state lives; keyed by port so a second stack can run beside."""
        return self.stack_dir or self.home / f"stack-{self.kafka_port}-{self.influx_port}"

    @property
    def devices_folder(self) -> Path:
        """Where the devices' logins live: ``devices_dir``, by default ``run_dir/devices``."""
        return self.devices_dir or self.run_dir / "devices"

    @field_validator("detector")
    @classmethod
    def _a_named_detector(cls, name: str | None) -> str | None:
        if not name:
            return None
        if name not in NAMED_DETECTORS:
            raise ValueError(f"no detector is named {name!r}; one of {', '.join(sorted(NAMED_DETECTORS))}")
        return name

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def as_environment(self) -> dict[str, str]:
        """These settings as ``OPENLAB_*`` variables, for a child process such as the worker."""
        return {
            f"OPENLAB_{name.upper()}": str(
                value.get_secret_value() if isinstance(value, SecretStr) else value
            )
            for name, value in self.model_dump().items()
            if value is not None
        }
