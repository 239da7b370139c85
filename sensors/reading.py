"""The event schema: one ``Reading`` is one measurement of one quantity by one sensor.

>>> r = Reading.model_validate_json(
...     '{"sensor_id": "S0001-air_pm25", "site_id": "S0001", "kind": "air_pm25",'
...     ' "value": 12.5, "unit": "ug/m3", "observed_at": "2026-11-29T01:00:00Z", "seq": 7}'
... )
>>> r.value, r.observed_at.isoformat()
(12.5, '2026-11-29T01:00:00+00:00')
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


def _as_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is outside the representable range once converted to UTC") from None


class Reading(BaseModel):
    """A sensor event as it travels through ``readings.raw`` and ``readings.clean``."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)

    sensor_id: Identifier
    site_id: Identifier
    kind: Identifier
    value: float
    unit: Annotated[str, StringConstraints(min_length=1, max_length=16)]
    observed_at: Annotated[AwareDatetime, AfterValidator(_as_utc)]
    seq: int | None = Field(None, ge=0, lt=2**63)
    quality: tuple[str, ...] = ()
