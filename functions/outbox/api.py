"""The outbox domain publishes; nothing in it is for other domains to call. Domains *write*
their events through the shared kernel (``synchub_core.outbox.outbox_put``) in their own
transaction. This module exists so every domain has the same shape."""

from __future__ import annotations

__all__: list[str] = []
