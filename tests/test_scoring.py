"""Scoring: per-kind detectors, warm-up, spikes, expected ranges and deterministic verdicts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from models.scoring import ScoredReading, SensorDetector, Verdict, detector_for, score_reading
from sensors.catalog import KINDS
from sensors.reading import Reading

AT = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)


def steady(kind: str, count: int, seed: int = 3) -> list[float]:
    """Noisy values around the kind's baseline, as a working sensor on a quiet day sends."""
    spec = KINDS[kind]
    level = spec.baseline if spec.baseline > 0 else abs(spec.daily_swing)
    rng = random.Random(seed)
    return [level + rng.gauss(0.0, spec.noise) for _ in range(count)]


def warm(kind: str, count: int = 200) -> tuple[SensorDetector, float]:
    detector = detector_for(kind)
    values = steady(kind, count)
    for value in values:
        detector.observe(value)
    return detector, sum(values) / len(values)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_gets_a_working_detector(kind: str) -> None:
    detector, level = warm(kind)
    assert isinstance(detector, SensorDetector)
    assert detector.model.n_seen == 200
    assert detector.spec.threshold >= 5.0
    calm = detector.observe(level)
    assert not calm.anomalous
    assert not calm.warming_up
    spec = KINDS[kind]
    spike = detector.observe(level + 50 * spec.noise)
    assert spike.anomalous
    assert spike.score > spike.threshold


def test_every_detector_is_fresh() -> None:
    first, second = detector_for("temperature"), detector_for("temperature")
    assert first is not second
    first.observe(14.0)
    assert first.model.n_seen == 1
    assert second.model.n_seen == 0


def test_noisy_kinds_get_a_higher_threshold() -> None:
    assert detector_for("footfall").spec.threshold > detector_for("temperature").spec.threshold


@pytest.mark.parametrize("kind", ["temperature", "footfall"])
def test_nothing_is_anomalous_during_warm_up_even_wild_values(kind: str) -> None:
    detector = detector_for(kind)
    warmup = detector.spec.warmup
    assert warmup > 1
    wild = [1.0, 1e6, -1e6, 0.0, 1e9, 3.0, -7e8, 42.0, 1e12, -1e12, 5.0, 1e7]
    verdicts = [detector.observe(wild[i % len(wild)]) for i in range(warmup)]
    assert all(verdict.warming_up for verdict in verdicts)
    assert not any(verdict.anomalous for verdict in verdicts)
    assert max(verdict.score for verdict in verdicts) > detector.spec.threshold
    after = detector.observe(1e15)
    assert not after.warming_up
    assert after.anomalous


def test_warm_up_ends_after_exactly_warmup_values() -> None:
    detector = detector_for("temperature")
    verdicts = [detector.observe(14.0 + 0.1 * (i % 3)) for i in range(detector.spec.warmup + 1)]
    assert [v.warming_up for v in verdicts] == [True] * detector.spec.warmup + [False]


def test_a_large_spike_after_warm_up_is_anomalous_with_a_range_around_the_level() -> None:
    detector, level = warm("temperature")
    spike = detector.observe(level + 10.0)
    assert spike.anomalous
    assert not spike.warming_up
    assert spike.score > spike.threshold
    assert spike.threshold == detector.spec.threshold
    assert spike.expected_low < level < spike.expected_high
    assert not spike.expected_low <= level + 10.0 <= spike.expected_high
    assert spike.detector == "fading_zscore@1"


def test_a_large_drop_is_anomalous_too() -> None:
    detector, level = warm("grid_load")
    drop = detector.observe(level - 40 * KINDS["grid_load"].noise)
    assert drop.anomalous
    assert drop.expected_low > level - 40 * KINDS["grid_load"].noise


def test_a_value_inside_the_expected_range_is_not_anomalous() -> None:
    detector, _ = warm("air_pm25")
    for side in (0.95, -0.95, 0.5, 0.0):
        model = detector.model
        value = model.mean + side * detector.spec.threshold * model.std
        verdict = detector.observe(value)
        assert verdict.expected_low < value < verdict.expected_high
        assert verdict.score == pytest.approx(abs(side) * verdict.threshold, rel=1e-6)
        assert not verdict.anomalous, (value, verdict)


def test_the_expected_range_is_threshold_standard_deviations_wide() -> None:
    detector, _ = warm("humidity")
    mean, std = detector.model.mean, detector.model.std
    verdict = detector.observe(mean)
    assert verdict.expected_low == pytest.approx(mean - verdict.threshold * std)
    assert verdict.expected_high == pytest.approx(mean + verdict.threshold * std)
    assert verdict.score == pytest.approx(0.0, abs=1e-9)


def reading(value: float, seq: int = 1) -> Reading:
    return Reading(
        sensor_id="GJ-00001.temperature",
        site_id="GJ-00001",
        kind="temperature",
        value=value,
        unit="Cel",
        observed_at=AT + timedelta(minutes=seq),
        seq=seq,
        quality=("calibrated",),
    )


def test_score_reading_keeps_every_field_and_adds_the_verdict() -> None:
    detector = detector_for("temperature")
    twin = detector_for("temperature")
    for seq, value in enumerate(steady("temperature", 50), start=1):
        score_reading(detector, reading(value, seq))
        twin.observe(value)
    original = reading(30.0, seq=51)
    scored = score_reading(detector, original)
    expected: Verdict = twin.observe(30.0)
    assert isinstance(scored, ScoredReading)
    assert isinstance(scored, Reading)
    for name in Reading.model_fields:
        assert getattr(scored, name) == getattr(original, name), name
    assert scored.model_dump(include=set(Reading.model_fields)) == original.model_dump()
    assert (scored.score, scored.threshold, scored.anomalous, scored.warming_up) == (
        expected.score,
        expected.threshold,
        expected.anomalous,
        expected.warming_up,
    )
    assert (scored.expected_low, scored.expected_high, scored.detector) == (
        expected.expected_low,
        expected.expected_high,
        expected.detector,
    )
    assert scored.anomalous
    assert detector.model.n_seen == 51


def test_a_scored_reading_round_trips_through_json() -> None:
    scored = score_reading(detector_for("temperature"), reading(14.0))
    assert ScoredReading.model_validate_json(scored.model_dump_json()) == scored
    assert scored.warming_up
    assert not scored.anomalous


def test_scoring_is_deterministic() -> None:
    rng = random.Random(11)
    values = [20.0 + rng.gauss(0, 1) for _ in range(300)]
    values[150] = 45.0
    values[220] = -10.0
    first, second = detector_for("temperature"), detector_for("temperature")
    one = [first.observe(value) for value in values]
    two = [second.observe(value) for value in values]
    assert one == two
    assert one[150].anomalous
    assert one[220].anomalous
    assert sum(verdict.anomalous for verdict in one) < 10
