"""``openlab chaos``: the whole city streams while the stack is broken on a schedule, then every
reading, dead letter and alarm event is counted where it landed.

- :mod:`~streams.chaos.schedule` says which fault comes when (pure, seeded, printed first).
- :mod:`~streams.chaos.cast` holds the processes a fault hits: workers, the MQTT gateway, and
  the MQTT devices that publish through it.
- :mod:`~streams.chaos.tally` compares what was sent with what landed (pure).
- :mod:`~streams.chaos.run` runs it all on the local stack;
- :mod:`~streams.chaos.probes` asks the stack whether everything sent has arrived, and counts it;
- :mod:`~streams.chaos.report` prints one table and the verdict.
"""
