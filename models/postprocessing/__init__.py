"""Post-processing: a detector's raw score read as an anomaly probability.

- ``likelihood``: recent raw scores against the long run of raw scores.
- ``rank``: the share of the latest raw scores below a score.
- ``tail``: a z-score's Gaussian tail.
- ``rest``: zeros for a while after a detection.
- ``unchanged``: a raw score already in [0, 1].
"""
