"""Deploying the data source and dashboards through Grafana's HTTP API, against an imitation of Grafana.

Grafana itself cannot run on the machines these tests run on (no Docker, no Grafana binary), so
:class:`FakeGrafana` is a real HTTP server on 127.0.0.1 that answers the handful of endpoints a
deploy calls as Grafana 11 does: folders, data sources and dashboards held in memory (a saved
dashboard gets an ``id`` and a ``version`` counted up on every save, a data source the fields
Grafana adds), the data source health check, and 401 for an unknown token. It records every
request, so the tests can tell what a deploy wrote. The ``openlab dashboards deploy`` command is
tested against it too, twice in a row.
"""

from __future__ import annotations

import copy
import itertools
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner

from dashboards.build import all_dashboards, datasource
from dashboards.deploy import SAVE_MESSAGE, SERVER_KEYS, DeployError, Health, deploy
from streams.cli.root import main

TOKEN = "glsa_openlab_editor"
VIEWER_TOKEN = "glsa_openlab_viewer"
HEALTHY = {"status": "OK", "message": "datasource is working. 5 measurements found"}
DATASOURCE = datasource("http://influxdb:8086", "openlab")
DASHBOARDS = all_dashboards()
UID = DATASOURCE["uid"]
WRITES = ("POST", "PUT", "DELETE")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: Any


@dataclass
class FakeGrafana:
    """Grafana's folder, data source and dashboard endpoints over in-memory state, recording every request.

    ``VIEWER_TOKEN`` may read but not write (403), like a Viewer's service account token; dashboards
    whose uid is ``provisioned`` (from files) cannot be saved (400).
    """

    url: str = ""
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    health: tuple[int, dict[str, Any]] = (200, HEALTHY)
    provisioned: set[str] = field(default_factory=set)
    requests: list[Request] = field(default_factory=list)
    ids: Iterator[int] = field(default_factory=itertools.count)

    def writes(self) -> list[Request]:
        return [request for request in self.requests if request.method in WRITES]

    def answer(self, method: str, path: str, body: Any, authorization: str | None) -> tuple[int, Any]:
        self.requests.append(Request(method, path, body))
        if authorization not in (f"Bearer {TOKEN}", f"Bearer {VIEWER_TOKEN}"):
            return 401, {"message": "invalid API key", "messageId": "api-keys.invalid", "statusCode": 401}
        if method in WRITES and authorization == f"Bearer {VIEWER_TOKEN}":
            return 403, {"message": "You'll need additional permissions to perform this action."}
        match method, path.removeprefix("/api/").split("/"):
            case "GET", ["folders", uid] if uid in self.folders:
                return 200, self.folders[uid]
            case "POST", ["folders"]:
                return self.save_folder(body["uid"], body["title"])
            case "PUT", ["folders", uid] if uid in self.folders:
                return self.save_folder(uid, body["title"])
            case "GET", ["datasources", "uid", uid] if uid in self.datasources:
                return 200, self.datasources[uid]
            case "GET", ["datasources", "uid", uid, "health"] if uid in self.datasources:
                return self.health
            case "POST", ["datasources"] if body["uid"] not in self.datasources:
                return self.save_datasource(body, "Datasource added")
            case "PUT", ["datasources", "uid", uid] if uid in self.datasources:
                return self.save_datasource(body, "Datasource updated")
            case "GET", ["dashboards", "uid", uid] if uid in self.dashboards:
                return 200, self.dashboards[uid]
            case "POST", ["dashboards", "db"]:
                return self.save_dashboard(body)
        return 404, {"message": "Not found"}

    def save_folder(self, uid: str, title: str) -> tuple[int, Any]:
        version = self.folders[uid]["version"] + 1 if uid in self.folders else 1
        self.folders[uid] = {"id": next(self.ids), "uid": uid, "title": title, "version": version}
        return 200, self.folders[uid]

    def save_datasource(self, body: dict[str, Any], message: str) -> tuple[int, Any]:
        stored = {"id": next(self.ids), "orgId": 1, "readOnly": False, "basicAuth": False, **body}
        self.datasources[body["uid"]] = stored
        return 200, {"datasource": stored, "id": stored["id"], "name": stored["name"], "message": message}

    def save_dashboard(self, body: dict[str, Any]) -> tuple[int, Any]:
        dashboard, folder = body["dashboard"], body.get("folderUid", "")
        if folder and folder not in self.folders:
            return 400, {"message": "folder not found", "status": "not-found"}
        if dashboard["uid"] in self.provisioned:
            return 400, {"message": "Cannot save provisioned dashboard", "status": "provisioned-dashboard"}
        old = self.dashboards.get(dashboard["uid"])
        if old is not None and not body.get("overwrite"):
            return 412, {"message": "A dashboard with the same uid already exists", "status": "name-exists"}
        version = old["dashboard"]["version"] + 1 if old else 1
        stored = {**dashboard, "id": old["dashboard"]["id"] if old else next(self.ids), "version": version}
        self.dashboards[dashboard["uid"]] = {
            "dashboard": stored,
            "meta": {"folderUid": folder, "version": version},
        }
        return 200, {"id": stored["id"], "uid": stored["uid"], "status": "success", "version": version}


