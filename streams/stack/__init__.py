"""The local service stack without Docker: a single-node KRaft Kafka 3.9.1 and InfluxDB 1.8.10.

Programs are cached under ``settings.home`` (fetched on first use with Maven and Go); pid files,
logs, configuration and data live under ``settings.run_dir``. Services run detached, so they
outlive the Python process that started them.

    up(settings)                        # start what is not running, wait until all answer
    stop_service(settings, "kafka")     # fault tests: stop one service, data kept
    kill_service(settings, "kafka")     # or kill it (SIGKILL), as a crash would
    start_service(settings, "kafka")
    down(settings, wipe=True)           # stop all and delete their data

- ``control``: start, check and stop the services of one stack.
- ``kafka``, ``influx``, ``mosquitto``: each service, with its generated configuration.
- ``install``: the programs, fetched once and cached.
- ``service``, ``procs``: what the stack knows of a service; detached processes, ports and logs.
- ``logins``: the devices' logins onto the stack's broker.
- ``errors``: the stack's errors.
"""

from streams.stack.control import (
    SERVICES,
    ServiceStatus,
    down,
    kill_service,
    start_service,
    status,
    stop_service,
    up,
    wait_ready,
)
from streams.stack.errors import MissingToolError, StackError
from streams.stack.influx import create_database, drop_database

__all__ = [
    "SERVICES",
    "MissingToolError",
    "ServiceStatus",
    "StackError",
    "create_database",
    "down",
    "drop_database",
    "kill_service",
    "start_service",
    "status",
    "stop_service",
    "up",
    "wait_ready",
]
