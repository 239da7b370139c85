"""A single-node KRaft Kafka broker+controller, run straight from its jars with ``java``.

Listeners: PLAINTEXT on ``kafka_port`` (the trusted loopback pipeline, super user ANONYMOUS),
CONTROLLER on ``kafka_controller_port``, SASL_PLAINTEXT with SCRAM-SHA-512 on ``kafka_sasl_port``
(site owners, who get ACLs; ``kafka_admin_user`` is a super user).
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.settings import Settings
from streams.stack.install import JAVA_HINT, kafka_lib, require_tool, run_tool
from streams.stack.procs import port_open
from streams.stack.service import Service

_HEAP = ["-Xms512m", "-Xmx1g"]

_LOG4J = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.request.logger=WARN
"""


class Kafka(Service):
    """Kafka 3.9 in combined broker+controller mode, data in ``run_dir/kafka/data``."""

    name = "kafka"
    marker = "kafka.Kafka"
    config_name = "server.properties"

    def host(self, settings: Settings) -> str:
        return settings.kafka_host

    def ports(self, settings: Settings) -> dict[str, int]:
        return {
            "kafka_port": settings.kafka_port,
            "kafka_controller_port": settings.kafka_controller_port,
            "kafka_sasl_port": settings.kafka_sasl_port,
        }

    def prepare(self, settings: Settings) -> list[str]:
        java = require_tool("java", JAVA_HINT)
        classpath = f"{kafka_lib(settings)}/*"
        workdir = self.workdir(settings)
        data = workdir / "data"
        config = self.config_path(settings)
        log4j = workdir / "log4j.properties"
        workdir.mkdir(parents=True, exist_ok=True)
        config.write_text(_server_properties(settings, data))
        log4j.write_text(_LOG4J)
        logging = f"-Dlog4j.configuration=file:{log4j}"
        if not (data / "meta.properties").is_file():
            scram = (
                f"SCRAM-SHA-512=[name={settings.kafka_admin_user},password={settings.kafka_admin_password}]"
            )
            format_argv = [
                java,
                logging,
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                _cluster_id(),
                "-c",
                str(config),
                "--ignore-formatted",
                "--add-scram",
                scram,
            ]
            run_tool(format_argv, "Formatting Kafka storage")
        return [java, *_HEAP, logging, "-cp", classpath, "kafka.Kafka", str(config)]

    def probe(self, settings: Settings, timeout: float) -> bool:
        """TCP connect, then a metadata request that must list a (registered, unfenced) broker."""
        if not port_open(settings.kafka_host, settings.kafka_port, timeout):
            return False
        request_timeout_ms = max(1, int(timeout * 1000))
        metadata = asyncio.wait_for(_broker_count(settings, request_timeout_ms), timeout)
        # A private event loop in a worker thread: works whether or not the caller runs a loop.
        with ThreadPoolExecutor(max_workers=1) as pool:
            try:
                return pool.submit(asyncio.run, metadata).result() > 0
            except (KafkaError, OSError, TimeoutError):
                return False

    def on_ready(self, settings: Settings) -> None:
        """Nothing to set up: topics are created by the pipeline."""


async def _broker_count(settings: Settings, request_timeout_ms: int) -> int:
    """The number of brokers listed in a metadata response from the PLAINTEXT listener."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id="openlab-stack-probe",
        request_timeout_ms=request_timeout_ms,
    )
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    brokers: list[object] = cluster["brokers"]
    return len(brokers)


def _server_properties(settings: Settings, data: Path) -> str:
    host = settings.kafka_host
    admin = settings.kafka_admin_user
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{admin}" password="{settings.kafka_admin_password}";'
    )
    properties = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{settings.kafka_controller_port}",
        "listeners": f"PLAINTEXT://{host}:{settings.kafka_port},"
        f"CONTROLLER://{host}:{settings.kafka_controller_port},"
        f"SASL_PLAINTEXT://{host}:{settings.kafka_sasl_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{settings.kafka_port},"
        f"SASL_PLAINTEXT://{host}:{settings.kafka_sasl_port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
        "SASL_PLAINTEXT:SASL_PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": jaas,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:ANONYMOUS;User:{admin}",
        "allow.everyone.if.no.acl.found": "false",
        "log.dirs": str(data),
        "num.partitions": str(settings.partitions),
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{key}={value}\n" for key, value in properties.items())


def _cluster_id() -> str:
    """A random Kafka cluster id (URL-safe base64 UUID), never starting with '-' like an option."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
