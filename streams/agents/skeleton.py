"""A new agent's package (``openlab agents new NAME``): a pyproject declaring the agent's entry
point, the agent's module (each sensor's running mean: an event, a point and a state per sensor)
and a test that runs it twice on the real local stack, the second time from its restored state.

>>> import tempfile
>>> written = write_skeleton("demo", Path(tempfile.mkdtemp()) / "demo")
>>> sorted(str(path.relative_to(written[0].parent)) for path in written)
['README.md', 'openlab_demo/__init__.py', 'openlab_demo/agent.py', 'pyproject.toml', 'tests/test_demo.py']
"""

from __future__ import annotations

import re
from pathlib import Path

from streams.agents.api import AGENT_NAME

PYPROJECT = """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "openlab-{name}"
version = "0.1.0"
description = "An openlab stream agent: {name}"
requires-python = ">=3.11"
dependencies = ["openlab"]

# openlab's worker finds the agent here: `openlab agents list`, `openlab worker --agents {name}`.
[project.entry-points."openlab.agents"]
{name} = "openlab_{name}.agent:{name}"

[tool.setuptools.packages.find]
include = ["openlab_{name}*"]

# openlab's fixtures (openlab_stack, openlab_settings) come with openlab, as a pytest plugin.
[tool.pytest.ini_options]
testpaths = ["tests"]
asyncio_default_fixture_loop_scope = "session"
"""

README = """\
# openlab-{name}

An openlab stream agent. Install it beside openlab and run it in a worker:

    pip install -e .
    openlab agents list
    openlab worker --agents {name}

Its tests run it on openlab's local stack (`openlab stack up`, or started by the tests):

    pytest tests
"""

AGENT = '''\
"""The {name} agent: each sensor's running mean of its readings."""

from __future__ import annotations

from pydantic import BaseModel
from streams.agents import Batch, agent


class SensorMean(BaseModel):
    """What the agent remembers of a sensor (kept across restarts)."""

    readings: int = 0
    mean: float = 0.0


class Mean(BaseModel):
    """An event of agents.{name}.means."""

    sensor_id: str
    readings: int
    mean: float


@agent("{name}", state=SensorMean, outputs=("means",))
def {name}(batch: Batch[SensorMean]) -> None:
    """Each sensor's running mean: an event on agents.{name}.means and a point per reading."""
    for item in batch.readings:
        reading = item.reading
        seen = batch.state.get(reading.sensor_id) or SensorMean()
        count = seen.readings + 1
        mean = seen.mean + (reading.value - seen.mean) / count
        batch.state.put(reading.sensor_id, SensorMean(readings=count, mean=mean))
        event = Mean(sensor_id=reading.sensor_id, readings=count, mean=mean)
        batch.emit("means", reading.sensor_id, event)
        tags = {{"sensor_id": reading.sensor_id}}
        fields = {{"mean": mean, "readings": count}}
        batch.point(reading.observed_at, fields, site=item.site, tags=tags)
'''

TEST = '''\
"""The {name} agent on the real local stack (openlab's fixture openlab_settings: topics and a
database of the test's own)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from streams.agents.testing import run_agent, scored, sites_with
from streams.settings import Settings

from openlab_{name}.agent import {name}


def test_each_sensors_mean_is_kept_across_restarts(openlab_settings: Settings) -> None:
    site = sites_with(openlab_settings)[0]
    kind = site.sensors[0].kind
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    minutes = [start + timedelta(minutes=n) for n in (1, 2, 3)]
    readings = [scored(site, kind, 10.0 * (n + 1), at) for n, at in enumerate(minutes)]

    first = asyncio.run(run_agent({name}, openlab_settings, readings[:2]))
    # A second run starts from the state the first left in its changelog.
    second = asyncio.run(run_agent({name}, openlab_settings, readings[2:]))

    assert [event["readings"] for _, event in first.events["means"]] == [1, 2]
    assert second.events["means"][-1][1] == {{
        "sensor_id": site.sensors[0].sensor_id,
        "readings": 3,
        "mean": 20.0,
    }}
    assert sorted(point["mean"] for point in second.points) == [10.0, 15.0, 20.0]
    assert second.dead_letters == []
'''


def write_skeleton(name: str, folder: Path) -> list[Path]:
    """Write the package of agent ``name`` into ``folder`` (which must not exist yet); return
    the files written, ``pyproject.toml`` first."""
    if not re.match(AGENT_NAME, name):
        raise ValueError(f"an agent's name must match {AGENT_NAME}: {name!r} does not")
    if folder.exists():
        raise FileExistsError(f"{folder} exists already")
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"openlab_{name}/__init__.py": f'"""The openlab stream agent {name}."""\n',
        f"openlab_{name}/agent.py": AGENT,
        f"tests/test_{name}.py": TEST,
    }
    written = []
    for relative, template in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(name=name))
        written.append(path)
    return written
