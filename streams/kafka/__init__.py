"""Kafka as the pipeline uses it.

- ``clients``: how every producer, consumer and admin connects.
- ``topics``: the topics' names, their creation, how many records they hold.
- ``topic_checks``: what an existing topic must be: its partition count, its compaction.
- ``publisher``: publishing batches, returning once Kafka acknowledged them all.
- ``batch_consumer``: the at-least-once batch loop the pass, the agents and the alert router share.
- ``site_registry``: the compacted topic ``sites.registry``, one record per site.
"""
