"""Scoring a reading: its sensor's detector judges it (score first, then learn) and explains why.

>>> from datetime import UTC, datetime, timedelta
>>> detector = detector_for("temperature")
>>> start = datetime(2026, 11, 30, tzinfo=UTC)
>>> def reading(value, minutes):
...     return Reading(sensor_id="GJ-00001.temperature", site_id="GJ-00001", kind="temperature",
...                    value=value, unit="Cel", observed_at=start + timedelta(minutes=minutes), seq=minutes)
>>> scored = [score_reading(detector, reading(14.0 + 0.1 * (i % 5), 5 * i)) for i in range(400)]
>>> scored[0].warming_up, scored[-1].warming_up, scored[-1].anomalous
(True, False, False)
>>> spike = score_reading(detector, reading(40.0, 2000))
>>> spike.anomalous, spike.probability >= spike.threshold, spike.expected_high < 40.0
(True, True, True)
>>> spike.detector
'seasonal_likelihood@6'
"""

from __future__ import annotations

from models.detectors.detector import SensorDetector, Verdict
from models.detectors.registry import detector_for
from sensors.reading import Reading

__all__ = ["ScoredReading", "SensorDetector", "Verdict", "detector_for", "score_reading"]


class ScoredReading(Reading):
    """A clean reading with its detector's verdict: the value of ``readings.scored``."""

    score: float
    """The model's raw score."""
    probability: float
    """The calibrated anomaly probability; ``anomalous`` when it reaches ``threshold`` after the warm-up."""
    threshold: float
    anomalous: bool
    warming_up: bool
    expected_low: float
    expected_high: float
    detector: str


def score_reading(detector: SensorDetector, reading: Reading) -> ScoredReading:
    """Score one reading with its sensor's detector (which then learns it).

    The reading is already valid and the verdict is ours, so the result is not validated again;
    nor does it go through ``model_construct``, whose per-field alias and default lookups cost a
    third of a reading's scoring. The object is the same:

    >>> from dataclasses import asdict
    >>> from datetime import UTC, datetime
    >>> detector, twin = detector_for("temperature"), detector_for("temperature")
    >>> reading = Reading(sensor_id="S.t", site_id="S", kind="temperature", value=14.0, unit="Cel",
    ...                   observed_at=datetime(2026, 11, 30, tzinfo=UTC), seq=1)
    >>> verdict = twin.observe(reading.value, reading.observed_at)
    >>> constructed = ScoredReading.model_construct(**dict(reading), **asdict(verdict))
    >>> scored = score_reading(detector, reading)
    >>> scored == constructed, scored.model_fields_set == constructed.model_fields_set
    (True, True)
    """
    verdict = detector.observe(reading.value, reading.observed_at)
    values = {
        **reading.__dict__,
        "score": verdict.score,
        "probability": verdict.probability,
        "threshold": verdict.threshold,
        "anomalous": verdict.anomalous,
        "warming_up": verdict.warming_up,
        "expected_low": verdict.expected_low,
        "expected_high": verdict.expected_high,
        "detector": verdict.detector,
    }
    scored = ScoredReading.__new__(ScoredReading)
    object.__setattr__(scored, "__dict__", values)
    object.__setattr__(scored, "__pydantic_fields_set__", set(values))
    object.__setattr__(scored, "__pydantic_extra__", None)
    object.__setattr__(scored, "__pydantic_private__", None)
    return scored
