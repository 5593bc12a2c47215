"""REST routes for partner connectors (brand-scoped) and the public hook URL they receive on."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from backend.auth.scopes import needs
from backend.connectors import service
from backend.connectors.models import InboundStatus
from backend.connectors.schemas import (
    ConnectorCreate,
    ConnectorOut,
    ConnectorPage,
    ConnectorUpdate,
    ConnectorWithSecret,
    HookAccepted,
    InboundDeliveryOut,
    InboundDeliveryPage,
)
from backend.core.api import READ_ERRORS, WRITE_ERRORS, BrandController
from backend.core.dependencies import DbSession, Paging, Tenant, provide_tenant
from backend.core.edge import BODY_OPT, BodyRule
from backend.core.errors import NotFound, problem_responses
from backend.core.idempotency import SHOWS_SECRET
from backend.core.tenancy import open_session


class ConnectorController(BrandController):
    """Partner sources (Qualifio, Standard Webhooks) pushing data into the brand."""

    path = "/v1/brands/{brand_id:uuid}/connectors"
    tags = ["connectors"]

    @get(
        "/",
        operation_id="listConnectors",
        summary="List connectors",
        **needs("webhooks:read"),
        responses=READ_ERRORS,
    )
    async def list_connectors(self, db_session: DbSession, page: Paging) -> ConnectorPage:
        """The brand's connectors in creation order (secrets are never shown again)."""
        items, cursor = await service.list_connectors(db_session, page)
        return ConnectorPage(ConnectorOut.many(items), cursor)

    @post(
        "/",
        operation_id="createConnector",
        summary="Create a connector",
        **needs("webhooks:write", opt={SHOWS_SECRET: True}),
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def create_connector(
        self, db_session: DbSession, tenant: Tenant, data: JSONBody[ConnectorCreate]
    ) -> ConnectorWithSecret:
        """Configure a partner source; the partner posts to `hookPath`. A generated secret is
        in the answer, shown this once."""
        connector, secret = await service.create_connector(db_session, tenant, data)
        return ConnectorWithSecret.shown(connector, secret)

    @get(
        "/{connector_id:uuid}",
        operation_id="getConnector",
        summary="Read a connector",
        **needs("webhooks:read"),
        responses=READ_ERRORS,
    )
    async def get_connector(
        self, db_session: DbSession, connector_id: FromPath[UUID]
    ) -> ConnectorOut:
        """One connector with its mapping."""
        return ConnectorOut.of(await service.get_connector(db_session, connector_id))

    @patch(
        "/{connector_id:uuid}",
        operation_id="updateConnector",
        summary="Change a connector",
        **needs("webhooks:write", opt={SHOWS_SECRET: True}),
        responses=WRITE_ERRORS,
    )
    async def update_connector(
        self, db_session: DbSession, connector_id: FromPath[UUID], data: JSONBody[ConnectorUpdate]
    ) -> ConnectorWithSecret:
        """Change the name, mapping, event name, enabled flag or secret (the previous secret
        stays valid for the grace period)."""
        connector, secret = await service.update_connector(db_session, connector_id, data)
        return ConnectorWithSecret.shown(connector, secret)

    @delete(
        "/{connector_id:uuid}",
        operation_id="deleteConnector",
        summary="Delete a connector",
        **needs("webhooks:write"),
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def delete_connector(self, db_session: DbSession, connector_id: FromPath[UUID]) -> None:
        """Delete the connector, its hook URL and its deliveries."""
        await service.delete_connector(db_session, connector_id)

    @get(
        "/{connector_id:uuid}/deliveries",
        operation_id="listConnectorDeliveries",
        summary="List a connector's deliveries",
        **needs("webhooks:read"),
        responses=READ_ERRORS,
    )
    async def list_deliveries(
        self,
        db_session: DbSession,
        page: Paging,
        connector_id: FromPath[UUID],
        status: Annotated[
            InboundStatus | None, QueryParameter(description="Only deliveries in this state.")
        ] = None,
    ) -> InboundDeliveryPage:
        """Deliveries as received, with their status, error or result."""
        items, cursor = await service.list_deliveries(db_session, connector_id, page, status)
        return InboundDeliveryPage(InboundDeliveryOut.many(items), cursor)

    @post(
        "/{connector_id:uuid}/deliveries/{delivery_id:uuid}/replay",
        operation_id="replayConnectorDelivery",
        summary="Process a failed delivery again",
        **needs("webhooks:write"),
        status_code=HTTP_202_ACCEPTED,
        responses=WRITE_ERRORS,
    )
    async def replay(
        self,
        db_session: DbSession,
        tenant: Tenant,
        connector_id: FromPath[UUID],
        delivery_id: FromPath[UUID],
    ) -> InboundDeliveryOut:
        """Queue a failed delivery for processing with the connector's current mapping."""
        delivery = await service.replay(db_session, tenant, delivery_id, connector_id)
        return InboundDeliveryOut.of(delivery)


async def hook_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The hook's brand, from its connector id: the request session is then scoped to it."""
    connector_id: UUID = connection.path_params["connector_id"]
    async with open_session(connection.app.state.session_factory) as session:
        tenant = await service.brand_of_hook(session, connector_id)
    if tenant is None:
        raise NotFound("no hook here")
    connection.state.tenant = tenant


class HookController(Controller):
    """Where partners push: authenticated by their signature, not by a token."""

    path = "/v1/hooks"
    tags = ["connectors"]
    guards = [hook_guard]
    dependencies = {"tenant": Provide(provide_tenant, sync_to_thread=False)}

    @post(
        "/{connector_id:uuid}",
        operation_id="receiveHook",
        summary="Receive a partner delivery",
        status_code=HTTP_202_ACCEPTED,
        security=[],
        # Partners send odd media types: the service checks the body once the signature holds.
        opt={BODY_OPT: BodyRule.RAW},
        responses=problem_responses(400, 401, 404, 422),
    )
    async def receive(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        tenant: Tenant,
        state: State,
        connector_id: FromPath[UUID],
    ) -> HookAccepted:
        """A partner delivery, signed with the connector's secret: Qualifio's
        `X-Qualifio-Signature: sha256=<hex HMAC of the body>`, or the Standard Webhooks headers
        (`webhook-id`, `webhook-timestamp`, `webhook-signature`). Stored once per delivery id
        (a redelivery answers 202 and changes nothing), processed in the background."""
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        delivery_id, duplicate = await service.receive(
            db_session, tenant, state.settings, connector_id, body, headers
        )
        return HookAccepted(delivery_id=delivery_id, duplicate=duplicate)
