"""Rest after a detection: a probability at or above ``base`` is followed by ``period`` zeros.

An anomaly lasts a while, and everything it does after its first detection is the same anomaly again:
an alarm already raised, or on a benchmark a false positive once its window is over. So, as CAD OSE
and others on NAB's leaderboard do, once the wrapped calibration's probability reaches ``base`` the
next ``period`` raw scores give probability 0 (the wrapped calibration still learns them all).

>>> from models.postprocessing.unchanged import Unchanged
>>> rest = Rest(Unchanged(), base=0.9, period=2)
>>> probabilities = []
>>> for raw in [0.1, 0.95, 0.97, 0.99, 0.96, 0.2]:
...     probabilities.append(rest.score_one(raw))
...     rest.learn_one(raw)
>>> probabilities
[0.1, 0.95, 0.0, 0.0, 0.96, 0.0]
"""

from __future__ import annotations

from models.detectors.detector import Calibration


class Rest:
    """The wrapped calibration's probability, 0 for ``period`` raw scores after one at or above ``base``."""

    name = "rest"
    version = 1

    def __init__(self, calibration: Calibration, base: float, period: int) -> None:
        self.calibration = calibration
        self.base = base
        self.period = period
        self.resting = 0
        """Raw scores still to give 0."""
        self.last = 0.0
        """The wrapped calibration's probability of the latest raw score judged."""

    def score_one(self, raw: float) -> float:
        probability = self.calibration.score_one(raw)
        self.last = probability
        return 0.0 if self.resting else probability

    def learn_one(self, raw: float) -> None:
        self.calibration.learn_one(raw)
        if self.resting:
            self.resting -= 1
        elif self.last >= self.base:
            self.resting = self.period
