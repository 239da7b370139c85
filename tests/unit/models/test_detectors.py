"""Every detector: learn and score round trips, explanations, and checkpoints that restore it exactly."""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from models.detectors.checkpoint import FORMAT, checkpoint_label, dump_detector, load_detector
from models.detectors.detector import SensorDetector, features
from models.detectors.registry import DETECTORS, KIND_WARMUP, detector_for
from models.detectors.seasonal import DailyProfile
from models.detectors.seasonal_zscore import SeasonalZScore
from models.detectors.zscore import FadingZScore
from models.postprocessing.likelihood import AnomalyLikelihood
from models.postprocessing.tail import GaussianTail
from models.postprocessing.unchanged import Unchanged
from sensors.catalog import KINDS

START = datetime(2026, 11, 30, tzinfo=UTC)

FACTORIES: dict[str, Callable[[], SensorDetector]] = {
    **DETECTORS,
    "kind:temperature": partial(detector_for, "temperature"),
    "kind:traffic_flow": partial(detector_for, "traffic_flow"),
}


def daily(count: int, seed: int = 1, step_minutes: int = 5) -> list[tuple[float, datetime]]:
    """A noisy daily cycle, one value every ``step_minutes``."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        at = START + timedelta(minutes=step_minutes * i)
        out.append((50.0 + (20.0 if 8 <= at.hour < 20 else 0.0) + rng.gauss(0.0, 1.0), at))
    return out


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_every_detector_scores_then_learns_and_explains(name: str) -> None:
    detector = FACTORIES[name]()
    history = daily(detector.warmup + 600)
    verdicts = [detector.observe(value, at) for value, at in history]
    assert detector.n_seen == len(history)
    assert all(0.0 <= verdict.probability <= 1.0 for verdict in verdicts)
    assert all(verdict.detector == detector.label for verdict in verdicts)
    assert all(verdict.warming_up for verdict in verdicts[: detector.warmup])
    assert not any(verdict.anomalous for verdict in verdicts[: detector.warmup])
    last_at = history[-1][1]
    calm = detector.observe(history[-288][0], last_at + timedelta(minutes=5))
    spike = detector.observe(500.0, last_at + timedelta(minutes=10))
    assert spike.score > calm.score
    assert spike.probability >= calm.probability
    assert spike.expected_low <= spike.expected_high < 500.0


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_a_checkpoint_restores_a_detector_that_goes_on_exactly_alike(name: str) -> None:
    detector = FACTORIES[name]()
    history = daily(detector.warmup + 300, seed=2)
    for value, at in history[:-100]:
        detector.observe(value, at)
    data = dump_detector(detector)
    assert checkpoint_label(data) == detector.label
    restored = load_detector(data, expected=detector.label)
    assert restored is not None
    assert restored is not detector
    assert restored.n_seen == detector.n_seen
    for value, at in history[-100:]:
        assert restored.observe(value, at) == detector.observe(value, at)


def test_a_checkpoint_says_its_format_and_detector() -> None:
    data = dump_detector(detector_for("temperature"))
    assert data.startswith(f"openlab-detector {FORMAT} seasonal_likelihood@6\n".encode())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"junk",
        b"openlab-detector 1 seasonal_likelihood@1\n",
        b"openlab-detector 1 seasonal_likelihood@1\nnot a pickle",
        b"openlab-detector 99 seasonal_likelihood@1\n" + pickle.dumps(detector_for("temperature")),
        b"openlab-detector 1 \xff\xfe\n" + pickle.dumps(detector_for("temperature")),
        b"openlab-detector 1 seasonal_likelihood@1\n" + pickle.dumps({"not": "a detector"}),
        b"openlab-detector 1 gaussian_zscore@1\n" + pickle.dumps(detector_for("temperature")),
    ],
)
def test_unreadable_or_foreign_checkpoints_give_none(data: bytes) -> None:
    assert load_detector(data) is None


def test_a_truncated_checkpoint_gives_none() -> None:
    data = dump_detector(detector_for("humidity"))
    assert load_detector(data[: len(data) // 2]) is None


def test_a_checkpoint_of_another_detector_version_gives_none() -> None:
    data = dump_detector(detector_for("humidity"))
    assert load_detector(data, expected="seasonal_likelihood@4") is None
    assert load_detector(data, expected="seasonal_likelihood@6") is not None


class Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("a checkpoint ran code",))


def test_a_checkpoint_cannot_run_code(capsys: pytest.CaptureFixture[str]) -> None:
    data = b"openlab-detector 1 seasonal_likelihood@1\n" + pickle.dumps(Boom())
    assert load_detector(data) is None
    assert "ran code" not in capsys.readouterr().out


def test_fading_zscore_learns_and_scores() -> None:
    model = FadingZScore(fading_factor=0.1)
    assert model.score_one(5.0) == 0.0
    for value in [10.0, 12.0] * 50:
        model.learn_one(value)
    assert model.mean == pytest.approx(11.0, abs=0.2)
    assert model.score_one(11.0) < 0.5 < 5.0 < model.score_one(30.0)
    constant = FadingZScore()
    for _ in range(10):
        constant.learn_one(100.0)
    assert constant.score_one(100.1) == pytest.approx(1.0)  # the spread's floor: a thousandth of the mean


def test_the_daily_profile_learns_each_hour() -> None:
    profile = DailyProfile(buckets=24, fading_factor=1.0, weekends=True)
    saturday = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
    profile.learn_one(7.0, saturday)
    assert profile.predict_one(saturday + timedelta(days=1)) == 7.0  # Sunday, same hour
    assert profile.predict_one(saturday + timedelta(days=2)) is None  # Monday: a weekday
    assert profile.bucket(saturday) == 24 + 9


def test_the_seasonal_zscore_scores_nothing_during_its_grace() -> None:
    model = SeasonalZScore(profile=DailyProfile(), grace=5)
    for i in range(5):
        assert model.score_one(features(1000.0 * i, START)) == 0.0
        model.learn_one(features(1.0, START + timedelta(minutes=i)))
    assert model.score_one(features(1000.0, START + timedelta(minutes=6))) > 100


def test_the_likelihood_is_a_probability_that_rises_with_recent_scores() -> None:
    likelihood = AnomalyLikelihood(window=3, cap=5.0)
    rng = random.Random(4)
    for _ in range(500):
        likelihood.learn_one(abs(rng.gauss(0.0, 1.0)))
    calm, raised, wild = likelihood.score_one(0.8), likelihood.score_one(3.0), likelihood.score_one(50.0)
    assert 0.0 < calm < 0.9 < raised < wild <= 1.0
    likelihood.learn_one(1000.0)  # kept capped: it does not swamp the long run
    assert likelihood.score_one(0.8) < 0.9999


def test_tail_and_unchanged_calibrations() -> None:
    assert GaussianTail().score_one(0.0) == 0.0
    assert GaussianTail().score_one(1.0) == pytest.approx(0.6827, abs=1e-4)
    assert (Unchanged().score_one(-1.0), Unchanged().score_one(0.25), Unchanged().score_one(7.0)) == (
        0.0,
        0.25,
        1.0,
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_warms_up_for_an_hour_of_readings_at_most(kind: str) -> None:
    detector = detector_for(kind)
    assert detector.warmup == KIND_WARMUP <= 60
    if KINDS[kind].interval_seconds <= 60:
        assert detector.warmup * KINDS[kind].interval_seconds <= 3600


MINUTELY = sorted(
    kind for kind, spec in KINDS.items() if spec.interval_seconds == 60 and not spec.intermittent
)
"""Kinds reporting every minute whose jump of 20 noise spreads is no normal start of a session."""


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", MINUTELY)
def test_a_fresh_detector_flags_an_obvious_spike_within_two_hours(kind: str, seed: int) -> None:
    """A freshly started pipeline alerts: a jump of 20 standard deviations in a steady, noisy series
    is flagged wherever it falls between the end of the warm-up and two hours of readings, and
    nothing else is but a few readings right after it (within the alarm's hysteresis: one alarm). A
    spike that is the first reading of an hour the profile has not seen becomes that hour's usual value
    for a while; with a likelihood window of 3 (``KIND_WINDOW``, from 5) the next readings' departure
    from it is no longer diluted, so some are flagged too."""
    spec = KINDS[kind]
    level = spec.baseline if spec.baseline > 0 else abs(spec.daily_swing)
    rng = random.Random(seed)
    values = [level + rng.gauss(0.0, spec.noise) for _ in range(120)]
    for at in (KIND_WARMUP, 75, 90, 119):
        detector = detector_for(kind)
        series = [*values[:at], level + 20 * spec.noise, *values[at + 1 :]]
        verdicts = [detector.observe(value, START + timedelta(minutes=i)) for i, value in enumerate(series)]
        flagged = [i for i, verdict in enumerate(verdicts) if verdict.anomalous]
        assert flagged[0] == at and all(i <= at + 5 for i in flagged), (at, seed, flagged)
        if at % 60:
            assert flagged == [at], (at, seed)
        assert not verdicts[at].warming_up


def test_the_fading_zscore_averages_a_short_history_plainly() -> None:
    model = FadingZScore(fading_factor=0.01)
    values = [3.0, 5.0, 4.0, 8.0]
    for value in values:
        model.learn_one(value)
    assert model.mean == pytest.approx(5.0)
    assert model.var == pytest.approx(sum((v - 5.0) ** 2 for v in values) / len(values))
    for _ in range(1000):
        model.learn_one(100.0)
    assert model.mean == pytest.approx(100.0, abs=0.01)  # past 1 / fading_factor values, it fades


def test_the_likelihood_neither_judges_nor_learns_its_grace() -> None:
    likelihood, without = AnomalyLikelihood(window=3, grace=2), AnomalyLikelihood(window=3)
    assert likelihood.score_one(50.0) == 0.0
    for raw in [0.0, 0.0]:  # the scores of a model's own grace
        likelihood.learn_one(raw)
    for raw in [1.0, 1.2, 0.8] * 10:
        likelihood.learn_one(raw)
        without.learn_one(raw)
    assert [likelihood.score_one(raw) for raw in (1.0, 20.0)] == [
        without.score_one(raw) for raw in (1.0, 20.0)
    ]
    assert likelihood.score_one(1.0) < 0.9 < 0.9999 < likelihood.score_one(20.0)


def test_an_unknown_kind_gets_the_generic_detector() -> None:
    detector = detector_for("not_a_kind")
    assert detector.label == "seasonal_likelihood@6"
    assert detector.warmup == 200


def sessions(kind: str, plan: list[tuple[int, float]], seed: int = 4) -> list[tuple[float, datetime]]:
    """An intermittent sensor at its cadence: ``(readings, level)`` stretches, idle (0, exactly) or running
    at ``level`` with the kind's noise, as the simulator's chargers and test tracks report."""
    spec = KINDS[kind]
    rng = random.Random(seed)
    step = timedelta(seconds=spec.interval_seconds)
    values = [
        level + rng.gauss(0.0, spec.noise) if level > 0 else 0.0
        for count, level in plan
        for _ in range(count)
    ]
    return [(max(value, spec.low), START + i * step) for i, value in enumerate(values)]


IDLE_THEN_SESSIONS: dict[str, list[tuple[int, float]]] = {
    # Idle through the warm-up and beyond, a slow session, idle, a fast charger's session, idle.
    "ev_charging_power": [(180, 0.0), (90, 22.0), (120, 0.0), (40, 190.0), (60, 0.0)],
    # A test track idle, a test run, lunch, a faster run.
    "av_track_speed": [(240, 0.0), (360, 30.0), (120, 0.0), (240, 45.0)],
}


@pytest.mark.parametrize("kind", sorted(IDLE_THEN_SESSIONS))
def test_a_normal_session_after_idling_raises_no_anomaly(kind: str) -> None:
    """An idle charger or test track reports 0 for hours: its spread is no reason to find the next
    session, of any size its range allows, anomalous (it was flagged with probability 1 before)."""
    detector = detector_for(kind)
    verdicts = [detector.observe(value, at) for value, at in sessions(kind, IDLE_THEN_SESSIONS[kind])]
    assert not any(verdict.anomalous for verdict in verdicts)
    assert max(verdict.probability for verdict in verdicts) < detector.threshold
    idle = verdicts[detector.warmup]
    assert not idle.warming_up
    assert idle.expected_high - idle.expected_low >= 8 * KINDS[kind].least_spread


@pytest.mark.parametrize("kind", sorted(IDLE_THEN_SESSIONS))
def test_a_physically_strange_run_of_an_intermittent_kind_is_flagged(kind: str) -> None:
    """Running at the top of the physical range for a few readings is flagged, after idling or mid-session."""
    spec = KINDS[kind]
    plan = IDLE_THEN_SESSIONS[kind]
    step = timedelta(seconds=spec.interval_seconds)
    for cut in (plan[0][0] + 30, sum(count for count, _ in plan)):  # mid-session, and idle at the end
        detector = detector_for(kind)
        history = sessions(kind, plan)[:cut]
        for value, at in history:
            detector.observe(value, at)
        strange = [detector.observe(spec.high, history[-1][1] + i * step) for i in range(1, 6)]
        assert any(verdict.anomalous for verdict in strange), cut


def test_the_least_spread_is_the_noise_or_an_intermittent_kind_s_running_spread() -> None:
    assert all(spec.least_spread == spec.noise for spec in KINDS.values() if not spec.intermittent)
    assert {kind for kind, spec in KINDS.items() if spec.intermittent} == set(IDLE_THEN_SESSIONS)
    charger = KINDS["ev_charging_power"]
    assert charger.least_spread == pytest.approx((charger.high - charger.low) / 12**0.5)
    for kind, floor in (("ev_charging_power", charger.least_spread), ("not_a_kind", 0.0)):
        model = detector_for(kind).model
        assert isinstance(model, SeasonalZScore)
        assert model.level.floor == model.residual.floor == floor


def test_a_fading_zscore_with_a_floor_does_not_divide_by_an_idle_spread() -> None:
    model, bare = FadingZScore(fading_factor=0.01, floor=5.0), FadingZScore(fading_factor=0.01)
    for _ in range(100):
        model.learn_one(0.0)
        bare.learn_one(0.0)
    assert model.score_one(10.0) == pytest.approx(2.0)
    assert bare.score_one(10.0) > 1e9
    assert model.expected(4.0) == (-20.0, 20.0)


def test_the_likelihood_of_all_alike_raw_scores_has_its_floor() -> None:
    likelihood, bare = AnomalyLikelihood(window=5, floor=0.6), AnomalyLikelihood(window=5)
    for _ in range(100):
        likelihood.learn_one(0.0)
        bare.learn_one(0.0)
    assert bare.score_one(0.1) > 0.9999
    assert likelihood.score_one(0.1) < 0.6 < 0.9999 < likelihood.score_one(15.0)


def test_an_interpolating_profile_follows_a_ramp_between_the_hours() -> None:
    stepped = DailyProfile(buckets=24, fading_factor=0.001)
    ramp = DailyProfile(buckets=24, fading_factor=0.001, interpolate=True)
    for minute in range(1440):
        for profile in (stepped, ramp):
            profile.learn_one(minute / 60.0, START + timedelta(minutes=minute))
    for minute in (600, 615, 645, 659):  # 10:00 to 10:59 the next day: the value is minute / 60
        at = START + timedelta(days=1, minutes=minute)
        assert ramp.predict_one(at) == pytest.approx(minute / 60.0, abs=0.02)
    # The stepped profile expects the hour's mean all through the hour.
    assert stepped.predict_one(START + timedelta(days=1, hours=10)) == pytest.approx(10.5, abs=0.02)
    # A neighbour not seen yet leaves the bucket's own mean; an unseen bucket has no expectation.
    first = DailyProfile(interpolate=True)
    first.learn_one(3.0, START + timedelta(hours=5, minutes=10))
    assert first.predict_one(START + timedelta(days=1, hours=5, minutes=50)) == 3.0
    assert first.predict_one(START + timedelta(hours=7)) is None


def test_a_profile_bucket_seen_once_is_the_plain_mean_of_its_values() -> None:
    profile = DailyProfile(fading_factor=0.01)
    for minute, value in enumerate((10.0, 20.0, 30.0)):
        profile.learn_one(value, START + timedelta(minutes=minute))
    assert profile.predict_one(START + timedelta(days=1)) == pytest.approx(20.0)


def test_a_kind_profile_weighs_whole_days_whatever_the_cadence() -> None:
    minute = detector_for("battery_soc").model.profile  # type: ignore[attr-defined]
    hourly_share = 1.0 - (1.0 - minute.fading_factor) ** 60  # a day's 60 readings of an hour bucket
    assert hourly_share == pytest.approx(0.5)
    assert minute.interpolate
    assert not DETECTORS["seasonal_likelihood"]().model.profile.interpolate  # type: ignore[attr-defined]


def test_a_value_pinned_at_an_edge_moves_the_means_not_the_spreads() -> None:
    pinned = FadingZScore(fading_factor=0.1)
    for value in (10.0, 30.0) * 20:
        pinned.learn_one(value)
    spread = pinned.std
    for _ in range(100):
        pinned.learn_one(0.0, spread=False)
    assert pinned.std == spread and pinned.mean == pytest.approx(0.0, abs=1e-3)
    model = SeasonalZScore(profile=DailyProfile(), grace=5, floor=1.0, edges=(0.0, 100.0))
    for i in range(40):
        model.learn_one(features(10.0 if i % 2 else 30.0, START + timedelta(minutes=i)))
    before = model.level.std
    for i in range(40, 400):
        model.learn_one(features(0.0, START + timedelta(minutes=i)))
    assert model.level.std == before
    assert model.score_one(features(20.0, START + timedelta(minutes=400))) < 3.0


def solar_day(days: int, seed: int = 3) -> list[tuple[float, datetime]]:
    """A solar plant reporting every minute: exactly 0 at night, a noisy daily arch by day."""
    spec = KINDS["solar_power"]
    rng = random.Random(seed)
    out = []
    for minute in range(days * 1440):
        at = START + timedelta(minutes=minute)
        hour = at.hour + at.minute / 60.0
        sun = max(0.0, math.sin(math.pi * (hour - 7.0) / 10.0)) if 7.0 < hour < 17.0 else 0.0
        value = 0.0 if sun == 0.0 else max(0.0, 400.0 * sun * (1.0 + 0.05 * math.sin(minute / 40.0)))
        out.append((value if value == 0.0 else max(0.0, value + rng.gauss(0.0, spec.noise)), at))
    return out


def ramp_day(days: int, seed: int = 5) -> list[tuple[float, datetime]]:
    """A battery reporting every minute: flat at night, ramping up by day and down in the evening."""
    rng = random.Random(seed)
    out = []
    for minute in range(days * 1440):
        at = START + timedelta(minutes=minute)
        hour = at.hour + at.minute / 60.0
        level = (
            25.0 + 65.0 * max(0.0, min(1.0, (hour - 9.5) / 5.5)) - 55.0 * max(0.0, min(1.0, (hour - 17) / 5))
        )
        out.append((level + rng.gauss(0.0, KINDS["battery_soc"].noise), at))
    return out


@pytest.mark.parametrize(("kind", "series"), [("solar_power", solar_day), ("battery_soc", ramp_day)])
def test_a_daily_ramp_or_sunrise_raises_no_alert(
    kind: str, series: Callable[[int], list[tuple[float, datetime]]]
) -> None:
    detector = detector_for(kind)
    verdicts = [detector.observe(value, at) for value, at in series(4)]
    assert not [v for v in verdicts[1440:] if v.anomalous]


def test_an_air_quality_spike_after_a_normal_run_is_flagged() -> None:
    detector = detector_for("air_pm25")
    rng = random.Random(11)
    for minute in range(100):
        detector.observe(20.0 + rng.gauss(0.0, 2.0), START + timedelta(minutes=minute))
    spike = [detector.observe(900.0, START + timedelta(minutes=100 + i)) for i in range(12)]
    assert spike[0].anomalous
    assert all(v.anomalous for v in spike[:3])
