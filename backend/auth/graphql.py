"""GraphQL types, queries and mutations for an agency's OAuth clients."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.types import Info

from backend.auth import clients as service
from backend.auth.clients import ClientView
from backend.auth.context import GraphQLContext
from backend.auth.schemas import ClientCreate, ClientUpdate
from backend.core.graphql_results import Deleted, OperationError, attempt, parse_id
from backend.core.idempotency import ShownOnce
from backend.core.pagination import PageRequest
from backend.core.schemas import parse_input

Ctx = Info[GraphQLContext, None]


@strawberry.type(name="OAuthClient", description="An application of an agency.")
class ClientType:
    id: strawberry.ID = strawberry.field(description="The OAuth `client_id`.")
    agency_id: strawberry.ID
    name: str
    public: bool
    first_party: bool
    redirect_uris: list[str]
    scopes: list[str]
    brand_ids: list[strawberry.ID]
    secret_prefix: str | None
    disabled: bool
    created_at: dt.datetime

    @classmethod
    def of(cls, view: ClientView) -> ClientType:
        client = view.client
        return cls(
            id=strawberry.ID(str(client.id)),
            agency_id=strawberry.ID(str(client.agency_id)),
            name=client.name,
            public=client.public,
            first_party=client.first_party,
            redirect_uris=list(client.redirect_uris),
            scopes=client.scopes.split(),
            brand_ids=[strawberry.ID(str(b)) for b in view.brand_ids],
            secret_prefix=client.secret_prefix,
            disabled=client.disabled_at is not None,
            created_at=client.created_at,
        )


@strawberry.type(description="A client with its secret, shown this once (null when public).")
class ClientWithSecret:
    client: ClientType
    client_secret: str | None = strawberry.field(extensions=[ShownOnce()])


@strawberry.input
class ClientInput:
    name: str
    brand_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    scopes: list[str] | None = None
    public: bool = False
    redirect_uris: list[str] = strawberry.field(default_factory=list)
    first_party: bool = False


@strawberry.input
class ClientPatch:
    name: str | None = None
    brand_ids: list[strawberry.ID] | None = None
    scopes: list[str] | None = None
    redirect_uris: list[str] | None = None
    first_party: bool | None = None
    disabled: bool | None = None


ClientResult = Annotated[ClientType | OperationError, strawberry.union("OAuthClientResult")]
ClientSecretResult = Annotated[
    ClientWithSecret | OperationError, strawberry.union("OAuthClientSecretResult")
]
ClientDeleteResult = Annotated[
    Deleted | OperationError, strawberry.union("OAuthClientDeleteResult")
]


def _ids(values: list[strawberry.ID] | None) -> list[str] | None:
    return None if values is None else [str(v) for v in values]


@strawberry.type
class ClientQuery:
    @strawberry.field(description="An agency's OAuth clients (owners and admins).")
    async def clients(self, info: Ctx, agency_id: strawberry.ID) -> list[ClientType]:
        ctx = info.context
        caller = ctx.require_caller()
        views: list[ClientView] = []
        page = PageRequest(limit=200)
        async with ctx.reading() as session:
            while True:
                batch, cursor = await service.list_clients(
                    session, caller, parse_id(agency_id), page
                )
                views.extend(batch)
                if cursor is None:
                    break
                page = PageRequest.parse(200, cursor)
        return [ClientType.of(v) for v in views]


@strawberry.type
class ClientMutation:
    @strawberry.mutation(description="Register an OAuth client; its secret is shown once.")
    async def create_client(
        self, info: Ctx, agency_id: strawberry.ID, input: ClientInput
    ) -> ClientSecretResult:
        ctx = info.context

        async def run() -> ClientWithSecret:
            data = parse_input(ClientCreate, **{**vars(input), "brand_ids": _ids(input.brand_ids)})
            async with ctx.transaction() as session:
                view, secret = await service.create_client(
                    session, ctx.require_caller(), parse_id(agency_id), data
                )
            return ClientWithSecret(client=ClientType.of(view), client_secret=secret)

        return await attempt(run)

    @strawberry.mutation(description="Change an OAuth client (brands, scopes, redirect URIs…).")
    async def update_client(
        self, info: Ctx, agency_id: strawberry.ID, id: strawberry.ID, input: ClientPatch
    ) -> ClientResult:
        ctx = info.context

        async def run() -> ClientType:
            data = parse_input(ClientUpdate, **{**vars(input), "brand_ids": _ids(input.brand_ids)})
            async with ctx.transaction() as session:
                view = await service.update_client(
                    session, ctx.require_caller(), parse_id(agency_id), parse_id(id), data
                )
            return ClientType.of(view)

        return await attempt(run)

    @strawberry.mutation(description="Issue a new secret; the previous one stops working now.")
    async def rotate_client_secret(
        self, info: Ctx, agency_id: strawberry.ID, id: strawberry.ID
    ) -> ClientSecretResult:
        ctx = info.context

        async def run() -> ClientWithSecret:
            async with ctx.transaction() as session:
                view, secret = await service.rotate_secret(
                    session, ctx.require_caller(), parse_id(agency_id), parse_id(id)
                )
            return ClientWithSecret(client=ClientType.of(view), client_secret=secret)

        return await attempt(run)

    @strawberry.mutation(description="Delete an OAuth client and every token it holds.")
    async def delete_client(
        self, info: Ctx, agency_id: strawberry.ID, id: strawberry.ID
    ) -> ClientDeleteResult:
        ctx = info.context

        async def run() -> Deleted:
            async with ctx.transaction() as session:
                await service.delete_client(
                    session, ctx.require_caller(), parse_id(agency_id), parse_id(id)
                )
            return Deleted(id=id)

        return await attempt(run)
