"""The processes the chaos run starts and hits: workers, the MQTT gateway, and the MQTT devices
that publish through the gateway.

Workers and the gateway are child processes with their logs in the run's folder; a kill is a
SIGKILL (no shutdown, as a crash), a stop a SIGTERM (as an operator's), a freeze a SIGSTOP (a
process that stalls, as under a long garbage collection or a paused VM) until its SIGCONT. The devices are one
MQTT client in this process publishing the readings of the sites they own with QoS 1.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sensors.sites import SiteRegistry
from streams.ingest.feed import Event
from streams.ingest.mqtt_gateway import TOPIC_ROOT
from streams.settings import Settings
from streams.worker import start_worker, stop_worker, worker_environment

SLOW_STOP_SECONDS = 10.0
STOP_SECONDS = 30.0
PUBLISH_TIMEOUT_SECONDS = 60.0
"""How long the devices wait for the broker to acknowledge a message before the run fails."""


class Cast:
    """The run's workers (one consumer group) and its MQTT gateway."""

    def __init__(self, settings: Settings, folder: Path) -> None:
        self.settings = settings
        self.folder = folder
        self.workers: list[subprocess.Popen[bytes]] = []
        self.gateway: subprocess.Popen[bytes] | None = None
        self._started = 0

    def add_worker(self) -> subprocess.Popen[bytes]:
        """Start one more worker (its log: ``worker-<n>.log``)."""
        process = start_worker(self.settings, self.folder / f"worker-{self._started}.log")
        self._started += 1
        self.workers.append(process)
        return process

    def kill_worker(self, index: int) -> None:
        """SIGKILL the worker at ``index``; it leaves the list."""
        process = self.workers.pop(index)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def freeze_worker(self, index: int) -> subprocess.Popen[bytes]:
        """SIGSTOP the worker at ``index``; it stays in the list, silent, until :meth:`thaw`."""
        process = self.workers[index]
        process.send_signal(signal.SIGSTOP)
        return process

    @staticmethod
    def thaw(process: subprocess.Popen[bytes]) -> None:
        """SIGCONT a frozen worker: it goes on where it stopped, with the batch it had in hand."""
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)

    async def remove_worker(self, index: int) -> int:
        """Stop the worker at ``index`` (SIGTERM, as an operator); its exit status. One that is
        still running after ``SLOW_STOP_SECONDS`` is asked (SIGUSR1) to write the stack of each
        of its tasks to its log, for a post-mortem, and killed after ``STOP_SECONDS``."""
        process = self.workers.pop(index)
        process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(process.wait, SLOW_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGUSR1)
        return await asyncio.to_thread(stop_worker, process, STOP_SECONDS - SLOW_STOP_SECONDS)

    def start_gateway(self) -> None:
        """Start the MQTT gateway (its log: ``gateway.log``)."""
        with (self.folder / "gateway.log").open("ab") as log:
            self.gateway = subprocess.Popen(
                [sys.executable, "-m", "streams.ingest.mqtt_gateway"],
                env=worker_environment(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def kill_gateway(self) -> None:
        if self.gateway is not None:
            self.gateway.send_signal(signal.SIGKILL)
            self.gateway.wait()

    def crashed(self) -> list[str]:
        """The processes that exited on their own (a worker or the gateway that crashed)."""
        processes = [(f"worker pid {p.pid}", p) for p in self.workers]
        if self.gateway is not None:
            processes.append(("gateway", self.gateway))
        return [f"{name} exited with {p.returncode}" for name, p in processes if p.poll() is not None]

    async def stop(self) -> None:
        """Stop every process still running (SIGTERM; a frozen worker is thawed first to hear it)."""
        processes = [*self.workers, *([self.gateway] if self.gateway else [])]
        for process in self.workers:
            self.thaw(process)
        await asyncio.gather(*(asyncio.to_thread(stop_worker, p) for p in processes))
        self.workers.clear()


class MqttDevices:
    """The sensors of some sites, publishing their readings over MQTT (QoS 1) as a field gateway
    does, logged in as device ``login``; :func:`streams.ingest.feed.feed_city` hands them their
    readings (``Devices``)."""

    def __init__(
        self, settings: Settings, registry: SiteRegistry, site_ids: Iterable[str], login: str, secret: str
    ) -> None:
        self.site_ids = sorted(set(site_ids))
        root = f"{settings.mqtt_topic_prefix}{TOPIC_ROOT}"
        self._topic_of = {
            sensor.sensor_id.encode(): f"{root}/{site.site_id}/{sensor.sensor_id}"
            for site in registry.sites
            if site.site_id in self.site_ids
            for sensor in site.sensors
        }
        self.sent = 0
        """Readings the broker acknowledged."""
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"openlab-chaos-devices-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv5,
        )
        self._client.username_pw_set(login, secret)
        self._client.max_inflight_messages_set(1000)
        self._settings = settings

    def connect(self) -> None:
        self._client.connect(self._settings.mqtt_host, self._settings.mqtt_port)
        self._client.loop_start()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def reports(self, key: bytes) -> bool:
        return key in self._topic_of

    async def send(self, events: list[Event]) -> None:
        infos = [self._client.publish(self._topic_of[key], value, qos=1) for key, value in events]
        await asyncio.to_thread(_acknowledged, infos)
        self.sent += len(infos)


def _acknowledged(infos: list[mqtt.MQTTMessageInfo]) -> None:
    for info in infos:
        info.wait_for_publish(timeout=PUBLISH_TIMEOUT_SECONDS)
        if not info.is_published():
            raise TimeoutError(f"the MQTT broker did not acknowledge message {info.mid}")
