"""``openlab alerts subscribe`` on the real broker, logged in as the owner: every alarm event
reaches a webhook, signed, even when the subscriber is killed midway and started again."""

from __future__ import annotations

import asyncio
import hmac
import json
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

from aiohttp import web

from streams.owners import grant, revoke
from streams.publisher import Publisher
from streams.settings import Settings
from streams.subscriber import SIGNATURE_HEADER, sign
from streams.worker import worker_environment
from tests.feeding import wait_for

SECRET = "webhook-secret"


class Receiver:
    """A webhook that takes its time, checks signatures and counts what it got."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.bad_signatures = 0

    async def take(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not hmac.compare_digest(request.headers.get(SIGNATURE_HEADER, ""), sign(body, SECRET)):
            self.bad_signatures += 1
            return web.Response(status=401)
        await asyncio.sleep(0.05)
        self.received[json.loads(body)["alarm_id"]] += 1
        return web.Response(status=204)


def subscriber(settings: Settings, owner: str, password: str, url: str, log: Path) -> subprocess.Popen[bytes]:
    environment = worker_environment(
        settings.model_copy(update={"owner_id": owner, "owner_password": password, "webhook_secret": SECRET})
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streams", "alerts", "subscribe", "--webhook", url, "--name", "hook"],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_a_restarted_subscriber_delivers_every_alarm_event(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    settings = pipeline_settings
    owner = f"owner-s{uuid.uuid4().hex[:6]}"
    access = grant(settings, owner, "pw")
    events = [
        json.dumps(
            {"alarm_id": f"alarm-{n}", "site_id": "S1", "severity": "major", "state": "active"}
        ).encode()
        for n in range(40)
    ]
    publisher = Publisher(settings)
    try:
        await publisher.publish(access.topic, [(b"S1", value) for value in events])
    finally:
        await publisher.stop()

    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.take)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/hook"
    try:
        first = subscriber(settings, owner, "pw", url, tmp_path / "subscriber.log")

        async def some() -> bool:
            return sum(receiver.received.values()) >= 10

        await wait_for("the first deliveries", some, seconds=60)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        delivered_before = len(receiver.received)
        assert delivered_before < len(events), "the kill must land midway"
        second = subscriber(settings, owner, "pw", url, tmp_path / "subscriber.log")

        async def every() -> bool:
            return len(receiver.received) == len(events)

        await wait_for("every alarm event at the webhook", every, seconds=60)
        await asyncio.sleep(1)
        second.send_signal(signal.SIGTERM)
        second.wait(10)
    finally:
        await runner.cleanup()
        revoke(settings, owner)
    assert set(receiver.received) == {f"alarm-{n}" for n in range(40)}
    assert receiver.bad_signatures == 0
    # At-least-once: only an event in flight at the kill may come twice, with its own id.
    repeated = [alarm for alarm, n in receiver.received.items() if n > 1]
    assert len(repeated) <= 1 and all(receiver.received[a] == 2 for a in repeated)
