"""Scoring: one detector per sensor, chosen by the sensor's kind; score first, then learn.

>>> detector = detector_for("temperature")
>>> verdicts = [detector.observe(14.0 + 0.1 * (i % 5)) for i in range(100)]
>>> verdicts[0].warming_up, verdicts[-1].warming_up, verdicts[-1].anomalous
(True, False, False)
>>> spike = detector.observe(40.0)
>>> spike.anomalous, spike.expected_low < 14.2 < spike.expected_high
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

from models.zscore import FadingZScore
from sensors.reading import Reading


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a detector says of one value, with what it expected instead."""

    score: float
    threshold: float
    anomalous: bool
    warming_up: bool
    expected_low: float
    expected_high: float
    detector: str


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """How to build and judge a kind's detector."""

    threshold: float = 5.0
    warmup: int = 12
    fading_factor: float = 0.02


# Kinds whose readings jump a lot by nature get a higher bar.
_SPECS: dict[str, DetectorSpec] = {
    "ev_charging_power": DetectorSpec(threshold=6.0),
    "footfall": DetectorSpec(threshold=6.0),
    "av_track_speed": DetectorSpec(threshold=6.0),
}


class SensorDetector:
    """One sensor's online model with its threshold and warm-up."""

    def __init__(self, spec: DetectorSpec) -> None:
        self.spec = spec
        self.model = FadingZScore(fading_factor=spec.fading_factor)

    def observe(self, value: float) -> Verdict:
        """Score ``value`` against what was learnt so far, then learn it."""
        model = self.model
        score = model.score_one(value)
        warming_up = model.n_seen < self.spec.warmup
        spread = self.spec.threshold * model.std
        verdict = Verdict(
            score=score,
            threshold=self.spec.threshold,
            anomalous=not warming_up and score > self.spec.threshold,
            warming_up=warming_up,
            expected_low=model.mean - spread,
            expected_high=model.mean + spread,
            detector=f"{model.name}@{model.version}",
        )
        model.learn_one(value)
        return verdict


def detector_for(kind: str) -> SensorDetector:
    """A fresh detector suited to sensors of ``kind``."""
    return SensorDetector(_SPECS.get(kind, DetectorSpec()))


class ScoredReading(Reading):
    """A clean reading with its detector's verdict: the value of ``readings.scored``."""

    score: float
    threshold: float
    anomalous: bool
    warming_up: bool
    expected_low: float
    expected_high: float
    detector: str


def score_reading(detector: SensorDetector, reading: Reading) -> ScoredReading:
    """Score one reading with its sensor's detector (which then learns it)."""
    verdict = detector.observe(reading.value)
    # The reading is already valid and the verdict is ours: no need to validate them again.
    return ScoredReading.model_construct(
        **dict(reading),
        score=verdict.score,
        threshold=verdict.threshold,
        anomalous=verdict.anomalous,
        warming_up=verdict.warming_up,
        expected_low=verdict.expected_low,
        expected_high=verdict.expected_high,
        detector=verdict.detector,
    )
