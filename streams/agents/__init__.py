"""Stream agents: developers' own logic on the city's scored readings, run by the worker.

- :mod:`~streams.agents.api`: what an agent's author writes against: :class:`Agent` (or the
  :func:`agent` decorator) and the :class:`Batch` its handler is given.
- :mod:`~streams.agents.state`: an agent's state per sensor or site, and its changelog.
- :mod:`~streams.agents.runtime`: a batch through the handler, and the agent's own consumer.
- :mod:`~streams.agents.service`: an agent as a service of the worker process.
- :mod:`~streams.agents.plugins`: agents found in installed packages (entry points
  ``openlab.agents``).
- :mod:`~streams.agents.skeleton`: a new agent's package (``openlab agents new``).
- :mod:`~streams.agents.testing`: running an agent on the real local stack, for its tests.

The agents run off the hot path: each consumes ``readings.scored`` (or another agent's output) in
a consumer group of its own, so the pass on ``readings.raw`` never waits for one.
"""

from streams.agents.api import SCORED, Agent, AgentEvent, Batch, NoState, SiteReading, agent

__all__ = ["SCORED", "Agent", "AgentEvent", "Batch", "NoState", "SiteReading", "agent"]
