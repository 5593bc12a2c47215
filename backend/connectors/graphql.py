"""GraphQL read access to a brand's partner connectors."""

from __future__ import annotations

import datetime as dt
from typing import cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from backend.auth.context import GraphQLContext
from backend.connectors import service
from backend.connectors.models import Connector, ConnectorType
from backend.core.access import Access
from backend.core.graphql_results import parse_id
from backend.core.pagination import PageRequest

Ctx = Info[GraphQLContext, None]
ConnectorTypeEnum = strawberry.enum(ConnectorType, name="ConnectorType")


@strawberry.type(name="Connector")
class ConnectorGraphType:
    id: strawberry.ID
    type: ConnectorTypeEnum  # type: ignore[valid-type]
    name: str
    hook_path: str
    mapping: JSON
    event_name: str
    secret_hint: str
    enabled: bool
    created_at: dt.datetime

    @classmethod
    def of(cls, connector: Connector) -> ConnectorGraphType:
        return cls(
            id=strawberry.ID(str(connector.id)),
            type=connector.type,
            name=connector.name,
            hook_path=service.hook_path(connector.id),
            mapping=cast(JSON, dict(connector.mapping or {})),
            event_name=connector.event_name,
            secret_hint=connector.secret_hint,
            enabled=connector.enabled,
            created_at=connector.created_at,
        )


@strawberry.type(name="ConnectorPage")
class ConnectorPageType:
    items: list[ConnectorGraphType]
    next_cursor: str | None


@strawberry.type
class ConnectorsQuery:
    @strawberry.field(description="The brand's partner connectors, in creation order.")
    async def connectors(
        self, info: Ctx, brand: strawberry.ID, first: int = 50, after: str | None = None
    ) -> ConnectorPageType:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, "webhooks:read")
        page = PageRequest.parse(first, after)
        async with ctx.transaction(tenant) as session:
            items, cursor = await service.list_connectors(session, page)
        return ConnectorPageType(
            items=[ConnectorGraphType.of(c) for c in items], next_cursor=cursor
        )
