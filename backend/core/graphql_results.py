"""What every domain's mutations share: expected failures as a member of the result union."""

from __future__ import annotations

from typing import Any, TypeVar

import strawberry

from backend.core.errors import LevierError, problem_type
from backend.core.relay import parse_id

__all__ = ["Deleted", "FieldError", "OperationError", "operation_error", "parse_id"]

T = TypeVar("T")


@strawberry.type(description="One invalid input field, to show beside it in a form.")
class FieldError:
    field: str | None = strawberry.field(description="The input field's name (camelCase).")
    pointer: str | None = strawberry.field(
        description="Its JSON pointer inside the input, e.g. `/lines/0/unitPrice`."
    )
    message: str


@strawberry.type(description="An expected failure: what went wrong, as in REST problem details.")
class OperationError:
    # Names no entity would carry: in a result union, a field of the same name and another type
    # (`ProfileAttribute.type`, `Brand.status`, `ProfileExport.fields`) cannot be selected beside
    # it without an alias.
    problem_type: str = strawberry.field(description="The problem's type URI, as in REST.")
    title: str
    http_status: int
    detail: str | None
    field_errors: list[FieldError] = strawberry.field(
        description="The input fields at fault (empty when the failure is not about one)."
    )


@strawberry.type
class Deleted:
    id: strawberry.ID


def _field_error(item: dict[str, Any]) -> FieldError:
    return FieldError(
        field=item.get("field"),
        pointer=item.get("pointer") or None,
        message=str(item.get("message") or item.get("detail") or ""),
    )


def operation_error(exc: LevierError) -> OperationError:
    return OperationError(
        problem_type=problem_type(exc.slug),
        title=exc.title,
        http_status=int(exc.status),
        detail=exc.detail,
        field_errors=[_field_error(item) for item in exc.errors or [] if isinstance(item, dict)],
    )
