"""What others may use of channels: the channel store and how secrets are made and kept. The
``synchub channels`` CLI (synchub/channels.py) manages channels through this module; no other
domain needs it today (the orders API reads the channel from the authorizer's context)."""

from __future__ import annotations

from .logic import hash_secret, new_secret
from .models import (
    CHANNEL_ID,
    Channel,
    ChannelExists,
    ChannelNotFound,
    ChannelRevoked,
    ChannelStatus,
)
from .repository import ChannelStore

__all__ = [
    "CHANNEL_ID",
    "Channel",
    "ChannelExists",
    "ChannelNotFound",
    "ChannelRevoked",
    "ChannelStatus",
    "ChannelStore",
    "hash_secret",
    "new_secret",
]
