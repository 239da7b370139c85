"""Per-event cost of each pure stage, in microseconds, on the simulated city's events."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from models.scoring import SensorDetector, detector_for, score_reading
from sensors.cleaning import Cleaner, Rejection
from sensors.health import HealthRules, SensorState
from sensors.reading import Reading
from sensors.simulator import CitySimulator
from sensors.sites import SiteRegistry
from streams.influx import reading_line


def _per_event(work: Callable[[], int]) -> float:
    started = time.perf_counter()
    count = work()
    return (time.perf_counter() - started) / count * 1e6


def stage_costs(registry: SiteRegistry, ticks: int) -> dict[str, float]:
    """Microseconds per event of validation alone, cleaning, sensor health, scoring and line protocol."""
    now = datetime.now(UTC)
    simulator = CitySimulator(registry)
    events = [
        value
        for minute in range(ticks, 0, -1)
        for _, value in simulator.tick(now - timedelta(minutes=minute))
    ]
    cleaner = Cleaner(registry)
    readings = [r for r in (cleaner.clean(v, now) for v in events) if not isinstance(r, Rejection)]
    detectors: dict[str, SensorDetector] = {}
    scored = []

    def validate() -> int:
        for value in events:
            Reading.model_validate_json(value)
        return len(events)

    def clean() -> int:
        for value in events:
            cleaner.clean(value, now)
        return len(events)

    def health() -> int:
        rules = HealthRules()
        states: dict[str, SensorState] = {}
        for offset, reading in enumerate(readings):
            state = states.get(reading.sensor_id)
            if state is None:
                state = states[reading.sensor_id] = SensorState.of(reading, 0)
            state.admit(reading, offset, rules)
        # Each batch writes the state of every sensor it touched to the table's changelog.
        for state in states.values():
            json.dumps(state.to_dict())
        return len(readings)

    def score() -> int:
        for reading in readings:
            detector = detectors.get(reading.sensor_id)
            if detector is None:
                detector = detectors[reading.sensor_id] = detector_for(reading.kind)
            scored.append(score_reading(detector, reading))
        return len(readings)

    def line() -> int:
        for item in scored:
            reading_line(item, registry)
        return len(scored)

    return {
        "pydantic validation alone": _per_event(validate),
        "cleaning (validation + rules)": _per_event(clean),
        "sensor health (dedup, lateness, gaps, flatline)": _per_event(health),
        "scoring (detector + ScoredReading)": _per_event(score),
        "InfluxDB line protocol": _per_event(line),
    }
