"""The registry of detectors: a recipe per sensor kind, and the named detectors ``openlab evaluate`` compares.

Every kind gets the seasonal likelihood detector: a :class:`~models.detectors.seasonal_zscore.SeasonalZScore`
on the value and its departure from a daily profile, then an
:class:`~models.postprocessing.likelihood.AnomalyLikelihood` into a probability. Kinds that follow the working
week (traffic, footfall, parking, grid load, the test tracks) keep weekdays and weekends apart in
their profile. A sensor warms up for its first :data:`KIND_WARMUP` readings (an hour for the kinds
that report every minute): the z-scores' mean and spread are plain averages over a short history,
the anomaly likelihood has a few dozen raw scores for its long run, and an hour of the profile not
seen yet is expected at the recent mean. It alerts from then on, while the profile still learns each
hour of the day (and of the weekend) the first time round.

>>> detector = detector_for("traffic_flow")
>>> detector.label, detector.warmup, detector.threshold, detector.model.profile.weekends
('seasonal_likelihood@6', 60, 0.9999, True)
>>> detector_for("temperature").model.profile.weekends, detector_for("temperature").warmup
(False, 60)
>>> sorted(DETECTORS)
['gaussian_zscore', 'half_space_trees', 'seasonal_likelihood', 'seasonal_zscore', 'transition_likelihood']
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

from river import anomaly

from models.detectors.detector import SensorDetector
from models.detectors.river_detectors import RIVER_DETECTORS, RiverModel
from models.detectors.seasonal import DailyProfile
from models.detectors.seasonal_zscore import SeasonalZScore
from models.detectors.transitions import TransitionNovelty
from models.postprocessing.likelihood import AnomalyLikelihood
from models.postprocessing.rest import Rest
from models.postprocessing.tail import GaussianTail
from models.postprocessing.unchanged import Unchanged
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

GRACE = 20
"""Values the z-scores learn before they score anything but 0 (and the likelihood skips)."""

KIND_WINDOW = 3
"""The recent raw scores a kind's likelihood takes the mean of: with 5, a spike 12 standard deviations out
was diluted by four usual scores to a probability of 0.9997, under the threshold. On 600 simulated sites'
first 3.2 hours, 3 caught 96 of 139 episodes where 5 caught 77 (spikes and noise bursts 36 of 53 where 5
caught 28), with 2 false alarms where 5 raised 3; 2 caught 107 but raised 13."""

KIND_ROBUST = 4.0
"""Standard deviations beyond which a kind's z-score of the value learns no spread (see
:class:`~models.detectors.zscore.FadingZScore`): without it a level shift of six standard deviations
widened the spread fourfold within ten readings, and its scores fell back to 1 while the shift went on."""

KIND_LEARN_BELOW = 3.0
"""Raw scores above which a kind's likelihood does not learn them into its long run (see
:class:`~models.postprocessing.likelihood.AnomalyLikelihood`): the anomaly's own scores would raise the
long run it is judged against."""

KIND_WARMUP = 60
"""Readings a sensor of a known kind learns before it may alert: the z-scores' grace, then 40 raw
scores for the likelihood's long run. An hour of a kind reporting every minute. On the simulated
city's first day (started at 0, 6, 7 and 16 o'clock), 30 readings raised about a tenth more false
alerts than 60, and 120 no fewer than 60; 20 (no long run yet) raised four times as many."""


HALF_NORMAL_SPREAD = math.sqrt(1.0 - 2.0 / math.pi)
"""The spread of ``|z|`` for a standard Gaussian ``z`` (about 0.6): the least spread of the long run of raw
scores of a z-score whose spread has its kind's floor. A sensor that has only idled scores 0 throughout, and
without this floor the first charging session after it would be infinitely unusual to the likelihood too."""

LEAST_SCORE_SPREAD = 1e-3
"""The least spread of the long run of raw scores for a sensor of unknown kind: its z-scores have no floor
in the value's unit, so their size alone means little (on NAB, the half-normal's spread costs a point)."""


PROFILE_BUCKETS = 24

PROFILE_DAY_WEIGHT = 0.5
"""The weight of the latest day in a profile bucket's mean, for a sensor of known cadence (so a bucket is a
mean over the last few days' whole hour, not over the last few readings: at one reading a minute and a
per-reading fading factor of 0.1, a bucket held the hour's last ten minutes, and a value ramping through
the day jumped away from it at every hour's start: most of the false alarms of batteries, footfall, wind
and solar plants on the simulated city)."""


def _profile(weekends: bool, interval_seconds: float | None) -> DailyProfile:
    """The daily profile: for a known cadence, day-weighted and interpolated between the hours' middles."""
    if interval_seconds is None:
        return DailyProfile(buckets=PROFILE_BUCKETS, fading_factor=0.1, weekends=weekends)
    per_bucket = max(1.0, 86400.0 / PROFILE_BUCKETS / interval_seconds)
    fading = 1.0 - (1.0 - PROFILE_DAY_WEIGHT) ** (1.0 / per_bucket)
    return DailyProfile(buckets=PROFILE_BUCKETS, fading_factor=fading, weekends=weekends, interpolate=True)


