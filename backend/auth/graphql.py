"""GraphQL of an agency's OAuth clients (agency owners and admins): the REST shapes (derived from
`backend.auth.schemas`) and the same services. A client's secret is shown once, in the answer of
`createClient` or `rotateClientSecret`, and never kept for an `Idempotency-Key` replay."""

from __future__ import annotations

from uuid import UUID

import strawberry

from backend.auth import clients as service
from backend.auth import repository
from backend.auth.schemas import ClientCreate, ClientOut, ClientSecret, ClientUpdate
from backend.core.access import Access
from backend.core.graphql_entities import entity_type, input_type, struct_of
from backend.core.graphql_fields import (
    AgencyUnit,
    CallerUnit,
    agency_mutation,
    agency_query,
    register_caller_node,
)
from backend.core.graphql_results import Deleted, parse_id
from backend.core.idempotency import ShownOnce
from backend.core.relay import Connection, Node

READ, WRITE = "agencies:read", "agencies:write"


async def _load_client(unit: CallerUnit, client_id: UUID) -> ClientOut:
    """A client, for a caller who administers its agency (not found otherwise)."""
    client = await service.find_client(unit.session, client_id)
    unit.caller.require_agency(client.agency_id, Access.ADMIN, READ)
    view = await service.get_client(unit.session, unit.caller, client.agency_id, client_id)
    return ClientOut.of_view(view)


register_caller_node("OAuthClient", READ, _load_client)


@entity_type(ClientOut, name="OAuthClient")
class OAuthClientType(Node):
    """An application of an agency: a SPA (public, authorization code + PKCE) or a partner
    (confidential, client credentials). Its `uuid` is the OAuth `client_id`."""


@entity_type(ClientSecret, name="ClientWithSecret")
class ClientWithSecretType:
    """A client with its secret, shown this once (null when public)."""

    client_secret: str | None = strawberry.field(
        extensions=[ShownOnce()], description="The secret, shown this once (null when public)."
    )


@input_type(ClientCreate, name="CreateClientInput")
class CreateClientInput:
    pass


@input_type(ClientUpdate, name="UpdateClientInput")
class UpdateClientInput:
    id: strawberry.ID = strawberry.field(description="The client.")


@strawberry.input(description="Names one client of the agency.")
class ClientIdInput:
    id: strawberry.ID


@strawberry.type
class ClientQuery:
    @agency_query(READ, access=Access.ADMIN)
    async def clients(
        self, unit: AgencyUnit, first: int = 50, after: str | None = None
    ) -> Connection[OAuthClientType]:
        """The agency's clients, oldest first (secrets are never shown, only their prefix)."""
        page = unit.page(first, after)
        views, cursor = await service.list_clients(unit.session, unit.caller, unit.agency_id, page)
        agency_id = unit.agency_id
        return unit.connection(
            [ClientOut.of_view(v) for v in views],
            cursor,
            page,
            count=lambda session: repository.count_clients(session, agency_id),
        )

    @agency_query(READ, access=Access.ADMIN, missing_is_null=True)
    async def client(self, unit: AgencyUnit, id: strawberry.ID) -> OAuthClientType | None:
        """One client of the agency (null when it has none with this id)."""
        view = await service.get_client(
            unit.session, unit.caller, unit.agency_id, parse_id(id, "OAuthClient")
        )
        return ClientOut.of_view(view)


@strawberry.type
class ClientMutation:
    @agency_mutation(WRITE)
    async def create_client(
        self, unit: AgencyUnit, input: CreateClientInput
    ) -> ClientWithSecretType:
        """Register a client. A confidential client's secret is in this answer and never again;
        without `scopes` it may hold every brand scope (public clients: every scope, cut down
        to each user's role)."""
        data = struct_of(ClientCreate, input)
        view, secret = await service.create_client(unit.session, unit.caller, unit.agency_id, data)
        return ClientSecret.shown(view, secret)

    @agency_mutation(WRITE)
    async def update_client(self, unit: AgencyUnit, input: UpdateClientInput) -> OAuthClientType:
        """Rename, re-grant brands or scopes, change redirect URIs, mark first-party, or
        disable. Its tokens follow at once: fewer brands or scopes, or none when disabled."""
        view = await service.update_client(
            unit.session,
            unit.caller,
            unit.agency_id,
            parse_id(input.id, "OAuthClient"),
            struct_of(ClientUpdate, input),
        )
        return ClientOut.of_view(view)

    @agency_mutation(WRITE)
    async def rotate_client_secret(
        self, unit: AgencyUnit, input: ClientIdInput
    ) -> ClientWithSecretType:
        """A new secret, shown once; the previous one stops working now."""
        view, secret = await service.rotate_secret(
            unit.session, unit.caller, unit.agency_id, parse_id(input.id, "OAuthClient")
        )
        return ClientSecret.shown(view, secret)

    @agency_mutation(WRITE)
    async def delete_client(self, unit: AgencyUnit, input: ClientIdInput) -> Deleted:
        """Delete the client; every token it holds stops working now."""
        client_id = parse_id(input.id, "OAuthClient")
        await service.delete_client(unit.session, unit.caller, unit.agency_id, client_id)
        return Deleted(id=strawberry.ID(str(client_id)))
