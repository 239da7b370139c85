"""What a stream agent's author writes against: an :class:`Agent` (a name, what it reads, what it
writes, a handler) and the :class:`Batch` its handler is given.

A handler is a plain function ``handle(batch: Batch[S]) -> None``. It reads ``batch.readings``
(scored readings, each with its site from the registry) or ``batch.events`` (another agent's
output), keeps what it must remember in ``batch.state`` (a typed table, per sensor or per site,
that survives restarts), and answers with ``batch.emit`` (an event on ``agents.<name>.<output>``),
``batch.point`` (a point of the agent's own InfluxDB measurement) and ``batch.judge`` (a verdict
that moves the alarm lifecycle of :mod:`models.alarms`, onto ``alerts`` and the owner's topic).

Nothing the handler does reaches Kafka or InfluxDB before it returns: should it raise, the
runtime drops all of it and dead-letters the batch instead.

>>> from pydantic import BaseModel
>>> class Seen(BaseModel):
...     readings: int = 0
>>> def count(batch: Batch[Seen]) -> None:
...     for item in batch.readings:
...         seen = batch.state.get(item.reading.sensor_id) or Seen()
...         batch.state.put(item.reading.sensor_id, Seen(readings=seen.readings + 1))
>>> counter = Agent("counter", count, state=Seen, outputs=())
>>> counter.measurement, counter.group("openlab"), counter.kinds
('agent_counter', 'openlab-agent-counter', None)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

import orjson
from pydantic import BaseModel

from models.scoring import ScoredReading
from sensors.measurements import agent_measurement
from sensors.site import Site
from streams.sinks.influx import point_line

SCORED = "readings.scored"
"""The input of most agents: every reading the pass scored (key = sensor_id)."""

AGENT_NAME = r"^[a-z][a-z0-9_]{0,39}$"
"""What an agent's name may be: it names its topics, its consumer group and its measurement."""

S = TypeVar("S", bound=BaseModel)

FieldValue = float | int | bool | str


class NoState(BaseModel):
    """The state of an agent that keeps none."""


@dataclass(frozen=True, slots=True)
class SiteReading:
    """A scored reading and the site it belongs to."""

    reading: ScoredReading
    site: Site


@dataclass(frozen=True, slots=True)
class AgentEvent:
    """An event of another agent's output topic: its key and its JSON value."""

    topic: str
    key: str | None
    value: Any


@dataclass(frozen=True, slots=True)
class Emitted:
    """An event the handler emits: the output it goes to (a name of ``Agent.outputs``), its key
    and its JSON-ready value."""

    output: str
    key: str
    value: bytes


class StateView(Generic[S]):
    """The agent's state as the handler sees it: reads from the stored table, writes kept aside
    until the batch's outputs are accepted (see :class:`streams.agents.state.StateTable`)."""

    def __init__(self, stored: Mapping[str, S]) -> None:
        self._stored = stored
        self.written: dict[str, S | None] = {}

    def get(self, key: str) -> S | None:
        """The state kept under ``key`` (a sensor's or a site's id), if any."""
        if key in self.written:
            return self.written[key]
        return self._stored.get(key)

    def put(self, key: str, value: S) -> None:
        self.written[key] = value

    def delete(self, key: str) -> None:
        self.written[key] = None


