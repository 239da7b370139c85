"""Operators acting on alarms: ``openlab alerts ack|clear ALARM_ID`` become commands on
``alerts.commands``, keyed by the alarm's sensor so they reach the worker that holds its state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from models.alarms import Alarm
from streams.kafka.publisher import Publisher
from streams.kafka.topics import TopicNames, read_values
from streams.settings import Settings


class OperatorCommand(BaseModel):
    """The value of ``alerts.commands``."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["acknowledge", "clear"]
    alarm_id: str
    sensor_id: str
    at: AwareDatetime
    by: str = ""


async def find_alarm(settings: Settings, alarm_id: str) -> Alarm | None:
    """The latest event of alarm ``alarm_id`` on ``alerts`` (None if there is none)."""
    latest = None
    for value in await read_values(settings, TopicNames.of(settings).alerts):
        if alarm_id.encode() in value:
            alarm = Alarm.model_validate_json(value)
            if alarm.alarm_id == alarm_id:
                latest = alarm
    return latest


async def command(
    settings: Settings, action: Literal["acknowledge", "clear"], alarm_id: str, by: str
) -> Alarm:
    """Send ``action`` on alarm ``alarm_id``; return the alarm it applies to (raises LookupError
    if no such alarm was ever raised)."""
    alarm = await find_alarm(settings, alarm_id)
    if alarm is None:
        raise LookupError(f"no alarm {alarm_id} on {TopicNames.of(settings).alerts}")
    order = OperatorCommand(
        action=action, alarm_id=alarm_id, sensor_id=alarm.sensor_id, at=datetime.now(UTC), by=by
    )
    publisher = Publisher(settings)
    try:
        await publisher.publish(
            TopicNames.of(settings).commands, [(alarm.sensor_id.encode(), order.model_dump_json().encode())]
        )
    finally:
        await publisher.stop()
    return alarm
