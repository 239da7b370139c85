"""Kafka as the pipeline uses it.

- ``clients``: how every producer, consumer and admin connects.
- ``topics``: the topics' names, their creation, reading their committed records.
- ``topic_checks``: what an existing topic must be: its partition count, its compaction.
- ``groups``: a consumer group's committed offsets, lag and state.
- ``publisher``: publishing batches at the doors, returning once Kafka acknowledged them all.
- ``site_registry``: the compacted topic ``sites.registry``, one record per site.

The workers' batch loop and its transactions are in :mod:`streams.runtime`.
"""
