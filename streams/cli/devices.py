"""``openlab devices``: the logins with which devices send readings over MQTT and HTTP."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from streams.city import load_city
from streams.ingest.devices import TOPIC_ROOT, DeviceError, DeviceStore
from streams.settings import Settings
from streams.stack.logins import apply_logins

_SHOWN_SITES = 6


@click.group()
def devices() -> None:
    """Devices' logins: MQTT (the local broker) and bearer tokens (openlab ingest), by site."""


def _apply(settings: Settings) -> None:
    if apply_logins(settings):
        click.echo("The local MQTT broker has taken the change.")
    else:
        click.echo(
            f"No local MQTT broker runs for this stack: one started later reads the logins from"
            f" {settings.devices_folder}; another broker reading those files takes them on SIGHUP."
        )


@devices.command("add")
@click.argument("name")
@click.option(
    "--sites",
    "site_lists",
    multiple=True,
    required=True,
    help="Site ids the device may send readings for, comma-separated (repeatable).",
)
def add(name: str, site_lists: tuple[str, ...]) -> None:
    """Create device NAME for these sites and print its secret once (again: a new secret, these sites)."""
    settings = Settings()
    sites = [site.strip() for sites in site_lists for site in sites.split(",") if site.strip()]
    try:
        secret = DeviceStore(settings).add_device(name, sites, load_city(settings))
    except DeviceError as error:
        raise click.ClickException(str(error)) from None
    topic = f"{settings.mqtt_topic_prefix}{TOPIC_ROOT}/<site_id>/<sensor_id>"
    click.echo(f"{name} may send readings for {', '.join(dict.fromkeys(sites))}:")
    click.echo(f"  MQTT {settings.mqtt_host}:{settings.mqtt_port}, username {name}, publish on {topic}")
    click.echo(
        f"  HTTP POST http://{settings.ingest_host}:{settings.ingest_port}/v1/readings"
        " with 'Authorization: Bearer <secret>'"
    )
    click.echo(f"  secret {secret}  (shown once: keep it)")
    _apply(settings)


@devices.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Remove login NAME: it can no longer connect to the broker nor send to openlab ingest."""
    settings = Settings()
    try:
        DeviceStore(settings).remove(name)
    except DeviceError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{name} removed.")
    _apply(settings)


@devices.command("list")
def list_logins() -> None:
    """The logins, their role, sites and topics (never their secrets)."""
    settings = Settings()
    table = Table("name", "role", "sites", "MQTT topics", "created")
    for login in sorted(DeviceStore(settings).logins(), key=lambda login: login.name):
        sites = ", ".join(login.sites[:_SHOWN_SITES])
        if len(login.sites) > _SHOWN_SITES:
            sites += f" (+{len(login.sites) - _SHOWN_SITES})"
        access = "reads" if login.role == "gateway" else "writes"
        topics = login.topics()
        shown = topics[0] + (f" (+{len(topics) - 1})" if len(topics) > 1 else "")
        table.add_row(
            login.name,
            login.role,
            sites or "all",
            f"{access} {shown}",
            login.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    Console().print(table)


@devices.command("gateway")
def gateway() -> None:
    """Make the MQTT gateway's login (OPENLAB_MQTT_CLIENT_ID, reading every site's topics) as the
    settings say; its secret is OPENLAB_MQTT_PASSWORD, or one made the first time and kept in the
    devices folder, where `openlab gateway` finds it. `openlab stack up` does this too."""
    settings = Settings()
    try:
        DeviceStore(settings).add_gateway()
    except DeviceError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"The gateway logs in as {settings.mqtt_client_id} (logins in {settings.devices_folder}).")
    _apply(settings)
