"""Composes every domain's GraphQL pieces into one schema, mounted at ``/graphql``.

What a document may cost is bounded before any work is spent on it: an anonymous caller is
refused before the body is read (GraphQL offers nothing without a token: sign-in is REST), the
body is capped before it is decoded, the document's size before it is parsed, its tokens while
it is parsed, then its depth and aliases when it is validated. Introspection is off in
production (the SDL is published as ``openapi/schema.graphql``).

Subscriptions are served over a websocket on the same path (``graphql-transport-ws``,
authenticated by its ``connection_init``): see :mod:`backend.graphql_ws`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from typing import Any, cast
from uuid import UUID

import strawberry
from graphql import GraphQLError
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Scope
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.litestar import make_graphql_controller
from strawberry.printer import print_schema
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionContext
from strawberry.types.unset import UNSET, UnsetType

from backend.audit.graphql import AuditQuery
from backend.auth.caller import Caller
from backend.auth.context import GraphQLContext
from backend.auth.graphql import ClientMutation, ClientQuery
from backend.auth.guards import caller_of
from backend.billing.graphql import BillingMutation, BillingQuery
from backend.campaigns.graphql import CampaignsMutation, CampaignsQuery, CampaignsSubscription
from backend.config import Settings
from backend.connectors.graphql import ConnectorsMutation, ConnectorsQuery
from backend.content.coupons.graphql import CouponPoolsMutation, CouponPoolsQuery
from backend.content.graphql import ContentMutation, ContentQuery
from backend.core.dependencies import DbSession
from backend.core.edge import BODY_OPT, BodyRule
from backend.core.errors import LevierError, NotFound, Unauthenticated, problem_type
from backend.core.graphql_fields import NodeQuery
from backend.core.graphql_redaction import redact_values
from backend.core.logging import bind_log_context
from backend.events.graphql import EventsMutation, EventsQuery
from backend.graphql_ws import (
    LevierTransportWS,
    LevierWebSocketAdapter,
    TransportOperations,
    authenticate,
)
from backend.imports.graphql import ImportsMutation, ImportsQuery, ImportsSubscription
from backend.messaging.accounts.graphql import MessagingAccountsMutation, MessagingAccountsQuery
from backend.messaging.devices.graphql import DevicesMutation, DevicesQuery
from backend.messaging.graphql import MessagesMutation, MessagesQuery
from backend.profiles.exports.graphql import (
    ProfileExportsMutation,
    ProfileExportsQuery,
    ProfileExportsSubscription,
)
from backend.profiles.gdpr.graphql import GdprMutation, GdprQuery
from backend.profiles.graphql import ProfilesMutation, ProfilesQuery
from backend.profiles.linked.graphql import LinkedTablesMutation, LinkedTablesQuery
from backend.programs.graphql import ProgramsMutation, ProgramsQuery
from backend.rfm.graphql import RfmMutation, RfmQuery
from backend.scenarios.graphql import ScenariosMutation, ScenariosQuery
from backend.segments.graphql import SegmentsMutation, SegmentsQuery
from backend.tenancy.graphql import TenancyMutation, TenancyQuery
from backend.triggers.graphql import TriggersMutation, TriggersQuery
from backend.webhooks.graphql import WebhooksMutation, WebhooksQuery

BRAND_HEADER = "levier-brand"


@strawberry.type
class Query(
    NodeQuery,
    TenancyQuery,
    ClientQuery,
    ProfilesQuery,
    GdprQuery,
    WebhooksQuery,
    ConnectorsQuery,
    EventsQuery,
    ImportsQuery,
    TriggersQuery,
    RfmQuery,
    SegmentsQuery,
    ScenariosQuery,
    LinkedTablesQuery,
    ProfileExportsQuery,
    AuditQuery,
    DevicesQuery,
    MessagesQuery,
    MessagingAccountsQuery,
    ContentQuery,
    CouponPoolsQuery,
    ProgramsQuery,
    CampaignsQuery,
    BillingQuery,
):
    pass


@strawberry.type
class Mutation(
    TenancyMutation,
    ClientMutation,
    ProfilesMutation,
    GdprMutation,
    WebhooksMutation,
    TriggersMutation,
    ConnectorsMutation,
    RfmMutation,
    SegmentsMutation,
    ScenariosMutation,
    LinkedTablesMutation,
    ProfileExportsMutation,
    EventsMutation,
    ImportsMutation,
    DevicesMutation,
    MessagesMutation,
    MessagingAccountsMutation,
    ContentMutation,
    CouponPoolsMutation,
    ProgramsMutation,
    CampaignsMutation,
    BillingMutation,
):
    pass


@strawberry.type
class Subscription(ImportsSubscription, ProfileExportsSubscription, CampaignsSubscription):
    pass


class MaxDocumentBytes(SchemaExtension):
    """Refuse a document larger than ``max_bytes`` before it is parsed (any transport)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    def on_operation(self) -> Iterator[None]:
        query = self.execution_context.query
        # Encoding costs a copy, nothing beside parsing; the body cap bounds it anyway.
        if query is not None and len(query.encode()) > self.max_bytes:
            raise GraphQLError(
                f"the document is larger than {self.max_bytes} bytes; it was not parsed"
            )
        yield


