"""Every query of every dashboard, run against the real InfluxDB after the real pipeline has
processed two hours of a small city: injected anomalies, a sensor with one alarm that cleared
and one still open at the end, acknowledged by an operator, bad input of every kind, duplicates,
late and out-of-order readings, a flatlined and a silent sensor; the example stream agent
(congestion at intersections) runs beside the pass.

Each panel's and annotation's InfluxQL is rendered the way Grafana would send it (macros,
``$__interval``, template variables: first with the dashboards' defaults, "All" included, then
with one site's district, owner, site, kind and sensor chosen, and two districts at once) and
must succeed and return rows. The queries come from the dashboards themselves, so a panel added
later is covered without editing this test. Grafana itself cannot run on these machines; what it
would add on top (drawing) is checked by the previews rendered from the same rows.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dashboards.build import all_dashboards
from dashboards.preview.draw import influx_query, preview
from dashboards.preview.macros import choose, panel_queries, render, variable_queries
from models.alarms import Alarm
from sensors import measurements
from sensors.reading import Reading
from sensors.simulation.city import CitySimulator
from sensors.simulation.malformations import Malformation, corrupt
from sensors.site import Site
from streams.city import load_city
from streams.kafka.topics import TopicNames, read_values
from streams.owners.operators import command
from streams.settings import Settings
from streams.sinks.influx import count_points, influxql
from streams.worker import start_worker, stop_worker
from tests.conftest import isolated
from tests.feeding import produce, wait_for

HOURS = 2
# The troubled sensor's anomalous minutes: an alarm that clears, and one still open at the end.
EPISODES = ((timedelta(minutes=75), timedelta(minutes=80)), (timedelta(minutes=108), timedelta(hours=HOURS)))


@dataclass(frozen=True)
class Stretch:
    """What the pipeline processed, and where to look."""

    settings: Settings
    start: datetime
    end: datetime
    site: Site
    sensor_id: str
    kind: str


def _events(settings: Settings, start: datetime) -> tuple[list[tuple[bytes, bytes]], int, Site, str, str]:
    """The stretch's events, how many of them are valid and new, and the troubled site and sensor."""
    city = load_city(settings)
    simulator = CitySimulator(city, seed=5, anomaly_rate=0.3)
    site = next(s for s in city.sites if s.sensors[0].kind == "air_pm25")
    troubled = site.sensors[0]
    quiet_kinds = [s for s in city.sites if s.site_id != site.site_id and s.sensors[0].kind == "air_pm25"]
    flatlined, silent = quiet_kinds[0].sensors[0].sensor_id, quiet_kinds[1].sensors[0].sensor_id
    end = start + timedelta(hours=HOURS)
    rng = random.Random(7)
    events: list[tuple[bytes, bytes]] = []
    moment = start
    while moment <= end:
        for key, value in simulator.tick(moment):
            reading = Reading.model_validate_json(value)
            if reading.sensor_id == silent and reading.observed_at > start + timedelta(hours=1):
                continue  # silent for the second hour: stale
            if reading.sensor_id == flatlined and reading.observed_at > start + timedelta(minutes=80):
                value = reading.model_copy(update={"value": 17.25}).model_dump_json().encode()
            if reading.sensor_id == troubled.sensor_id and any(
                start + begin <= reading.observed_at <= start + until for begin, until in EPISODES
            ):
                value = reading.model_copy(update={"value": 900.0}).model_dump_json().encode()
            events.append((key, value))
        moment += timedelta(seconds=30)
    valid = len(events)
    # Bad input: some events broken in every way a field gateway breaks them (they replace
    # the good ones), ten sent twice, ten out of order, five far too late.
    broken = rng.sample(range(len(events)), 5 * len(Malformation))
    for n, index in enumerate(broken):
        how = list(Malformation)[n % len(Malformation)]
        events[index] = (events[index][0], corrupt(events[index][1], how, end))
    valid -= len(broken)
    middle = len(events) // 2
    events.extend(events[i] for i in range(middle, middle + 40, 4) if i not in broken)
    swapped = [i for i in range(middle + 200, middle + 300, 10) if i not in broken and i + 1 not in broken]
    for i in swapped:
        events[i], events[i + 1] = events[i + 1], events[i]
    for key, value in events[100:105]:
        old = Reading.model_validate_json(value)
        late = old.model_copy(update={"seq": (old.seq or 0) + 100_000})
        events.append((key, late.model_dump_json().encode()))
    return events, valid, site, troubled.sensor_id, troubled.kind


