"""GraphQL of outbound webhooks: endpoints, their deliveries and attempts, the REST shapes
(derived from `backend.webhooks.schemas`) and the same services. An endpoint's signing secret is
answered once, by the mutation that created it (never stored for an idempotent replay);
afterwards only its `secretHint` is readable. Expected failures of mutations (such as a URL the
deployment refuses to send to) are the `OperationError` member of their result union."""

from __future__ import annotations

from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import Deleted, parse_id
from backend.core.idempotency import ShownOnce
from backend.core.relay import Connection, Node
from backend.webhooks import service
from backend.webhooks.models import DeliveryStatus
from backend.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    EndpointCreate,
    EndpointOut,
    EndpointUpdate,
)

READ, WRITE = "webhooks:read", "webhooks:write"
EVENT_TYPES = (
    "Event types, as REST spells them: `profile.created`, `profile.updated`, `consent.changed`, "
    "`segment.entered`, `segment.exited`, `import.finished`, `webhook_endpoint.disabled`, "
    "`message.delivered`, `message.bounced`, `message.complained`, `message.opened`, "
    "`message.clicked`, `message.unsubscribed`, `message.sent`, `message.failed`, "
    "`message.refused`, `message.deferred`, `billing.usage_warning`."
)
graphql_enum(DeliveryStatus, "WebhookDeliveryStatus")


def _settings(unit: BrandUnit) -> Settings:
    request = unit.context.request
    assert request is not None
    settings: Settings = request.app.state.settings
    return settings


async def _load_endpoint(session: AsyncSession, endpoint_id: UUID) -> EndpointOut:
    return EndpointOut.of(await service.get_endpoint(session, endpoint_id))


async def _load_delivery(session: AsyncSession, delivery_id: UUID) -> DeliveryOut:
    delivery, event = await service.delivery_by_id(session, delivery_id)
    return DeliveryOut.with_payload(delivery, event.payload)


@entity_type(EndpointOut, name="WebhookEndpoint", node=(READ, _load_endpoint))
class WebhookEndpointType(Node):
    """An HTTPS URL of the brand's receiving its events, signed with Standard Webhooks; its
    secret is never shown again, only its `secretHint`."""


@entity_type(DeliveryOut, name="WebhookDelivery", node=(READ, _load_delivery))
class WebhookDeliveryType(Node):
    """An event to send to one endpoint (its `payload` only when read by itself)."""


@entity_type(AttemptOut, name="WebhookAttempt")
class WebhookAttemptType:
    """One request of a delivery: status code, duration, response excerpt, error."""


@strawberry.type(
    name="CreatedWebhookEndpoint",
    description="A new endpoint and its signing secret (`whsec_…`), shown this once.",
)
class CreatedWebhookEndpointType:
    endpoint: WebhookEndpointType
    secret: str = strawberry.field(extensions=[ShownOnce()])


@input_type(EndpointCreate, name="CreateWebhookEndpointInput")
class CreateWebhookEndpointInput:
    event_types: list[str] = strawberry.field(description=EVENT_TYPES)


@input_type(EndpointUpdate, name="UpdateWebhookEndpointInput")
class UpdateWebhookEndpointInput:
    id: strawberry.ID
    event_types: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description=EVENT_TYPES
    )


@strawberry.input(description="Names one webhook endpoint.")
class WebhookEndpointIdInput:
    id: strawberry.ID


@strawberry.input(description="Names one webhook delivery.")
class WebhookDeliveryIdInput:
    id: strawberry.ID