class LevierSchema(strawberry.Schema):
    """Expected failures raised by a field (out of reach, short of role or scope, not found)
    answer a GraphQL error whose `extensions` carry the problem's `code`, `status` and `type`,
    as REST's problem details; they are not logged as errors, the unexpected ones are."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        unexpected = []
        for error in errors:
            original = error.original_error
            if isinstance(original, InvalidOperationTypeError):
                # A query over the websocket, a subscription over HTTP: the client's mistake.
                error.extensions = {**(error.extensions or {}), "code": "operation-not-allowed"}
            elif isinstance(original, LevierError):
                error.extensions = {
                    **(error.extensions or {}),
                    "code": original.slug,
                    "status": int(original.status),
                    "type": problem_type(original.slug),
                    **({"errors": original.errors} if original.errors else {}),
                }
            else:
                redact_values(error)  # never echo an input (a secret, personal data)
                unexpected.append(error)
        super().process_errors(unexpected, execution_context)


def build_schema(settings: Settings) -> strawberry.Schema:
    return _schema(
        settings.graphql_max_document_bytes,
        settings.graphql_max_tokens,
        settings.graphql_max_depth,
        settings.graphql_max_aliases,
        introspection=not settings.is_production,
    )


# Building the schema walks every type (~0.3 s); apps with the same limits share one (the
# schema holds no state of its own: each request's context carries it).
@functools.cache
def _schema(
    max_document_bytes: int,
    max_tokens: int,
    max_depth: int,
    max_aliases: int,
    *,
    introspection: bool,
) -> strawberry.Schema:
    # The cheap refusals first: size before parsing, tokens while parsing, the rest after.
    extensions: list[Any] = [
        TransportOperations,
        lambda: MaxDocumentBytes(max_document_bytes),
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: QueryDepthLimiter(max_depth=max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=max_aliases),
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return LevierSchema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions
    )


def schema_sdl(settings: Settings) -> str:
    return print_schema(build_schema(settings)) + "\n"


async def graphql_caller_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Refuse an anonymous caller before its document is read: no GraphQL operation serves one.

    Only a GET without a document passes (it renders GraphiQL in development), and a websocket:
    it authenticates in its first message (:mod:`backend.graphql_ws`).
    """
    if isinstance(connection.scope.get("user"), Caller):
        return
    if connection.scope["type"] == ScopeType.WEBSOCKET:
        return
    if connection.scope.get("method") == "GET" and "query" not in connection.query_params:
        return
    detail = "GraphQL needs a bearer token (sign in through /oauth/authorize)"
    # `errors` makes the problem a GraphQL error response too: clients read errors[].message.
    raise Unauthenticated(detail, errors=[{"message": detail}])


async def graphql_brand_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """A `Levier-Brand` header scopes the request to one brand: 404 if out of reach. (Not on a
    websocket: subscriptions name their brand in the `brand` argument.)"""
    raw = connection.headers.get(BRAND_HEADER)
    if raw is None or connection.scope["type"] == ScopeType.WEBSOCKET:
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
        poll_seconds=state.settings.live_poll_seconds,
    )


def graphql_controller(settings: Settings) -> type:
    base = make_graphql_controller(
        build_schema(settings),
        path="/graphql",
        graphql_ide=None if settings.is_production else "graphiql",
        context_getter=graphql_context,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        connection_init_wait_timeout=dt.timedelta(seconds=settings.graphql_ws_init_timeout_seconds),
        max_subscriptions_per_connection=settings.graphql_ws_max_subscriptions,
        allowed_origins=settings.cors_origins,
    )

    class GraphQLController(base):  # type: ignore[valid-type, misc]
        guards = [graphql_caller_guard, graphql_brand_guard]
        opt = {BODY_OPT: BodyRule.GRAPHQL}
        include_in_schema = False
        request_max_body_size = settings.graphql_max_body_bytes
        websocket_adapter_class = LevierWebSocketAdapter
        graphql_transport_ws_handler_class = LevierTransportWS
        max_message_bytes = settings.graphql_ws_max_message_bytes
        json_max_depth = settings.json_max_depth

        async def on_ws_connect(self, context: GraphQLContext) -> UnsetType:
            """`connection_init`: its bearer token authenticates the connection (4403 if not)."""
            await authenticate(context)
            return cast(UnsetType, UNSET)  # a bare connection_ack

    return GraphQLController
