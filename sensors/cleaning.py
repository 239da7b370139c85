"""Cleaning: turn the bytes of one raw event into a valid ``Reading`` or a ``Rejection`` with a reason.

Cleaning never raises: whatever arrives, the answer is one of the two.

>>> from datetime import UTC, datetime
>>> city = SiteRegistry.generate(count=3, seed=1)
>>> site, sensor = next(city.sensors())
>>> cleaner = Cleaner(city)
>>> now = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
>>> cleaner.clean(b"{oops", now)
Rejection(reason=<Reason.NOT_JSON: 'not_json'>, detail='not JSON: ...')
>>> raw = Reading(sensor_id=sensor.sensor_id, site_id=site.site_id, kind=sensor.kind,
...               value=1.0e9, unit=sensor.unit, observed_at=now, seq=1).model_dump_json()
>>> cleaner.clean(raw.encode(), now).reason
<Reason.OUT_OF_RANGE: 'out_of_range'>
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from pydantic import AwareDatetime, BaseModel, ValidationError

from sensors.catalog import KINDS
from sensors.reading import Reading
from sensors.sites import SiteRegistry


class Reason(StrEnum):
    """Why an event was rejected. The list is fixed; the README documents each code."""

    NOT_JSON = "not_json"
    SCHEMA = "schema"
    NON_FINITE = "non_finite"
    UNKNOWN_SENSOR = "unknown_sensor"
    SENSOR_MISMATCH = "sensor_mismatch"
    UNIT_UNKNOWN = "unit_unknown"
    OUT_OF_RANGE = "out_of_range"
    FUTURE_TIMESTAMP = "future_timestamp"
    DUPLICATE = "duplicate"
    TOO_LATE = "too_late"
    SINK_REJECTED = "sink_rejected"
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A rejected event's reason code and a sentence a person can act on."""

    reason: Reason
    detail: str


def _validation_rejection(error: ValidationError) -> Rejection:
    first = error.errors(include_url=False)[0]
    kind = first["type"]
    where = ".".join(str(part) for part in first["loc"]) or "event"
    if kind == "json_invalid":
        return Rejection(Reason.NOT_JSON, f"not JSON: {first['msg']}")
    if kind == "finite_number":
        return Rejection(Reason.NON_FINITE, f"{where} is NaN or infinite")
    return Rejection(Reason.SCHEMA, f"{where}: {first['msg']} ({error.error_count()} error(s))")


Model = TypeVar("Model", bound=BaseModel)

MAX_EVENT_BYTES = 16 * 1024
MAX_ORIGINAL_BYTES = 64 * 1024
"""A dead letter keeps at most this much of the bytes rejected: all of any event that could be a
reading (``MAX_EVENT_BYTES``), and never so much that the dead letter (base64, a third larger)
would be over the largest record Kafka takes (1 MB): refused, it would stop whoever sends it."""
MAX_KEY_BYTES = 1024
"""A dead letter keeps at most this much of the rejected event's key (a sensor id is 64 at most)."""


def parse(model: type[Model], raw: bytes | None) -> Model | Rejection:
    """Decode ``raw`` JSON into ``model``, or say precisely why it is not one.

    >>> parse(Reading, None)
    Rejection(reason=<Reason.SCHEMA: 'schema'>, detail='the event has no value')
    """
    if raw is None:
        return Rejection(Reason.SCHEMA, "the event has no value")
    if len(raw) > MAX_EVENT_BYTES:
        return Rejection(Reason.SCHEMA, f"{len(raw)} bytes is above the {MAX_EVENT_BYTES} allowed")
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        return _validation_rejection(error)


