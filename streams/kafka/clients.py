"""How the pipeline's own Kafka clients connect: one place for every producer, consumer and admin.

Without a password (``OPENLAB_KAFKA_PASSWORD`` empty) a client connects without logging in, which
only the local stack's PLAINTEXT listener takes, and that one listens on the loopback address
only. With a password it logs in as ``OPENLAB_KAFKA_USER`` with SCRAM-SHA-512 over
SASL_PLAINTEXT: on a listener other machines or containers reach (docker-compose's
``kafka:29092``, the local stack's ``OPENLAB_KAFKA_SASL_PORT``).

The pipeline's login is kept in an environment file (``OPENLAB_KAFKA_USER=...`` and
``OPENLAB_KAFKA_PASSWORD=...``) that only its owner may read, which ``docker compose
--env-file`` and a shell's ``set -a; . FILE`` take as it is; the password is never printed.

>>> aiokafka_options(Settings(kafka_host="127.0.0.1", kafka_port=9092, kafka_password=""))
{'bootstrap_servers': '127.0.0.1:9092'}
>>> elsewhere = Settings(kafka_host="kafka", kafka_port=29092, kafka_user="openlab", kafka_password="s3cret")
>>> librdkafka_config(elsewhere)["security.protocol"], librdkafka_config(elsewhere)["sasl.username"]
('SASL_PLAINTEXT', 'openlab')
>>> pipeline_login(elsewhere)
KafkaLogin(user='openlab')
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.settings import Settings

SASL_MECHANISM = "SCRAM-SHA-512"
USER_VARIABLE = "OPENLAB_KAFKA_USER"
PASSWORD_VARIABLE = "OPENLAB_KAFKA_PASSWORD"


@dataclass(frozen=True, slots=True)
class KafkaLogin:
    """A SCRAM-SHA-512 user and its password (which its repr leaves out)."""

    user: str
    password: str = field(repr=False)


def pipeline_login(settings: Settings) -> KafkaLogin | None:
    """The pipeline's login, if it has a password."""
    password = settings.kafka_password.get_secret_value()
    return KafkaLogin(settings.kafka_user, password) if password else None


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """The connection options of an aiokafka producer, consumer or admin client."""
    options: dict[str, Any] = {"bootstrap_servers": settings.bootstrap_servers}
    login = pipeline_login(settings)
    if login is not None:
        options |= {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": SASL_MECHANISM,
            "sasl_plain_username": login.user,
            "sasl_plain_password": login.password,
        }
    return options


def librdkafka_config(settings: Settings) -> dict[str, str | int | float | bool]:
    """The same for a confluent-kafka (librdkafka) client."""
    config: dict[str, str | int | float | bool] = {"bootstrap.servers": settings.bootstrap_servers}
    login = pipeline_login(settings)
    if login is not None:
        config |= {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": SASL_MECHANISM,
            "sasl.username": login.user,
            "sasl.password": login.password,
        }
    return config


def ensure_login_file(path: Path, user: str) -> tuple[KafkaLogin, bool]:
    """The login kept in the environment file ``path``, and whether it was made just now: a file
    without one gets ``user`` and a new random password (its other lines are kept). The file is
    written readable by its owner only (mode 0600).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "kafka.env"
    >>> login, made = ensure_login_file(path, "openlab")
    >>> made, len(login.password) >= 32, oct(path.stat().st_mode & 0o777)
    (True, True, '0o600')
    >>> ensure_login_file(path, "someone-else") == (login, False)
    True
    """
    lines = path.read_text().splitlines() if path.exists() else []
    values = dict(line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))
    if values.get(PASSWORD_VARIABLE):
        return KafkaLogin(values.get(USER_VARIABLE) or user, values[PASSWORD_VARIABLE]), False
    login = KafkaLogin(values.get(USER_VARIABLE) or user, secrets.token_urlsafe(32))
    kept = [line for line in lines if line.split("=", 1)[0] not in (USER_VARIABLE, PASSWORD_VARIABLE)]
    text = "\n".join([*kept, f"{USER_VARIABLE}={login.user}", f"{PASSWORD_VARIABLE}={login.password}"]) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.new")
    staging.unlink(missing_ok=True)
    with os.fdopen(os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(text)
    staging.replace(path)
    return login, True
