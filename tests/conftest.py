"""Fixtures: the real local stack (started once if it is not running), isolated pipelines, and
the doors readings come in by (the HTTP ingest server and the MQTT gateway, and a device of
each).

Each integration test gets its own topic prefix, consumer group and InfluxDB database, so tests
never see each other's data, and a worker process that it can kill.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from aiohttp import test_utils, web
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from streams.ingest.devices import gateway_password
from streams.ingest.http_endpoint import build_app
from streams.settings import Settings
from streams.testing import isolated as isolated
from streams.worker import start_worker, stop_worker, worker_environment
from tests.logins import DeviceLogin, device_login, gateway_login, mqtt_client

_DEADLINE_MARGIN_SECONDS = 30.0
"""How long before pytest-timeout's limit an async test is cancelled where it waits."""


def _with_deadline(
    test: Callable[..., Coroutine[Any, Any, None]], seconds: float
) -> Callable[..., Coroutine[Any, Any, None]]:
    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> None:
        try:
            async with asyncio.timeout(seconds):
                await test(*args, **kwargs)
        except TimeoutError as exc:
            raise TimeoutError(
                f"still running after {seconds:g} s; cancelled where it waited (the traceback above)"
            ) from exc

    return run


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every async test a deadline inside its event loop, just before pytest-timeout's.

    pytest-timeout interrupts a hung test from a signal, whose traceback shows only the event loop
    waiting in ``select``; cancelling the test's task instead shows the ``await`` it hung on, and
    leaves the session's event loop usable for the tests after it.
    """
    for item in items:
        test = getattr(item, "obj", None)
        if isinstance(item, pytest.Function) and asyncio.iscoroutinefunction(test):
            marker = item.get_closest_marker("timeout")
            limit = float(marker.args[0] if marker and marker.args else config.getini("timeout"))
            item.obj = _with_deadline(test, max(limit - _DEADLINE_MARGIN_SECONDS, limit / 2))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test, for fixtures that report more when it failed."""
    report: pytest.TestReport = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def failed_report(request: pytest.FixtureRequest) -> pytest.TestReport | None:
    """The report of the phase (setup or call) in which the test of ``request`` failed, if it did."""
    return next((r for r in request.node.stash.get(_REPORTS, {}).values() if r.failed), None)


@pytest.fixture(scope="session")
def stack_settings(openlab_stack: Settings) -> Settings:
    """The local stack on the configured ports (see :func:`streams.testing.local_stack`)."""
    return openlab_stack


@pytest.fixture
def pipeline_settings(stack_settings: Settings) -> Settings:
    """Settings of a pipeline nobody else uses (see :func:`isolated`)."""
    return isolated(stack_settings)


WorkerFactory = Callable[[Settings], subprocess.Popen[bytes]]


_LOG_TAIL_LINES = 60


