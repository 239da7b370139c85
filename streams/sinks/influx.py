"""InfluxDB: line protocol for scored readings, a batch writer that retries, and InfluxQL queries."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import aiohttp
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from models.alarms import Alarm
from models.scoring import ScoredReading
from sensors import measurements
from sensors.event_time import to_micros
from sensors.health import HealthEvent, Problem
from sensors.site import Site
from sensors.sites import SiteRegistry
from streams.metrics import SinkStats
from streams.settings import Settings

log = logging.getLogger(__name__)

_TAG_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\="})


def _nanos(moment: datetime) -> int:
    """A point's timestamp: nanoseconds since the epoch, exact to the microsecond."""
    return to_micros(moment) * 1000


def _tag(value: str) -> str:
    return value.translate(_TAG_ESCAPES)


def reading_line(scored: ScoredReading, registry: SiteRegistry) -> str:
    """The line-protocol point of one scored reading (nanosecond event time)."""
    return f"{reading_series(scored, registry)} {reading_fields(scored)}"


def reading_series(scored: ScoredReading, registry: SiteRegistry) -> str:
    """The measurement and tags of a reading's point: the same for every reading of a sensor."""
    site = registry.site(scored.site_id)
    district = site.district.value if site else "unknown"
    programme = site.programme.value if site else "unknown"
    return (
        f"{measurements.READING},sensor_id={_tag(scored.sensor_id)},site_id={_tag(scored.site_id)},"
        f"kind={_tag(scored.kind)},district={_tag(district)},programme={programme}"
    )


def reading_fields(scored: ScoredReading) -> str:
    """The fields and timestamp of a reading's point."""
    seq = "" if scored.seq is None else f"seq={scored.seq}i,"
    return (
        f"value={scored.value!r},{seq}score={scored.score!r},"
        f"threshold={scored.threshold!r},anomalous={'true' if scored.anomalous else 'false'},"
        f"expected_low={scored.expected_low!r},expected_high={scored.expected_high!r},"
        f"probability={scored.probability!r},warming_up={'true' if scored.warming_up else 'false'},"
        f"detector={_string_field(scored.detector)} {_nanos(scored.observed_at)}"
    )


class ReadingLines:
    """:func:`reading_line` with each sensor's measurement and tags built once (cleaning has
    made sure a sensor's readings name its registered site and kind).

    >>> from datetime import UTC, datetime
    >>> from models.scoring import detector_for, score_reading
    >>> from sensors.reading import Reading
    >>> registry = SiteRegistry.generate(count=5, seed=1)
    >>> site, sensor = next(iter(registry.sensors()))
    >>> reading = Reading(sensor_id=sensor.sensor_id, site_id=site.site_id, kind=sensor.kind, value=1.0,
    ...                   unit=sensor.unit, observed_at=datetime(2026, 11, 30, tzinfo=UTC), seq=1)
    >>> scored = score_reading(detector_for(sensor.kind), reading)
    >>> lines = ReadingLines(registry)
    >>> lines(scored) == lines(scored) == reading_line(scored, registry)
    True
    """

    def __init__(self, registry: SiteRegistry) -> None:
        self.registry = registry
        self._series: dict[str, str] = {}

    def __call__(self, scored: ScoredReading) -> str:
        series = self._series.get(scored.sensor_id)
        if series is None:
            series = self._series[scored.sensor_id] = reading_series(scored, self.registry)
        return f"{series} {reading_fields(scored)}"


