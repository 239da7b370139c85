"""A sensor's detector as a thing to inspect: what ``openlab models show`` prints, the ``model`` points hold.

From a :class:`~models.detectors.detector.SensorDetector` (a fresh one, or one restored from its checkpoint):
its name and version, the readings it learnt and its warm-up, the distribution of its latest
probabilities, its threshold, the range it expected at the latest reading, and the drift of its
inputs (River's ADWIN on the values: the mean over its window, the window's length, and how many
times, and when last, the window was cut because the mean moved).

>>> from datetime import UTC, datetime, timedelta
>>> from models.detectors.registry import detector_for
>>> detector = detector_for("temperature")
>>> start = datetime(2026, 11, 30, tzinfo=UTC)
>>> for minute in range(300):
...     _ = detector.observe(14.0 + 0.1 * (minute % 7), start + timedelta(minutes=minute))
>>> for minute in range(300, 1000):
...     _ = detector.observe(24.0 + 0.1 * (minute % 7), start + timedelta(minutes=minute))
>>> summary = summarise(detector)
>>> summary.detector, summary.readings_learnt, summary.warming_up, summary.threshold
('seasonal_likelihood@6', 1000, False, 0.9999)
>>> summary.drifts >= 1, summary.drifted_at is not None, round(summary.drift_mean)
(True, True, 24)
>>> summary.probabilities["max"] >= summary.probabilities["p50"], summary.recent
(True, 120)
>>> summary.expected_low < 24.2 < summary.expected_high
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from models.detectors.detector import DRIFT_BLOCK, SensorDetector

QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "max": 1.0}
"""The quantiles of the latest probabilities a summary gives, by name."""


def quantile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of ``ordered`` (sorted, not empty), interpolated between neighbours.

    >>> quantile([0.0, 1.0, 2.0, 3.0], 0.5), quantile([0.0, 1.0, 2.0, 3.0], 1.0), quantile([5.0], 0.9)
    (1.5, 3.0, 5.0)
    """
    position = q * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """What one sensor's detector has learnt, and how it judges."""

    detector: str
    """``name@version``."""
    readings_learnt: int
    warmup: int
    warming_up: bool
    threshold: float
    recent: int
    """How many of the latest probabilities :attr:`probabilities` is made of."""
    probabilities: dict[str, float]
    """Quantiles of the latest probabilities, by name (:data:`QUANTILES`); empty before any reading."""
    last_at: datetime | None
    expected_low: float | None
    """The low end of the range the model expected at the latest reading."""
    expected_high: float | None
    drift_mean: float
    """The mean of the values in ADWIN's window."""
    drift_window: int
    """How many of the latest values ADWIN's window holds: all since the last drift."""
    drifts: int
    """How many times ADWIN found the values' mean had moved."""
    drifted_at: datetime | None


def summarise(detector: SensorDetector) -> ModelSummary:
    """The summary of ``detector`` as it stands."""
    ordered = sorted(detector.recent)
    last = detector.last
    adwin = detector.drift
    return ModelSummary(
        detector=detector.label,
        readings_learnt=detector.n_seen,
        warmup=detector.warmup,
        warming_up=detector.n_seen < detector.warmup,
        threshold=detector.threshold,
        recent=len(ordered),
        probabilities={name: quantile(ordered, q) for name, q in QUANTILES.items()} if ordered else {},
        last_at=detector.last_at,
        expected_low=None if last is None else last.expected_low,
        expected_high=None if last is None else last.expected_high,
        drift_mean=float(adwin.estimation),
        drift_window=int(adwin.width) * DRIFT_BLOCK,
        drifts=detector.drifts,
        drifted_at=detector.drifted_at,
    )


def summary_fields(summary: ModelSummary) -> dict[str, float | int | bool | str]:
    """The fields of a summary's ``model`` point: those it has (no expected range before a reading), and
    no infinite or undefined number, which InfluxDB would refuse with the whole write.

    >>> from models.detectors.registry import detector_for
    >>> sorted(summary_fields(summarise(detector_for("humidity"))))
    ['drift_mean', 'drift_window', 'drifts', 'readings_learnt', 'threshold', 'warming_up']
    >>> from dataclasses import replace
    >>> unbounded = replace(summarise(detector_for("humidity")), expected_low=-math.inf, expected_high=3.0)
    >>> "expected_low" in summary_fields(unbounded), summary_fields(unbounded)["expected_high"]
    (False, 3.0)
    """
    fields: dict[str, float | int | bool | str] = {
        "readings_learnt": summary.readings_learnt,
        "warming_up": summary.warming_up,
        "threshold": summary.threshold,
        "drift_mean": summary.drift_mean,
        "drift_window": summary.drift_window,
        "drifts": summary.drifts,
    }
    fields.update({f"probability_{name}": value for name, value in summary.probabilities.items()})
    if summary.expected_low is not None and summary.expected_high is not None:
        fields.update(expected_low=summary.expected_low, expected_high=summary.expected_high)
    return {
        name: value for name, value in fields.items() if not isinstance(value, float) or math.isfinite(value)
    }


def summary_rows(summary: ModelSummary) -> list[tuple[str, str]]:
    """The summary as (what, value) rows to print."""

    def moment(at: datetime | None) -> str:
        return "-" if at is None else at.isoformat()

    warm = "warming up" if summary.warming_up else "warm"
    probabilities = ", ".join(f"{name} {value:.6g}" for name, value in summary.probabilities.items())
    expected = (
        "-"
        if summary.expected_low is None or summary.expected_high is None
        else f"{summary.expected_low:.6g} .. {summary.expected_high:.6g}"
    )
    return [
        ("detector", summary.detector),
        ("readings learnt", str(summary.readings_learnt)),
        ("warm-up", f"{warm} ({min(summary.readings_learnt, summary.warmup)}/{summary.warmup})"),
        ("latest reading", moment(summary.last_at)),
        (f"probabilities (latest {summary.recent})", probabilities or "-"),
        ("threshold", f"{summary.threshold:.6g}"),
        ("expected range", expected),
        ("input mean (ADWIN)", f"{summary.drift_mean:.6g} over the latest {summary.drift_window} values"),
        ("input drifts", f"{summary.drifts} (latest {moment(summary.drifted_at)})"),
    ]
