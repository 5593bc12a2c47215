"""The GraphQL context of the application: core's request context, bound to auth's caller."""

from __future__ import annotations

from backend.auth.caller import Caller
from backend.core import graphql_context
from backend.core.errors import Unauthenticated
from backend.core.graphql_fields import CallerUnit

GraphQLContext = graphql_context.GraphQLContext[Caller]


def caller_in(unit: CallerUnit) -> Caller:
    """The application's caller of a unit (what services of tenancy and auth take)."""
    caller = unit.caller
    if not isinstance(caller, Caller):
        raise Unauthenticated()
    return caller
