"""The default detector for sensors of unknown kind (transition_likelihood) on made-up sensors."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from models.detectors.registry import DEFAULT_DETECTOR, DETECTORS, transition_likelihood

START = datetime(2026, 11, 30, tzinfo=UTC)


def cycle(count: int, seed: int = 4) -> list[float]:
    """A daily cycle of 288 five-minute readings with noise."""
    rng = random.Random(seed)
    return [50.0 + 20.0 * math.sin(2.0 * math.pi * i / 288.0) + rng.gauss(0.0, 1.0) for i in range(count)]


def flags(values: list[float]) -> list[int]:
    """The readings a fresh default detector flags."""
    detector = DETECTORS[DEFAULT_DETECTOR]()
    verdicts = [detector.observe(value, START + timedelta(minutes=5 * i)) for i, value in enumerate(values)]
    return [i for i, verdict in enumerate(verdicts) if verdict.anomalous]


def test_the_default_is_transition_likelihood() -> None:
    assert DETECTORS[DEFAULT_DETECTOR]().label == transition_likelihood().label == "transition_likelihood@5"


def test_a_usual_cycle_raises_nothing_after_the_warm_up() -> None:
    assert flags(cycle(288 * 10)) == []


def test_a_level_shift_raises_one_alarm_soon_then_rests() -> None:
    values = cycle(288 * 8)
    shift = 288 * 6
    values[shift:] = [value + 60.0 for value in values[shift:]]
    flagged = flags(values)
    assert flagged and shift <= flagged[0] <= shift + 5
    # The rest: nothing in the next 75 readings, however new the level stays.
    assert [i for i in flagged if flagged[0] < i <= flagged[0] + 75] == []


def test_a_spike_is_caught() -> None:
    values = cycle(288 * 8)
    values[288 * 7] = 200.0
    assert 288 * 7 in flags(values)
