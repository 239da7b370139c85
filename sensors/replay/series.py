"""CSV series (``timestamp,value``, as NAB's files) as the readings of one sensor.

>>> rows = ["timestamp,value", "2014-04-01 00:00:00,19.5", "2014-04-01 00:05:00,20.25"]
>>> target = SeriesTarget(sensor_id="GJ-00001.temperature", site_id="GJ-00001", kind="temperature")
>>> first, second = csv_series(rows, target)
>>> first.key, second.event_time.isoformat()
(b'GJ-00001.temperature', '2014-04-01T00:05:00+00:00')
>>> Reading.model_validate_json(second.value).seq
2
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from sensors.catalog import KINDS
from sensors.reading import Identifier, Reading
from sensors.replay.records import Replayed, ReplayError
from sensors.sites import SiteRegistry


@dataclass(frozen=True, slots=True)
class SeriesTarget:
    """The sensor a CSV series belongs to; ``unit`` is always the kind's canonical unit."""

    sensor_id: str
    site_id: str
    kind: str

    @property
    def unit(self) -> str:
        return KINDS[self.kind].unit


class MappingEntry(BaseModel):
    """Where one CSV series goes: any field left out comes from the registry or the options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sensor_id: str | None = None
    site_id: str | None = None
    kind: str | None = None
    unit: str | None = None


_MAPPING = TypeAdapter(dict[str, MappingEntry])
_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


def load_mapping(text: str | bytes, source: str = "<mapping>") -> dict[str, MappingEntry]:
    """A mapping file: a JSON object from a CSV file's name to its sensor_id, site_id, kind, unit.

    >>> load_mapping('{"speed_6005.csv": {"sensor_id": "GJ-00002.traffic_speed"}}')
    {'speed_6005.csv': MappingEntry(sensor_id='GJ-00002.traffic_speed', site_id=None, kind=None, unit=None)}
    """
    try:
        return _MAPPING.validate_json(text)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise ReplayError(
            f"{source}: {where}: {first['msg']} (expected a JSON object: file name ->"
            ' {"sensor_id", "site_id", "kind", "unit"}, each optional)'
        ) from None


def mapping_for(mapping: Mapping[str, MappingEntry], path: Path) -> MappingEntry | None:
    """The entry for ``path``: by the path as given, else by its file name."""
    return mapping.get(str(path)) or mapping.get(path.name)


def resolve_target(
    source: str,
    *,
    sensor_id: str | None = None,
    site_id: str | None = None,
    kind: str | None = None,
    unit: str | None = None,
    registry: SiteRegistry | None = None,
) -> SeriesTarget:
    """The sensor of a series from what is given, completed from the registry.

    A registered ``sensor_id`` alone is enough (its site and kind come from the registry); so are
    ``site_id`` and ``kind`` alone (the sensor id is then ``<site_id>.<kind>``, the registry's
    convention). A ``unit`` other than the kind's canonical unit is an error: values are not
    converted.

    >>> resolve_target("a.csv", site_id="GJ-00001", kind="air_pm25")
    SeriesTarget(sensor_id='GJ-00001.air_pm25', site_id='GJ-00001', kind='air_pm25')
    >>> resolve_target("a.csv", kind="air_pm25")
    Traceback (most recent call last):
    ...
    sensors.replay.records.ReplayError: a.csv: no sensor for this series: give --sensor ...
    """
    known = registry.sensor(sensor_id) if registry is not None and sensor_id else None
    if known is not None:
        site_id = site_id or known[0].site_id
        kind = kind or known[1].kind
    if sensor_id is None and site_id and kind:
        sensor_id = f"{site_id}.{kind}"
    if not (sensor_id and site_id and kind):
        raise ReplayError(
            f"{source}: no sensor for this series: give --sensor (a registered one), or --site and"
            " --kind, or map the file in --mapping"
            + (f" (sensor {sensor_id!r} is not in the registry)" if sensor_id and registry else "")
        )
    if kind not in KINDS:
        raise ReplayError(
            f"{source}: kind {kind!r} is not in the sensor catalog ({', '.join(sorted(KINDS))})"
        )
    for name, value in (("sensor_id", sensor_id), ("site_id", site_id)):
        try:
            _IDENTIFIER.validate_python(value)
        except ValidationError:
            raise ReplayError(
                f"{source}: {name} {value!r} must be 1 to 64 letters, digits, '_', '.', ':' or '-'"
            ) from None
    canonical = KINDS[kind].unit
    if unit is not None and unit != canonical:
        raise ReplayError(
            f"{source}: unit {unit!r} is not {kind}'s unit {canonical!r}; replay does not convert"
            " values: convert the series first, or map it to a kind measured in that unit"
        )
    return SeriesTarget(sensor_id=sensor_id, site_id=site_id, kind=kind)


def registry_mismatch(target: SeriesTarget, registry: SiteRegistry) -> str | None:
    """Why the worker would dead-letter every reading of ``target``, if it would (else ``None``)."""
    known = registry.sensor(target.sensor_id)
    if known is None:
        return f"sensor {target.sensor_id!r} is not in the registry (its readings will be unknown_sensor)"
    site, sensor = known
    if (site.site_id, sensor.kind) != (target.site_id, target.kind):
        return (
            f"sensor {target.sensor_id!r} is a {sensor.kind} at {site.site_id}, not a {target.kind}"
            f" at {target.site_id} (its readings will be sensor_mismatch)"
        )
    return None


def _timestamp(text: str, zone: tzinfo) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def csv_series(
    lines: Iterable[str],
    target: SeriesTarget,
    *,
    source: str = "<csv>",
    timezone: tzinfo = UTC,
    shift: timedelta | None = None,
) -> Iterator[Replayed]:
    """The Readings of a ``timestamp,value`` CSV series, in file order.

    A row that cannot be a Reading (a bad timestamp, a value that is not a finite number, a
    missing field) raises :class:`ReplayError` naming its line. Timestamps without an offset are
    in ``timezone``; ``shift`` moves every timestamp.
    """
    reader = csv.reader(lines, strict=True)
    key = target.sensor_id.encode()
    unit = target.unit
    header: list[str] | None = None
    seq = 0
    try:
        for row in reader:
            if not row or not "".join(row).strip():
                continue
            line = reader.line_num
            if header is None:
                header = [cell.strip().lstrip("\ufeff").lower() for cell in row]
                if header != ["timestamp", "value"]:
                    raise ReplayError(
                        f"{source}:{line}: the header is {','.join(row)!r}, not 'timestamp,value'"
                    )
                continue
            if len(row) != 2:
                raise ReplayError(f"{source}:{line}: {len(row)} values, not 2 (timestamp,value)")
            stamp_text, value_text = row[0].strip(), row[1].strip()
            try:
                moment = _timestamp(stamp_text, timezone)
            except ValueError:
                raise ReplayError(
                    f"{source}:{line}: timestamp {stamp_text!r} is not ISO 8601 (e.g. 2014-04-01 00:00:00)"
                ) from None
            try:
                value = float(value_text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise ReplayError(f"{source}:{line}: value {value_text!r} is not a finite number")
            seq += 1
            try:
                if shift:
                    moment = moment + shift
                reading = Reading(
                    sensor_id=target.sensor_id,
                    site_id=target.site_id,
                    kind=target.kind,
                    value=value,
                    unit=unit,
                    observed_at=moment,
                    seq=seq,
                )
            except (ValidationError, OverflowError) as error:
                raise ReplayError(f"{source}:{line}: not a Reading: {error}") from None
            yield Replayed(key, reading.model_dump_json().encode(), reading.observed_at)
    except csv.Error as error:
        raise ReplayError(f"{source}:{reader.line_num}: not CSV: {error}") from None
    if header is None:
        raise ReplayError(f"{source}: the file is empty; expected a 'timestamp,value' header and rows")


def read_series(
    path: Path, target: SeriesTarget, *, timezone: tzinfo = UTC, shift: timedelta | None = None
) -> Iterator[Replayed]:
    """The records of a CSV series file, read lazily."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as lines:
            yield from csv_series(lines, target, source=str(path), timezone=timezone, shift=shift)
    except UnicodeDecodeError as error:
        raise ReplayError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
