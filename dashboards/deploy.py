"""Deploy openlab's Grafana data source and dashboards to a running Grafana through its HTTP API.

:func:`deploy` brings a Grafana (reached with a service-account token) to the given state in three
steps, and writes only what differs, so a second deploy of the same input sends no write at all:

1. the folder whose uid and title are the folder name: created when missing, retitled if need be;
2. the data source: created when missing, replaced when one of the fields we set differs; then its
   health check is run and reported (a failing one does not stop the deploy);
3. each dashboard: saved into the folder when missing, when it sits in another folder, or when one
   of its keys differs (``id`` and ``version``, which Grafana numbers itself, are ignored).

Only the fields and keys we send are compared, so whatever Grafana adds on its side (``orgId``,
``readOnly``, ...) never counts as a difference. A refused token, an unreachable Grafana or an
API error raise one :class:`DeployError` whose one-line message names the step that failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import niquests
from grafana_client.api import GrafanaApi
from grafana_client.client import (
    GrafanaClientError,
    GrafanaException,
    GrafanaServerError,
    GrafanaTimeoutError,
    GrafanaUnauthorizedError,
)

TIMEOUT_S = 10.0
SAVE_MESSAGE = "openlab dashboards deploy"
SERVER_KEYS = frozenset({"id", "version"})
"""Dashboard keys Grafana sets on every save: never a difference of ours."""

Outcome = Literal["created", "updated", "unchanged"]


class DeployError(Exception):
    """Deploying to Grafana failed; the message says which step and why, on one line."""


@dataclass(frozen=True)
class Health:
    """The answer of Grafana's health check of the data source (Grafana says ``OK`` when it works)."""

    status: str
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "OK"


