"""What others may use of channels: the channel store and how secrets are made and kept. The
``synchub channels`` and ``synchub operators`` CLI (synchub/channels.py) manage principals through
this module. The API functions need nothing of it: they read the principal and its :class:`Role`
from the authorizer's context (``channel``, ``role``); :data:`AUTHORIZER_ROLE_KEY` names it."""

from __future__ import annotations

from .logic import hash_secret, new_secret
from .models import (
    AUTHORIZER_ROLE_KEY,
    CHANNEL_ID,
    Channel,
    ChannelExists,
    ChannelNotFound,
    ChannelRevoked,
    ChannelStatus,
    Role,
)
from .repository import ChannelStore

__all__ = [
    "AUTHORIZER_ROLE_KEY",
    "CHANNEL_ID",
    "Channel",
    "ChannelExists",
    "ChannelNotFound",
    "ChannelRevoked",
    "ChannelStatus",
    "ChannelStore",
    "Role",
    "hash_secret",
    "new_secret",
]
