"""Detectors judged offline, without Kafka.

- ``nab``: the Numenta Anomaly Benchmark's scoring.
- ``benchmark``: labelled benchmark files and detectors run over them.
- ``figures``: a detector's figures on a labelled corpus.
- ``cross_validation``: leave-one-group-out cross-validation.
- ``simulated``: detectors on the simulated city's labelled stream, per anomaly type.
- ``episodes``: injected anomaly episodes joined with the alarms raised.
"""