class _Server(ThreadingHTTPServer):
    def __init__(self, grafana: FakeGrafana) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.grafana = grafana


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        status, answer = self.server.grafana.answer(
            self.command, self.path, body, self.headers.get("Authorization")
        )
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the requests are recorded by the FakeGrafana."""


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana()
    server = _Server(fake)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


def without_server_keys(dashboard: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in dashboard.items() if key not in SERVER_KEYS}


def test_first_deploy_creates_folder_datasource_and_dashboards(grafana: FakeGrafana) -> None:
    report = deploy(grafana.url, TOKEN, DASHBOARDS, DATASOURCE)

    writes = grafana.writes()
    assert [(write.method, write.path) for write in writes] == [
        ("POST", "/api/folders"),
        ("POST", "/api/datasources"),
        *[("POST", "/api/dashboards/db")] * len(DASHBOARDS),
    ]
    assert writes[0].body == {"uid": "openlab", "title": "openlab"}
    assert writes[1].body == DATASOURCE
    assert [write.body for write in writes[2:]] == [
        {"dashboard": dashboard, "folderUid": "openlab", "overwrite": True, "message": SAVE_MESSAGE}
        for dashboard in DASHBOARDS
    ]
    for dashboard in DASHBOARDS:
        stored = grafana.dashboards[dashboard["uid"]]
        assert without_server_keys(stored["dashboard"]) == dashboard
        assert stored["meta"]["folderUid"] == "openlab"
    assert (report.folder, report.folder_outcome) == ("openlab", "created")
    assert (report.datasource, report.datasource_outcome) == (UID, "created")
    assert report.dashboards == tuple((dashboard["uid"], "created") for dashboard in DASHBOARDS)
    assert report.ok and report.health == Health("OK", HEALTHY["message"])
    assert str(report).splitlines() == [
        "folder openlab: created",
        f"data source {UID}: created",
        *(f"dashboard {dashboard['uid']}: created" for dashboard in DASHBOARDS),
        f"data source health: OK: {HEALTHY['message']}",
    ]


def test_second_deploy_writes_nothing(grafana: FakeGrafana) -> None:
    deploy(grafana.url, TOKEN, DASHBOARDS, DATASOURCE)
    grafana.requests.clear()

    report = deploy(grafana.url, TOKEN, DASHBOARDS, DATASOURCE)

    assert grafana.requests and grafana.writes() == []
    assert report.folder_outcome == report.datasource_outcome == "unchanged"
    assert report.dashboards == tuple((dashboard["uid"], "unchanged") for dashboard in DASHBOARDS)
    assert report.ok


def test_changed_dashboard_is_saved_alone(grafana: FakeGrafana) -> None:
    deploy(grafana.url, TOKEN, DASHBOARDS, DATASOURCE)
    grafana.requests.clear()
    changed = copy.deepcopy(DASHBOARDS)
    changed[0]["panels"][1]["title"] = "Every site"

    report = deploy(grafana.url, TOKEN, changed, DATASOURCE)

    assert [(write.path, write.body["dashboard"]) for write in grafana.writes()] == [
        ("/api/dashboards/db", changed[0])
    ]
    uid = changed[0]["uid"]
    assert grafana.dashboards[uid]["dashboard"]["version"] == 2
    assert dict(report.dashboards) == {uid: "updated"} | {d["uid"]: "unchanged" for d in changed[1:]}


def test_changed_datasource_url_is_put(grafana: FakeGrafana) -> None:
    deploy(grafana.url, TOKEN, DASHBOARDS, DATASOURCE)
    grafana.requests.clear()
    moved = DATASOURCE | {"url": "http://influxdb.city.example:8086"}

    report = deploy(grafana.url, TOKEN, DASHBOARDS, moved)

    assert [(write.method, write.path, write.body) for write in grafana.writes()] == [
        ("PUT", f"/api/datasources/uid/{UID}", moved)
    ]
    assert grafana.datasources[UID]["url"] == moved["url"]
    assert report.datasource_outcome == "updated"


def test_dashboards_move_into_another_folder(grafana: FakeGrafana) -> None:
    """A folder of another title is renamed; dashboards in another folder are saved into this one."""
    deploy(grafana.url, TOKEN, DASHBOARDS, DATASOURCE)
    grafana.save_folder("staging", "Old staging")
    grafana.requests.clear()

    report = deploy(grafana.url, TOKEN, DASHBOARDS, DATASOURCE, folder="staging")

    assert [(write.method, write.path) for write in grafana.writes()] == [
        ("PUT", "/api/folders/staging"),
        *[("POST", "/api/dashboards/db")] * len(DASHBOARDS),
    ]
    assert grafana.folders["staging"]["title"] == "staging"
    assert {stored["meta"]["folderUid"] for stored in grafana.dashboards.values()} == {"staging"}
    assert report.folder_outcome == "updated"
    assert set(dict(report.dashboards).values()) == {"updated"}


@pytest.mark.parametrize(
    ("status", "answer", "health"),
    [
        (
            400,
            {"status": "ERROR", "message": "error reading InfluxDB: database not found: openlab"},
            Health("ERROR", "Grafana answered 400: error reading InfluxDB: database not found: openlab"),
        ),
        (
            500,
            {"message": "Plugin health check failed"},
            Health("ERROR", "Grafana answered 500: Plugin health check failed"),
        ),
    ],
)
def test_failing_health_check_is_reported(
    grafana: FakeGrafana, status: int, answer: dict[str, Any], health: Health
) -> None:
    grafana.health = (status, answer)

    report = deploy(grafana.url, TOKEN, DASHBOARDS, DATASOURCE)

    assert not report.ok and report.health == health
    assert str(report).splitlines()[-1] == f"data source health: FAILED (ERROR): {health.message}"
    assert set(grafana.dashboards) == {dashboard["uid"] for dashboard in DASHBOARDS}


def test_wrong_token_is_refused(grafana: FakeGrafana) -> None:
    with pytest.raises(DeployError, match=r"did not accept the token \(401 Unauthorized\)") as raised:
        deploy(grafana.url, "glsa_wrong", DASHBOARDS, DATASOURCE)

    assert (
        str(raised.value)
        == f"folder openlab: Grafana at {grafana.url} did not accept the token (401 Unauthorized)"
    )
    assert grafana.writes() == []


def test_token_without_write_permission_is_refused(grafana: FakeGrafana) -> None:
    with pytest.raises(DeployError) as raised:
        deploy(grafana.url, VIEWER_TOKEN, DASHBOARDS, DATASOURCE)

    assert str(raised.value) == (
        "folder openlab: the token is not authorised to do this "
        "(Grafana answered 403: You'll need additional permissions to perform this action.)"
    )


def test_api_error_names_the_step(grafana: FakeGrafana) -> None:
    """A dashboard Grafana refuses to save (one provisioned from a file) fails the deploy, naming it."""
    uid = DASHBOARDS[1]["uid"]
    grafana.provisioned.add(uid)

    with pytest.raises(DeployError) as raised:
        deploy(grafana.url, TOKEN, DASHBOARDS, DATASOURCE)

    assert str(raised.value) == f"dashboard {uid}: Grafana answered 400: Cannot save provisioned dashboard"


def test_closed_port_cannot_be_reached() -> None:
    with socket.socket() as bound:  # bound, never listening: connecting is refused
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}"

        with pytest.raises(DeployError) as raised:
            deploy(url, TOKEN, DASHBOARDS, DATASOURCE)

    assert str(raised.value) == f"folder openlab: cannot reach Grafana at {url}: Connection refused"


def test_url_needs_a_scheme() -> None:
    with pytest.raises(DeployError, match="must start with http:// or https://"):
        deploy("localhost:3000", TOKEN, DASHBOARDS, DATASOURCE)


def test_the_cli_deploys_twice_and_the_second_changes_nothing(
    grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLAB_GRAFANA_TOKEN", TOKEN)
    monkeypatch.setenv("OPENLAB_GRAFANA_INFLUX_URL", "http://influxdb:8086")
    monkeypatch.setenv("OPENLAB_INFLUX_DATABASE", "openlab")
    runner = CliRunner()

    first = runner.invoke(main, ["dashboards", "deploy", "--url", grafana.url])
    assert first.exit_code == 0, first.output
    assert "dashboard openlab-city: created" in first.output
    assert grafana.datasources[UID]["url"] == "http://influxdb:8086"
    assert set(grafana.dashboards) == {dashboard["uid"] for dashboard in DASHBOARDS}
    grafana.requests.clear()

    second = runner.invoke(main, ["dashboards", "deploy", "--url", grafana.url])
    assert second.exit_code == 0, second.output
    assert grafana.writes() == []
    assert second.output.count(": unchanged") == 2 + len(DASHBOARDS)


def test_the_cli_exits_non_zero_on_a_failing_health_check_or_a_wrong_token(grafana: FakeGrafana) -> None:
    runner = CliRunner()
    grafana.health = (400, {"message": "InfluxDB returned error: database not found: openlab"})
    failing = runner.invoke(main, ["dashboards", "deploy", "--url", grafana.url, "--token", TOKEN])
    assert failing.exit_code == 1
    assert "data source health: FAILED" in failing.output
    refused = runner.invoke(main, ["dashboards", "deploy", "--url", grafana.url, "--token", "glsa_wrong"])
    assert refused.exit_code == 1
    assert "did not accept the token" in refused.output
    assert "Traceback" not in refused.output
