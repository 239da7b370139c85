"""``openlab owners``: give a site owner a login that reads its own alarms, or take it away."""

from __future__ import annotations

import secrets
from pathlib import Path

import click

from streams.city import load_city
from streams.owners.acls import OwnerError, grant, revoke
from streams.settings import Settings


@click.group()
def owners() -> None:
    """Site owners' logins and ACLs on the broker's SASL listener."""


@owners.command("grant")
@click.argument("owner_id")
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the password from this file (default: generate one and print it once).",
)
def grant_command(owner_id: str, password_file: Path | None) -> None:
    """Create OWNER_ID's SCRAM login, alarm topic and ACLs (again: a new password)."""
    settings = Settings()
    if not any(site.owner_id == owner_id for site in load_city(settings).sites):
        raise click.ClickException(f"{owner_id} owns no site in the registry")
    password = password_file.read_text().strip() if password_file else secrets.token_urlsafe(24)
    try:
        access = grant(settings, owner_id, password)
    except OwnerError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{owner_id} may read {access.topic} with consumer groups {access.group_prefix}*")
    click.echo(f"  bootstrap.servers={access.bootstrap_servers}")
    click.echo("  security.protocol=SASL_PLAINTEXT sasl.mechanism=SCRAM-SHA-512")
    click.echo(f"  sasl.username={owner_id}")
    if password_file is None:
        click.echo(f"  sasl.password={password}  (shown once: keep it)")


@owners.command("revoke")
@click.argument("owner_id")
def revoke_command(owner_id: str) -> None:
    """Remove OWNER_ID's ACLs and login; its alarm topic stays."""
    try:
        access = revoke(Settings(), owner_id)
    except OwnerError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{owner_id} can no longer log in or read {access.topic}")
