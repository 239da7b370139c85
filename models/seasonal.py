"""A daily profile: the usual value at each time of day (optionally apart for weekdays and weekends).

Each bucket of the day (an hour by default) keeps River's exponentially weighted mean of the values
seen in it, so the profile follows the seasons. A bucket not yet seen has no expectation.

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
"""

from __future__ import annotations

from datetime import datetime

from river import stats

_MINUTES_PER_DAY = 1440


class DailyProfile:
    """Exponentially weighted mean per time-of-day bucket (and per weekday/weekend when ``weekends``)."""

    def __init__(self, buckets: int = 24, fading_factor: float = 0.1, weekends: bool = False) -> None:
        self.buckets = buckets
        self.fading_factor = fading_factor
        self.weekends = weekends
        self._means: dict[int, stats.EWMean] = {}

    def bucket(self, at: datetime) -> int:
        """The bucket of ``at``: its slice of the day, moved past the weekdays' on a weekend."""
        slot = (at.hour * 60 + at.minute) * self.buckets // _MINUTES_PER_DAY
        return slot + self.buckets if self.weekends and at.weekday() >= 5 else slot

    def predict_one(self, at: datetime) -> float | None:
        """The usual value at ``at``'s time of day, or ``None`` before that bucket was seen."""
        mean = self._means.get(self.bucket(at))
        return None if mean is None else float(mean.get())

    def learn_one(self, value: float, at: datetime) -> None:
        key = self.bucket(at)
        mean = self._means.get(key)
        if mean is None:
            mean = self._means[key] = stats.EWMean(fading_factor=self.fading_factor)
        mean.update(value)
