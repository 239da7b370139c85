"""Stream agents: a batch through an agent without services (what it sends, what a failure
dead-letters), the plugins' discovery and the CLI, and agents in a real worker process beside
the pass: one that raises on every batch has each batch dead-lettered under its name while the
pass and the other agents go on. (The example agent on the real stack:
examples/congestion/tests.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner
from openlab_congestion.agent import congestion

from sensors.cleaning import DeadLetter, Reason
from sensors.measurements import CONGESTION
from sensors.simulation.city import CitySimulator
from streams.agents.plugins import installed, load_agents
from streams.agents.runtime import AgentRunner
from streams.agents.testing import scored, sites_with
from streams.city import load_city
from streams.cli.agents import agents
from streams.kafka.publisher import Publisher
from streams.kafka.topics import committed_offsets, read_values
from streams.metrics import PipelineCounters
from streams.pipeline.batch import Fetched
from streams.settings import Settings
from streams.sinks.influx import InfluxWriter, count_points, influxql
from tests.agent_plugins import broken, stray
from tests.conftest import WorkerFactory
from tests.feeding import produce, wait_for

SETTINGS = Settings(topic_prefix="t.", sites=40)


def _runner(agent_name: str) -> AgentRunner:
    agent = load_agents(agent_name)[0]
    return AgentRunner(
        agent, SETTINGS, load_city(SETTINGS), PipelineCounters(), Publisher(SETTINGS), InfluxWriter(SETTINGS)
    )


def _scored_events(n: int) -> list[Fetched]:
    site = sites_with(SETTINGS, "traffic_flow", "traffic_speed")[0]
    start = datetime(2026, 11, 30, 8, tzinfo=UTC)
    events: list[Fetched] = []
    for minute in range(n):
        for offset, kind, value in ((5, "traffic_flow", 900.0), (25, "traffic_speed", 40.0)):
            reading = scored(site, kind, value, start + timedelta(minutes=minute, seconds=offset))
            value_bytes = reading.model_dump_json().encode()
            events.append(Fetched("t.readings.scored", 1, len(events), site.site_id.encode(), value_bytes))
    return events


def test_a_batch_makes_events_points_and_a_changelog_of_the_sites_it_touched() -> None:
    runner = _runner("congestion")
    out = runner.steps(_scored_events(3))
    site_id = sites_with(SETTINGS, "traffic_flow", "traffic_speed")[0].site_id
    assert [key for key, _ in out.records["t.agents.congestion.intersections"]] == [site_id.encode()] * 3
    assert [line.split(",", 1)[0] for point in out.points for line in point.lines] == [CONGESTION] * 3
    # The site's state, and the alarm state of its speed sensor (judged each minute).
    assert {key for key, _ in out.changelog[1]} == {
        f"a:{site_id}.traffic_speed".encode(),
        f"s:{site_id}".encode(),
    }
    assert out.rejected == []


def test_a_minute_completed_by_its_flow_in_a_later_batch_is_judged_on_its_sites_partition() -> None:
    runner = _runner("congestion")
    events = _scored_events(2)
    speeds, flows = events[1::2], events[0::2]
    assert not runner.steps(speeds).records
    out = runner.steps(flows)
    assert len(out.records["t.agents.congestion.intersections"]) == 2 and out.rejected == []


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("tests.agent_plugins:broken", "RuntimeError: broken cannot take 6 readings"),
        ("tests.agent_plugins:stray", "ValueError: 'somewhere-else' is no sensor, site or event key"),
    ],
)
def test_a_batch_the_agent_fails_on_is_dead_lettered_whole_and_changes_nothing(
    name: str, detail: str
) -> None:
    runner = _runner(name)
    events = _scored_events(3)
    out = runner.steps(events)
    assert [(event.offset, rejection.reason, stage) for event, rejection, stage, _ in out.rejected] == [
        (event.offset, Reason.INTERNAL_ERROR, runner.agent.name) for event in events
    ]
    assert all(rejection.detail.startswith(detail) for _, rejection, _, _ in out.rejected)
    assert not out.records and not out.points and not out.changelog
    assert len(runner.table) == 0 and runner.counters.events[(runner.agent.name, "failed", "")] == 1


def test_an_agent_emits_only_to_its_own_outputs() -> None:
    runner = _runner("tests.agent_plugins:stray")
    runner.agent = type(stray)(stray.name, stray.handle, stray.state, ("other",))
    out = runner.steps(_scored_events(1))
    assert {rejection.detail for _, rejection, _, _ in out.rejected} == {
        "ValueError: agent stray has no output 'noise' (it has ('other',))"
    }


def test_plugins_are_found_by_entry_point_and_listed() -> None:
    found = {plugin.name: plugin for plugin in installed()}
    assert found["congestion"].distribution == "openlab-congestion"
    assert found["congestion"].load() is congestion
    assert load_agents("all") == [plugin.load() for plugin in installed()]
    assert load_agents("congestion, tests.agent_plugins:broken") == [congestion, broken]
    with pytest.raises(LookupError, match="no agent 'nowhere' is installed"):
        load_agents("nowhere")
    with pytest.raises(TypeError, match="not an openlab agent"):
        load_agents("tests.agent_plugins:Batch")
    shown = CliRunner().invoke(agents, ["list"])
    assert shown.exit_code == 0, shown.output
    assert "congestion 0.1.0 (openlab-congestion)" in shown.output
    assert "inputs:  readings.scored [traffic_flow, traffic_speed], re-keyed by site" in shown.output
    assert "outputs: agents.congestion.intersections, InfluxDB agent_congestion" in shown.output


def test_a_new_agents_package_declares_its_entry_point(tmp_path: Path) -> None:
    made = CliRunner().invoke(agents, ["new", "demo", "--into", str(tmp_path / "demo")])
    assert made.exit_code == 0, made.output
    pyproject = (tmp_path / "demo" / "pyproject.toml").read_text()
    assert '[project.entry-points."openlab.agents"]\ndemo = "openlab_demo.agent:demo"' in pyproject
    assert (tmp_path / "demo" / "tests" / "test_demo.py").is_file()
    again = CliRunner().invoke(agents, ["new", "demo", "--into", str(tmp_path / "demo")])
    assert again.exit_code != 0 and "exists already" in again.output
    bad = CliRunner().invoke(agents, ["new", "Not-A-Name", "--into", str(tmp_path / "bad")])
    assert bad.exit_code != 0 and "must match" in bad.output


async def test_an_agent_that_raises_does_not_stop_the_pass_nor_the_other_agents(
    stack_settings: Settings, worker: WorkerFactory
) -> None:
    from tests.conftest import isolated

    settings = await asyncio.to_thread(
        isolated,
        stack_settings,
        agents="tests.agent_plugins:broken,congestion",
        worker_web_port=stack_settings.worker_web_port,
    )
    simulator = CitySimulator(load_city(settings), seed=1)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    events = [
        event for second in range(0, 300, 10) for event in simulator.tick(start + timedelta(seconds=second))
    ]
    process = worker(settings)
    await produce(settings, events)
    deadletter = settings.topic("readings.deadletter")

    async def broken_letters() -> list[DeadLetter]:
        letters = [DeadLetter.model_validate_json(v) for v in await read_values(settings, deadletter)]
        return [letter for letter in letters if letter.stage == "broken"]

    async def everything_arrived() -> bool:
        congested = await influxql(settings, f'SELECT count("index") FROM "{CONGESTION}"')
        return (
            await count_points(settings) >= len(events)
            and len(await broken_letters()) >= len(events)
            and bool(congested)
        )

    await wait_for("the readings, their dead letters from broken, congestion points", everything_arrived)

    assert await count_points(settings) == len(events)
    letters = await broken_letters()
    assert {letter.source_topic for letter in letters} == {settings.topic("readings.scored")}
    assert len({(letter.source_partition, letter.source_offset) for letter in letters}) == len(events)
    assert {letter.reason for letter in letters} == {Reason.INTERNAL_ERROR}
    assert all(letter.detail.startswith("RuntimeError: broken cannot take") for letter in letters)
    url = f"http://127.0.0.1:{settings.worker_web_port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        metrics = await answer.text()
    assert 'openlab_events_total{outcome="failed",reason="",stage="broken"}' in metrics
    assert 'openlab_events_total{outcome="taken",reason="",stage="congestion"}' in metrics
    assert process.poll() is None, "the worker must still be running"


async def test_a_worker_without_the_pass_runs_its_agents_alone(
    stack_settings: Settings, worker: WorkerFactory
) -> None:
    from tests.conftest import isolated

    settings = await asyncio.to_thread(isolated, stack_settings, agents="congestion", pipeline=False)
    site = sites_with(settings, "traffic_flow", "traffic_speed")[0]
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    readings = [
        scored(site, kind, value, start + timedelta(minutes=minute, seconds=offset))
        for minute in range(3)
        for offset, kind, value in ((5, "traffic_flow", 900.0), (25, "traffic_speed", 40.0))
    ]
    raw = [(r.sensor_id.encode(), r.model_dump_json().encode()) for r in readings]
    process = worker(settings)
    publisher = Publisher(settings)
    try:
        await publisher.publish(settings.topic("readings.raw"), raw)
        await publisher.publish(settings.topic("readings.scored"), raw)
    finally:
        await publisher.stop()

    async def judged() -> bool:
        rows = await influxql(settings, f'SELECT count("index") FROM "{CONGESTION}"')
        return bool(rows) and rows[0]["values"][0][1] == 3

    await wait_for("three judged minutes", judged, seconds=60)
    await asyncio.sleep(5)  # a pass would have taken readings.raw by now
    assert await count_points(settings) == 0, "the pass must not run"
    assert await committed_offsets(settings, settings.app_id) == {}
    assert process.poll() is None
