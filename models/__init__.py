"""Detectors and alarms, in pure Python and River: no Kafka, no processes.

- ``detectors``: a sensor's detector, its models, the registry of detectors, checkpoints.
- ``postprocessing``: a raw score read as a probability.
- ``scoring``: a reading judged by its sensor's detector, and why.
- ``alarms``: anomalous readings becoming alarms that open, escalate and clear.
- ``evaluation``: detectors judged offline (NAB, cross-validation, the simulated city).
"""
