"""``openlab agents``: the stream agents installed (``list``) and a new one's package (``new``).

An agent runs in a worker: ``openlab worker --agents NAME,...`` (beside the pass, or without it
with ``--no-pipeline``); see :mod:`streams.agents`.
"""

from __future__ import annotations

from pathlib import Path

import click

from streams.agents.plugins import installed
from streams.agents.skeleton import write_skeleton


@click.group()
def agents() -> None:
    """Stream agents: developers' own logic on the city's scored readings."""


@agents.command(name="list")
def list_agents() -> None:
    """Every agent of the installed packages (entry points openlab.agents)."""
    plugins = installed()
    if not plugins:
        click.echo("no agents installed (a package declares them as entry points openlab.agents)")
    for plugin in plugins:
        click.echo(f"{plugin.name} {plugin.version} ({plugin.distribution})")
        try:
            agent = plugin.load()
        except Exception as error:
            click.echo(f"  cannot be loaded: {type(error).__name__}: {error}")
            continue
        inputs = ", ".join(agent.inputs)
        if agent.kinds is not None:
            inputs += f" [{', '.join(sorted(agent.kinds))}]"
        if agent.keyed_by == "site":
            inputs += f", re-keyed by site on {agent.by_site_topic}"
        outputs = [agent.output_topic(output) for output in agent.outputs]
        outputs += [
            f"InfluxDB {agent.measurement}",
            "alerts and owners' topics",
            f"state {agent.state_topic}",
        ]
        if agent.description:
            click.echo(f"  {agent.description}")
        click.echo(f"  inputs:  {inputs}")
        click.echo(f"  outputs: {', '.join(outputs)}")


@agents.command()
@click.argument("name")
@click.option(
    "--into",
    type=click.Path(path_type=Path, file_okay=False),
    help="The package's folder [default: ./NAME].",
)
def new(name: str, into: Path | None) -> None:
    """Write a new agent's package: pyproject (its entry point), the agent, a test on the real stack."""
    try:
        written = write_skeleton(name, into or Path(name))
    except (ValueError, FileExistsError) as error:
        raise click.ClickException(str(error)) from None
    for path in written:
        click.echo(f"wrote {path}")
    folder = written[0].parent
    click.echo(f"next: pip install -e {folder} && openlab agents list && pytest {folder / 'tests'}")
