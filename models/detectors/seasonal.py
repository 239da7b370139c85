"""A daily profile: the usual value at each time of day (optionally apart for weekdays and weekends).

Each bucket of the day (an hour by default) keeps an exponentially weighted mean of the values seen
in it, so the profile follows the seasons. The mean is bias-corrected like
:class:`~models.detectors.zscore.FadingZScore`'s: the ``n``-th value of a bucket weighs at least ``1 / n``, so
a
bucket seen once is the plain mean of what it saw, not its first value. A bucket not yet seen has no
expectation.

With ``interpolate``, a bucket's mean is taken as the usual value at the middle of its slice of the
day, and the usual value in between two middles is read off the line joining them: a value that ramps
up or down through the day (a battery charging, the sun rising) is then expected to ramp too, instead
of jumping at each bucket's edge. A neighbour not seen yet leaves the bucket's own mean.

>>> from datetime import UTC, datetime, timedelta
>>> profile = DailyProfile(buckets=24, fading_factor=0.5)
>>> monday = datetime(2026, 11, 30, tzinfo=UTC)
>>> for hour in range(48):
...     at = monday + timedelta(hours=hour)
...     profile.learn_one(10.0 if at.hour < 12 else 30.0, at)
>>> [profile.predict_one(monday + timedelta(days=2, hours=hour)) for hour in (3, 15)]
[10.0, 30.0]
>>> DailyProfile(weekends=True).predict_one(monday + timedelta(days=5)) is None  # no Saturday yet
True
>>> ramp = DailyProfile(buckets=24, fading_factor=0.001, interpolate=True)
>>> for minute in range(1440):
...     ramp.learn_one(minute / 60.0, monday + timedelta(minutes=minute))
>>> round(ramp.predict_one(monday + timedelta(days=1, hours=10)), 1)  # the hours' means at 9:30, 10:30
10.0
"""

from __future__ import annotations

from datetime import datetime

_MINUTES_PER_DAY = 1440


class DailyProfile:
    """Exponentially weighted mean per time-of-day bucket (and per weekday/weekend when ``weekends``)."""

    def __init__(
        self, buckets: int = 24, fading_factor: float = 0.1, weekends: bool = False, interpolate: bool = False
    ) -> None:
        self.buckets = buckets
        self.fading_factor = fading_factor
        self.weekends = weekends
        self.interpolate = interpolate
        self._means: dict[int, tuple[float, int]] = {}

    def _block(self, at: datetime) -> int:
        return self.buckets if self.weekends and at.weekday() >= 5 else 0

    def bucket(self, at: datetime) -> int:
        """The bucket of ``at``: its slice of the day, moved past the weekdays' on a weekend."""
        slot = (at.hour * 60 + at.minute) * self.buckets // _MINUTES_PER_DAY
        return slot + self._block(at)

    def predict_one(self, at: datetime) -> float | None:
        """The usual value at ``at``'s time of day, or ``None`` before that bucket was seen."""
        found = self._means.get(self.bucket(at))
        if found is None:
            return None
        if not self.interpolate:
            return found[0]
        # Position in buckets, counted from the middle of the first bucket.
        position = (at.hour * 60 + at.minute + at.second / 60.0) * self.buckets / _MINUTES_PER_DAY - 0.5
        slot = int(position // 1)
        share = position - slot
        block = self._block(at)
        before = self._means.get(slot % self.buckets + block)
        after = self._means.get((slot + 1) % self.buckets + block)
        if before is None or after is None:
            return found[0]
        return before[0] + (after[0] - before[0]) * share

    def learn_one(self, value: float, at: datetime) -> None:
        key = self.bucket(at)
        mean, n = self._means.get(key, (0.0, 0))
        n += 1
        weight = max(self.fading_factor, 1.0 / n)
        self._means[key] = (mean + weight * (value - mean), n)
