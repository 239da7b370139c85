"""``openlab alerts``: a site owner's live alarms, on the terminal and to a webhook."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Literal

import click

from streams.owners.acls import OwnerAccess, OwnerError
from streams.owners.operators import command
from streams.owners.subscriber import Filter, Webhook, subscribe
from streams.settings import Settings


@click.group()
def alerts() -> None:
    """Alarms: follow an owner's, forward them to a webhook; acknowledge or clear one."""


def _show(alarm: dict[str, Any]) -> None:
    fields = ("alarm_id", "state", "severity", "site_id", "sensor_id", "kind", "last_anomalous_at")
    click.echo("  ".join(str(alarm.get(name, "-")) for name in fields))


@alerts.command("subscribe")
@click.option(
    "--credentials",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON file {"owner_id": ..., "password": ...} (default: OPENLAB_OWNER_ID, OPENLAB_OWNER_PASSWORD).',
)
@click.option("--site", "sites", multiple=True, help="Only this site's alarms (repeat for more).")
@click.option("--severity", "severities", multiple=True, help="Only this severity (repeat for more).")
@click.option("--state", "states", multiple=True, help="Only this state (repeat for more).")
@click.option("--webhook", help="POST each alarm event here, signed with OPENLAB_WEBHOOK_SECRET.")
@click.option(
    "--name", default="subscriber", show_default=True, help="Names the subscription (its consumer group)."
)
def subscribe_command(
    credentials: Path | None,
    sites: tuple[str, ...],
    severities: tuple[str, ...],
    states: tuple[str, ...],
    webhook: str | None,
    name: str,
) -> None:
    """Print the owner's alarm events as they come (and forward them), from where this
    subscription left off."""
    settings = Settings()
    owner_id, password = settings.owner_id, settings.owner_password
    if credentials is not None:
        given = json.loads(credentials.read_text())
        owner_id, password = str(given["owner_id"]), str(given["password"])
    if not owner_id or not password:
        raise click.ClickException("give --credentials, or OPENLAB_OWNER_ID and OPENLAB_OWNER_PASSWORD")
    if webhook and not settings.webhook_secret:
        raise click.ClickException("a webhook needs OPENLAB_WEBHOOK_SECRET to sign its requests")
    try:
        access = OwnerAccess.of(settings, owner_id)
    except OwnerError as error:
        raise click.ClickException(str(error)) from None
    only = Filter(frozenset(sites), frozenset(severities), frozenset(states))
    target = Webhook(webhook, settings.webhook_secret) if webhook else None
    click.echo(f"following {access.topic} as {owner_id} (subscription {name})", err=True)
    asyncio.run(subscribe(settings, access, password, name=name, only=only, show=_show, webhook=target))


def _operate(action: Literal["acknowledge", "clear"], alarm_id: str, by: str) -> None:
    try:
        alarm = asyncio.run(command(Settings(), action, alarm_id, by))
    except LookupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{action} sent for {alarm_id} ({alarm.sensor_id} at {alarm.site_id}, now {alarm.state})")


@alerts.command("ack")
@click.argument("alarm_id")
@click.option("--by", default="operator", show_default=True, help="Who acknowledges.")
def ack_command(alarm_id: str, by: str) -> None:
    """Acknowledge ALARM_ID: its owner and the dashboards see that someone is on it."""
    _operate("acknowledge", alarm_id, by)


@alerts.command("clear")
@click.argument("alarm_id")
@click.option("--by", default="operator", show_default=True, help="Who clears.")
def clear_command(alarm_id: str, by: str) -> None:
    """Clear ALARM_ID by hand (it also clears itself after enough normal readings)."""
    _operate("clear", alarm_id, by)
