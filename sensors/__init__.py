"""The city's sensors and their readings: the schema the other layers share.

- ``reading``, ``catalog``, ``measurements``, ``event_time``: a reading, the kinds, units and
  ranges, how readings lie in InfluxDB, event times.
- ``site``, ``sites``: a site and its sensors; the site registry.
- ``labels``: labelled anomalies, the ground truth.
- ``cleaning``, ``ingest``, ``health``: raw bytes into readings or rejections; gateways'
  batches; each sensor's health.
- ``replay``: recorded readings (JSONL, CSV series) as records, and their pacing.
- ``simulation``: the simulated city and the anomalies it injects.
"""
