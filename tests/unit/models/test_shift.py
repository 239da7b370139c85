"""The shift and noise signals beside the likelihood: what each catches, what each leaves alone, and
how a verdict and an alarm name the signal that judged."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from models.alarms import AlarmRules, SensorAlarms
from models.detectors.checkpoint import dump_detector, load_detector
from models.detectors.detector import LIKELIHOOD, Verdict
from models.detectors.registry import detector_for
from models.detectors.shift import NOISE, SHIFT, ShiftWatch
from models.scoring import score_reading
from sensors.reading import Reading
from sensors.sites import SiteRegistry

START = datetime(2026, 12, 1, 9, tzinfo=UTC)


def noisy(count: int, seed: int = 3, level: float = 30.0, spread: float = 2.0) -> list[float]:
    rng = random.Random(seed)
    return [level + rng.gauss(0.0, spread) for _ in range(count)]


def verdicts(kind: str, values: list[float]) -> list[Verdict]:
    detector = detector_for(kind)
    return [detector.observe(value, START + timedelta(minutes=i)) for i, value in enumerate(values)]


def test_a_departure_held_long_enough_is_a_shift_and_a_few_are_not() -> None:
    watch = ShiftWatch(slack=1.0, limit=10.0)
    # Departures of 1.5 add 0.5 each: 20 readings reach the limit, 19 do not.
    signals = [watch.observe(10.0, 1.5, floor=1.0) for _ in range(21)]
    assert signals[:20] == [""] * 20 and signals[20] == SHIFT
    # Downwards too, once the upward sum has worn off.
    watch = ShiftWatch(slack=1.0, limit=10.0)
    assert SHIFT in [watch.observe(10.0, -3.0, floor=1.0) for _ in range(6)]
    # One spike, however large, adds at most the cap less the slack.
    watch = ShiftWatch(slack=1.0, limit=10.0)
    assert watch.observe(10.0, 1e6, floor=1.0) == "" and watch.up == 7.0


def test_a_burst_of_noise_fires_and_steady_noise_does_not() -> None:
    watch = ShiftWatch()
    calm = [watch.observe(value, 0.0, floor=0.1) for value in noisy(300)]
    assert set(calm) == {""}
    burst = [watch.observe(value, 0.0, floor=0.1) for value in noisy(10, seed=4, spread=20.0)]
    assert NOISE in burst
    # The burst's own jumps did not become the usual size of a jump.
    assert watch.step < 4.0


def test_a_drifting_sensor_is_flagged_by_the_shift_signal_where_the_likelihood_misses_it() -> None:
    # An hour to warm up, an hour steady, then a ramp of 8 least spreads (2.5 ug/m3) over an hour.
    values = noisy(120) + [value + 20.0 * i / 60 for i, value in enumerate(noisy(60, seed=5))]
    judged = verdicts("air_no2", values)
    assert not any(verdict.anomalous for verdict in judged[60:120])
    flagged = [verdict.signal for verdict in judged[120:] if verdict.anomalous]
    assert SHIFT in flagged and LIKELIHOOD not in flagged


def test_kinds_that_wander_get_no_watch_and_others_do() -> None:
    assert detector_for("battery_soc").watch is None
    assert isinstance(detector_for("air_no2").watch, ShiftWatch)
    assert detector_for("air_no2").label == "seasonal_likelihood@7"


def test_a_checkpoint_restores_the_watch() -> None:
    detector = detector_for("air_no2")
    for i, value in enumerate(noisy(100)):
        detector.observe(value, START + timedelta(minutes=i))
    assert detector.watch is not None
    restored = load_detector(dump_detector(detector), expected=detector.label)
    assert restored is not None and restored.watch is not None
    assert vars(restored.watch) == vars(detector.watch)


def test_an_alarm_opened_by_the_shift_signal_says_so() -> None:
    registry = SiteRegistry.generate(count=1, seed=1)
    site = registry.sites[0]
    sensor = site.sensors[0]
    alarms = SensorAlarms(sensor.sensor_id, AlarmRules(open_after=3, open_rarity=None))
    reading = Reading(
        sensor_id=sensor.sensor_id,
        site_id=site.site_id,
        kind=sensor.kind,
        value=1.0,
        unit=sensor.unit,
        observed_at=START,
        seq=1,
    )
    base = score_reading(detector_for(sensor.kind), reading)
    shifted = [
        base.model_copy(
            update={
                "anomalous": True,
                "warming_up": False,
                "signal": SHIFT,
                "observed_at": START + timedelta(minutes=i),
                "seq": i,
            }
        )
        for i in range(1, 4)
    ]
    opened = [alarm for scored in shifted for alarm in alarms.observe(scored, site)]
    assert [alarm.reason for alarm in opened] == ["3 anomalous readings in a row (shift)"]
