"""Alarms reaching their owners: the alert router, subscriptions, ACLs and SASL."""
