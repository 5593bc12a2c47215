"""Brand-scoped GraphQL subscriptions, declared once like a query field.

A subscription states its scope (and role) in the decorator and receives a :class:`BrandWatch`;
the decorator adds the `brand` argument and checks it against the caller exactly as
:func:`~backend.core.graphql_fields.brand_query` does (404 `not-found` out of reach, then 403
short of role or scope — the same GraphQL error as a query's). Subscriptions outlive a request,
so the check is made again before every read, with the caller as their token stands then: an
expired or revoked token, or a withdrawn grant, ends the stream with the matching error. Reads
run each in a unit of work of their own (no transaction stays open between them)::

    @brand_subscription("profiles:read")
    async def import_progress(self, unit: BrandWatch, id: strawberry.ID
                              ) -> AsyncGenerator[ImportProgress, None]:
        import_id = parse_id(id, "Import")
        async for job in unit.follow(lambda session: service.get_import(session, import_id),
                                     finished=lambda job: job.status in DONE):
            yield ImportProgress.of(job, unit.now())

:class:`ProgressFields` is the GraphQL interface (`Progress`) of every long work's progress.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from backend.core.access import Access
from backend.core.db import utcnow
from backend.core.graphql_fields import AnyContext, BrandArgument
from backend.core.live import Progress, changes
from backend.core.relay import parse_id
from backend.core.tenancy import TenantId

T = TypeVar("T")
StreamResolver = Callable[..., AsyncGenerator[Any, None]]


@dataclass(frozen=True)
class BrandWatch:
    """What a brand-scoped subscription works with: the brand, checked again before each read."""

    brand_id: UUID
    tenant: TenantId
    context: AnyContext
    scope: str
    access: Access

    async def check(self) -> TenantId:
        """The brand, as the caller's token and grants stand now (raises otherwise)."""
        caller = await self.context.current_caller()
        return caller.require_brand(self.brand_id, self.access, self.scope)

    async def read(self, load: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """``load`` run in a unit of work of its own on the brand, after :meth:`check`."""
        tenant = await self.check()
        async with self.context.transaction(tenant) as session:
            return await load(session)

    def follow(
        self,
        load: Callable[[AsyncSession], Awaitable[T]],
        *,
        finished: Callable[[T], bool],
        key: Callable[[T], Hashable] | None = None,
    ) -> AsyncIterator[T]:
        """What ``load`` reads now, then each change, until ``finished`` (see
        :func:`backend.core.live.changes`), read every ``LEVIER_LIVE_POLL_SECONDS``."""
        return changes(
            lambda: self.read(load),
            finished=finished,
            interval=self.context.poll_seconds,
            key=key,
        )

    @staticmethod
    def now() -> dt.datetime:
        return utcnow()


def brand_subscription(
    scope: str, *, access: Access = Access.VIEWER, description: str | None = None
) -> Callable[[StreamResolver], Any]:
    """A subscription on one brand (`brand` argument), checked as a query field is."""

    def decorate(resolver: StreamResolver) -> Any:
        signature = inspect.signature(resolver)
        own, unit, *arguments = signature.parameters.values()
        if unit.name != "unit":
            raise TypeError(
                f"{resolver.__qualname__}: the second parameter must be `unit: BrandWatch`"
            )

        async def subscribe(
            self: Any, info: Info[AnyContext, None], brand: strawberry.ID, **given: Any
        ) -> AsyncGenerator[Any, None]:
            context = info.context
            brand_id = parse_id(brand)
            # Out of reach or short of role or scope: the error a query field answers.
            caller = await context.current_caller()
            tenant = caller.require_brand(brand_id, access, scope)
            watch = BrandWatch(brand_id, tenant, context, scope, access)
            async for item in resolver(self, watch, **given):
                yield item

        functools.update_wrapper(subscribe, resolver)
        subscribe.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[
                own,
                inspect.Parameter(
                    "info",
                    inspect.Parameter.POSITIONAL_OR_KEYWORD,
                    annotation=Info[AnyContext, None],
                ),
                inspect.Parameter(
                    "brand", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=BrandArgument
                ),
                *arguments,
            ]
        )
        return strawberry.subscription(
            resolver=subscribe, description=description or resolver.__doc__
        )

    return decorate


@strawberry.interface(name="Progress", description="How far some long work got.")
class ProgressFields:
    done: int = strawberry.field(description="Units done so far (lines, rows, messages…).")
    total: int | None = strawberry.field(description="Units in all; null when not known yet.")
    rate_per_second: float | None = strawberry.field(
        description="Units done per second since the work started; null before it did."
    )
    estimated_end_at: dt.datetime | None = strawberry.field(
        description="When it ends at its rate so far (its end, once finished); null while the "
        "total or the rate is not known."
    )
    finished: bool = strawberry.field(
        description="Whether the work ended (succeeded or not): the last message of its stream."
    )

    @staticmethod
    def values(progress: Progress) -> dict[str, Any]:
        """The interface's fields of ``progress``, for a type implementing it."""
        return {
            "done": progress.done,
            "total": progress.total,
            "rate_per_second": progress.rate_per_second,
            "estimated_end_at": progress.estimated_end_at,
            "finished": progress.finished,
        }
