"""CPU per reading of a named detector's ``observe`` (score, explain, learn), alone, on one made-up sensor.

The sensor reports every minute a daily cycle with noise and an occasional spike, for ``readings``
readings; the detector's warm-up (``warmup`` readings of the same signal) is not timed. The time is
the process's CPU time, so other load on the machine slows the figure less than the wall clock would.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from models.detectors.detector import SensorDetector

START = datetime(2026, 11, 30, tzinfo=UTC)


def signal(readings: int, seed: int = 1) -> list[tuple[float, datetime]]:
    """A minute-by-minute daily cycle with noise, and a spike about every two thousand readings."""
    rng = random.Random(seed)
    values = []
    for minute in range(readings):
        value = 50.0 + 20.0 * math.sin(2.0 * math.pi * minute / 1440.0) + rng.gauss(0.0, 2.0)
        if rng.random() < 0.0005:
            value += 40.0
        values.append((value, START + timedelta(minutes=minute)))
    return values


def micros_per_reading(factory: Callable[[], SensorDetector], readings: int, warmup: int) -> float:
    """CPU microseconds per reading of a fresh detector's ``observe``, after ``warmup`` readings."""
    stream = signal(warmup + readings)
    detector = factory()
    observe = detector.observe
    for value, at in stream[:warmup]:
        observe(value, at)
    started = time.process_time()
    for value, at in stream[warmup:]:
        observe(value, at)
    return 1e6 * (time.process_time() - started) / readings
