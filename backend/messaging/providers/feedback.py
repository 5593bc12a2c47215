"""What every provider's callback verification shares: the freshness window, header lookup
and reading our message id back."""

from __future__ import annotations

from uuid import UUID

# A callback signed longer ago (or further ahead) than this is refused as a replay.
FEEDBACK_TOLERANCE_SECONDS = 300


def header(headers: dict[str, str], name: str) -> str | None:
    """A header by name, whatever its case."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def message_id_of(value: object) -> UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return UUID(value)
    except ValueError:
        return None
