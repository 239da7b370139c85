"""``openlab sites``: look into the site registry, export it, publish it to ``sites.registry``.

The registry is the one the worker uses (``OPENLAB_REGISTRY_FILE``, else the generated city of
``OPENLAB_SITES`` and ``OPENLAB_SEED``), or the file given with ``--registry``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sensors.catalog import KINDS, Programme
from sensors.site import District, Site
from sensors.sites import RegistryError, SiteRegistry
from streams.city import load_city
from streams.kafka.site_registry import REGISTRY_TOPIC, RegistryTopicError, publish_registry
from streams.kafka.topic_checks import TopicMismatchError
from streams.settings import Settings

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def _registry(ctx: click.Context) -> SiteRegistry:
    path: Path | None = ctx.obj
    try:
        return SiteRegistry.load(path) if path is not None else load_city(Settings())
    except RegistryError as error:
        raise click.ClickException(str(error)) from None
    except ValidationError as error:
        where = path or Settings().registry_file
        raise click.ClickException(f"{where}: not a registry of sites (JSON): {error}") from None
    except OSError as error:
        raise click.ClickException(f"cannot read the registry: {error}") from None


@click.group(name="sites")
@click.option(
    "--registry",
    "registry_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="A registry file (CSV if its name ends in .csv, else JSON) instead of the configured one.",
)
@click.pass_context
def sites(ctx: click.Context, registry_path: Path | None) -> None:
    """The city's site registry: list, show, export, publish to Kafka.

    Without --registry: OPENLAB_REGISTRY_FILE if set, else the generated city.
    """
    ctx.obj = registry_path


@sites.command(name="list")
@click.option(
    "--district", type=click.Choice([d.value for d in District], case_sensitive=False), default=None
)
@click.option(
    "--programme", type=click.Choice([p.value for p in Programme], case_sensitive=False), default=None
)
@click.option("--owner", default=None, help="An owner id, e.g. owner-001.")
@click.option("--facility", default=None, help="A facility type, e.g. car_park.")
@click.pass_context
def list_sites(
    ctx: click.Context, district: str | None, programme: str | None, owner: str | None, facility: str | None
) -> None:
    """A table of the sites, optionally filtered, and their count."""
    registry = _registry(ctx)
    chosen = [
        site
        for site in registry.sites
        if (district is None or site.district.value == district)
        and (programme is None or site.programme.value == programme)
        and (owner is None or site.owner_id == owner)
        and (facility is None or site.facility == facility)
    ]
    table = Table("site", "name", "facility", "programme", "district", "owner", "sensors", "lat", "lon")
    for site in chosen:
        table.add_row(
            *(
                Text(value)
                for value in (
                    site.site_id,
                    site.name,
                    site.facility,
                    site.programme.value,
                    site.district.value,
                    site.owner_id,
                    str(len(site.sensors)),
                    f"{site.latitude:.6f}",
                    f"{site.longitude:.6f}",
                )
            )
        )
    if chosen:
        _print_wide(table)
    sensors = sum(len(site.sensors) for site in chosen)
    console.print(f"{len(chosen):,} site(s), {sensors:,} sensor(s) (of {len(registry):,} sites)")


@sites.command()
@click.argument("site_id")
@click.pass_context
def show(ctx: click.Context, site_id: str) -> None:
    """One site and its sensors: kinds, units and physical ranges."""
    registry = _registry(ctx)
    site = registry.site(site_id)
    if site is None:
        raise click.ClickException(
            f"no site {site_id!r} in the registry ({len(registry):,} sites; `openlab sites list` lists them)"
        )
    _print_wide(_site_table(site))
    table = Table("sensor", "kind", "unit", "low", "high", "every (s)", "FIWARE")
    for sensor in site.sensors:
        kind = KINDS[sensor.kind]
        fiware = f"{kind.fiware_entity}.{kind.fiware_attribute}" if kind.fiware_entity else "-"
        table.add_row(
            *(
                Text(value)
                for value in (
                    sensor.sensor_id,
                    kind.name,
                    kind.unit,
                    f"{kind.low:g}",
                    f"{kind.high:g}",
                    f"{kind.interval_seconds:g}",
                    fiware,
                )
            )
        )
    _print_wide(table)


def _print_wide(table: Table) -> None:
    """Print ``table`` at its natural width, however narrow the terminal (or a pipe) is."""
    natural = console.measure(table, options=console.options.update_width(10_000)).maximum
    Console(width=max(console.width, natural)).print(table)


def _site_table(site: Site) -> Table:
    table = Table(show_header=False, box=None)
    for name, value in (
        ("site", site.site_id),
        ("name", site.name),
        ("facility", site.facility),
        ("programme", site.programme.value),
        ("district", site.district.value),
        ("location", f"{site.latitude:.6f}, {site.longitude:.6f}"),
        ("owner", site.owner_id),
        ("sensors", str(len(site.sensors))),
    ):
        table.add_row(Text(name, style="bold"), Text(value))
    return table


@sites.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv"], case_sensitive=False),
    default=None,
    help="Default: from PATH's suffix (.csv or .json), else json.",
)
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False), required=False)
@click.pass_context
def export(ctx: click.Context, fmt: str | None, path: Path | None) -> None:
    """Write the registry as JSON (a list of sites) or CSV (one row per sensor) to PATH or stdout."""
    registry = _registry(ctx)
    to_stdout = path is None or str(path) == "-"
    if fmt is None:
        fmt = "csv" if not to_stdout and path is not None and path.suffix.lower() == ".csv" else "json"
    fmt = fmt.lower()
    if to_stdout or path is None:
        text = registry.to_csv() if fmt == "csv" else registry.to_json().decode() + "\n"
        sys.stdout.write(text)
        return
    if fmt == "csv":
        registry.dump_csv(path)
    else:
        registry.dump(path)
    sensors = sum(len(site.sensors) for site in registry.sites)
    errors.print(f"wrote {len(registry):,} sites ({sensors:,} sensors) to {path} as {fmt}")


@sites.command()
@click.option(
    "--prune",
    is_flag=True,
    help="Also delete (tombstone) the sites on the topic that this registry does not hold.",
)
@click.pass_context
def publish(ctx: click.Context, prune: bool) -> None:
    """Publish every site to the compacted topic sites.registry (key site_id, value the site as JSON)."""
    registry = _registry(ctx)
    settings = Settings()
    topic = settings.topic(REGISTRY_TOPIC)
    try:
        published, deleted = asyncio.run(publish_registry(settings, registry, prune=prune))
    except KafkaConnectionError as error:
        raise click.ClickException(
            f"cannot reach Kafka at {settings.bootstrap_servers} ({error}); is it running? (openlab stack up)"
        ) from None
    except (RegistryTopicError, TopicMismatchError) as error:
        raise click.ClickException(str(error)) from None
    console.print(f"published {published:,} sites to {topic}" + (f", deleted {deleted:,}" if prune else ""))
