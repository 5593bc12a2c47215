"""Composes every domain's GraphQL pieces into one schema, mounted at ``/graphql``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import strawberry
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Scope
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.litestar import make_graphql_controller
from strawberry.printer import print_schema

from backend.auth.caller import Caller
from backend.auth.graphql import ClientMutation, ClientQuery
from backend.auth.guards import caller_of
from backend.config import Settings
from backend.connectors.graphql import ConnectorsQuery
from backend.core.dependencies import DbSession
from backend.core.edge import BODY_OPT, BodyRule
from backend.core.errors import NotFound
from backend.core.graphql_context import GraphQLContext
from backend.core.logging import bind_log_context
from backend.events.graphql import EventsQuery
from backend.profiles.graphql import ProfilesMutation, ProfilesQuery
from backend.profiles.graphql_operations import ProfileOperationsMutation
from backend.rfm.graphql import RfmMutation, RfmQuery
from backend.segments.graphql import SegmentsMutation, SegmentsQuery
from backend.tenancy.graphql import TenancyMutation, TenancyQuery
from backend.triggers.graphql import TriggersQuery
from backend.webhooks.graphql import WebhooksMutation, WebhooksQuery

BRAND_HEADER = "levier-brand"


@strawberry.type
class Query(
    TenancyQuery,
    ClientQuery,
    ProfilesQuery,
    WebhooksQuery,
    ConnectorsQuery,
    EventsQuery,
    TriggersQuery,
    RfmQuery,
    SegmentsQuery,
):
    pass


@strawberry.type
class Mutation(
    TenancyMutation,
    ClientMutation,
    ProfilesMutation,
    ProfileOperationsMutation,
    WebhooksMutation,
    RfmMutation,
    SegmentsMutation,
):
    pass


def build_schema(settings: Settings) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=[
            lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
            lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
        ],
    )


def schema_sdl(settings: Settings) -> str:
    return print_schema(build_schema(settings)) + "\n"


async def graphql_brand_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """A `Levier-Brand` header scopes the request to one brand: 404 if out of reach."""
    raw = connection.headers.get(BRAND_HEADER)
    if raw is None:
        return
    try:
        brand_id = UUID(raw)
    except ValueError:
        raise NotFound("brand not found") from None
    connection.state.graphql_tenant = caller_of(connection).require_brand(brand_id)
    bind_log_context(connection.scope, brand_id=str(brand_id))


async def graphql_context(scope: Scope, state: State, db_session: DbSession) -> GraphQLContext:
    caller = scope.get("user")
    return GraphQLContext(
        caller=caller if isinstance(caller, Caller) else None,
        session=db_session,
        session_factory=state.session_factory,
        relay=state.relay,
        tenant=scope.get("state", {}).get("graphql_tenant"),
    )


def graphql_controller(settings: Settings) -> type:
    base = make_graphql_controller(
        build_schema(settings),
        path="/graphql",
        graphql_ide=None if settings.is_production else "graphiql",
        context_getter=graphql_context,
    )

    class GraphQLController(base):  # type: ignore[valid-type, misc]
        guards = [graphql_brand_guard]
        opt = {BODY_OPT: BodyRule.GRAPHQL}
        include_in_schema = False

    return GraphQLController