@dataclass(frozen=True)
class DeployReport:
    """What a deploy did to the folder, the data source and each dashboard (by uid), and the health."""

    folder: str
    folder_outcome: Outcome
    datasource: str
    datasource_outcome: Outcome
    dashboards: tuple[tuple[str, Outcome], ...]
    health: Health

    @property
    def ok(self) -> bool:
        """Whether the data source answered its health check: a CLI exits non-zero when not."""
        return self.health.ok

    def lines(self) -> list[str]:
        """One line per deployed object, then the health check."""
        health = "OK" if self.health.ok else f"FAILED ({self.health.status})"
        return [
            f"folder {self.folder}: {self.folder_outcome}",
            f"data source {self.datasource}: {self.datasource_outcome}",
            *(f"dashboard {uid}: {outcome}" for uid, outcome in self.dashboards),
            f"data source health: {health}: {self.health.message}",
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def deploy(
    url: str,
    token: str,
    dashboards: list[dict[str, Any]],
    datasource: dict[str, Any],
    folder: str = "openlab",
) -> DeployReport:
    """Bring the Grafana at ``url`` to ``folder``, ``datasource`` and ``dashboards``; report what changed.

    ``datasource`` is the body of ``POST /api/datasources`` (with its ``uid``), each dashboard the
    model of ``POST /api/dashboards/db`` (with its ``uid``). Raises :class:`DeployError`.
    """
    if not url.startswith(("http://", "https://")):
        raise DeployError(f"the Grafana URL must start with http:// or https://, not {url!r}")
    api = GrafanaApi.from_url(url, credential=token, timeout=TIMEOUT_S)
    try:
        with _step(f"folder {folder}", url):
            folder_outcome = _deploy_folder(api, folder)
        uid = datasource["uid"]
        with _step(f"data source {uid}", url):
            datasource_outcome = _deploy_datasource(api, datasource)
        with _step(f"health check of data source {uid}", url):
            health = _health(api, uid)
        outcomes = []
        for dashboard in dashboards:
            with _step(f"dashboard {dashboard['uid']}", url):
                outcomes.append((dashboard["uid"], _deploy_dashboard(api, dashboard, folder)))
    finally:
        api.client.s.close()
    return DeployReport(folder, folder_outcome, uid, datasource_outcome, tuple(outcomes), health)


# The helpers take the GrafanaApi as Any: grafana-client's methods carry no annotations, and strict
# mypy refuses to call unannotated functions from annotated code.


def _deploy_folder(api: Any, uid: str) -> Outcome:
    current = _get(lambda: api.folder.get_folder(uid))
    if current is None:
        api.folder.create_folder(title=uid, uid=uid)
        return "created"
    if current["title"] != uid:
        api.folder.update_folder(uid, title=uid, overwrite=True)
        return "updated"
    return "unchanged"


def _deploy_datasource(api: Any, datasource: dict[str, Any]) -> Outcome:
    current = _get(lambda: api.datasource.get_datasource_by_uid(datasource["uid"]))
    if current is None:
        api.datasource.create_datasource(datasource)
        return "created"
    if any(current.get(field) != value for field, value in datasource.items()):
        api.datasource.update_datasource_by_uid(datasource["uid"], datasource)
        return "updated"
    return "unchanged"


def _health(api: Any, uid: str) -> Health:
    """Grafana's health check of the data source; a failing one (4xx, 5xx, no answer) is an answer too."""
    try:
        answer = api.datasource.health(uid)
    except GrafanaUnauthorizedError:
        raise
    except GrafanaTimeoutError:
        return Health("TIMEOUT", f"no answer within {TIMEOUT_S:g} s")
    except (GrafanaClientError, GrafanaServerError) as error:
        body = error.response if isinstance(error.response, dict) else {}
        return Health(str(body.get("status", "ERROR")), _said(error))
    return Health(str(answer["status"]), str(answer["message"]))


def _deploy_dashboard(api: Any, dashboard: dict[str, Any], folder: str) -> Outcome:
    current = _get(lambda: api.dashboard.get_dashboard(dashboard["uid"]))
    if current is not None and _same(current, dashboard, folder):
        return "unchanged"
    body = {"dashboard": dashboard, "folderUid": folder, "overwrite": True, "message": SAVE_MESSAGE}
    api.dashboard.update_dashboard(body)
    return "created" if current is None else "updated"


def _same(current: dict[str, Any], dashboard: dict[str, Any], folder: str) -> bool:
    """Whether Grafana's copy sits in ``folder`` and holds every key of ``dashboard`` but SERVER_KEYS."""
    stored = current["dashboard"]
    return current["meta"].get("folderUid") == folder and all(
        stored.get(key) == value for key, value in dashboard.items() if key not in SERVER_KEYS
    )


def _get(call: Callable[[], Any]) -> dict[str, Any] | None:
    """The answer of a GET, or None when Grafana answers 404 Not Found."""
    try:
        answer: dict[str, Any] = call()
    except GrafanaClientError as error:
        if error.status_code == 404:
            return None
        raise
    return answer


@contextmanager
def _step(what: str, url: str) -> Iterator[None]:
    """Turn the errors of grafana-client and niquests within a step into one :class:`DeployError`."""
    try:
        yield
    except GrafanaUnauthorizedError as error:
        raise DeployError(f"{what}: Grafana at {url} did not accept the token (401 Unauthorized)") from error
    except GrafanaTimeoutError as error:
        raise DeployError(f"{what}: Grafana at {url} did not answer within {TIMEOUT_S:g} s") from error
    except GrafanaException as error:
        if error.status_code == 403:
            raise DeployError(f"{what}: the token is not authorised to do this ({_said(error)})") from error
        raise DeployError(f"{what}: {_said(error)}") from error
    except niquests.exceptions.ConnectionError as error:
        raise DeployError(f"{what}: cannot reach Grafana at {url}: {_reason(error)}") from error
    except niquests.exceptions.RequestException as error:
        raise DeployError(f"{what}: request to Grafana at {url} failed: {error}") from error


def _said(error: GrafanaException) -> str:
    """What Grafana answered, on one line: the status code and the message (or the start of the text)."""
    response = error.response
    said = response.get("message", response) if isinstance(response, dict) else response or error.message
    line = str(said).strip().partition("\n")[0][:200]
    return f"Grafana answered {error.status_code}: {line}" if error.status_code else line


def _reason(error: BaseException) -> str:
    """The innermost reason of a connection error as the system words it ("Connection refused")."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    return str(error)
