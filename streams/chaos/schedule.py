"""Which fault comes when: the chaos run's schedule, drawn from a seed and printed before it runs.

Faults come one at a time. Each waits a random moment after the one before has been recovered
from (``gap``), lasts ``down`` seconds, and is then healed: the killed process restarted, the
stopped service started again, the frozen worker resumed. Some faults overlap two at once
(:data:`OVERLAPPING`): InfluxDB down while the group rebalances, Kafka killed while the workers
publish, and an InfluxDB outage longer than a worker may hold a batch.

>>> import random
>>> steps = schedule(ChaosRules(), random.Random(7))
>>> sorted(step.fault.value for step in steps)  # doctest: +NORMALIZE_WHITESPACE
['add worker', 'freeze worker', 'freeze worker', 'kill Kafka', 'kill Kafka mid-send',
 'kill MQTT gateway', 'kill worker', 'kill worker', 'kill worker', 'remove worker', 'stop InfluxDB',
 'stop InfluxDB during a rebalance', 'stop InfluxDB for long']
>>> [step.down for step in steps if step.fault is Fault.STOP_INFLUXDB]
[30.0]
>>> [step.down for step in steps if step.fault is Fault.FREEZE_WORKER]
[40.0, 40.0]
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class Fault(StrEnum):
    """What the chaos run does to the stack."""

    KILL_WORKER = "kill worker"
    """SIGKILL a worker mid-batch; a new one starts in its place after ``down`` seconds."""
    ADD_WORKER = "add worker"
    """Start one more worker: the group rebalances while readings flow."""
    REMOVE_WORKER = "remove worker"
    """Stop a worker as an operator would (SIGTERM): the group rebalances again."""
    KILL_KAFKA = "kill Kafka"
    """SIGKILL the broker; start it again after ``down`` seconds."""
    STOP_INFLUXDB = "stop InfluxDB"
    """Stop InfluxDB for ``down`` seconds."""
    KILL_GATEWAY = "kill MQTT gateway"
    """SIGKILL the MQTT gateway while devices publish; start it again after ``down`` seconds."""
    FREEZE_WORKER = "freeze worker"
    """SIGSTOP a worker for ``down`` seconds, longer than its consumer session timeout, then SIGCONT
    it: its group has given its partitions away, and it wakes with a batch in hand (a zombie)."""
    STOP_INFLUXDB_IN_REBALANCE = "stop InfluxDB during a rebalance"
    """Stop InfluxDB, then SIGKILL a worker and start a new one: the group rebalances while no
    batch can be written; InfluxDB starts again after ``down`` seconds."""
    KILL_KAFKA_MID_SEND = "kill Kafka mid-send"
    """SIGKILL the broker as soon as the workers are seen publishing; start it again after ``down``
    seconds."""
    LONG_INFLUXDB_OUTAGE = "stop InfluxDB for long"
    """Stop InfluxDB for ``down`` seconds, longer than a worker may hold a batch."""


OVERLAPPING = frozenset(
    {Fault.STOP_INFLUXDB_IN_REBALANCE, Fault.KILL_KAFKA_MID_SEND, Fault.LONG_INFLUXDB_OUTAGE}
)
"""The faults that overlap two (or outlast a batch): in the schedule when ``ChaosRules.overlapping``."""


@dataclass(frozen=True, slots=True)
class ChaosRules:
    """How hard the chaos run hits: how many faults of each kind, how long they last."""

    worker_kills: int = 3
    worker_down_seconds: float = 2.0
    kafka_down_seconds: float = 5.0
    influx_down_seconds: float = 30.0
    gateway_down_seconds: float = 5.0
    worker_freezes: int = 2
    freeze_seconds: float = 40.0
    """How long a worker stays frozen: longer than its consumer session timeout."""
    overlapping: bool = True
    """Whether the schedule has the faults of :data:`OVERLAPPING`."""
    long_influx_down_seconds: float = 90.0
    shortest_gap_seconds: float = 5.0
    longest_gap_seconds: float = 20.0


@dataclass(frozen=True, slots=True)
class Step:
    """One fault of the schedule."""

    fault: Fault
    gap: float
    """Seconds after the previous fault was recovered from (or the run warmed up)."""
    down: float
    """Seconds until it is healed."""

    def describe(self) -> str:
        """One line for the printed schedule.

        >>> Step(Fault.STOP_INFLUXDB, 12.5, 30.0).describe()
        '+12.5 s: stop InfluxDB, healed after 30 s'
        """
        healed = f", healed after {self.down:g} s" if self.down else ""
        return f"+{self.gap:.1f} s: {self.fault}{healed}"


def schedule(rules: ChaosRules, rng: random.Random) -> list[Step]:
    """Every fault of ``rules`` once (worker kills ``worker_kills`` times, freezes
    ``worker_freezes`` times) in a random order, each at a random moment; a worker is never removed
    before one was added, so the group keeps at least the workers it started with."""
    down = {
        Fault.KILL_WORKER: rules.worker_down_seconds,
        Fault.ADD_WORKER: 0.0,
        Fault.REMOVE_WORKER: 0.0,
        Fault.KILL_KAFKA: rules.kafka_down_seconds,
        Fault.STOP_INFLUXDB: rules.influx_down_seconds,
        Fault.KILL_GATEWAY: rules.gateway_down_seconds,
        Fault.FREEZE_WORKER: rules.freeze_seconds,
        Fault.STOP_INFLUXDB_IN_REBALANCE: rules.influx_down_seconds,
        Fault.KILL_KAFKA_MID_SEND: rules.kafka_down_seconds,
        Fault.LONG_INFLUXDB_OUTAGE: rules.long_influx_down_seconds,
    }
    faults = [Fault.KILL_WORKER] * rules.worker_kills + [Fault.FREEZE_WORKER] * rules.worker_freezes
    faults += [Fault.ADD_WORKER, Fault.KILL_KAFKA, Fault.STOP_INFLUXDB, Fault.KILL_GATEWAY]
    if rules.overlapping:
        faults += sorted(OVERLAPPING)
    rng.shuffle(faults)
    added = faults.index(Fault.ADD_WORKER)
    faults.insert(rng.randint(added + 1, len(faults)), Fault.REMOVE_WORKER)
    return [
        Step(fault, rng.uniform(rules.shortest_gap_seconds, rules.longest_gap_seconds), down[fault])
        for fault in faults
    ]
