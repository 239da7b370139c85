"""Pacing a replay: each record sent when its event time comes, at ``speed`` times the recorded pace.

>>> from datetime import UTC, datetime
>>> schedule([datetime(2014, 4, 1, tzinfo=UTC), datetime(2014, 4, 1, 0, 5, tzinfo=UTC)], speed=60.0)
[0.0, 5.0]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime


class Pacer:
    """When (on a wall clock) each record is due, so that ``speed`` event-seconds pass per second.

    The first event time is sent at ``start``; each later one ``(event time - first) / speed``
    seconds after it. Time never runs backwards: a record earlier than one already sent (or one
    without an event time) is due at once. ``speed`` 0 means as fast as possible: everything is
    due at ``start``.
    """

    def __init__(self, speed: float, start: float) -> None:
        if speed < 0 or not math.isfinite(speed):
            raise ValueError(f"speed must be a finite number >= 0, not {speed}")
        self.speed = speed
        self.start = start
        self._first: datetime | None = None
        self._ahead = 0.0

    def due(self, event_time: datetime | None) -> float:
        if self.speed == 0:
            return self.start
        if event_time is not None:
            if self._first is None:
                self._first = event_time
            self._ahead = max(self._ahead, (event_time - self._first).total_seconds() / self.speed)
        return self.start + self._ahead


def schedule(event_times: Iterable[datetime | None], speed: float, start: float = 0.0) -> list[float]:
    """The wall-clock time at which each event is due (see :class:`Pacer`).

    >>> from datetime import UTC
    >>> at = lambda second: datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC)
    >>> schedule([at(0), at(10), None, at(5), at(30)], speed=10.0, start=100.0)
    [100.0, 101.0, 101.0, 101.0, 103.0]
    >>> schedule([at(0), at(30)], speed=0)
    [0.0, 0.0]
    """
    pacer = Pacer(speed, start)
    return [pacer.due(moment) for moment in event_times]
