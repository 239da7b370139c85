"""The devices' logins onto this stack's broker: its files written, and read again if it runs."""

from __future__ import annotations

import os
import signal
import time

from streams.ingest.devices import RELOAD_CHECK_USER, DeviceStore, mosquitto_hash, new_secret
from streams.settings import Settings
from streams.stack.control import status
from streams.stack.errors import StackError
from streams.stack.mosquitto import connack

_POLL_SECONDS = 0.05
_ANSWER_SECONDS = 2.0


def apply_logins(settings: Settings) -> bool:
    """Write the broker's password file and ACL from the devices folder and, when this stack's
    mosquitto runs, have it read them (SIGHUP) and return once it has; whether it runs.

    The files carry a login with no rights whose password is new each time: the broker has read
    them when it accepts that password. The devices folder stays locked until then, so that
    another change does not replace that password meanwhile.
    """
    store = DeviceStore(settings)
    check = new_secret()
    with store.locked():
        store.write_broker_files(check_hash=mosquitto_hash(check))
        pid = status(settings)["mosquitto"].pid
        if pid is None:
            return False
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + settings.stack_timeout_seconds
        while True:
            answer = connack(
                settings.mqtt_host, settings.mqtt_port, _ANSWER_SECONDS, RELOAD_CHECK_USER, check
            )
            if answer is not None and not answer.is_failure:
                return True
            if time.monotonic() >= deadline:
                raise StackError(
                    f"mosquitto (pid {pid}) did not take the new logins within"
                    f" {settings.stack_timeout_seconds:g} s (last answer: {answer}); see its log"
                )
            time.sleep(_POLL_SECONDS)
