"""Event times as whole microseconds since 1970 (UTC): how the sensor and alarm states store
their times in their table records, exactly and as plain JSON numbers.

>>> from datetime import UTC, datetime
>>> to_micros(datetime(1970, 1, 1, 0, 0, 1, 500, tzinfo=UTC)), to_micros(None)
(1000500, None)
>>> from_micros(1000500), from_micros(None)
(datetime.datetime(1970, 1, 1, 0, 0, 1, 500, tzinfo=datetime.timezone.utc), None)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import overload

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@overload
def to_micros(moment: datetime) -> int: ...
@overload
def to_micros(moment: None) -> None: ...
def to_micros(moment: datetime | None) -> int | None:
    """Microseconds since the epoch of an aware ``moment`` (``None`` stays ``None``)."""
    return None if moment is None else (moment - EPOCH) // _MICROSECOND


@overload
def from_micros(micros: float) -> datetime: ...
@overload
def from_micros(micros: None) -> None: ...
def from_micros(micros: float | None) -> datetime | None:
    """The UTC time ``micros`` microseconds after the epoch (a JSON number; ``None`` stays ``None``)."""
    return None if micros is None else EPOCH + timedelta(microseconds=int(micros))
