"""The GraphQL context of the application: core's request context, bound to auth's caller."""

from __future__ import annotations

from backend.auth.caller import Caller
from backend.core import graphql_context

GraphQLContext = graphql_context.GraphQLContext[Caller]
