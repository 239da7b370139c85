"""Injecting labelled anomalies: what happens to the readings, and which anomalies happen where and when.

:class:`AnomalyInjector` is a Poisson process in event time over the city's sensors, independent
of the measurement noise, so the same seed with and without anomalies gives the same readings
everywhere outside the labelled spans. Each anomaly it injects is labelled
(:class:`~sensors.labels.Label`).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sensors.catalog import SensorKind
from sensors.labels import ACCIDENT_KINDS, REAL_WORLD, AnomalyType, Label, as_datetime


@dataclass(slots=True)
class Fault:
    """A sensor fault of one sensor: how it changes its readings from ``start`` to ``end`` (µs)."""

    anomaly: AnomalyType
    start: int
    end: int
    interval: int
    offset: float = 0.0
    """Signed offset (spike, dip, level shift), the final offset (drift) or the sigma (noise burst)."""
    low: float = -math.inf
    high: float = math.inf
    rng: random.Random | None = None
    side: int = 0
    """For a noise burst at a bound (an idle charger's zero): 1 only upwards, -1 only downwards."""
    stuck: float | None = None

    def apply(self, value: float, at: int) -> float | None:
        """The reported value instead of ``value`` at ``at`` (inside the span); ``None``: not sent."""
        anomaly = self.anomaly
        if anomaly is AnomalyType.DROPOUT:
            return None
        if anomaly is AnomalyType.DRIFT:
            # The first reading already carries 1/n of the offset, the last all of it.
            return value + self.offset * (at - self.start + self.interval) / (
                self.end - self.start + self.interval
            )
        if anomaly is AnomalyType.FLATLINE:
            if self.stuck is None:
                self.stuck = min(max(value, self.low), self.high)
            return self.stuck
        if anomaly is AnomalyType.NOISE_BURST:
            assert self.rng is not None
            error = self.rng.gauss(0.0, self.offset)
            return value + (abs(error) * self.side if self.side else error)
        return value + self.offset  # spike, dip, level shift


@dataclass(slots=True)
class Incident:
    """An accident at one site: traffic flow and speed fall to a share of normal from ``start`` to ``end``.

    The road recovers over the last third of the span (the wreck is cleared, the queue drains);
    ``factors`` says by how much flow and speed are down at a moment.
    """

    start: int
    end: int
    flow_factor: float
    speed_factor: float

    def factors(self, at: int) -> tuple[float, float]:
        """``(flow, speed)`` multipliers at ``at`` (µs, inside the span)."""
        recovery = self.start + (self.end - self.start) * 2 // 3
        if at <= recovery or self.end == recovery:
            return self.flow_factor, self.speed_factor
        done = (at - recovery) / (self.end - recovery) * 0.7  # never quite back inside the span
        return (
            self.flow_factor + (1.0 - self.flow_factor) * done,
            self.speed_factor + (1.0 - self.speed_factor) * done,
        )


@dataclass(frozen=True, slots=True)
class Target:
    """What the injector knows of one sensor: who it is and when it reports.

    The sensor reports at ``origin - phase + k * interval`` for k = 0, 1, ... (µs).
    """

    index: int
    sensor_id: str
    site_id: str
    site_index: int
    kind: SensorKind
    interval: int
    phase: int
    road: bool
    """At a road intersection, where an accident can happen."""


FAULT_WEIGHTS: dict[AnomalyType, float] = {
    AnomalyType.SPIKE: 0.08,
    AnomalyType.DIP: 0.26,
    AnomalyType.LEVEL_SHIFT: 0.16,
    AnomalyType.DRIFT: 0.10,
    AnomalyType.FLATLINE: 0.12,
    AnomalyType.DROPOUT: 0.13,
    AnomalyType.NOISE_BURST: 0.15,
}
"""How the injected sensor faults are shared among the types. Dips are drawn more often than
spikes because most find no room below the value (a solar plant at night, a quiet road) and
become spikes: spikes still come out several times as many as dips."""

ACCIDENT_WEIGHT = 0.25
"""Weight of an accident, beside :data:`FAULT_WEIGHTS`, when the chosen sensor is at an intersection."""

# Duration range in seconds (log-uniform) and the fewest readings the span covers.
_DURATION: dict[AnomalyType, tuple[float, float, int]] = {
    AnomalyType.SPIKE: (0.0, 0.0, 1),
    AnomalyType.DIP: (0.0, 0.0, 1),
    AnomalyType.LEVEL_SHIFT: (900.0, 7200.0, 3),
    AnomalyType.DRIFT: (1800.0, 10800.0, 4),
    AnomalyType.FLATLINE: (600.0, 5400.0, 3),
    AnomalyType.DROPOUT: (300.0, 3600.0, 2),
    AnomalyType.NOISE_BURST: (300.0, 1800.0, 3),
    AnomalyType.ACCIDENT: (1200.0, 5400.0, 3),
}


def magnitude_scale(kind: SensorKind) -> float:
    """The size of a kind's typical variation: the unit in which fault magnitudes are drawn.

    >>> from sensors.catalog import KINDS
    >>> magnitude_scale(KINDS["temperature"])
    6.4
    """
    return max(abs(kind.daily_swing) + 0.1 * abs(kind.baseline), 4.0 * kind.noise)


def _pick(weights: Sequence[tuple[AnomalyType, float]], u: float) -> AnomalyType:
    total = sum(weight for _, weight in weights)
    threshold = u * total
    for anomaly, weight in weights:
        threshold -= weight
        if threshold < 0:
            return anomaly
    return weights[-1][0]


_FAULTS = tuple(FAULT_WEIGHTS.items())
_ROAD = (*_FAULTS, (AnomalyType.ACCIDENT, ACCIDENT_WEIGHT))


@dataclass
class AnomalyInjector:
    """Draws anomalies as a Poisson process in event time and keeps the ones in progress.

    ``rate`` is the expected number of new anomalies per sensor-hour of event time, whatever the
    sensor's cadence. Each anomaly starts at the chosen sensor's first report at or after the
    drawn moment and spans a whole number of its reports. An anomaly that would overlap one
    already planned on the same sensor (an accident occupies its intersection's traffic sensors)
    is not injected, so every reading is changed by at most one anomaly. The draws come from
    their own generator, seven per anomaly whatever it becomes, so the plan depends only on the
    seed, the rate and the event time, never on how the time is cut into ticks.
    """

    targets: Sequence[Target]
    seed: int
    rate: float
    origin: int
    clean_value: Callable[[int, int], float]
    """The noise-free value of sensor ``index`` at ``at`` (µs), to choose a visible direction."""
    faults: dict[int, list[Fault]] = field(default_factory=dict)
    """Sensor faults planned or in progress, by sensor index, in time order."""
    incidents: dict[int, list[Incident]] = field(default_factory=dict)
    """Accidents planned or in progress, by site index, in time order."""
    _by_site: dict[int, list[Target]] = field(default_factory=dict, init=False)
    _busy_until: list[int] = field(default_factory=list, init=False)
    _pending: list[tuple[int, int, Label]] = field(default_factory=list, init=False)
    _count: int = field(default=0, init=False)
    _until: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"openlab-anomalies-{self.seed}")
        self._busy_until = [self.origin - 1] * len(self.targets)
        for target in self.targets:
            self._by_site.setdefault(target.site_index, []).append(target)
        per_second = self.rate * len(self.targets) / 3600.0
        self._per_micro = per_second / 1e6
        self._next = self._draw_gap(self.origin) if self._per_micro > 0 else math.inf

    def _draw_gap(self, after: float) -> float:
        return after + self._rng.expovariate(self._per_micro)

    def advance(self, until: int) -> list[Label]:
        """Plan every anomaly drawn up to ``until`` (µs); return the labels that have started by then."""
        rng = self._rng
        while self._next <= until:
            moment = math.ceil(self._next)
            index = rng.randrange(len(self.targets))
            u_type, u_duration, u_size, u_sign = rng.random(), rng.random(), rng.random(), rng.random()
            sub_seed = rng.getrandbits(32)
            self._plan(self.targets[index], moment, u_type, u_duration, u_size, u_sign, sub_seed)
            self._next = self._draw_gap(self._next)
        started = []
        while self._pending and self._pending[0][0] <= until:
            started.append(heapq.heappop(self._pending)[2])
        # Accidents over before the previous tick's end can touch no reading from now on.
        for site, incidents in list(self.incidents.items()):
            incidents[:] = [incident for incident in incidents if incident.end > self._until]
            if not incidents:
                del self.incidents[site]
        self._until = until
        return started

    def fault_at(self, index: int, at: int) -> Fault | None:
        """The fault that changes sensor ``index``'s reading at ``at``, if any (forgetting past ones).

        Readings must be asked for in time order.
        """
        faults = self.faults.get(index)
        while faults and faults[0].end < at:
            del faults[0]
        if not faults:
            self.faults.pop(index, None)
            return None
        return faults[0] if faults[0].start <= at else None

    def _plan(
        self,
        target: Target,
        moment: int,
        u_type: float,
        u_duration: float,
        u_size: float,
        u_sign: float,
        sub_seed: int,
    ) -> None:
        anomaly = _pick(_ROAD if target.road else _FAULTS, u_type)
        interval = target.interval
        # The sensor's first report at or after the drawn moment.
        since_first = moment - (self.origin - target.phase)
        start = self.origin - target.phase + max(0, -(-since_first // interval)) * interval
        low, high, count = _DURATION[anomaly]
        seconds = low * (high / low) ** u_duration if low > 0 else 0.0
        count = max(count, round(seconds * 1e6 / interval))
        end = start + (count - 1) * interval
        if anomaly is AnomalyType.ACCIDENT:
            self._plan_accident(target, start, end, u_size, u_sign)
            return
        if self._busy_until[target.index] >= start:
            return
        kind = target.kind
        scale = magnitude_scale(kind)
        value = self.clean_value(target.index, start)
        room_up, room_down = kind.high - value, value - kind.low
        offset = 0.0
        rng = None
        side = 0
        if anomaly is AnomalyType.FLATLINE and min(room_up, room_down) <= 3 * kind.noise:
            anomaly = AnomalyType.LEVEL_SHIFT  # stuck at a bound would look like the truth
        if anomaly in (AnomalyType.SPIKE, AnomalyType.DIP):
            offset = scale * (2.0 + 2.0 * u_size)
            if anomaly is AnomalyType.SPIKE and room_up < offset and room_down > room_up:
                anomaly = AnomalyType.DIP
            elif anomaly is AnomalyType.DIP and room_down < offset and room_up > room_down:
                anomaly = AnomalyType.SPIKE
            if anomaly is AnomalyType.DIP:
                offset = -offset
        elif anomaly in (AnomalyType.LEVEL_SHIFT, AnomalyType.DRIFT):
            size = scale * (
                (0.5 + 0.7 * u_size) if anomaly is AnomalyType.LEVEL_SHIFT else (0.8 + 1.2 * u_size)
            )
            up = u_sign < 0.5
            room, other = (room_up, room_down) if up else (room_down, room_up)
            if room < size and other > room:
                up = not up
            offset = size if up else -size
        elif anomaly is AnomalyType.NOISE_BURST:
            offset = scale * (0.5 + 0.5 * u_size)
            rng = random.Random(sub_seed)
            if min(room_up, room_down) < 2 * offset:
                side = 1 if room_up > room_down else -1
        if anomaly in (AnomalyType.SPIKE, AnomalyType.DIP):
            end = start
        fault = Fault(anomaly, start, end, interval, offset, kind.low, kind.high, rng, side)
        self.faults.setdefault(target.index, []).append(fault)
        self._busy_until[target.index] = end
        self._label(target, anomaly, start, end)

    def _plan_accident(self, target: Target, start: int, end: int, u_size: float, u_sign: float) -> None:
        site = target.site_index
        hit = [t for t in self._by_site[site] if t.kind.name in ACCIDENT_KINDS]
        if not hit or any(self._busy_until[t.index] >= start for t in hit):
            return
        incident = Incident(start, end, 0.3 + 0.2 * u_size, 0.2 + 0.2 * u_sign)
        self.incidents.setdefault(site, []).append(incident)
        for other in hit:
            self._busy_until[other.index] = end
            self._label(other, AnomalyType.ACCIDENT, start, end)

    def _label(self, target: Target, anomaly: AnomalyType, start: int, end: int) -> None:
        label = Label(
            sensor_id=target.sensor_id,
            site_id=target.site_id,
            kind=target.kind.name,
            anomaly=anomaly,
            start=as_datetime(start),
            end=as_datetime(end),
            real_world=anomaly in REAL_WORLD,
        )
        self._count += 1
        heapq.heappush(self._pending, (start, self._count, label))
