"""Finding agents: in installed packages, by the entry-point group ``openlab.agents``.

A package declares its agents in its ``pyproject.toml``::

    [project.entry-points."openlab.agents"]
    congestion = "openlab_congestion.agent:congestion"

The entry point's name is the agent's; its object is an :class:`~streams.agents.api.Agent`. A
name of the form ``module:attribute`` names an agent that is not installed as a plugin (one being
written, or a test's).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from streams.agents.api import Agent

GROUP = "openlab.agents"
ALL = "all"
"""What ``--agents`` (``OPENLAB_AGENTS``) takes for every agent installed."""


@dataclass(frozen=True, slots=True)
class Plugin:
    """An installed agent: its entry point and the distribution that declares it."""

    name: str
    version: str
    distribution: str
    entry_point: EntryPoint

    def load(self) -> Agent[Any]:
        return _checked(self.name, self.entry_point.load())


def installed() -> list[Plugin]:
    """Every agent declared by an installed distribution, by name."""
    found = []
    for point in entry_points(group=GROUP):
        dist = point.dist
        found.append(
            Plugin(
                point.name,
                dist.version if dist is not None else "?",
                dist.name if dist is not None else "?",
                point,
            )
        )
    return sorted(found, key=lambda plugin: plugin.name)


def load_agents(names: str) -> list[Agent[Any]]:
    """The agents ``names`` names (comma-separated: installed agents' names, ``module:attribute``,
    or ``all``); an unknown name is an error that lists the installed ones."""
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    plugins = {plugin.name: plugin for plugin in installed()}
    agents: list[Agent[Any]] = []
    for name in wanted:
        if name == ALL:
            agents += [plugin.load() for plugin in plugins.values()]
        elif ":" in name:
            module, attribute = name.split(":", 1)
            agents.append(_checked(name, getattr(importlib.import_module(module), attribute)))
        elif name in plugins:
            agents.append(plugins[name].load())
        else:
            raise LookupError(f"no agent {name!r} is installed (installed: {', '.join(plugins) or 'none'})")
    unique = {agent.name: agent for agent in agents}
    return list(unique.values())


def _checked(name: str, loaded: object) -> Agent[Any]:
    if not isinstance(loaded, Agent):
        raise TypeError(f"{name} is a {type(loaded).__name__}, not an openlab agent (streams.agents.Agent)")
    return loaded
