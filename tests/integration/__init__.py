"""Tests on the real local stack (Kafka, InfluxDB, mosquitto), started once per session:
``ingest`` (the doors), ``pipeline`` (the pass and its faults), ``owners`` (alarms reaching their
owners, ACLs), and the agents, the dashboards' queries and the stack itself.
"""
