"""GraphQL types, queries and mutations of outbound webhook endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.types import Info

from backend.auth.context import GraphQLContext
from backend.config import Settings
from backend.core.access import Access
from backend.core.graphql_results import Deleted, OperationError, attempt, parse_id
from backend.core.idempotency import ShownOnce
from backend.core.pagination import PageRequest
from backend.core.schemas import parse_input
from backend.webhooks import service
from backend.webhooks.models import WebhookEndpoint
from backend.webhooks.schemas import EndpointCreate, EndpointUpdate

Ctx = Info[GraphQLContext, None]


def _settings(ctx: GraphQLContext) -> Settings:
    assert ctx.request is not None
    settings: Settings = ctx.request.app.state.settings
    return settings


@strawberry.type(name="WebhookEndpoint")
class WebhookEndpointType:
    id: strawberry.ID
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    secret_hint: str
    consecutive_failures: int
    disabled_at: dt.datetime | None
    disabled_reason: str | None
    created_at: dt.datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookEndpointType:
        return cls(
            id=strawberry.ID(str(endpoint.id)),
            url=endpoint.url,
            event_types=list(endpoint.event_types),
            description=endpoint.description,
            enabled=endpoint.enabled,
            secret_hint=endpoint.secret_hint,
            consecutive_failures=endpoint.consecutive_failures,
            disabled_at=endpoint.disabled_at,
            disabled_reason=endpoint.disabled_reason,
            created_at=endpoint.created_at,
        )


@strawberry.type(
    name="CreatedWebhookEndpoint",
    description="A new endpoint and its signing secret (`whsec_…`), shown this once.",
)
class CreatedWebhookEndpointType:
    endpoint: WebhookEndpointType
    secret: str = strawberry.field(extensions=[ShownOnce()])


@strawberry.type(name="WebhookEndpointPage")
class WebhookEndpointPageType:
    items: list[WebhookEndpointType]
    next_cursor: str | None


@strawberry.input
class WebhookEndpointInput:
    url: str
    event_types: list[str]
    description: str | None = None
    enabled: bool = True


@strawberry.input(description="Fields to change; null or absent fields are kept.")
class WebhookEndpointPatch:
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    enabled: bool | None = None


CreatedWebhookEndpointResult = Annotated[
    CreatedWebhookEndpointType | OperationError, strawberry.union("CreatedWebhookEndpointResult")
]
WebhookEndpointResult = Annotated[
    WebhookEndpointType | OperationError, strawberry.union("WebhookEndpointResult")
]
DeletedWebhookEndpointResult = Annotated[
    Deleted | OperationError, strawberry.union("DeletedWebhookEndpointResult")
]


@strawberry.type
class WebhooksQuery:
    @strawberry.field(description="The brand's webhook endpoints, in creation order.")
    async def webhook_endpoints(
        self, info: Ctx, brand: strawberry.ID, first: int = 50, after: str | None = None
    ) -> WebhookEndpointPageType:
        ctx = info.context
        tenant = ctx.require_caller().require_brand(parse_id(brand), Access.VIEWER, "webhooks:read")
        page = PageRequest.parse(first, after)
        async with ctx.transaction(tenant) as session:
            items, cursor = await service.list_endpoints(session, page)
        return WebhookEndpointPageType(
            items=[WebhookEndpointType.of(e) for e in items], next_cursor=cursor
        )


@strawberry.type
class WebhooksMutation:
    @strawberry.mutation(description="Subscribe an HTTPS URL to event types.")
    async def create_webhook_endpoint(
        self, info: Ctx, brand: strawberry.ID, input: WebhookEndpointInput
    ) -> CreatedWebhookEndpointResult:
        ctx = info.context

        async def run() -> CreatedWebhookEndpointType:
            tenant = ctx.require_caller().require_brand(
                parse_id(brand), Access.MANAGER, "webhooks:write"
            )
            data = parse_input(EndpointCreate, **vars(input))
            async with ctx.transaction(tenant) as session:
                endpoint, secret = await service.create_endpoint(session, _settings(ctx), data)
            return CreatedWebhookEndpointType(
                endpoint=WebhookEndpointType.of(endpoint), secret=secret
            )

        return await attempt(run)

    @strawberry.mutation(description="Change a webhook endpoint.")
    async def update_webhook_endpoint(
        self, info: Ctx, brand: strawberry.ID, id: strawberry.ID, input: WebhookEndpointPatch
    ) -> WebhookEndpointResult:
        ctx = info.context

        async def run() -> WebhookEndpointType:
            tenant = ctx.require_caller().require_brand(
                parse_id(brand), Access.MANAGER, "webhooks:write"
            )
            data = parse_input(EndpointUpdate, **vars(input))
            async with ctx.transaction(tenant) as session:
                endpoint = await service.update_endpoint(
                    session, _settings(ctx), parse_id(id), data
                )
            return WebhookEndpointType.of(endpoint)

        return await attempt(run)

    @strawberry.mutation(description="Delete a webhook endpoint and its delivery log.")
    async def delete_webhook_endpoint(
        self, info: Ctx, brand: strawberry.ID, id: strawberry.ID
    ) -> DeletedWebhookEndpointResult:
        ctx = info.context

        async def run() -> Deleted:
            tenant = ctx.require_caller().require_brand(
                parse_id(brand), Access.MANAGER, "webhooks:write"
            )
            async with ctx.transaction(tenant) as session:
                await service.delete_endpoint(session, parse_id(id))
            return Deleted(id=id)

        return await attempt(run)