def seasonal_likelihood(
    weekends: bool = False,
    warmup: int = GENERIC_WARMUP,
    threshold: float = 0.999,
    least_spread: float = 0.0,
    interval_seconds: float | None = None,
    edges: tuple[float, float] | None = None,
    window: int = 5,
    robust: float | None = None,
    learn_below: float | None = None,
) -> SensorDetector:
    """The default detector: seasonal z-score, anomaly likelihood, alert at ``threshold``.

    ``least_spread`` (the kind's :attr:`~sensors.catalog.SensorKind.least_spread`, 0 for an unknown kind)
    is the floor of the z-scores' spread, in the value's unit; with one, the likelihood's long run of raw
    scores has at least :data:`HALF_NORMAL_SPREAD`. ``interval_seconds`` (the kind's cadence) makes the
    daily profile weigh whole days and interpolate between hours (see :func:`_profile`); ``edges`` (the
    kind's physical range) are where a value pinned (a solar plant at night) teaches the z-scores no spread.
    ``window`` is the likelihood's window of recent raw scores; ``robust`` and ``learn_below`` keep an
    anomaly's own values out of the spreads it is judged against (:data:`KIND_ROBUST`,
    :data:`KIND_LEARN_BELOW`).
    """
    model = SeasonalZScore(
        fading_factor=0.01,
        profile=_profile(weekends, interval_seconds),
        grace=GRACE,
        floor=least_spread,
        edges=edges,
        robust=robust,
    )
    return SensorDetector(
        "seasonal_likelihood",
        6,
        model,
        AnomalyLikelihood(
            window=window,
            cap=5.0,
            grace=GRACE,
            floor=HALF_NORMAL_SPREAD if least_spread > 0 else LEAST_SCORE_SPREAD,
            learn_below=learn_below,
        ),
        threshold=threshold,
        warmup=warmup,
    )


def seasonal_zscore() -> SensorDetector:
    """The same model without the likelihood: its z-score read as a Gaussian tail."""
    model = SeasonalZScore(fading_factor=0.01, profile=DailyProfile(buckets=24, fading_factor=0.1))
    return SensorDetector(
        "seasonal_zscore", 3, model, GaussianTail(), threshold=0.99999, warmup=GENERIC_WARMUP
    )


def gaussian_zscore() -> SensorDetector:
    """Baseline: a fading z-score of the value alone, read as a Gaussian tail."""
    return SensorDetector(
        "gaussian_zscore",
        3,
        SeasonalZScore(fading_factor=0.01),
        GaussianTail(),
        threshold=0.99999,
        warmup=GENERIC_WARMUP,
    )


def half_space_trees() -> SensorDetector:
    """Baseline: River's Half-Space Trees with their defaults on the min-max scaled value, their score
    (the share of its mass a value's region lacks, in [0, 1]) taken as the probability."""
    return SensorDetector(
        "half_space_trees",
        2,
        RiverModel(anomaly.HalfSpaceTrees(seed=0)),
        Unchanged(),
        threshold=0.9,
        warmup=GENERIC_WARMUP,
    )


TRANSITION_BASE = 0.9999
"""The probability a transition likelihood detector alerts at, and rests after."""

TRANSITION_LEARN_RANGE = 300
"""Readings whose range fixes a transition likelihood detector's bins (it scores nothing before)."""

TRANSITION_LEAST_SPREAD = 0.02
"""The least spread of the likelihood's long run of mean novelties. A sensor whose every context was known
(its long run all 0) then alerts at a wholly new context (a new bin: a mean of 0.1 over ten readings, five
times this spread), not at a new transition or two, which a noisy value at a bin's edge makes now and
then (with a floor of 0.001, twice in a made-up sensor's second day)."""