@pytest.fixture
def worker(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[WorkerFactory]:
    """Start worker processes; every one still running at the end is stopped. When the test
    failed, the end of each worker's log is shown with the failure."""
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []

    def start(settings: Settings) -> subprocess.Popen[bytes]:
        logs.append(tmp_path / f"worker-{len(processes)}.log")
        process = start_worker(settings, logs[-1])
        processes.append(process)
        return process

    yield start
    for process in processes:
        stop_worker(process)
    report = failed_report(request)
    if report is not None:
        for log in logs:
            lines = log.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
            report.sections.append((f"last {len(lines)} lines of {log.name}", "\n".join(lines)))


# The HTTP door: the ingest server, and a device's client of it.

Client = test_utils.TestClient[web.Request, web.Application]


@pytest.fixture
def device(pipeline_settings: Settings) -> Iterator[DeviceLogin]:
    """A device that may write every site of the city."""
    with device_login(pipeline_settings) as device:
        yield device


@pytest.fixture
async def client(pipeline_settings: Settings, device: DeviceLogin) -> AsyncIterator[Client]:
    """A client of the ingest server that shows ``device``'s token."""
    server = test_utils.TestServer(build_app(pipeline_settings))
    async with test_utils.TestClient(server, headers=device.authorization) as client:
        yield client


# The MQTT door: the gateway's settings and process, and a device that publishes.

Message = tuple[str, bytes]
"""An MQTT message: topic and payload."""
GatewayFactory = Callable[[], subprocess.Popen[bytes]]
Publish = Callable[[list[Message]], None]


@pytest.fixture
def mqtt_settings(pipeline_settings: Settings) -> Iterator[Settings]:
    """Pipeline settings with an MQTT topic prefix and a gateway login (client id) of their own."""
    run = pipeline_settings.topic_prefix.rstrip(".")
    settings = pipeline_settings.model_copy(
        update={"mqtt_topic_prefix": f"{run}/", "mqtt_client_id": f"openlab-gateway-{run}"}
    )
    with gateway_login(settings):
        yield settings
        forget_session(settings)


@pytest.fixture
def mqtt_device(mqtt_settings: Settings) -> Iterator[DeviceLogin]:
    """A device that may publish for every site of the city."""
    with device_login(mqtt_settings) as device:
        yield device


@pytest.fixture
def publish(mqtt_settings: Settings, mqtt_device: DeviceLogin) -> Publish:
    """Publish messages as :func:`mqtt_device`, the broker refusing none of them."""

    def publish(messages: list[Message]) -> None:
        answers = publish_messages(mqtt_settings, mqtt_device, messages)
        refused = [(index, answer) for index, answer in enumerate(answers) if answer.is_failure]
        assert refused == [], "the broker refused messages (by index) of the device"

    return publish


@pytest.fixture
def gateway(mqtt_settings: Settings, tmp_path: Path) -> Iterator[GatewayFactory]:
    """Start gateway processes (one at a time); one still running at the end is stopped."""
    processes: list[subprocess.Popen[bytes]] = []
    log_path = tmp_path / "gateway.log"

    def start() -> subprocess.Popen[bytes]:
        assert all(process.poll() is not None for process in processes), "one gateway at a time"
        subscribed_before = gateway_log(log_path).count("subscribed to ")
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "streams.ingest.mqtt_gateway"],
                env=worker_environment(mqtt_settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        processes.append(process)
        wait_for_gateway_log(log_path, "subscribed to ", subscribed_before + 1, process)
        return process

    yield start
    for process in processes:
        stop_gateway(process)


def publish_messages(settings: Settings, device: DeviceLogin, messages: list[Message]) -> list[ReasonCode]:
    """Publish ``messages`` in order with QoS 1 as ``device``; return, once the broker has
    answered each, its answers (the PUBACKs' reason codes) in the same order."""
    client = mqtt_client(device)
    answers: defaultdict[int, deque[ReasonCode]] = defaultdict(deque)

    def on_publish(
        _client: mqtt.Client, _userdata: object, mid: int, reason: ReasonCode, _props: object
    ) -> None:
        answers[mid].append(reason)  # a message id is used again only once its message is answered

    client.on_publish = on_publish
    client.max_inflight_messages_set(200)
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=60)
            assert info.is_published(), f"the broker did not acknowledge message {info.mid}"
    finally:
        client.disconnect()
        client.loop_stop()
    return [answers[info.mid].popleft() for info in infos]


def forget_session(settings: Settings) -> None:
    """Remove the gateway's session from the broker: connect clean, session expiry 0."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=settings.mqtt_client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(settings.mqtt_client_id, gateway_password(settings))
    connected = threading.Event()
    answers: list[ReasonCode] = []

    def on_connect(
        _client: mqtt.Client, _userdata: object, _flags: object, reason: ReasonCode, _props: object
    ) -> None:
        answers.append(reason)
        connected.set()

    client.on_connect = on_connect
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 0
    client.connect(settings.mqtt_host, settings.mqtt_port, clean_start=True, properties=properties)
    client.loop_start()
    try:
        assert connected.wait(10), "could not connect to remove the gateway's session"
        assert not answers[0].is_failure, f"the broker refused the gateway's login: {answers[0]}"
    finally:
        client.disconnect()
        client.loop_stop()


def gateway_log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def wait_for_gateway_log(path: Path, text: str, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while gateway_log(path).count(text) < count:
        assert process.poll() is None, f"the gateway exited:\n{gateway_log(path)[-3000:]}"
        assert time.monotonic() < deadline, f"no {text!r} in the gateway's log:\n{gateway_log(path)[-3000:]}"
        time.sleep(0.05)


def stop_gateway(process: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM, as an operator would; killed (and the test failed) if it does not stop in 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError("the gateway did not stop within 30 s of SIGTERM") from None
    return process.returncode
