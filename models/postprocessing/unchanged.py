"""No post-processing: a raw score already in [0, 1] is taken as the anomaly probability.

>>> Unchanged().score_one(0.7), Unchanged().score_one(1.3)
(0.7, 1.0)
"""

from __future__ import annotations


class Unchanged:
    """A raw score clipped to [0, 1] and passed on, with nothing to learn."""

    name = "unchanged"
    version = 1

    def score_one(self, raw: float) -> float:
        return min(max(raw, 0.0), 1.0)

    def learn_one(self, raw: float) -> None:
        """Nothing to learn."""