TRANSITION_LONG_RUN = 100
"""Novelties the likelihood learns after the bins are fixed before the detector may alert: its long run."""


def transition_likelihood(resolutions: tuple[int, ...] = (8, 3), rest: int = 75) -> SensorDetector:
    """Transition novelty, its anomaly likelihood, and a rest of ``rest`` readings after each detection.

    The value's bins and their transitions from the last two
    (:class:`~models.detectors.transitions.TransitionNovelty`,
    at each of ``resolutions``: a number of bins across the range of the first :data:`TRANSITION_LEARN_RANGE`
    readings); how unusual the
    mean of the last ten novelties is against all such means since then (the averaged
    :class:`~models.postprocessing.likelihood.AnomalyLikelihood`), alerting once it has
    :data:`TRANSITION_LONG_RUN` of
    them; one detection at :data:`TRANSITION_BASE`, then ``rest`` readings of quiet
    (:class:`~models.postprocessing.rest.Rest`).
    The defaults are what leave-one-group-out cross-validation over NAB's groups chooses from
    :data:`TRANSITION_GRID` (``openlab evaluate DATA --cross-validate``).
    """
    return SensorDetector(
        "transition_likelihood",
        5,
        TransitionNovelty(resolutions=resolutions, order=2, learn_range=TRANSITION_LEARN_RANGE),
        Rest(
            AnomalyLikelihood(
                window=10, cap=1.0, grace=TRANSITION_LEARN_RANGE, floor=TRANSITION_LEAST_SPREAD, averaged=True
            ),
            base=TRANSITION_BASE,
            period=rest,
        ),
        threshold=TRANSITION_BASE,
        warmup=TRANSITION_LEARN_RANGE + TRANSITION_LONG_RUN,
    )


TRANSITION_GRID: dict[str, Callable[[], SensorDetector]] = {
    f"bins={'+'.join(map(str, resolutions))} rest={rest}": partial(transition_likelihood, resolutions, rest)
    for resolutions in ((8,), (8, 3))
    for rest in (75, 150)
}
"""The settings cross-validation chooses among: eight bins (CAD OSE's three bits) alone or with three beside
them, a rest of 75 or 150 readings (CAD OSE rests a fifth of NAB's probation, 120 to 150 readings on most
files)."""

DEFAULT_DETECTOR = "transition_likelihood"
"""The detector of a sensor of unknown kind and cadence (benchmark files): the best held out across NAB's
groups (``openlab evaluate DATA --cross-validate``; 67.7 standard on the 35 shared files, where
``seasonal_likelihood``, tuned on traffic and artificial series, scores 15.7)."""

DETECTORS: dict[str, Callable[[], SensorDetector]] = {
    "transition_likelihood": transition_likelihood,
    "seasonal_likelihood": seasonal_likelihood,
    "seasonal_zscore": seasonal_zscore,
    "gaussian_zscore": gaussian_zscore,
    "half_space_trees": half_space_trees,
}
"""Detectors for sensors of unknown kind and cadence (benchmark files), by name."""

GRIDS: dict[str, dict[str, Callable[[], SensorDetector]]] = {"transition_likelihood": TRANSITION_GRID}
"""The settings cross-validation chooses among, per detector (one not here has one setting: its own)."""

NAMED_DETECTORS: dict[str, Callable[[], SensorDetector]] = {**DETECTORS, **RIVER_DETECTORS}
"""Every detector a name can choose (``openlab evaluate --detector``, ``OPENLAB_DETECTOR``): ours, and River's
own (:mod:`models.detectors.river_detectors`, named ``river.<class>``).

>>> NAMED_DETECTORS["river.OneClassSVM"]().label
'river.OneClassSVM@1'
"""


def detector_for(kind: str) -> SensorDetector:
    """A fresh detector suited to sensors of ``kind`` (a generic one for a kind not in the catalog)."""
    spec = KINDS.get(kind)
    if spec is None:
        return seasonal_likelihood()
    return seasonal_likelihood(
        weekends=kind in WEEKLY_KINDS,
        warmup=KIND_WARMUP,
        threshold=KIND_THRESHOLD,
        least_spread=spec.least_spread,
        interval_seconds=spec.interval_seconds,
        edges=(spec.low, spec.high),
        window=KIND_WINDOW,
        robust=KIND_ROBUST,
        learn_below=KIND_LEARN_BELOW,
    )
