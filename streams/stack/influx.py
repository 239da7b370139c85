"""InfluxDB 1.8 ``influxd`` with a generated config; HTTP on ``influx_port``, RPC on +2."""

from __future__ import annotations

import http.client
import json
import urllib.parse
import urllib.request
from pathlib import Path

from streams.settings import Settings
from streams.stack.errors import StackError
from streams.stack.install import influxd_binary
from streams.stack.service import Service

_RPC_PORT_OFFSET = 2
_REQUEST_TIMEOUT_SECONDS = 10.0


class Influxd(Service):
    """influxd without auth; meta, data and wal in ``run_dir/influxd``."""

    name = "influxd"
    marker = "influxd"
    config_name = "influxd.conf"

    def host(self, settings: Settings) -> str:
        return settings.influx_host

    def ports(self, settings: Settings) -> dict[str, int]:
        return {
            "influx_port": settings.influx_port,
            "influx_port+2 (RPC)": settings.influx_port + _RPC_PORT_OFFSET,
        }

    def prepare(self, settings: Settings) -> list[str]:
        binary = influxd_binary(settings)
        config = self.config_path(settings)
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(_config(settings, config.parent))
        return [str(binary), "run", "-config", str(config)]

    def probe(self, settings: Settings, timeout: float) -> bool:
        """GET /ping answers 204."""
        try:
            with urllib.request.urlopen(f"{settings.influx_url}/ping", timeout=timeout) as reply:
                return bool(reply.status == 204)
        except (OSError, http.client.HTTPException):
            return False

    def on_ready(self, settings: Settings) -> None:
        create_database(settings)


def create_database(settings: Settings) -> None:
    """Create ``settings.influx_database`` (a no-op when it exists)."""
    _database_statement(settings, "CREATE", "Creating")


def drop_database(settings: Settings) -> None:
    """Delete ``settings.influx_database`` and its points (a no-op when it does not exist)."""
    _database_statement(settings, "DROP", "Dropping")


def _database_statement(settings: Settings, verb: str, doing: str) -> None:
    name = settings.influx_database.replace("\\", "\\\\").replace('"', '\\"')
    body = urllib.parse.urlencode({"q": f'{verb} DATABASE "{name}"'}).encode()
    request = urllib.request.Request(f"{settings.influx_url}/query", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=_REQUEST_TIMEOUT_SECONDS) as reply:
            answer = json.load(reply)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise StackError(f"{doing} InfluxDB database {name!r} failed: {exc}") from exc
    errors = [result["error"] for result in answer.get("results", []) if "error" in result]
    if errors:
        raise StackError(f"{doing} InfluxDB database {name!r} failed: {errors[0]}")


def _config(settings: Settings, workdir: Path) -> str:
    host = settings.influx_host
    return f"""\
reporting-disabled = true
bind-address = "{host}:{settings.influx_port + _RPC_PORT_OFFSET}"

[meta]
  dir = "{workdir / "meta"}"

[data]
  dir = "{workdir / "data"}"
  wal-dir = "{workdir / "wal"}"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "{host}:{settings.influx_port}"
  auth-enabled = false
  log-enabled = true
  flux-enabled = false
"""
