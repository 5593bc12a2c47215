"""OpenAPI examples of the operational routes (health, readiness)."""

from __future__ import annotations

from typing import Any

EXAMPLES: dict[str, Any] = {
    "health.200": {"status": "ok"},
    "ready.200": {"status": "ok", "checks": {"database": "ok", "broker": "ok"}},
}