@strawberry.type
class WebhooksQuery:
    @brand_query(READ)
    async def webhook_endpoints(
        self, unit: BrandUnit, first: int = 50, after: str | None = None
    ) -> Connection[WebhookEndpointType]:
        """The brand's webhook endpoints, in creation order (secrets are never shown again)."""
        page = unit.page(first, after)
        items, cursor = await service.list_endpoints(unit.session, page)
        return unit.connection(EndpointOut.many(items), cursor, page, count=service.count_endpoints)

    @brand_query(READ, missing_is_null=True)
    async def webhook_endpoint(
        self, unit: BrandUnit, id: strawberry.ID
    ) -> WebhookEndpointType | None:
        """One endpoint, with its failure count and why it was disabled, if it was (null when
        the brand has none with this id)."""
        return await _load_endpoint(unit.session, parse_id(id, "WebhookEndpoint"))

    @brand_query(READ)
    async def webhook_deliveries(
        self,
        unit: BrandUnit,
        endpoint_id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
        status: DeliveryStatus | None = None,
    ) -> Connection[WebhookDeliveryType]:
        """An endpoint's deliveries in the order it receives them (only those in `status`
        when given)."""
        page = unit.page(first, after)
        endpoint = parse_id(endpoint_id, "WebhookEndpoint")
        items, cursor = await service.list_deliveries(unit.session, endpoint, page, status)

        async def count(session: AsyncSession) -> int:
            return await service.count_deliveries(session, endpoint, status)

        return unit.connection(DeliveryOut.many(items), cursor, page, count=count)

    @brand_query(READ, missing_is_null=True)
    async def webhook_delivery(
        self, unit: BrandUnit, id: strawberry.ID
    ) -> WebhookDeliveryType | None:
        """One delivery with its event's payload (null when the brand has none with this id)."""
        return await _load_delivery(unit.session, parse_id(id, "WebhookDelivery"))

    @brand_query(READ)
    async def webhook_attempts(
        self,
        unit: BrandUnit,
        delivery_id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[WebhookAttemptType]:
        """Every request made for a delivery, oldest first."""
        page = unit.page(first, after)
        delivery, _ = await service.delivery_by_id(
            unit.session, parse_id(delivery_id, "WebhookDelivery")
        )
        items, cursor = await service.list_attempts(
            unit.session, delivery.endpoint_id, delivery.id, page
        )

        async def count(session: AsyncSession) -> int:
            return await service.count_attempts(session, delivery.id)

        return unit.connection(AttemptOut.many(items), cursor, page, count=count)


@strawberry.type
class WebhooksMutation:
    @brand_mutation(WRITE)
    async def create_webhook_endpoint(
        self, unit: BrandUnit, input: CreateWebhookEndpointInput
    ) -> CreatedWebhookEndpointType:
        """Subscribe an HTTPS URL to event types; the answer carries the signing secret
        (`whsec_…`), shown this once."""
        data = struct_of(EndpointCreate, input)
        endpoint, secret = await service.create_endpoint(unit.session, _settings(unit), data)
        return CreatedWebhookEndpointType(
            endpoint=EndpointOut.of(endpoint),  # type: ignore[arg-type]
            secret=secret,
        )

    @brand_mutation(WRITE)
    async def update_webhook_endpoint(
        self, unit: BrandUnit, input: UpdateWebhookEndpointInput
    ) -> WebhookEndpointType:
        """Change the URL, event types, description or enabled flag; enabling a disabled
        endpoint resets its failure count and resumes its pending deliveries."""
        endpoint = await service.update_endpoint(
            unit.session,
            _settings(unit),
            parse_id(input.id, "WebhookEndpoint"),
            struct_of(EndpointUpdate, input),
        )
        return EndpointOut.of(endpoint)

    @brand_mutation(WRITE)
    async def delete_webhook_endpoint(
        self, unit: BrandUnit, input: WebhookEndpointIdInput
    ) -> Deleted:
        """Delete a webhook endpoint, its deliveries and their attempt log."""
        await service.delete_endpoint(unit.session, parse_id(input.id, "WebhookEndpoint"))
        return Deleted(id=input.id)

    @brand_mutation(WRITE)
    async def redeliver_webhook(
        self, unit: BrandUnit, input: WebhookDeliveryIdInput
    ) -> WebhookDeliveryType:
        """Queue a delivery's event again for its endpoint, as a new delivery behind its
        pending ones."""
        delivery, _ = await service.delivery_by_id(
            unit.session, parse_id(input.id, "WebhookDelivery")
        )
        again = await service.redeliver(
            unit.session, unit.tenant, delivery.endpoint_id, delivery.id
        )
        return DeliveryOut.of(again)
