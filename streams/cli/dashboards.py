"""``openlab dashboards``: write the Grafana dashboards and provisioning files, deploy them to a
Grafana, or draw them as PNGs from InfluxDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from dashboards.build import all_dashboards, datasource, write
from dashboards.deploy import DeployError, deploy
from dashboards.preview.draw import QueryError, influx_query, preview
from streams.settings import Settings


@click.group()
def dashboards() -> None:
    """Grafana dashboards as code: build, deploy, preview."""


@dashboards.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("dashboards"),
    show_default=True,
    help="Folder for json/ and provisioning/ (the default is what docker-compose.yml mounts).",
)
@click.option(
    "--influx-url",
    default="http://influxdb:8086",
    show_default=True,
    help="InfluxDB as Grafana's server reaches it (the compose stack's by default).",
)
def build(out: Path, influx_url: str) -> None:
    """Write each dashboard's JSON and Grafana's provisioning files."""
    for path in write(out, influx_url=influx_url, database=Settings().influx_database):
        click.echo(path)


@dashboards.command(name="deploy")
@click.option("--url", help="Grafana's address [default: OPENLAB_GRAFANA_URL].")
@click.option("--token", help="A service-account token [default: OPENLAB_GRAFANA_TOKEN].")
@click.option("--folder", default="openlab", show_default=True, help="The Grafana folder (its uid).")
def deploy_command(url: str | None, token: str | None, folder: str) -> None:
    """Create or update the data source and every dashboard through Grafana's HTTP API, then
    check the data source's health. Running it again changes nothing."""
    settings = Settings()
    token = token or settings.grafana_token
    if not token:
        raise click.UsageError("give --token or OPENLAB_GRAFANA_TOKEN (a Grafana service-account token)")
    source = datasource(settings.grafana_influx_url or settings.influx_url, settings.influx_database)
    try:
        report = deploy(url or settings.grafana_url, token, all_dashboards(), source, folder)
    except DeployError as error:
        raise click.ClickException(str(error)) from None
    click.echo(str(report))
    if not report.ok:
        raise SystemExit(1)


@dashboards.command(name="preview")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("previews"),
    show_default=True,
    help="Folder for one PNG per dashboard.",
)
@click.option("--hours", default=6.0, show_default=True, help="The time range: the last HOURS hours.")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="A template variable's value.")
def preview_command(out: Path, hours: float, variables: tuple[str, ...]) -> None:
    """Draw each dashboard's panels to a PNG from the same queries, against InfluxDB."""
    settings = Settings()
    chosen: dict[str, list[str]] = {}
    for assignment in variables:
        name, equals, value = assignment.partition("=")
        if not equals:
            raise click.BadParameter(f"{assignment!r} is not NAME=VALUE", param_hint="--var")
        chosen.setdefault(name, []).append(value)
    query = influx_query(settings.influx_url, settings.influx_database, settings.influx_token or None)
    end = datetime.now(UTC)
    out.mkdir(parents=True, exist_ok=True)
    for board in all_dashboards():
        names = {v["name"] for v in board.get("templating", {}).get("list", [])}
        mine = {name: values for name, values in chosen.items() if name in names}
        try:
            path = preview(board, query, out, start=end - timedelta(hours=hours), end=end, variables=mine)
        except QueryError as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"{board['title']}: {path}")