@dataclass
class Batch(Generic[S]):
    """One batch of an agent's input, and what its handler makes of it. Its readings are in
    event-time order (a batch holds several partitions' readings, each partition's in order)."""

    readings: list[SiteReading]
    events: list[AgentEvent]
    state: StateView[S]
    agent: Agent[S]
    emitted: list[Emitted] = field(default_factory=list)
    points: list[str] = field(default_factory=list)
    verdicts: list[ScoredReading] = field(default_factory=list)

    def emit(self, output: str, key: str, value: BaseModel | Mapping[str, Any]) -> None:
        """Put ``value`` (a pydantic model or JSON-ready mapping) on ``agents.<name>.<output>``."""
        if output not in self.agent.outputs:
            raise ValueError(
                f"agent {self.agent.name} has no output {output!r} (it has {self.agent.outputs})"
            )
        data = value.model_dump_json().encode() if isinstance(value, BaseModel) else orjson.dumps(value)
        self.emitted.append(Emitted(output, key, data))

    def point(
        self,
        at: datetime,
        fields: Mapping[str, FieldValue],
        site: Site | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """A point of the agent's measurement at ``at``, tagged with ``site`` (id, district,
        programme, owner) and ``tags``. Its identity is measurement + tags + time, so a batch
        taken again overwrites its points."""
        every: dict[str, str] = {}
        if site is not None:
            every |= {
                "site_id": site.site_id,
                "district": site.district.value,
                "programme": site.programme.value,
                "owner_id": site.owner_id,
            }
        self.points.append(point_line(self.agent.measurement, every | dict(tags or {}), fields, at))

    def judge(self, verdict: ScoredReading) -> None:
        """Move the alarm lifecycle of ``verdict.sensor_id`` (alarm type: the agent's name) with
        a verdict: ``anomalous`` readings in a row open an alarm, normal ones clear it."""
        self.verdicts.append(verdict)


Handler = Callable[[Batch[S]], None]


@dataclass(frozen=True)
class Agent(Generic[S]):
    """A stream agent: its name, handler, state type, inputs and outputs.

    ``inputs`` are topic names without the prefix: ``readings.scored`` or another agent's output
    (``agents.<name>.<output>``). ``kinds`` limits the readings handed over; ``keyed_by="site"``
    hands every reading of one site to the same worker (through a topic of the agent's own,
    ``agents.<name>.by-site``), for agents that combine a site's sensors.
    """

    name: str
    handle: Handler[S]
    state: type[S]
    outputs: tuple[str, ...]
    inputs: tuple[str, ...] = (SCORED,)
    kinds: frozenset[str] | None = None
    keyed_by: Literal["sensor", "site"] = "sensor"
    description: str = ""

    def __post_init__(self) -> None:
        if not re.match(AGENT_NAME, self.name):
            raise ValueError(f"agent name {self.name!r} does not match {AGENT_NAME}")
        for output in self.outputs:
            if not re.match(AGENT_NAME, output):
                raise ValueError(f"output {output!r} of agent {self.name} does not match {AGENT_NAME}")

    @property
    def measurement(self) -> str:
        """The InfluxDB measurement of its points."""
        return agent_measurement(self.name)

    def group(self, app_id: str) -> str:
        """Its consumer group beside the pass's (``app_id``)."""
        return f"{app_id}-agent-{self.name}"

    def output_topic(self, output: str) -> str:
        """The topic of one output (without the prefix)."""
        return f"agents.{self.name}.{output}"

    @property
    def state_topic(self) -> str:
        """Its compacted changelog (without the prefix)."""
        return f"agents.{self.name}.state"

    @property
    def by_site_topic(self) -> str:
        """Its readings keyed by site (``keyed_by="site"``), without the prefix."""
        return f"agents.{self.name}.by-site"


def agent(
    name: str,
    *,
    state: type[S],
    outputs: Sequence[str] = (),
    inputs: Sequence[str] = (SCORED,),
    kinds: Sequence[str] | None = None,
    keyed_by: Literal["sensor", "site"] = "sensor",
) -> Callable[[Handler[S]], Agent[S]]:
    """Make a handler an :class:`Agent` (its docstring is the agent's description)."""

    def make(handle: Handler[S]) -> Agent[S]:
        return Agent(
            name,
            handle,
            state,
            tuple(outputs),
            tuple(inputs),
            None if kinds is None else frozenset(kinds),
            keyed_by,
            (handle.__doc__ or "").strip().split("\n", 1)[0],
        )

    return make
