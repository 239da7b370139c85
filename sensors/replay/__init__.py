"""Replaying recorded readings: files into ``(key, value, event time)`` records, and their pacing.

- ``records``: the records, JSONL files, file kinds, files merged by time.
- ``series``: CSV series (``timestamp,value``) as one sensor's readings, and the mapping of
  files to sensors.
- ``pacing``: when each record is due.

Nothing here touches Kafka: the records are sent by ``streams.ingest.replay``.
"""
