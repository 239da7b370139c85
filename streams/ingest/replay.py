"""``openlab replay``: send recorded readings (JSONL files, CSV series) to ``readings.raw``.

Parsing and pacing are in :mod:`sensors.replay`; this module sends the records through
:class:`~streams.kafka.publisher.Publisher` in acknowledged batches, on the pacer's schedule.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from aiokafka.errors import KafkaConnectionError
from rich.console import Console
from rich.markup import escape

from sensors.replay.pacing import Pacer
from sensors.replay.records import Replayed, ReplayError, file_kind, latest_time, merge_by_time, read_jsonl
from sensors.replay.series import (
    MappingEntry,
    SeriesTarget,
    load_mapping,
    mapping_for,
    read_series,
    registry_mismatch,
    resolve_target,
)
from sensors.sites import SiteRegistry
from streams.city import load_city
from streams.kafka.publisher import Publisher, Record
from streams.kafka.topics import ensure_topics
from streams.settings import Settings

console = Console(stderr=True, soft_wrap=True)

BATCH_SIZE = 5000
"""Most records in one acknowledged send."""
MAX_DELAY_SECONDS = 0.1
"""With a speed, longest a batch stays open (filling while the replay runs behind) before it is sent."""
_ON_TIME = 0.005


@dataclass
class ReplayStats:
    sent: int = 0
    not_readings: int = 0
    batches: int = 0
    last_event_time: datetime | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


async def replay_records(
    settings: Settings,
    records: Iterable[Replayed],
    *,
    speed: float = 0.0,
    batch_size: int = BATCH_SIZE,
    stats: ReplayStats | None = None,
    on_batch: Callable[[ReplayStats], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> ReplayStats:
    """Send ``records`` to ``readings.raw`` on the schedule of ``speed`` (0: as fast as possible).

    Records that are due together go in one batch, sent before waiting for the next one due; a
    batch is sent once it has ``batch_size`` records, or (with a speed) once it has been open for
    :data:`MAX_DELAY_SECONDS` while the replay runs behind its schedule. Returns once Kafka has
    acknowledged every record.
    """
    stats = stats or ReplayStats()
    topic = settings.topic("readings.raw")
    publisher = Publisher(settings)
    pending: list[Record] = []
    opened = 0.0

    async def flush() -> None:
        if pending:
            stats.sent += await publisher.publish(topic, pending)
            stats.batches += 1
            pending.clear()
            if on_batch is not None:
                on_batch(stats)

    try:
        await publisher.start()
        pacer = Pacer(speed, clock())
        for record in records:
            due = pacer.due(record.event_time)
            if due - clock() > _ON_TIME:
                await flush()
                wait = due - clock()
                if wait > 0:
                    await sleep(wait)
            if not pending:
                opened = clock()
            pending.append((record.key, record.value))
            if record.event_time is None:
                stats.not_readings += 1
            else:
                stats.last_event_time = record.event_time
            if len(pending) >= batch_size or (speed > 0 and clock() - opened > MAX_DELAY_SECONDS):
                await flush()
        await flush()
    finally:
        await publisher.stop()
    return stats


@dataclass(frozen=True)
class ReplayPlan:
    """The files of one replay, checked, and where each CSV series goes."""

    files: tuple[Path, ...]
    targets: dict[Path, SeriesTarget]
    timezone: tzinfo
    shift: timedelta | None

    def streams(self) -> list[Iterator[Replayed]]:
        return [
            read_series(path, self.targets[path], timezone=self.timezone, shift=self.shift)
            if path in self.targets
            else read_jsonl(path, shift=self.shift)
            for path in self.files
        ]

    def records(self) -> Iterator[Replayed]:
        """Every record of every file, interleaved by event time."""
        return merge_by_time(self.streams())


def plan_replay(
    files: Iterable[Path],
    *,
    registry: SiteRegistry,
    mapping: dict[str, MappingEntry] | None = None,
    sensor_id: str | None = None,
    site_id: str | None = None,
    kind: str | None = None,
    timezone: tzinfo = UTC,
    shift_to: datetime | None = None,
) -> ReplayPlan:
    """Check every file before anything is sent, and resolve each CSV series' sensor.

    Each CSV series is read once here, so a bad row stops the replay before it starts. With
    ``shift_to``, timestamps are moved so that the latest of all files is ``shift_to`` (JSONL
    files are then read here too, to find it).
    """
    paths = tuple(files)
    targets: dict[Path, SeriesTarget] = {}
    for path in paths:
        if file_kind(path) == "csv":
            entry = mapping_for(mapping or {}, path) or MappingEntry()
            targets[path] = resolve_target(
                str(path),
                sensor_id=entry.sensor_id or sensor_id,
                site_id=entry.site_id or site_id,
                kind=entry.kind or kind,
                unit=entry.unit,
                registry=registry,
            )
    plan = ReplayPlan(paths, targets, timezone, None)
    latest: datetime | None = None
    for path, stream in zip(paths, plan.streams(), strict=True):
        if path not in targets and shift_to is None:
            continue  # a JSONL file needs no check: every line is sent, whatever it holds
        stream_latest = latest_time(stream)  # reads the file once: a CSV error raises here
        if stream_latest is not None and (latest is None or stream_latest > latest):
            latest = stream_latest
    if shift_to is None or latest is None:
        return plan
    return ReplayPlan(paths, targets, timezone, shift_to - latest)


def _timezone(_: click.Context, __: click.Parameter, name: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"{name!r} is not an IANA time zone (e.g. UTC, Asia/Seoul)") from None


@click.command(name="replay")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Event-seconds per wall-second, keeping the gaps (1: real time, 60: a minute a second); 0: as fast"
    " as possible.",
)
@click.option(
    "--sensor", "sensor_id", default=None, help="Sensor id of the CSV series (if registered: enough)."
)
@click.option("--site", "site_id", default=None, help="Site id of the CSV series.")
@click.option("--kind", default=None, help="Kind of the CSV series (its unit is the kind's).")
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help='JSON: CSV file name -> {"sensor_id", "site_id", "kind", "unit"}; wins over the options.',
)
@click.option(
    "--timezone",
    "zone",
    default="UTC",
    show_default=True,
    callback=_timezone,
    help="Time zone of CSV timestamps without an offset.",
)
@click.option(
    "--shift-to-now",
    is_flag=True,
    help="Move all timestamps so that the latest one is now (keeps the gaps; see the README).",
)
def replay(
    files: tuple[Path, ...],
    speed: float,
    sensor_id: str | None,
    site_id: str | None,
    kind: str | None,
    mapping: Path | None,
    zone: tzinfo,
    shift_to_now: bool,
) -> None:
    """Send recorded readings to readings.raw: JSONL files of Readings, CSV series (timestamp,value).

    JSONL lines go as they are (even malformed: the worker dead-letters them), keyed by their
    sensor_id. Each CSV file is one sensor's series: name it with --sensor, or --site and --kind,
    or in a --mapping file. Several files are interleaved by event time.
    """
    settings = Settings()
    registry = load_city(settings)
    try:
        entries = load_mapping(mapping.read_bytes(), str(mapping)) if mapping is not None else None
        plan = plan_replay(
            files,
            registry=registry,
            mapping=entries,
            sensor_id=sensor_id,
            site_id=site_id,
            kind=kind,
            timezone=zone,
            shift_to=datetime.now(UTC) if shift_to_now else None,
        )
    except ReplayError as error:
        raise click.ClickException(str(error)) from None
    if (sensor_id or site_id or kind) and not plan.targets:
        console.print("[yellow]note:[/] --sensor, --site and --kind apply to CSV series only; none given")
    for path, target in plan.targets.items():
        problem = registry_mismatch(target, registry)
        console.print(
            f"{path}: {target.sensor_id} ({target.kind} at {target.site_id}, {target.unit})", markup=False
        )
        if problem:
            console.print(f"[yellow]warning:[/] {escape(str(path))}: {escape(problem)}")
    if plan.shift is not None:
        console.print(f"timestamps moved by {plan.shift} (the latest is now)")

    last_report = time.monotonic()

    def progress(stats: ReplayStats) -> None:
        nonlocal last_report
        if time.monotonic() - last_report >= 5.0:
            last_report = time.monotonic()
            at = stats.last_event_time.isoformat() if stats.last_event_time else "-"
            console.print(f"sent {stats.sent:,} (event time {at})", markup=False)

    topic = settings.topic("readings.raw")
    try:
        asyncio.run(ensure_topics(settings))
        stats = asyncio.run(replay_records(settings, plan.records(), speed=speed, on_batch=progress))
    except KafkaConnectionError as error:
        raise click.ClickException(
            f"cannot reach Kafka at {settings.bootstrap_servers} ({error}); is it running? (openlab stack up)"
        ) from None
    except ReplayError as error:  # a file changed since it was checked
        raise click.ClickException(str(error)) from None
    summary = f"replayed {stats.sent:,} records from {len(files)} file(s) to {topic} in {stats.elapsed:.1f} s"
    if stats.not_readings:
        summary += f"; {stats.not_readings:,} are not valid Readings (the worker will dead-letter them)"
    console.print(summary, markup=False)