@pytest.fixture(scope="module")
def stretch(stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stretch]:
    # The worker runs the example stream agent too, for the city dashboard's congestion panel.
    settings = isolated(stack_settings, metrics_seconds=2.0, agents="congestion")
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=HOURS, minutes=5)
    events, valid, site, sensor_id, kind = _events(settings, start)
    worker: subprocess.Popen[bytes] = start_worker(settings, tmp_path_factory.mktemp("worker") / "worker.log")
    try:

        async def fill() -> None:
            await produce(settings, events)

            async def written() -> bool:
                congestion = await influxql(
                    settings, f'SELECT count("index") FROM "{measurements.CONGESTION}"'
                )
                return await count_points(settings) >= valid and bool(congestion)

            await wait_for(f"{valid} reading points and the congestion agent's", written, seconds=240)

            async def troubled_alarm() -> Alarm | None:
                # The sensor's current alarm (the first episode's cleared; the second's is open):
                # its latest event, its site's events being in order on one partition.
                values = await read_values(settings, TopicNames.of(settings).alerts)
                alarms = [a for a in map(Alarm.model_validate_json, values) if a.sensor_id == sensor_id]
                return alarms[-1] if alarms and alarms[-1].state.active else None

            async def raised() -> bool:
                return await troubled_alarm() is not None

            await wait_for("the troubled sensor's alarm", raised, seconds=60)
            alarm = await troubled_alarm()
            assert alarm is not None
            await command(settings, "acknowledge", alarm.alarm_id, "operator on duty")

            async def acknowledged() -> bool:
                query = 'SELECT * FROM "alarm" WHERE "change" = \'acknowledged\''
                return bool(await influxql(settings, query))

            await wait_for("the acknowledgement in InfluxDB", acknowledged, seconds=60)
            await asyncio.sleep(3 * settings.metrics_seconds)  # the counters of the last batches

        asyncio.run(fill())
    finally:
        stop_worker(worker)
    yield Stretch(settings, start, datetime.now(UTC) + timedelta(minutes=1), site, sensor_id, kind)


def _run(query: Any, text: str) -> list[dict[str, Any]]:
    series: list[dict[str, Any]] = query(text)
    return series


MAY_BE_EMPTY = frozenset({"Detectors whose inputs drifted"})
"""Panels whose queries must run but may find no rows in the stretch: ADWIN looks at the means of
blocks of 10 values, and two hours at one reading every 30 s give it 24, too few to call even a
lasting level shift a drift (models/detectors/detector.py)."""


def _problems(stretch: Stretch, overrides: dict[str, Any]) -> tuple[int, list[str]]:
    """Run every query of every dashboard: how many ran, and those that failed or were empty."""
    settings = stretch.settings
    query = influx_query(settings.influx_url, settings.influx_database, settings.influx_token or None)
    problems: list[str] = []
    ran = 0
    interval = (stretch.end - stretch.start) / 1000
    for dashboard in all_dashboards():
        names = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}
        chosen = choose(dashboard, {k: v for k, v in overrides.items() if k in names})
        queries: list[tuple[str, str, timedelta | None]] = [
            (f"variable {q.name}", q.query, None) for q in variable_queries(dashboard)
        ]
        queries += [
            (f"{q.panel_title} [{q.ref_id}]", q.query, q.min_interval) for q in panel_queries(dashboard)
        ]
        for title, text, min_interval in queries:
            rendered = render(
                text,
                start=stretch.start,
                end=stretch.end,
                interval=interval,
                variables=chosen,
                min_interval=min_interval,
            )
            ran += 1
            where = f"{dashboard['uid']} / {title}: {rendered}"
            try:
                series = _run(query, rendered)
            except Exception as error:
                problems.append(f"{where}\n    failed: {error}")
                continue
            if not any(s.get("values") for s in series) and title.split(" [")[0] not in MAY_BE_EMPTY:
                problems.append(f"{where}\n    returned no rows")
    return ran, problems


def test_the_stretch_holds_what_the_dashboards_show(stretch: Stretch) -> None:
    async def counts() -> dict[str, int]:
        found = {}
        for measurement in (
            measurements.READING,
            measurements.ALARM,
            measurements.SENSOR_HEALTH,
            measurements.SENSOR_STATUS,
            measurements.PIPELINE,
            measurements.SINK,
            measurements.WORKER,
            measurements.CONGESTION,
        ):
            series = await influxql(stretch.settings, f'SELECT count(*) FROM "{measurement}"')
            found[measurement] = max((v for s in series for v in s["values"][0][1:] if v), default=0)
        return found

    found = asyncio.run(counts())
    assert all(found.values()), found


def test_every_query_of_every_dashboard_answers_with_rows_for_the_defaults(stretch: Stretch) -> None:
    ran, problems = _problems(stretch, {})
    assert ran > 30
    assert not problems, "\n".join(problems)


def test_every_query_answers_with_rows_for_one_chosen_site_and_sensor(stretch: Stretch) -> None:
    site = stretch.site
    other = next(
        d
        for d in sorted({s.district.value for s in load_city(stretch.settings).sites})
        if d != site.district.value
    )
    overrides = {
        "district": [site.district.value, other],
        "owner": site.owner_id,
        "site": site.site_id,
        "kind": stretch.kind,
        "sensor": stretch.sensor_id,
        "programme": site.programme.value,
    }
    ran, problems = _problems(stretch, overrides)
    assert ran > 30
    assert not problems, "\n".join(problems)


def test_a_preview_of_every_dashboard_is_drawn_from_the_same_rows(stretch: Stretch, tmp_path: Path) -> None:
    settings = stretch.settings
    query = influx_query(settings.influx_url, settings.influx_database, settings.influx_token or None)
    for dashboard in all_dashboards():
        png = preview(dashboard, query, tmp_path, start=stretch.start, end=stretch.end)
        assert png == tmp_path / f"{dashboard['uid']}.png"
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert png.stat().st_size > 20_000, json.dumps(dashboard["title"])
