"""The clean step: each raw event validated (schema, its record keyed by its sensor, then the
city's rules), then judged by its sensor's recent history (duplicates, lateness, gaps,
flatlines); silent sensors found stale.

Its outputs: ``readings.clean`` (the readings that passed, unit-converted and flagged),
``quality`` and the ``sensor_health`` points (health episodes), and the dead letters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from sensors.cleaning import Cleaner, Rejection, keyed_by_its_sensor
from sensors.health import HealthEvent, HealthRules
from sensors.measurements import CLEAN_STAGE
from sensors.reading import Reading
from sensors.sites import SiteRegistry
from streams.metrics import PipelineCounters
from streams.pipeline.state import SensorStates
from streams.runtime.batch import Event, Outputs, Points
from streams.sinks.influx import health_lines

_DAWN = datetime.min.replace(tzinfo=UTC)


class CleanStep:
    """Cleans the raw events of a batch; returns the readings that passed, with their events."""

    def __init__(
        self,
        cleaner: Cleaner,
        rules: HealthRules,
        states: SensorStates,
        counters: PipelineCounters,
        topics: tuple[str, str],
    ) -> None:
        self.cleaner = cleaner
        self.registry: SiteRegistry = cleaner.registry
        self.rules = rules
        self.states = states
        self.counters = counters
        self.clean_topic, self.quality_topic = topics
        self.clocks: dict[int, datetime] = {}
        """The latest event time each partition has reached (for finding silent sensors)."""

    def __call__(self, events: Sequence[Event], now: datetime, out: Outputs) -> list[tuple[Event, Reading]]:
        passed: list[tuple[Event, Reading]] = []
        health: list[tuple[Event, HealthEvent]] = []
        advanced: dict[int, Event] = {}
        outcomes: Counter[str] = Counter()
        clean = out.records[self.clean_topic]
        for event in events:
            result = self.cleaner.clean(event.value, now)
            if isinstance(result, Reading):
                result = keyed_by_its_sensor(result, event.key)
            if isinstance(result, Reading):
                partition = event.partition
                admission = self.states.health_of(result, partition).admit(result, event.offset, self.rules)
                if admission.outcome == "accepted" and result.observed_at > self.clocks.get(partition, _DAWN):
                    self.clocks[partition] = result.observed_at
                    advanced[partition] = event
                if admission.events:
                    health.extend((event, item) for item in admission.events)
                result = admission.reading
                outcomes[admission.outcome] += 1
            if isinstance(result, Rejection):
                out.reject(event, result, CLEAN_STAGE)
            else:
                passed.append((event, result))
                clean.append((event.key, result.model_dump_json().encode()))
        for state in self.states.in_partitions(set(advanced)):
            stale = state.check_stale(self.clocks[state.partition], self.rules)
            if stale is not None:
                self.states.mark_changed(state)
                health.append((advanced[state.partition], stale))
        quality = out.records[self.quality_topic]
        for event, item in health:
            value = item.model_dump_json().encode()
            quality.append((item.sensor_id.encode(), value))
            out.points.append(Points(event, "health", value, health_lines(item, self.registry)))
            self.counters.count_health(item.problem.value, item.status)
        for outcome in ("accepted", "out_of_order", "replayed"):
            self.counters.count(CLEAN_STAGE, outcome, n=outcomes[outcome])
        return passed
