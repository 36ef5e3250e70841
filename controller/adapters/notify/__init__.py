"""Notifications: receivers (generic webhook signed like Flux's, Slack), each fed from a bounded
queue by a thread of its own, and the ledger of what was sent. The only user of httpx for it.

``controller.app`` builds a ``QueueNotifier`` from the settings file; the services see the
``Notifier`` port only.
"""
