"""What every domain's mutations share: expected failures as a member of the result union."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

import strawberry

from backend.core.errors import LevierError, NotFound, problem_type

T = TypeVar("T")


@strawberry.type(description="An expected failure: what went wrong, as in REST problem details.")
class OperationError:
    type: str
    title: str
    # Not `status`: it would clash with `Brand.status` when both are queried in one union.
    http_status: int
    detail: str | None


@strawberry.type
class Deleted:
    id: strawberry.ID


def operation_error(exc: LevierError) -> OperationError:
    return OperationError(
        type=problem_type(exc.slug),
        title=exc.title,
        http_status=int(exc.status),
        detail=exc.detail,
    )


def parse_id(value: strawberry.ID) -> UUID:
    """An id argument; one that is not a UUID names no object (404)."""
    try:
        return UUID(str(value))
    except ValueError:
        raise NotFound("no object has this id") from None


async def attempt(action: Callable[[], Awaitable[T]]) -> T | OperationError:
    """Run a mutation; an expected failure becomes an `OperationError` member of its union."""
    try:
        return await action()
    except LevierError as exc:
        return operation_error(exc)
