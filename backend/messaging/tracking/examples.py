"""OpenAPI examples of messaging tracking."""

from __future__ import annotations

from typing import Any

EXAMPLES: dict[str, Any] = {
    "CallbackReceived": {"reports": 3, "applied": 2},
}
