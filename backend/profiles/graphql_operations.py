"""GraphQL mutation of GDPR erasure: thin, calling the same service as REST, expected failures as
the ``OperationError`` member of its result union. (Linked rows moved to
``backend.profiles.linked.graphql``, profile exports to ``backend.profiles.exports.graphql``.)"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry

from backend.core.access import Access
from backend.core.graphql_results import OperationError, attempt, parse_id
from backend.core.schemas import parse_input
from backend.profiles import gdpr
from backend.profiles.graphql import Ctx
from backend.profiles.schemas import EraseRequest


@strawberry.type(name="Erasure", description="A person erased (GDPR).")
class ErasureType:
    profile_id: strawberry.ID
    suppressed_keys: int
    erased_at: dt.datetime


ErasureResult = Annotated[ErasureType | OperationError, strawberry.union("ErasureResult")]


@strawberry.type
class ProfileOperationsMutation:
    @strawberry.mutation(
        description="Erase a person (GDPR): the profile and everything it has are deleted, its "
        "identifiers kept only as salted hashes on the suppression list."
    )
    async def erase_profile(
        self, info: Ctx, brand: strawberry.ID, id: strawberry.ID, reason: str | None = None
    ) -> ErasureResult:
        ctx = info.context

        async def run() -> ErasureType:
            tenant = ctx.require_caller().require_brand(
                parse_id(brand), Access.MANAGER, "profiles:write"
            )
            request = parse_input(EraseRequest, reason=reason)
            async with ctx.transaction(tenant) as session:
                erasure = await gdpr.erase_profile(session, tenant, parse_id(id), request.reason)
            return ErasureType(
                profile_id=strawberry.ID(str(erasure.profile_id)),
                suppressed_keys=erasure.suppressed_keys,
                erased_at=erasure.erased_at,
            )

        return await attempt(run)