def _string_field(value: str) -> str:
    # Line protocol escapes quotes and backslashes in strings; a line break would end the point.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def status_line(sensor_id: str, kind: str, site: Site, at: datetime, fields: dict[str, int | str]) -> str:
    """The line-protocol point of a change in where a sensor stands (see
    :data:`sensors.measurements.SENSOR_STATUS`), with its site's position for maps."""
    values = [
        f"{name}={value}i" if isinstance(value, int) else f"{name}={_string_field(value)}"
        for name, value in fields.items()
    ]
    values += [f"latitude={site.latitude!r}", f"longitude={site.longitude!r}"]
    nanos = _nanos(at)
    return (
        f"{measurements.SENSOR_STATUS},sensor_id={_tag(sensor_id)},site_id={_tag(site.site_id)},"
        f"kind={_tag(kind)},district={_tag(site.district.value)},programme={site.programme.value},"
        f"owner_id={_tag(site.owner_id)} {','.join(values)} {nanos}"
    )


def health_lines(event: HealthEvent, registry: SiteRegistry) -> list[str]:
    """The points of a health episode: the episode, and for a stale or flatlined sensor the
    change in its status (1 at the start, 0 at the end)."""
    site = registry.site(event.site_id)
    lines = [health_line(event, site)]
    if site is not None and event.problem in (Problem.STALE, Problem.FLATLINE):
        at, unwell = (event.end, 0) if event.end is not None else (event.start, 1)
        lines.append(status_line(event.sensor_id, event.kind, site, at, {event.problem.value: unwell}))
    return lines


def health_line(event: HealthEvent, site: Site | None) -> str:
    """The line-protocol point of a sensor health episode, at its start: the closing of an
    episode overwrites its opening. ``site`` is the sensor's site, if the registry knows it."""
    district = site.district.value if site else "unknown"
    fields = [f"open={'true' if event.status == 'open' else 'false'}"]
    if event.end is not None:
        fields.append(f"end={_nanos(event.end)}i")
        fields.append(f"duration_seconds={(event.end - event.start).total_seconds()!r}")
    if event.readings is not None:
        fields.append(f"readings={event.readings}i")
    fields.append(f"detail={_string_field(event.detail)}")
    nanos = _nanos(event.start)
    return (
        f"{measurements.SENSOR_HEALTH},sensor_id={_tag(event.sensor_id)},site_id={_tag(event.site_id)},"
        f"kind={_tag(event.kind)},district={_tag(district)},problem={event.problem.value} "
        f"{','.join(fields)} {nanos}"
    )


def point_line(
    measurement: str, tags: Mapping[str, str], fields: Mapping[str, float | int | bool | str], at: datetime
) -> str:
    """A line-protocol point of any measurement (a stream agent's): tags sorted, fields typed.

    >>> from datetime import UTC
    >>> print(point_line("agent_x", {"site_id": "GJ 1"}, {"n": 2, "ok": True, "f": 0.5, "s": 'a"b'},
    ...                  datetime(2026, 11, 30, tzinfo=UTC)))
    agent_x,site_id=GJ\\ 1 n=2i,ok=true,f=0.5,s="a\\"b" 1795996800000000000
    """
    values = ",".join(f"{_tag(name)}={_field(value)}" for name, value in fields.items())
    keys = "".join(f",{_tag(name)}={_tag(value)}" for name, value in sorted(tags.items()) if value)
    return f"{_tag(measurement)}{keys} {values} {_nanos(at)}"


