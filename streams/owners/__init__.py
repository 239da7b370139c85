"""Site owners and their alarms.

- ``acls``: an owner's SCRAM login and the ACLs that let it read its own alarms, nothing else.
- ``subscriber``: an owner's alarm subscription, printed or sent to a webhook.
- ``operators``: ``openlab alerts ack|clear``, commands on the alarms.
"""
