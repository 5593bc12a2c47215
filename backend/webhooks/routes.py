"""REST routes for a brand's outbound webhook endpoints, their deliveries and attempts."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import delete, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from backend.auth.scopes import needs
from backend.core.api import READ_ERRORS, WRITE_ERRORS, BrandController
from backend.core.dependencies import DbSession, Paging, Tenant
from backend.core.idempotency import SHOWS_SECRET
from backend.webhooks import service
from backend.webhooks.models import DeliveryStatus
from backend.webhooks.schemas import (
    AttemptOut,
    AttemptPage,
    DeliveryOut,
    DeliveryPage,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointPage,
    EndpointUpdate,
)


class WebhookEndpointController(BrandController):
    """Endpoints that receive the brand's events, signed with Standard Webhooks."""

    path = "/v1/brands/{brand_id:uuid}/webhook-endpoints"
    tags = ["webhooks"]

    @get(
        "/",
        operation_id="listWebhookEndpoints",
        summary="List webhook endpoints",
        **needs("webhooks:read"),
        responses=READ_ERRORS,
    )
    async def list_endpoints(self, db_session: DbSession, page: Paging) -> EndpointPage:
        """The brand's endpoints in creation order (secrets are never shown again)."""
        items, cursor = await service.list_endpoints(db_session, page)
        return EndpointPage(EndpointOut.many(items), cursor)

    @post(
        "/",
        operation_id="createWebhookEndpoint",
        summary="Create a webhook endpoint",
        **needs("webhooks:write", opt={SHOWS_SECRET: True}),
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def create_endpoint(
        self, db_session: DbSession, state: State, data: JSONBody[EndpointCreate]
    ) -> EndpointCreated:
        """Subscribe an HTTPS URL to event types (`profile.created`, `profile.updated`,
        `consent.changed`, `segment.entered`, `segment.exited`, `import.finished`,
        `webhook_endpoint.disabled`, `message.delivered`, `message.bounced`,
        `message.complained`, `message.opened`, `message.clicked`, `message.unsubscribed`,
        `message.sent`, `message.failed`, `message.refused`, `message.deferred`,
        `billing.usage_warning`).
        The answer carries the signing secret (`whsec_…`), shown this once."""
        endpoint, secret = await service.create_endpoint(db_session, state.settings, data)
        return EndpointCreated.shown(endpoint, secret)

    @get(
        "/{endpoint_id:uuid}",
        operation_id="getWebhookEndpoint",
        summary="Read a webhook endpoint",
        **needs("webhooks:read"),
        responses=READ_ERRORS,
    )
    async def get_endpoint(self, db_session: DbSession, endpoint_id: FromPath[UUID]) -> EndpointOut:
        """One endpoint, with its failure count and why it was disabled, if it was."""
        return EndpointOut.of(await service.get_endpoint(db_session, endpoint_id))

    @patch(
        "/{endpoint_id:uuid}",
        operation_id="updateWebhookEndpoint",
        summary="Change a webhook endpoint",
        **needs("webhooks:write"),
        responses=WRITE_ERRORS,
    )
    async def update_endpoint(
        self,
        db_session: DbSession,
        state: State,
        endpoint_id: FromPath[UUID],
        data: JSONBody[EndpointUpdate],
    ) -> EndpointOut:
        """Change the URL, event types, description or enabled flag; enabling a disabled
        endpoint resets its failure count and resumes its pending deliveries."""
        endpoint = await service.update_endpoint(db_session, state.settings, endpoint_id, data)
        return EndpointOut.of(endpoint)

    @delete(
        "/{endpoint_id:uuid}",
        operation_id="deleteWebhookEndpoint",
        summary="Delete a webhook endpoint",
        **needs("webhooks:write"),
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def delete_endpoint(self, db_session: DbSession, endpoint_id: FromPath[UUID]) -> None:
        """Delete the endpoint, its deliveries and their attempt log."""
        await service.delete_endpoint(db_session, endpoint_id)

    @get(
        "/{endpoint_id:uuid}/deliveries",
        operation_id="listWebhookDeliveries",
        summary="List an endpoint's deliveries",
        **needs("webhooks:read"),
        responses=READ_ERRORS,
    )
    async def list_deliveries(
        self,
        db_session: DbSession,
        page: Paging,
        endpoint_id: FromPath[UUID],
        status: Annotated[
            DeliveryStatus | None, QueryParameter(description="Only deliveries in this state.")
        ] = None,
    ) -> DeliveryPage:
        """Deliveries in the order the endpoint receives them."""
        items, cursor = await service.list_deliveries(db_session, endpoint_id, page, status)
        return DeliveryPage(DeliveryOut.many(items), cursor)

    @get(
        "/{endpoint_id:uuid}/deliveries/{delivery_id:uuid}",
        operation_id="getWebhookDelivery",
        summary="Read a delivery",
        **needs("webhooks:read"),
        responses=READ_ERRORS,
    )
    async def get_delivery(
        self, db_session: DbSession, endpoint_id: FromPath[UUID], delivery_id: FromPath[UUID]
    ) -> DeliveryOut:
        """One delivery with the event's payload."""
        delivery, event = await service.get_delivery(db_session, endpoint_id, delivery_id)
        return DeliveryOut.with_payload(delivery, event.payload)

    @get(
        "/{endpoint_id:uuid}/deliveries/{delivery_id:uuid}/attempts",
        operation_id="listWebhookAttempts",
        summary="List a delivery's attempts",
        **needs("webhooks:read"),
        responses=READ_ERRORS,
    )
    async def list_attempts(
        self,
        db_session: DbSession,
        page: Paging,
        endpoint_id: FromPath[UUID],
        delivery_id: FromPath[UUID],
    ) -> AttemptPage:
        """Every request made for the delivery: status code, duration, response excerpt, error."""
        items, cursor = await service.list_attempts(db_session, endpoint_id, delivery_id, page)
        return AttemptPage(AttemptOut.many(items), cursor)

    @post(
        "/{endpoint_id:uuid}/deliveries/{delivery_id:uuid}/redeliver",
        operation_id="redeliverWebhook",
        summary="Send a delivery's event again",
        **needs("webhooks:write"),
        status_code=HTTP_202_ACCEPTED,
        responses=WRITE_ERRORS,
    )
    async def redeliver(
        self,
        db_session: DbSession,
        tenant: Tenant,
        endpoint_id: FromPath[UUID],
        delivery_id: FromPath[UUID],
    ) -> DeliveryOut:
        """Queue the event again for this endpoint, as a new delivery behind its pending ones."""
        delivery = await service.redeliver(db_session, tenant, endpoint_id, delivery_id)
        return DeliveryOut.of(delivery)