def _field(value: float | int | bool | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return _string_field(value)


def alarm_line(alarm: Alarm) -> str:
    """The line-protocol point of one alarm event, at the event time of its change: a replayed
    event overwrites itself. Its type and change are tags (see :data:`sensors.measurements.ALARM`),
    so an alarm cleared and another opened by one reading are two points."""
    fields = [
        f"alarm_id={_string_field(alarm.alarm_id)}",
        f"state={_string_field(alarm.state.value)}",
        f"sequence={alarm.sequence}i",
        f"active={'true' if alarm.state.active else 'false'}",
        f"flapping={'true' if alarm.flapping else 'false'}",
        f"probability={alarm.probability!r}",
        f"score={alarm.score!r}",
        f"value={alarm.value!r}",
        f"summary={_string_field(alarm.summary)}",
    ]
    nanos = _nanos(alarm.updated_at)
    return (
        f"{measurements.ALARM},sensor_id={_tag(alarm.sensor_id)},site_id={_tag(alarm.site_id)},"
        f"kind={_tag(alarm.kind)},district={_tag(alarm.district)},owner_id={_tag(alarm.owner_id)},"
        f"severity={alarm.severity.value},alarm_type={_tag(alarm.alarm_type)},change={alarm.change.value} "
        f"{','.join(fields)} {nanos}"
    )


_REFUSALS = frozenset({400, 413, 422})


class Refused(Exception):
    """InfluxDB answered that it will not take these points (a client error, not an outage)."""


class InfluxWriter:
    """Writes batches of line protocol; waits out outages, gives up only on refusals.

    Several tasks may write through one writer at once (the pass and the alert router do): its
    HTTP client lives until :meth:`close`, and an outage does not close it: closing it would
    break the writes other tasks have in flight ("Session is closed"), and its pool drops a
    broken connection by itself and opens a new one on the next attempt.
    """

    def __init__(self, settings: Settings, stats: SinkStats | None = None) -> None:
        self.settings = settings
        self.stats = stats or SinkStats()
        self._client: InfluxDBClientAsync | None = None

    async def _api(self) -> Any:
        if self._client is None:
            self._client = InfluxDBClientAsync(
                url=self.settings.influx_url,
                token=self.settings.influx_token,
                org=self.settings.influx_org,
                timeout=10_000,
            )
        return self._client.write_api()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()  # type: ignore[no-untyped-call]
            self._client = None

    async def write(self, lines: Sequence[str]) -> None:
        """Return once InfluxDB has accepted ``lines``.

        An outage (no connection, a timeout, a 5xx, 429, or 401/403/404 while a database or
        credentials are being fixed) is retried with capped backoff for as long as it lasts:
        the batch is not acknowledged to Kafka meanwhile, so nothing is lost. A 400-class
        answer about the points themselves raises :class:`Refused` at once: retrying the same
        bytes would get the same answer.
        """
        attempt = 0
        body = "\n".join(lines)
        while True:
            started = time.perf_counter()
            try:
                api = await self._api()
                await api.write(
                    bucket=self.settings.influx_bucket,
                    record=body,
                    write_precision=WritePrecision.NS,
                )
            except ApiException as error:
                if error.status in _REFUSALS:
                    raise Refused(f"InfluxDB refused the points: {error.status} {error.body}") from None
                log.warning("InfluxDB write failed (%s %s), retrying", error.status, error.reason)
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                log.warning("InfluxDB unreachable (%r), retrying", error)
            else:
                self.stats.batches += 1
                self.stats.points += len(lines)
                self.stats.write_seconds += time.perf_counter() - started
                return
            attempt += 1
            self.stats.retries += 1
            backoff = self.settings.sink_retry_backoff_seconds * 2 ** min(attempt, 6)
            await asyncio.sleep(min(backoff, self.settings.sink_max_backoff_seconds))


async def influxql(settings: Settings, query: str) -> list[dict[str, Any]]:
    """Run an InfluxQL query and return its series (raises on an error in the answer)."""
    params = {"db": settings.influx_database, "q": query, "epoch": "ns"}
    headers = {"Authorization": f"Token {settings.influx_token}"} if settings.influx_token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{settings.influx_url}/query", params=params, headers=headers) as response,
    ):
        answer = await response.json()
    results = answer.get("results", [])
    if "error" in answer or any("error" in result for result in results):
        raise RuntimeError(f"InfluxQL {query!r} failed: {answer}")
    return [series for result in results for series in result.get("series", [])]


async def count_points(settings: Settings, where: str = "") -> int:
    """How many reading points InfluxDB holds (optionally with an InfluxQL ``WHERE`` clause)."""
    clause = f" WHERE {where}" if where else ""
    series = await influxql(settings, f'SELECT count("seq") FROM "{measurements.READING}"{clause}')
    return sum(int(row[1]) for s in series for row in s["values"])
