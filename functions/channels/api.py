"""What others may use of channels: the channel store and how secrets are made and kept. The
``synchub channels`` and ``synchub operators`` CLI (synchub/channels.py) manage principals through
this module. The API functions need nothing of it: they read the principal and its :class:`Role`
from the authorizer's context (``channel``, ``role``); :data:`AUTHORIZER_ROLE_KEY` names it, and
:data:`AUTHORIZER_SHELF_LIFE_KEY` the channel's minimum shelf life (a string, absent for 0)."""

from __future__ import annotations

from .logic import hash_secret, new_secret
from .models import (
    AUTHORIZER_ROLE_KEY,
    AUTHORIZER_SHELF_LIFE_KEY,
    CHANNEL_ID,
    MAX_SHELF_LIFE_DAYS,
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
    "AUTHORIZER_SHELF_LIFE_KEY",
    "CHANNEL_ID",
    "MAX_SHELF_LIFE_DAYS",
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
