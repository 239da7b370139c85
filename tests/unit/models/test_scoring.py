"""Scoring: per-kind detectors, warm-up, spikes, expected ranges, explanations and deterministic verdicts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from models.scoring import ScoredReading, SensorDetector, Verdict, detector_for, score_reading
from sensors.catalog import KINDS
from sensors.reading import Reading

AT = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)


def steady(kind: str, count: int, seed: int = 3) -> list[tuple[float, datetime]]:
    """Noisy values around the kind's baseline at its cadence, as a working sensor on a quiet day sends."""
    spec = KINDS[kind]
    level = spec.baseline if spec.baseline > 0 else abs(spec.daily_swing)
    rng = random.Random(seed)
    step = timedelta(seconds=spec.interval_seconds)
    return [(level + rng.gauss(0.0, spec.noise), AT + i * step) for i in range(count)]


def warm(kind: str) -> tuple[SensorDetector, float, datetime]:
    """A detector past its warm-up on steady values, their mean, and the moment after the last."""
    detector = detector_for(kind)
    values = steady(kind, detector.warmup + 50)
    for value, at in values:
        detector.observe(value, at)
    step = timedelta(seconds=KINDS[kind].interval_seconds)
    return detector, sum(v for v, _ in values) / len(values), values[-1][1] + step


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_gets_a_working_detector(kind: str) -> None:
    detector, level, at = warm(kind)
    assert isinstance(detector, SensorDetector)
    assert 0.0 < detector.threshold < 1.0
    calm = detector.observe(level, at)
    assert not calm.anomalous
    assert not calm.warming_up
    assert calm.expected_low < level < calm.expected_high
    spec = KINDS[kind]
    step = timedelta(seconds=spec.interval_seconds)
    if spec.intermittent:
        # Any jump the range allows is a normal start of a session: running at the top of the range for
        # a few readings is not.
        spikes = [detector.observe(spec.high, at + i * step) for i in range(1, 6)]
        assert not spikes[0].anomalous
        spike, strange = spikes[-1], spec.high
    else:
        strange = level + 50 * spec.noise
        spike = detector.observe(strange, at + step)
    assert spike.anomalous
    assert spike.probability >= spike.threshold
    if spec.intermittent:  # the expected range no longer collapses onto the idle value
        assert spike.expected_low < spec.low < spec.high < spike.expected_high
    else:
        assert spike.expected_high < strange


def test_a_detector_learns_but_does_not_alert_while_warming_up() -> None:
    detector = detector_for("humidity")
    verdicts = [detector.observe(value, at) for value, at in steady("humidity", detector.warmup)]
    verdicts.append(detector.observe(1000.0, AT + timedelta(days=2)))
    assert all(verdict.warming_up for verdict in verdicts[:-1])
    assert not any(verdict.anomalous for verdict in verdicts[:-1])
    assert not verdicts[-1].warming_up
    assert verdicts[-1].anomalous
    assert detector.n_seen == detector.warmup + 1


def test_every_detector_is_fresh() -> None:
    first, second = detector_for("temperature"), detector_for("temperature")
    assert first is not second
    first.observe(14.0, AT)
    assert first.n_seen == 1
    assert second.n_seen == 0


def test_weekly_kinds_keep_weekends_apart() -> None:
    assert detector_for("traffic_flow").model.profile.weekends  # type: ignore[attr-defined]
    assert not detector_for("temperature").model.profile.weekends  # type: ignore[attr-defined]


def test_a_large_drop_is_anomalous_too() -> None:
    detector, level, at = warm("grid_load")
    drop = detector.observe(level - 40 * KINDS["grid_load"].noise, at)
    assert drop.anomalous
    assert drop.expected_low > level - 40 * KINDS["grid_load"].noise


def reading(value: float, seq: int = 1) -> Reading:
    return Reading(
        sensor_id="GJ-00001.temperature",
        site_id="GJ-00001",
        kind="temperature",
        value=value,
        unit="Cel",
        observed_at=AT + timedelta(minutes=5 * seq),
        seq=seq,
        quality=("calibrated",),
    )


def test_score_reading_keeps_every_field_and_adds_the_verdict() -> None:
    detector = detector_for("temperature")
    twin = detector_for("temperature")
    for seq, (value, _) in enumerate(steady("temperature", 400), start=1):
        score_reading(detector, reading(value, seq))
        twin.observe(value, reading(value, seq).observed_at)
    original = reading(30.0, seq=401)
    scored = score_reading(detector, original)
    expected: Verdict = twin.observe(30.0, original.observed_at)
    assert isinstance(scored, ScoredReading)
    assert isinstance(scored, Reading)
    assert scored.model_dump(include=set(Reading.model_fields)) == original.model_dump()
    explanation = {name: getattr(scored, name) for name in Verdict.__slots__}
    assert explanation == {name: getattr(expected, name) for name in Verdict.__slots__}
    assert scored.anomalous
    assert scored.detector == "seasonal_likelihood@6"
    assert detector.n_seen == 401


def test_a_scored_reading_round_trips_through_json() -> None:
    scored = score_reading(detector_for("temperature"), reading(14.0))
    assert ScoredReading.model_validate_json(scored.model_dump_json()) == scored
    assert scored.warming_up
    assert not scored.anomalous


def test_scoring_is_deterministic() -> None:
    rng = random.Random(11)
    values = [20.0 + rng.gauss(0, 1) for _ in range(600)]
    values[450] = 45.0
    values[520] = -10.0
    first, second = detector_for("temperature"), detector_for("temperature")
    one = [first.observe(value, AT + timedelta(minutes=5 * i)) for i, value in enumerate(values)]
    two = [second.observe(value, AT + timedelta(minutes=5 * i)) for i, value in enumerate(values)]
    assert one == two
    assert one[450].anomalous
    assert one[520].anomalous
    assert sum(verdict.anomalous for verdict in one) < 10
