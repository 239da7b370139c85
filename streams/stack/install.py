"""Obtain and cache the service programs under ``settings.home``.

Kafka's jars are resolved by Maven from ``kafka-pom.xml``; influxd is built with ``go install``;
mosquitto is Debian's package, installed with apt-get when missing and we are root. Kafka and influxd
are each built in a temporary directory beside its cache entry and renamed into place, so an
interrupted download is never mistaken for a complete cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path

from streams.settings import Settings
from streams.stack.errors import MissingToolError, StackError

KAFKA_VERSION = "3.9.1"
INFLUXD_VERSION = "1.8.10"

JAVA_HINT = "Kafka needs Java 17+: apt-get install openjdk-17-jre-headless"
MAVEN_HINT = "Kafka's jars are fetched with Maven: apt-get install maven"
GO_HINT = "influxd is built with Go 1.21+: apt-get install golang-go (or go.dev/dl)"
MOSQUITTO_HINT = "The MQTT broker is Debian's mosquitto: apt-get install mosquitto"

_COPY_DEPENDENCIES = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
_INFLUXD_MODULE = f"github.com/influxdata/influxdb/cmd/influxd@v{INFLUXD_VERSION}"
_OUTPUT_TAIL_LINES = 30
# Debian puts daemons in sbin, which is not on every user's PATH.
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin")
# apt-get waits this long for another apt/dpkg run to release its lock instead of failing at once.
_APT_LOCK_TIMEOUT = ["-o", "DPkg::Lock::Timeout=300"]


def require_tool(name: str, hint: str) -> str:
    """The full path of program ``name``; raises MissingToolError with ``hint`` when absent."""
    path = shutil.which(name)
    if path is None:
        raise MissingToolError(f"'{name}' not found on PATH. {hint}")
    return path


def run_tool(argv: Sequence[str], what: str, env: Mapping[str, str] | None = None) -> None:
    """Run ``argv`` to completion; on failure raise StackError with the end of its output."""
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()[-_OUTPUT_TAIL_LINES:]
        raise StackError(f"{what} failed (exit {done.returncode}): {' '.join(argv)}\n" + "\n".join(output))


def kafka_lib(settings: Settings) -> Path:
    """The directory holding Kafka's jars, fetched with Maven on first use."""
    target = settings.home / f"kafka-{KAFKA_VERSION}"
    if not target.is_dir():
        require_tool("java", JAVA_HINT)
        mvn = require_tool("mvn", MAVEN_HINT)
        _build_atomically(target, lambda staging: _fetch_kafka(mvn, staging))
    return target / "lib"


def influxd_binary(settings: Settings) -> Path:
    """The influxd executable, built with ``go install`` on first use."""
    target = settings.home / f"influxd-{INFLUXD_VERSION}"
    if not target.is_dir():
        go = require_tool("go", GO_HINT)
        _build_atomically(target, lambda staging: _build_influxd(go, staging))
    return target / "bin" / "influxd"


def mosquitto_binary() -> str:
    """The mosquitto executable; installed with apt-get on first use when we are root.

    Not root (or no apt-get): MissingToolError naming the package. After installing, the Debian
    package's own service is stopped and disabled where systemd runs it, so that it does not hold
    port 1883; anything else on the stack's port is refused when the stack starts mosquitto.
    """
    found = _find_mosquitto()
    if found is not None:
        return found
    apt_get = shutil.which("apt-get")
    if os.geteuid() != 0 or apt_get is None:
        raise MissingToolError(
            f"'mosquitto' not found on PATH or in {', '.join(_SBIN_DIRS)}. {MOSQUITTO_HINT}"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run_tool([apt_get, *_APT_LOCK_TIMEOUT, "update", "-qq"], "Updating apt's package lists", env)
    run_tool(
        [apt_get, *_APT_LOCK_TIMEOUT, "install", "-y", "-qq", "mosquitto"],
        "Installing mosquitto with apt-get",
        env,
    )
    _stop_packaged_mosquitto()
    found = _find_mosquitto()
    if found is None:
        raise StackError("apt-get installed mosquitto, but no 'mosquitto' program is to be found")
    return found


def _find_mosquitto() -> str | None:
    search = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN_DIRS])
    return shutil.which("mosquitto", path=search)


def _stop_packaged_mosquitto() -> None:
    """Stop and disable the service that Debian's mosquitto package starts with systemd or init.d.

    In a container (no systemd, a policy-rc.d that forbids starting services) it never started.
    """
    systemctl = shutil.which("systemctl")
    if systemctl is not None and Path("/run/systemd/system").is_dir():
        run_tool([systemctl, "disable", "--now", "mosquitto.service"], "Stopping Debian's mosquitto service")
    elif Path("/etc/init.d/mosquitto").is_file() and Path("/run/mosquitto/mosquitto.pid").is_file():
        run_tool(["/etc/init.d/mosquitto", "stop"], "Stopping Debian's mosquitto service")


def _fetch_kafka(mvn: str, staging: Path) -> None:
    pom = staging / "pom.xml"
    pom.write_bytes(resources.files("streams.stack").joinpath("kafka-pom.xml").read_bytes())
    argv = [
        mvn,
        "-B",
        "-q",
        "-Dstyle.color=never",
        "-f",
        str(pom),
        _COPY_DEPENDENCIES,
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging / 'lib'}",
    ]
    run_tool(argv, f"Fetching Kafka {KAFKA_VERSION} jars with Maven")


def _build_influxd(go: str, staging: Path) -> None:
    env = {**os.environ, "CGO_ENABLED": "0", "GOBIN": str(staging / "bin")}
    run_tool([go, "install", _INFLUXD_MODULE], f"Building influxd {INFLUXD_VERSION} with Go", env)


def _build_atomically(target: Path, build: Callable[[Path], None]) -> None:
    """Fill a fresh staging directory with ``build`` and rename it to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(staging)
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # not a concurrent install that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
