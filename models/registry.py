"""The registry of detectors: a recipe per sensor kind, and the named detectors ``openlab evaluate`` compares.

Every kind gets the seasonal likelihood detector: a :class:`~models.seasonal_zscore.SeasonalZScore`
on the value and its departure from a daily profile, then an
:class:`~models.likelihood.AnomalyLikelihood` into a probability. Kinds that follow the working
week (traffic, footfall, parking, grid load, the test tracks) keep weekdays and weekends apart in
their profile. A sensor warms up for a day of its readings: the profile needs each hour once.

>>> detector = detector_for("traffic_flow")
>>> detector.label, detector.warmup, detector.threshold, detector.model.profile.weekends
('seasonal_likelihood@2', 1440, 0.9999, True)
>>> detector_for("temperature").model.profile.weekends, detector_for("temperature").warmup
(False, 288)
>>> sorted(DETECTORS)
['gaussian_zscore', 'half_space_trees', 'seasonal_likelihood', 'seasonal_zscore']
"""

from __future__ import annotations

from collections.abc import Callable

from models.detector import SensorDetector
from models.halfspace import ScaledHalfSpaceTrees
from models.likelihood import AnomalyLikelihood
from models.seasonal import DailyProfile
from models.seasonal_zscore import SeasonalZScore
from models.tail import GaussianTail
from models.unchanged import Unchanged
from sensors.catalog import KINDS

WEEKLY_KINDS: frozenset[str] = frozenset(
    {
        "traffic_flow",
        "traffic_speed",
        "noise_level",
        "footfall",
        "parking_occupancy",
        "grid_load",
        "av_track_speed",
    }
)
"""Kinds whose day depends on the day of the week."""

GENERIC_WARMUP = 200
"""Readings a detector of unknown cadence learns before it may alert."""

KIND_THRESHOLD = 0.9999
"""The alert threshold of the kinds' detectors: chosen on the simulated city (all kinds and anomaly types
together), where 0.999 raised twice the false alerts for a fifth more anomalies caught."""

_DAY_SECONDS = 86400.0


def seasonal_likelihood(
    weekends: bool = False, warmup: int = GENERIC_WARMUP, threshold: float = 0.999
) -> SensorDetector:
    """The default detector: seasonal z-score, anomaly likelihood, alert at ``threshold``."""
    model = SeasonalZScore(
        fading_factor=0.01, profile=DailyProfile(buckets=24, fading_factor=0.1, weekends=weekends)
    )
    return SensorDetector(
        "seasonal_likelihood",
        2,
        model,
        AnomalyLikelihood(window=5, cap=5.0),
        threshold=threshold,
        warmup=warmup,
    )


def seasonal_zscore() -> SensorDetector:
    """The same model without the likelihood: its z-score read as a Gaussian tail."""
    model = SeasonalZScore(fading_factor=0.01, profile=DailyProfile(buckets=24, fading_factor=0.1))
    return SensorDetector(
        "seasonal_zscore", 2, model, GaussianTail(), threshold=0.99999, warmup=GENERIC_WARMUP
    )


def gaussian_zscore() -> SensorDetector:
    """Baseline: a fading z-score of the value alone, read as a Gaussian tail."""
    return SensorDetector(
        "gaussian_zscore",
        2,
        SeasonalZScore(fading_factor=0.01),
        GaussianTail(),
        threshold=0.99999,
        warmup=GENERIC_WARMUP,
    )


def half_space_trees() -> SensorDetector:
    """Baseline: River's Half-Space Trees with their defaults on the min-max scaled value."""
    return SensorDetector(
        "half_space_trees", 1, ScaledHalfSpaceTrees(), Unchanged(), threshold=0.9, warmup=GENERIC_WARMUP
    )


DEFAULT_DETECTOR = "seasonal_likelihood"

DETECTORS: dict[str, Callable[[], SensorDetector]] = {
    "seasonal_likelihood": seasonal_likelihood,
    "seasonal_zscore": seasonal_zscore,
    "gaussian_zscore": gaussian_zscore,
    "half_space_trees": half_space_trees,
}
"""Detectors for sensors of unknown kind and cadence (benchmark files), by name."""


def detector_for(kind: str) -> SensorDetector:
    """A fresh detector suited to sensors of ``kind`` (a generic one for a kind not in the catalog)."""
    spec = KINDS.get(kind)
    if spec is None:
        return seasonal_likelihood()
    return seasonal_likelihood(
        weekends=kind in WEEKLY_KINDS,
        warmup=round(_DAY_SECONDS / spec.interval_seconds),
        threshold=KIND_THRESHOLD,
    )
