"""The connectors domain has no Lambda of its own: it is the shared machinery (breaker, buffer,
rate limiter, HTTP client, business exceptions) the finance and ERP connectors run on, reached
through ``connectors.api``. This module exists so every domain has the same shape."""

from __future__ import annotations

__all__: list[str] = []
