"""``openlab alerts subscribe`` on the real broker, logged in as the owner: every alarm event
reaches a webhook, signed, even when the subscriber is killed midway and started again."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from pathlib import Path

from streams.kafka.publisher import Publisher
from streams.owners.acls import grant, revoke
from streams.settings import Settings
from tests.feeding import wait_for
from tests.webhook import Receiver, subscriber


async def test_a_restarted_subscriber_delivers_every_alarm_event(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    settings = pipeline_settings
    owner = f"owner-s{uuid.uuid4().hex[:6]}"
    access = grant(settings, owner, "pw")
    events = [
        json.dumps(
            {"alarm_id": f"alarm-{n}", "sequence": 0, "site_id": "S1", "severity": "major", "state": "active"}
        ).encode()
        for n in range(40)
    ]
    publisher = Publisher(settings)
    try:
        await publisher.publish(access.topic, [(b"S1", value) for value in events])
    finally:
        await publisher.stop()

    receiver = Receiver(delay=0.05)
    try:
        async with receiver.serving():
            first = subscriber(settings, owner, "pw", receiver.url, tmp_path / "subscriber.log")

            async def some() -> bool:
                return len(receiver.received) >= 10

            await wait_for("the first deliveries", some, seconds=60)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            assert len(receiver.received) < len(events), "the kill must land midway"
            second = subscriber(settings, owner, "pw", receiver.url, tmp_path / "subscriber.log")

            async def every() -> bool:
                return len(receiver.received) == len(events)

            await wait_for("every alarm event at the webhook", every, seconds=60)
            await asyncio.sleep(1)
            second.send_signal(signal.SIGTERM)
            second.wait(10)
    finally:
        revoke(settings, owner)
    assert set(receiver.received) == {(f"alarm-{n}", 0) for n in range(40)}
    assert receiver.bad_signatures == 0
    # At-least-once: only an event in flight at the kill may come twice, with its own id.
    duplicates = receiver.duplicates()
    assert len(duplicates) <= 1 and set(duplicates.values()) <= {2}
