"""RFC 9457 problem details for HTTP APIs."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://synchub.dev/problems/"


def problem(
    status: int, slug: str, title: str, detail: str, instance: str | None = None, **extensions: Any
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extensions.items() if v is not None})
    return Response(status_code=status, content_type=PROBLEM_CONTENT_TYPE, body=json.dumps(body, default=str))
