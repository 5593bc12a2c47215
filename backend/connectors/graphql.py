"""GraphQL of partner connectors and their deliveries: the REST shapes (derived from
`backend.connectors.schemas`) and the same services. A connector's secret is answered once, by
the mutation that set or generated it (never stored for an idempotent replay); afterwards only
its `secretHint` is readable. Expected failures of mutations are the `OperationError` member of
their result union."""

from __future__ import annotations

from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from backend.connectors import models, service
from backend.connectors.models import InboundStatus
from backend.connectors.schemas import (
    ConnectorCreate,
    ConnectorOut,
    ConnectorUpdate,
    InboundDeliveryOut,
)
from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import Deleted, parse_id
from backend.core.idempotency import ShownOnce
from backend.core.relay import Connection, Node

READ, WRITE = "webhooks:read", "webhooks:write"
graphql_enum(models.ConnectorType)
graphql_enum(InboundStatus, "ConnectorDeliveryStatus")


async def _load_connector(session: AsyncSession, connector_id: UUID) -> ConnectorOut:
    return ConnectorOut.of(await service.get_connector(session, connector_id))


async def _load_delivery(session: AsyncSession, delivery_id: UUID) -> InboundDeliveryOut:
    return InboundDeliveryOut.of(await service.get_delivery(session, delivery_id))


@entity_type(ConnectorOut, name="Connector", node=(READ, _load_connector))
class ConnectorType(Node):
    """A partner source (Qualifio, Standard Webhooks) pushing data into the brand; its secret
    is never shown again, only its `secretHint`."""


@entity_type(InboundDeliveryOut, name="ConnectorDelivery", node=(READ, _load_delivery))
class ConnectorDeliveryType(Node):
    """A partner delivery as received, with its status, error or result."""


@strawberry.type(
    name="ConnectorWithSecret",
    description="A connector and the secret it was just given: shown this once (null when the "
    "brand gave its own, or kept it).",
)
class ConnectorWithSecretType:
    connector: ConnectorType
    secret: str | None = strawberry.field(extensions=[ShownOnce()])

    @classmethod
    def of(cls, connector: object, secret: str | None) -> ConnectorWithSecretType:
        return cls(connector=ConnectorOut.of(connector), secret=secret)  # type: ignore[arg-type]


@input_type(ConnectorCreate, name="CreateConnectorInput")
class CreateConnectorInput:
    pass


@input_type(ConnectorUpdate, name="UpdateConnectorInput")
class UpdateConnectorInput:
    id: strawberry.ID


@strawberry.input(description="Names one connector.")
class ConnectorIdInput:
    id: strawberry.ID


@strawberry.input(description="Names one connector delivery.")
class ConnectorDeliveryIdInput:
    id: strawberry.ID


@strawberry.type
class ConnectorsQuery:
    @brand_query(READ)
    async def connectors(
        self, unit: BrandUnit, first: int = 50, after: str | None = None
    ) -> Connection[ConnectorType]:
        """The brand's partner connectors, in creation order (secrets are never shown again)."""
        page = unit.page(first, after)
        items, cursor = await service.list_connectors(unit.session, page)
        return unit.connection(
            ConnectorOut.many(items), cursor, page, count=service.count_connectors
        )

    @brand_query(READ, missing_is_null=True)
    async def connector(self, unit: BrandUnit, id: strawberry.ID) -> ConnectorType | None:
        """One connector with its mapping (null when the brand has none with this id)."""
        return await _load_connector(unit.session, parse_id(id, "Connector"))

    @brand_query(READ)
    async def connector_deliveries(
        self,
        unit: BrandUnit,
        connector_id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
        status: InboundStatus | None = None,
    ) -> Connection[ConnectorDeliveryType]:
        """A connector's deliveries as received, oldest first, with their status, error or
        result (only those in `status` when given)."""
        page = unit.page(first, after)
        connector = parse_id(connector_id, "Connector")
        items, cursor = await service.list_deliveries(unit.session, connector, page, status)

        async def count(session: AsyncSession) -> int:
            return await service.count_deliveries(session, connector, status)

        return unit.connection(InboundDeliveryOut.many(items), cursor, page, count=count)


@strawberry.type
class ConnectorsMutation:
    @brand_mutation(WRITE)
    async def create_connector(
        self, unit: BrandUnit, input: CreateConnectorInput
    ) -> ConnectorWithSecretType:
        """Configure a partner source; the partner posts to `hookPath`. A generated secret is
        in the answer, shown this once."""
        data = struct_of(ConnectorCreate, input)
        connector, secret = await service.create_connector(unit.session, unit.tenant, data)
        return ConnectorWithSecretType.of(connector, secret)

    @brand_mutation(WRITE)
    async def update_connector(
        self, unit: BrandUnit, input: UpdateConnectorInput
    ) -> ConnectorWithSecretType:
        """Change the name, mapping, event name, enabled flag or secret (the previous secret
        stays valid for the grace period); a secret generated by `rotateSecret` is shown this
        once."""
        connector, secret = await service.update_connector(
            unit.session, parse_id(input.id, "Connector"), struct_of(ConnectorUpdate, input)
        )
        return ConnectorWithSecretType.of(connector, secret)

    @brand_mutation(WRITE)
    async def delete_connector(self, unit: BrandUnit, input: ConnectorIdInput) -> Deleted:
        """Delete the connector, its hook URL and its deliveries."""
        await service.delete_connector(unit.session, parse_id(input.id, "Connector"))
        return Deleted(id=input.id)

    @brand_mutation(WRITE)
    async def replay_connector_delivery(
        self, unit: BrandUnit, input: ConnectorDeliveryIdInput
    ) -> ConnectorDeliveryType:
        """Queue a failed delivery for processing with its connector's current mapping."""
        delivery = await service.replay(
            unit.session, unit.tenant, parse_id(input.id, "ConnectorDelivery")
        )
        return InboundDeliveryOut.of(delivery)
