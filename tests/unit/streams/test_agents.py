"""Stream agents without services: a batch through an agent (what it sends, what a failure
dead-letters), the plugins' discovery and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from openlab_congestion.agent import congestion

from sensors.cleaning import Reason
from sensors.measurements import CONGESTION
from streams.agents.plugins import installed, load_agents
from streams.agents.runtime import AgentRunner
from streams.agents.testing import scored, sites_with
from streams.city import load_city
from streams.cli.agents import agents
from streams.metrics import PipelineCounters
from streams.runtime.batch import Fetched
from streams.settings import Settings
from tests.agent_plugins import broken, stray

SETTINGS = Settings(topic_prefix="t.", sites=40)


def _runner(agent_name: str) -> AgentRunner:
    agent = load_agents(agent_name)[0]
    return AgentRunner(agent, SETTINGS, load_city(SETTINGS), PipelineCounters())


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
    assert {key for key, _ in out.tables["t.agents.congestion.state"]} == {
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
    assert not out.records and not out.points and not out.tables
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
