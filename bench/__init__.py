"""Benchmarks: ``python -m bench`` (or ``make bench``) prints throughput and per-event costs.

- ``throughput``, ``produce``, ``steady``: end to end on the local stack, the simulator's produce
  rate, the worker under a steady feed.
- ``stages``, ``detector_cost``: CPU per reading of each step, and of a detector.
- ``alarm_latency``: from an anomalous reading to its alarm on the owner's topic.
- ``false_alarms``: the detectors' false alarms on the simulated city.
"""
