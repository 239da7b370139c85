"""A single-node KRaft Kafka broker+controller, run straight from its jars with ``java``.

Listeners, and who reaches them:

- PLAINTEXT on ``kafka_host:kafka_port`` and CONTROLLER on ``kafka_host:kafka_controller_port``:
  no login, so every client there is ``User:ANONYMOUS``, a super user (the controller listener
  needs that: the broker registers with it as ANONYMOUS). That is safe only because both listen on
  a loopback address, which :func:`check_addresses` insists on: only this machine's own users
  reach them (the pipeline on this machine, ``openlab owners grant``, this stack).
- SASL_PLAINTEXT with SCRAM-SHA-512 on ``kafka_sasl_host:kafka_sasl_port``: nobody without a
  login. Site owners read their own alarm topics there (ACLs, :mod:`streams.owners.acls`); the
  pipeline's user (``kafka_user``, a super user) logs in there from other machines. Set
  ``kafka_sasl_host`` to an address of this machine that they reach to let them in.

The pipeline's password is made at the first start and kept in :func:`login_file` (mode 0600);
each start gives it to the broker (:func:`register_login`), so a deleted file means a new one.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pydantic import SecretStr

from streams.kafka.clients import KafkaLogin, ensure_login_file
from streams.owners.acls import OwnerError, set_login
from streams.settings import Settings
from streams.stack.errors import StackError
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
        check_addresses(settings)
        java = require_tool("java", JAVA_HINT)
        classpath = f"{kafka_lib(settings)}/*"
        workdir = self.workdir(settings)
        data = workdir / "data"
        config = self.config_path(settings)
        log4j = workdir / "log4j.properties"
        workdir.mkdir(parents=True, exist_ok=True)
        login, _ = ensure_login_file(login_file(settings), settings.kafka_user)
        config.write_text(_server_properties(settings, data, login.user))
        log4j.write_text(_LOG4J)
        logging = f"-Dlog4j.configuration=file:{log4j}"
        if not (data / "meta.properties").is_file():
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
        """The pipeline's login, given to the broker (topics are created by the pipeline)."""
        register_login(settings)


def login_file(settings: Settings) -> Path:
    """Where the stack keeps the pipeline's login (an environment file, mode 0600), beside the
    broker's data: wiping the data wipes the login too."""
    return Kafka().workdir(settings) / "pipeline-login.env"


def register_login(settings: Settings) -> KafkaLogin:
    """Give the running broker the login of :func:`login_file` (made first if missing); the stack
    does it as itself, anonymously on its loopback PLAINTEXT listener."""
    login, _ = ensure_login_file(login_file(settings), settings.kafka_user)
    try:
        set_login(_anonymous(settings), login.user, login.password)
    except OwnerError as error:
        raise StackError(f"cannot give Kafka the pipeline's login ({login.user}): {error}") from None
    return login


def check_addresses(settings: Settings) -> None:
    """Refuse listeners that would let anonymous super users, or nobody, in.

    >>> check_addresses(Settings(kafka_host="127.0.0.1", kafka_sasl_host="127.0.0.1"))
    >>> check_addresses(Settings(kafka_host="0.0.0.0", kafka_sasl_host="127.0.0.1"))
    Traceback (most recent call last):
    ...
    streams.stack.errors.StackError: OPENLAB_KAFKA_HOST=0.0.0.0 is not a loopback address: ...
    """
    if not is_loopback(settings.kafka_host):
        raise StackError(
            f"OPENLAB_KAFKA_HOST={settings.kafka_host} is not a loopback address: the stack's PLAINTEXT"
            " and CONTROLLER listeners take anyone as a super user, so they listen on this machine's"
            " loopback only (e.g. 127.0.0.1). Other machines use the SASL listener"
            " (OPENLAB_KAFKA_SASL_HOST, OPENLAB_KAFKA_SASL_PORT) with a login"
        )
    if _is_unspecified(settings.kafka_sasl_host):
        raise StackError(
            f"OPENLAB_KAFKA_SASL_HOST={settings.kafka_sasl_host} is no address a client can use: name"
            " this machine's address (or name) that site owners reach"
        )


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` stands for is a loopback address.

    >>> [is_loopback(host) for host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "192.0.2.7")]
    [True, True, True, False, False]
    """
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except socket.gaierror:
        return False
    return bool(found) and all(ipaddress.ip_address(str(address)).is_loopback for address in found)


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return not host


def _anonymous(settings: Settings) -> Settings:
    """The stack's own connection: no login, on the loopback PLAINTEXT listener."""
    return settings.model_copy(update={"kafka_password": SecretStr("")})


async def _broker_count(settings: Settings, request_timeout_ms: int) -> int:
    """The number of brokers listed in a metadata response from the PLAINTEXT listener (the
    stack's own connection: no login)."""
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


def _server_properties(settings: Settings, data: Path, pipeline_user: str) -> str:
    plaintext = _address(settings.kafka_host, settings.kafka_port)
    controller = _address(settings.kafka_host, settings.kafka_controller_port)
    sasl = _address(settings.kafka_sasl_host, settings.kafka_sasl_port)
    properties = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{controller}",
        "listeners": f"PLAINTEXT://{plaintext},CONTROLLER://{controller},SASL_PLAINTEXT://{sasl}",
        "advertised.listeners": f"PLAINTEXT://{plaintext},SASL_PLAINTEXT://{sasl}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
        "SASL_PLAINTEXT:SASL_PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        # Only the broker's side of SCRAM: its own connections go through PLAINTEXT.
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        # ANONYMOUS: whoever connects to the loopback listeners (check_addresses).
        "super.users": f"User:ANONYMOUS;User:{pipeline_user}",
        "allow.everyone.if.no.acl.found": "false",
        "log.dirs": str(data),
        "num.partitions": str(settings.partitions),
        # Topics are made by openlab (streams.kafka.topics), with the partition count and the
        # compaction each needs: a send or a subscription to any other is an error, not a topic.
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{key}={value}\n" for key, value in properties.items())


def _address(host: str, port: int) -> str:
    """``host:port`` as a listener names it (an IPv6 address in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _cluster_id() -> str:
    """A random Kafka cluster id (URL-safe base64 UUID), never starting with '-' like an option."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
