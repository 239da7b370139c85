"""Kafka locked down, on the real broker: who reaches which listener, and what a login may do there.

The local stack's PLAINTEXT and CONTROLLER listeners take anyone as a super user, so they listen on
the loopback address only; the SASL listener takes logins only. A site owner, who reaches the SASL
listener alone, reads its own alarm topic there and nothing else; the pipeline's own clients work
there with the login the stack made.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from confluent_kafka import KafkaError
from pydantic import SecretStr

from streams import stack
from streams.cli.root import main
from streams.kafka.groups import consumer_lag
from streams.owners.acls import OwnerAccess, grant
from streams.settings import Settings
from streams.sinks.influx import count_points
from streams.stack.kafka import login_file, register_login
from streams.stack.procs import port_open
from tests.conftest import WorkerFactory, isolated
from tests.feeding import city_events, produce, wait_for
from tests.integration.owners.test_owners import publish, read_as

pytestmark = pytest.mark.services

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def listening_addresses(port: int) -> set[IPAddress]:
    """The addresses the kernel has a TCP socket listening on ``port`` at (/proc/net/tcp, tcp6)."""
    found: set[IPAddress] = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        for row in table.read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            hex_address, _, port_hex = local.partition(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(hex_address)
                # The kernel prints each 32-bit word of the address in its own byte order.
                if sys.byteorder == "little":
                    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                address = ipaddress.ip_address(raw)
                # Java listens on IPv6 sockets: an IPv4 address shows as ::ffff:a.b.c.d.
                mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
                found.add(mapped or address)
    return found


def this_machines_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.254", 9))
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


def free_ports(count: int) -> list[int]:
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_the_listeners_without_login_listen_on_loopback_only(stack_settings: Settings) -> None:
    settings = stack_settings
    for port in (settings.kafka_port, settings.kafka_controller_port):
        bound = listening_addresses(port)
        assert bound and all(address.is_loopback for address in bound), (port, bound)
    assert listening_addresses(settings.kafka_sasl_port) == {ipaddress.ip_address(settings.kafka_sasl_host)}
    outside = this_machines_address()
    if outside is not None:  # and from this machine's own address, nothing answers there
        assert not port_open(outside, settings.kafka_port)
        assert not port_open(outside, settings.kafka_controller_port)


@pytest.fixture
def kafka_for_the_city(tmp_path: Path) -> Iterator[Settings]:
    """A Kafka of its own whose SASL listener is on this machine's network address, as one that
    site owners on other machines reach; stopped and wiped afterwards."""
    outside = this_machines_address()
    if outside is None:
        pytest.skip("this machine has no address but loopback for other machines to reach")
    plaintext, controller, sasl = free_ports(3)
    settings = Settings(
        kafka_port=plaintext,
        kafka_controller_port=controller,
        kafka_sasl_host=outside,
        kafka_sasl_port=sasl,
        kafka_password=SecretStr(""),
        partitions=1,
        stack_dir=tmp_path / "stack",
    )
    try:
        stack.start_service(settings, "kafka")
        yield settings
    finally:
        stack.down(settings, wipe=True)


def test_an_owner_reaches_the_sasl_listener_only_and_reads_its_own_topic_only(
    kafka_for_the_city: Settings,
) -> None:
    settings = kafka_for_the_city
    run = uuid.uuid4().hex[:6]
    a, b = f"owner-a{run}", f"owner-b{run}"
    access_a = grant(settings, a, "secret-a")
    access_b = grant(settings, b, "secret-b")
    publish(settings, access_a.topic, b"alarm of A")
    publish(settings, access_b.topic, b"alarm of B")
    outside = settings.kafka_sasl_host
    assert access_a.bootstrap_servers == f"{outside}:{settings.kafka_sasl_port}"  # what grant tells

    # From the network: the SASL listener answers, the listeners without login do not.
    assert port_open(outside, settings.kafka_sasl_port)
    assert not port_open(outside, settings.kafka_port)
    assert not port_open(outside, settings.kafka_controller_port)

    assert read_as(settings, a, "secret-a", access_a.topic).values == [b"alarm of A"]
    refused = read_as(settings, a, "secret-a", access_b.topic)
    assert refused.values == [] and KafkaError.TOPIC_AUTHORIZATION_FAILED in refused.codes()
    anonymous = read_as(settings, None, "", access_b.topic, seconds=10)
    assert anonymous.values == [] and anonymous.errors
    # Nor does the owner's login open the loopback PLAINTEXT listener, from the broker's machine.
    plaintext = f"127.0.0.1:{settings.kafka_port}"
    wrong_door = read_as(settings, a, "secret-a", access_b.topic, seconds=10, bootstrap=plaintext)
    assert wrong_door.values == [] and wrong_door.errors


@pytest.fixture
def logged_in_pipeline(stack_settings: Settings) -> Settings:
    """Settings of a pipeline of its own (see ``isolated``) whose clients log in with the stack's
    login on its SASL listener: there, a client that did not log in is refused."""
    login = register_login(stack_settings)
    return isolated(
        stack_settings,
        kafka_host=stack_settings.kafka_sasl_host,
        kafka_port=stack_settings.kafka_sasl_port,
        kafka_user=login.user,
        kafka_password=SecretStr(login.password),
    )


async def test_the_pipeline_works_through_its_login_on_the_sasl_listener(
    logged_in_pipeline: Settings, worker: WorkerFactory
) -> None:
    # Topics and database created (by the fixture), readings fed, cleaned, written and committed,
    # an owner granted: every client logs in.
    settings = logged_in_pipeline
    worker(settings)
    await produce(settings, city_events(settings, 200, datetime.now(UTC) - timedelta(hours=1)))

    async def written() -> bool:
        return await count_points(settings) == 200

    await wait_for("200 points written", written)

    async def committed() -> bool:
        return await consumer_lag(settings, settings.app_id, (settings.topic("readings.raw"),)) == 0

    await wait_for("the readings committed", committed)
    owner = f"owner-p{uuid.uuid4().hex[:6]}"
    access = grant(settings, owner, "secret-p")
    publish(settings, access.topic, b"alarm")
    assert read_as(settings, owner, "secret-p", access.topic).values == [b"alarm"]
    assert OwnerAccess.of(settings, owner).bootstrap_servers == settings.bootstrap_servers


def test_the_pipeline_login_is_kept_private(stack_settings: Settings) -> None:
    login = register_login(stack_settings)
    path = login_file(stack_settings)
    assert path.stat().st_mode & 0o777 == 0o600
    shown = CliRunner().invoke(main, ["stack", "credentials"], env=stack_settings.as_environment())
    assert shown.exit_code == 0, shown.output
    assert str(path) in shown.output and login.user in shown.output
    assert login.password not in shown.output
    run_dir = stack_settings.run_dir
    written = [*run_dir.glob("*.log"), *run_dir.glob("*/*.properties")]
    assert written and all(login.password not in f.read_text(errors="replace") for f in written)


def test_the_pipeline_login_can_be_kept_for_docker_compose(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("GRAFANA_ADMIN_PASSWORD=kept\n")
    first = CliRunner().invoke(main, ["stack", "credentials", "--env-file", str(env_file)])
    assert first.exit_code == 0, first.output
    lines = env_file.read_text().splitlines()
    assert lines[0] == "GRAFANA_ADMIN_PASSWORD=kept"
    (password,) = [line.split("=", 1)[1] for line in lines if line.startswith("OPENLAB_KAFKA_PASSWORD=")]
    assert len(password) >= 32 and password not in first.output
    assert env_file.stat().st_mode & 0o777 == 0o600
    again = CliRunner().invoke(main, ["stack", "credentials", "--env-file", str(env_file)])
    assert again.exit_code == 0 and env_file.read_text().splitlines() == lines


def test_the_stack_refuses_a_plaintext_listener_off_loopback(tmp_path: Path) -> None:
    plaintext, controller, sasl = free_ports(3)
    for host in ("0.0.0.0", *filter(None, [this_machines_address()])):
        settings = Settings(
            kafka_host=host,
            kafka_port=plaintext,
            kafka_controller_port=controller,
            kafka_sasl_port=sasl,
            stack_dir=tmp_path / host,
        )
        with pytest.raises(stack.StackError, match=rf"OPENLAB_KAFKA_HOST={host} is not a loopback address"):
            stack.up(settings)
        assert not stack.status(settings)["kafka"].running
        assert not port_open("127.0.0.1", plaintext)


def test_docker_compose_lets_no_client_in_without_a_login_from_outside_kafkas_container() -> None:
    """docker-compose.yml cannot run where this is developed: what keeps it locked is read here."""
    compose = (Path(__file__).parents[3] / "docker-compose.yml").read_text()
    block = compose.split("\nservices:\n", 1)[1].split("\nvolumes:\n", 1)[0]
    names_and_bodies = re.split(r"^  ([a-z][a-z0-9-]*):\n", block, flags=re.MULTILINE)[1:]
    services = dict(zip(names_and_bodies[::2], names_and_bodies[1::2], strict=True))

    def setting(body: str, name: str) -> str:
        found = re.search(rf"^ +{name}: (.+)$", body, flags=re.MULTILINE)
        assert found, name
        return found.group(1).strip('"')

    kafka = services["kafka"]
    listeners = dict(item.split("://") for item in setting(kafka, "KAFKA_LISTENERS").split(","))
    protocols = dict(
        item.split(":") for item in setting(kafka, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP").split(",")
    )
    assert set(protocols.values()) == {"PLAINTEXT", "SASL_PLAINTEXT"}
    for name, address in listeners.items():
        # The only listeners without a login, where ANONYMOUS is a super user, are the container's own.
        assert protocols[name] == "SASL_PLAINTEXT" or address.startswith("127.0.0.1:"), name
    assert "User:ANONYMOUS" in setting(kafka, "KAFKA_SUPER_USERS")
    assert setting(kafka, "KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND") == "false"
    # One port published to the host: a SASL listener's.
    (published,) = re.findall(r'^ +- "(.+)"$', kafka.split("ports:", 1)[1].split("environment:", 1)[0], re.M)
    container_port = published.rsplit(":", 1)[1]
    (owners,) = [name for name, address in listeners.items() if address.endswith(f":{container_port}")]
    assert protocols[owners] == "SASL_PLAINTEXT"
    local = listeners[setting(kafka, "KAFKA_INTER_BROKER_LISTENER_NAME")]
    for name, body in services.items():
        if local in body and name != "kafka":  # from inside Kafka's own network only
            assert 'network_mode: "service:kafka"' in body, name

    # The pipeline's containers log in, on a SASL listener.
    login = compose.split("x-kafka-login: &kafka-login\n", 1)[1].split("\n\n", 1)[0]
    internal_port = setting(login, "OPENLAB_KAFKA_PORT")
    (internal,) = [name for name, address in listeners.items() if address.endswith(f":{internal_port}")]
    assert protocols[internal] == "SASL_PLAINTEXT"
    assert setting(login, "OPENLAB_KAFKA_PASSWORD").startswith("${OPENLAB_KAFKA_PASSWORD:?")
    clients = [name for name in ("worker", "gateway", "ingest", "simulator") if name in services]
    assert {"worker", "simulator"} <= set(clients)
    assert all("*kafka-login" in services[name] for name in clients), clients
    # None of openlab's containers reaches Kafka otherwise (init-topics, in Kafka's network, makes
    # the login).
    built = [body for body in services.values() if re.search(r"^    build: \.$", body, re.M)]
    assert not any(re.search(r"OPENLAB_KAFKA_(HOST|PORT|PASSWORD):", body) for body in built)
