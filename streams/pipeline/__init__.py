"""The worker's one pass over each batch of readings: clean -> health -> score -> alarm.

- :mod:`~streams.pipeline.clean`: validation, the city's rules and each sensor's health.
- :mod:`~streams.pipeline.score`: each sensor's detector, and the explained verdict.
- :mod:`~streams.pipeline.checkpoints`: the score step's detectors, checkpointed to a compacted topic.
- :mod:`~streams.pipeline.alarm`: each sensor's alarm state machine, and operators' commands.
- :mod:`~streams.pipeline.state`: the sensors' health and alarm state, and its changelog.
- :mod:`~streams.pipeline.one_pass`: the steps in order, as the pass's runner.
- :mod:`~streams.pipeline.router`: each alarm event of ``alerts`` onto its owner's topic.

The steps are plain objects over an explicit batch, tested without services; the batch consumer
of :mod:`streams.runtime` takes them to Kafka, and the sink (:mod:`streams.sinks.points`) their
points to InfluxDB.
"""
