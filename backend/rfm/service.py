"""RFM operations."""

from __future__ import annotations

from backend.rfm.repository import current_scores_query

__all__ = ["current_scores_query"]
