"""Event time per sensor: readings that arrive out of order pass and are marked; too late, refused.

Each sensor's clock is the latest event time seen from it. A reading at or after that clock is
in order. One behind it by no more than the allowed lateness passes, marked ``out_of_order``
(a gateway that retried, a radio that buffered). One further behind is refused as ``too_late``:
its moment has been scored and written, and taking it now would rewrite history behind the
detectors' backs. Old timestamps as such are fine (a replay of last year's data, in order,
passes): lateness is measured against the sensor's own clock, not the wall clock.

>>> from datetime import UTC, datetime, timedelta
>>> clocks = SensorClocks(allowed=timedelta(minutes=10))
>>> at = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
>>> clocks.judge("s1", at)
>>> clocks.judge("s1", at - timedelta(minutes=3))
'out_of_order'
>>> clocks.judge("s1", at - timedelta(minutes=11)).reason
<Reason.TOO_LATE: 'too_late'>
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sensors.cleaning import Reason, Rejection

OUT_OF_ORDER = "out_of_order"
"""The quality flag of a reading that arrived after a later one from its sensor."""


class SensorClocks:
    """The latest event time of every sensor seen, and the lateness each may have."""

    def __init__(self, allowed: timedelta) -> None:
        self.allowed = allowed
        self._latest: dict[str, datetime] = {}

    def judge(self, sensor_id: str, observed_at: datetime) -> str | Rejection | None:
        """``None`` for a reading in order, ``"out_of_order"`` for a late one that may pass, or
        the rejection of one that is too late. Only readings that pass move the clock."""
        latest = self._latest.get(sensor_id)
        if latest is None or observed_at >= latest:
            self._latest[sensor_id] = observed_at
            return None
        behind = latest - observed_at
        if behind > self.allowed:
            return Rejection(
                Reason.TOO_LATE,
                f"observed_at {observed_at.isoformat()} is {behind.total_seconds():.0f} s behind"
                f" the sensor's latest reading ({latest.isoformat()}); at most"
                f" {self.allowed.total_seconds():.0f} s is allowed",
            )
        return OUT_OF_ORDER
