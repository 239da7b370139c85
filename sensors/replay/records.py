"""Recorded readings as ``(key, value, event time)`` records: JSONL files, and files merged by time.

Two kinds of file:

- **JSONL** (``.jsonl``, ``.ndjson``): one event per line, as ``readings.raw`` carries them. Each
  line is sent exactly as it is, even if it is not a valid Reading (the worker's cleaner judges
  it and dead-letters it with its reason). Its key is its ``sensor_id`` when the line is a JSON
  object with a string ``sensor_id``, else none. Blank lines are skipped.
- **CSV series** (``.csv``) in the ``timestamp,value`` form of public anomaly benchmarks such as
  NAB: one file is one sensor's series. Each row becomes a Reading of that sensor (its
  :class:`~sensors.replay.series.SeriesTarget`), with ``seq`` = the row's number (1 for the first
  row after the header) and ``unit`` = the kind's canonical unit. Values are sent as they are, not converted.
  Timestamps without an offset (``2014-04-01 00:00:00``) are taken in a given time zone (UTC by
  default).

Nothing here touches Kafka: the records are sent by ``streams.ingest.replay``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, NamedTuple

from sensors.cleaning import parse
from sensors.ingest import sensor_key
from sensors.reading import Reading

JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv",)
FileKind = Literal["jsonl", "csv"]


class ReplayError(ValueError):
    """A file, a row or a mapping that cannot be replayed; the message names where and why."""


class Replayed(NamedTuple):
    """One record to send to ``readings.raw``."""

    key: bytes | None
    value: bytes
    event_time: datetime | None
    """The reading's ``observed_at``; ``None`` for a line that is not a valid Reading."""


def jsonl_records(lines: Iterable[bytes], *, shift: timedelta | None = None) -> Iterator[Replayed]:
    """The records of JSONL lines: each line as it is, keyed by its sensor id when it has one.

    With ``shift``, a line that is a valid Reading is re-encoded with ``observed_at`` moved by
    ``shift``; any other line is still sent exactly as it is.

    >>> good = b'{"sensor_id":"S1","site_id":"A","kind":"humidity","value":50.0,"unit":"%",'
    >>> good += b'"observed_at":"2026-01-01T00:00:00Z","seq":1}'
    >>> lines = [good + b"\\n", b"\\n", b'{"sensor_id": "S2"}']
    >>> [(r.key, r.event_time is None) for r in jsonl_records(lines)]
    [(b'S1', False), (b'S2', True)]
    """
    for raw in lines:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        reading = parse(Reading, line)
        if not isinstance(reading, Reading):
            yield Replayed(sensor_key(line), line, None)
            continue
        key = reading.sensor_id.encode()
        if not shift:
            yield Replayed(key, line, reading.observed_at)
            continue
        try:
            moved = reading.model_copy(update={"observed_at": reading.observed_at + shift})
        except OverflowError:
            yield Replayed(key, line, reading.observed_at)
            continue
        yield Replayed(key, moved.model_dump_json().encode(), moved.observed_at)


def file_kind(path: Path) -> FileKind:
    """``jsonl`` or ``csv``, by the file name's suffix."""
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in CSV_SUFFIXES:
        return "csv"
    raise ReplayError(
        f"{path}: cannot tell the format from the suffix {suffix!r}: name JSONL files"
        f" {' or '.join(JSONL_SUFFIXES)} and CSV series {' or '.join(CSV_SUFFIXES)}"
    )


def read_jsonl(path: Path, *, shift: timedelta | None = None) -> Iterator[Replayed]:
    """The records of a JSONL file, read lazily."""
    with path.open("rb") as lines:
        yield from jsonl_records(lines, shift=shift)


def latest_time(records: Iterable[Replayed]) -> datetime | None:
    """The latest event time among ``records`` (``None`` if none has one)."""
    return max((r.event_time for r in records if r.event_time is not None), default=None)


def merge_by_time(streams: Sequence[Iterable[Replayed]]) -> Iterator[Replayed]:
    """The records of several files interleaved by event time, each file's own order kept.

    Each file is expected in time order. A record without an event time (a JSONL line that is
    not a Reading) goes right after the record before it in its file.

    >>> at = lambda minute: datetime(2026, 1, 1, 0, minute, tzinfo=UTC)
    >>> one = [Replayed(b"a", b"1", at(0)), Replayed(None, b"x", None), Replayed(b"a", b"2", at(9))]
    >>> two = [Replayed(b"b", b"3", at(5))]
    >>> [r.value for r in merge_by_time([one, two])]
    [b'1', b'x', b'3', b'2']
    """
    counter = itertools.count()
    floor = datetime.min.replace(tzinfo=UTC)

    def keyed(index: int, records: Iterable[Replayed]) -> Iterator[tuple[datetime, int, int, Replayed]]:
        current = floor
        for record in records:
            if record.event_time is not None:
                current = record.event_time
            yield current, index, next(counter), record

    for *_, record in heapq.merge(*(keyed(i, s) for i, s in enumerate(streams))):
        yield record
