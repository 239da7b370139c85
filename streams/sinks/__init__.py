"""Where scored readings leave the pipeline.

- ``influx``: InfluxDB line protocol, a batch writer that retries, and InfluxQL queries.
"""
