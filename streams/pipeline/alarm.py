"""The alarm step: each scored reading moves its sensor's alarm state machine, and operators'
commands acknowledge or clear alarms. Its outputs: alarm events on ``alerts`` (which
:mod:`~streams.pipeline.router` copies to the owners' topics), ``alarm`` points, a
``sensor_status`` point whenever a sensor's status changes, and what an alarm tells the other
sensors of its site on ``alerts.neighbours`` (which the worker holding each one reads)."""

from __future__ import annotations

from collections.abc import Sequence

from models.alarms import Alarm, AlarmChange
from models.alarms.neighbours import SpeedFell, told_by
from models.scoring import ScoredReading
from sensors.cleaning import Reason, Rejection, parse
from sensors.measurements import STATUS_CODES
from sensors.sites import SiteRegistry
from streams.kafka.topics import TopicNames
from streams.metrics import PipelineCounters
from streams.owners.operators import OperatorCommand
from streams.pipeline.state import SensorStates
from streams.runtime.batch import Event, Outputs, Points
from streams.sinks.influx import alarm_line, status_line

ALARM_STAGE = "alarm"
OPERATOR_STAGE = "operator"
NEIGHBOURS_STAGE = "neighbours"


class AlarmStep:
    """Raises, escalates and clears the alarms of a batch's scored readings and commands."""

    def __init__(
        self, states: SensorStates, registry: SiteRegistry, counters: PipelineCounters, names: TopicNames
    ) -> None:
        self.states = states
        self.registry = registry
        self.counters = counters
        self.names = names

    def __call__(self, scored: Sequence[tuple[Event, ScoredReading, bytes]], out: Outputs) -> None:
        for event, reading, original in scored:
            site = self.registry.site(reading.site_id)
            if site is None:
                continue  # cleaning lets no reading of an unknown site through
            state = self.states.alarms_of(reading.sensor_id, event.partition)
            before = None if state.latest is None else state.status
            alarms = state.observe(reading, site)
            lines = [self._publish(alarm, out) for alarm in alarms]
            opened = any(alarm.change is AlarmChange.OPENED for alarm in alarms)
            for told in told_by(reading, state.active, state.streak, opened, site):
                out.records[self.names.neighbours].append(
                    (told.sensor_id.encode(), told.model_dump_json().encode())
                )
            if state.status != before:
                fields: dict[str, int | str] = {"code": STATUS_CODES[state.status], "status": state.status}
                lines.append(status_line(reading.sensor_id, reading.kind, site, reading.observed_at, fields))
            if lines:
                out.points.append(Points(event, ALARM_STAGE, original, lines))

    def neighbours(self, events: Sequence[Event], out: Outputs) -> None:
        """Tell the sensors of ``alerts.neighbours`` what an alarm at their site said."""
        for event in events:
            told = parse(SpeedFell, event.value)
            if isinstance(told, Rejection):
                out.reject(event, told, NEIGHBOURS_STAGE)
                continue
            self.states.alarms_of(told.sensor_id, event.partition).speed_fell(told.at)

    def command(self, events: Sequence[Event], out: Outputs) -> None:
        """Apply operators' commands (``alerts.commands``) to the alarms they name."""
        for event in events:
            command = parse(OperatorCommand, event.value)
            if isinstance(command, Rejection):
                out.reject(event, command, OPERATOR_STAGE)
                continue
            state = self.states.alarms_of(command.sensor_id, event.partition)
            act = state.acknowledge if command.action == "acknowledge" else state.clear
            alarm = act(command.alarm_id, command.at)
            if alarm is None:
                detail = f"sensor {command.sensor_id} has no alarm {command.alarm_id} to {command.action}"
                out.reject(event, Rejection(Reason.SCHEMA, detail), OPERATOR_STAGE)
                continue
            out.points.append(Points(event, OPERATOR_STAGE, event.value or b"", [self._publish(alarm, out)]))

    def _publish(self, alarm: Alarm, out: Outputs) -> str:
        return publish_alarm(alarm, out, self.names, self.counters, ALARM_STAGE)


def publish_alarm(
    alarm: Alarm, out: Outputs, names: TopicNames, counters: PipelineCounters, stage: str
) -> str:
    """Put ``alarm`` on ``alerts`` (the alert router copies it to its owner's topic), counted as
    ``stage``'s; return its point."""
    out.records[names.alerts].append((alarm.site_id.encode(), alarm.model_dump_json().encode()))
    counters.count(stage, alarm.change.value, alarm.severity.value)
    return alarm_line(alarm)
