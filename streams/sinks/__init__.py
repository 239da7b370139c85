"""Where scored readings leave the pipeline.

- ``influx``: InfluxDB line protocol, a batch writer that retries, and InfluxQL queries.
- ``points``: the sink, writing the points of committed batches from the ``points`` topic.
"""