class Cleaner:
    """Validation rules for one city: schema, registry membership, units, ranges, event time."""

    def __init__(self, registry: SiteRegistry, max_future: timedelta = timedelta(minutes=5)) -> None:
        self.registry = registry
        self.max_future = max_future

    def clean(self, raw: bytes | None, now: datetime) -> Reading | Rejection:
        """Validate ``raw`` (the bytes of a Kafka value) as of wall-clock time ``now``."""
        reading = parse(Reading, raw)
        if isinstance(reading, Rejection):
            return reading
        return self.check(reading, now)

    def check(self, reading: Reading, now: datetime) -> Reading | Rejection:
        """The rules beyond the schema, for a reading that is already well-formed."""
        known = self.registry.sensor(reading.sensor_id)
        if known is None:
            return Rejection(Reason.UNKNOWN_SENSOR, f"sensor {reading.sensor_id!r} is not registered")
        site, sensor = known
        if reading.site_id != site.site_id or reading.kind != sensor.kind:
            return Rejection(
                Reason.SENSOR_MISMATCH,
                f"sensor {reading.sensor_id!r} is a {sensor.kind} at {site.site_id},"
                f" not a {reading.kind} at {reading.site_id}",
            )
        kind = KINDS[sensor.kind]
        if reading.unit != kind.unit:
            conversion = kind.alternative_units.get(reading.unit)
            if conversion is None:
                accepted = ", ".join(repr(unit) for unit in (kind.unit, *kind.alternative_units))
                return Rejection(
                    Reason.UNIT_UNKNOWN,
                    f"unit {reading.unit!r} is not one of {accepted} for {kind.name}",
                )
            reading = reading.model_copy(
                update={
                    "value": conversion.apply(reading.value),
                    "unit": kind.unit,
                    "quality": (*reading.quality, f"unit_converted:{reading.unit}"),
                }
            )
        if not kind.low <= reading.value <= kind.high:
            return Rejection(
                Reason.OUT_OF_RANGE,
                f"{reading.value} {kind.unit} is outside {kind.name}'s possible"
                f" range [{kind.low}, {kind.high}]",
            )
        if reading.observed_at - now > self.max_future:
            return Rejection(
                Reason.FUTURE_TIMESTAMP,
                f"observed_at {reading.observed_at.isoformat()} is more than"
                f" {self.max_future.total_seconds():.0f} s ahead of {now.isoformat()}",
            )
        return reading


def keyed_by_its_sensor(reading: Reading, key: bytes | None) -> Reading | Rejection:
    """``reading`` if ``key``, its record's in ``readings.raw``, is its sensor id; else why not.

    The topic is keyed by sensor id so that a sensor's readings come in order on one partition,
    where its state lives (sequence numbers taken, latest event time): a reading on another
    partition would start that state anew, and a late or duplicate reading after it would pass.

    >>> from datetime import UTC, datetime
    >>> reading = Reading(sensor_id="S1-x", site_id="S1", kind="x", value=1.0, unit="u",
    ...                   observed_at=datetime(2026, 11, 29, tzinfo=UTC))
    >>> keyed_by_its_sensor(reading, b"S1-x") is reading
    True
    >>> keyed_by_its_sensor(reading, None).detail
    "the record has no key, not its sensor id 'S1-x': readings.raw is keyed by sensor id"
    """
    if key == reading.sensor_id.encode():
        return reading
    which = "no key" if key is None else f"the key {key[:80].decode('utf-8', 'backslashreplace')!r}"
    return Rejection(
        Reason.SCHEMA,
        f"the record has {which}, not its sensor id {reading.sensor_id!r}:"
        " readings.raw is keyed by sensor id",
    )


class DeadLetter(BaseModel):
    """The value of ``readings.deadletter``: what was rejected, where, and why."""

    stage: str
    reason: Reason
    detail: str
    rejected_at: AwareDatetime
    source_topic: str
    source_partition: int
    source_offset: int
    key: str | None
    original_b64: str

    @classmethod
    def of(
        cls,
        rejection: Rejection,
        *,
        stage: str,
        original: bytes,
        key: bytes | None,
        source: tuple[str, int, int],
        at: datetime,
    ) -> DeadLetter:
        """The dead letter of ``original`` (its first ``MAX_ORIGINAL_BYTES``, the detail says so
        when there were more) and of its ``key`` (the first ``MAX_KEY_BYTES``).

        >>> SOME_TIME = datetime.fromisoformat("2026-11-29T01:00:00+00:00")
        >>> huge = DeadLetter.of(Rejection(Reason.SCHEMA, "too big"), stage="clean", original=b"x" * 10**6,
        ...                      key=b"k" * 10**6, source=("readings.raw", 0, 7), at=SOME_TIME)
        >>> huge.detail, len(huge.original), len(huge.key or "")
        ('too big (only its first 65,536 of 1,000,000 bytes are kept)', 65536, 1024)
        """
        topic, partition, offset = source
        detail = rejection.detail
        if len(original) > MAX_ORIGINAL_BYTES:
            detail += f" (only its first {MAX_ORIGINAL_BYTES:,} of {len(original):,} bytes are kept)"
            original = original[:MAX_ORIGINAL_BYTES]
        return cls(
            stage=stage,
            reason=rejection.reason,
            detail=detail,
            rejected_at=at,
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            key=None if key is None else key[:MAX_KEY_BYTES].decode("utf-8", "backslashreplace"),
            original_b64=base64.b64encode(original).decode("ascii"),
        )

    def record(self) -> tuple[bytes | None, bytes]:
        """The dead letter as a record of ``readings.deadletter``: keyed by its key (the rejected
        event's, as far as it is kept), its JSON as the value."""
        return None if self.key is None else self.key.encode(), self.model_dump_json().encode()

    @property
    def original(self) -> bytes:
        return base64.b64decode(self.original_b64)
