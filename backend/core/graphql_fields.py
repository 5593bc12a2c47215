"""Brand-scoped GraphQL fields, declared once.

A resolver states its scope and role in the decorator and receives a :class:`BrandUnit` (the
brand's session, the tenant, the request context); the decorator adds the `brand` argument,
resolves and checks it against the caller's grants (404 out of reach, then 403 for a role or
scope that falls short), opens the unit of work (committed when the resolver returns, rolled
back when it raises) and, for a mutation, answers an expected failure as the `OperationError`
member of a result union it names `<Mutation>Result`::

    @brand_query("segments:read")
    async def segments(self, unit: BrandUnit, first: int = 50, after: str | None = None
                       ) -> Connection[SegmentType]: ...

    @brand_mutation("segments:write")
    async def create_segment(self, unit: BrandUnit, input: CreateSegmentInput) -> SegmentType:
        ...

Fields of one agency are declared the same way with :func:`agency_query` / :func:`agency_mutation`
(an `agency` argument checked with the caller's `require_agency`, an :class:`AgencyUnit`), and
fields of the caller's own reach (their agencies, their brands, a new agency) with
:func:`caller_query` / :func:`caller_mutation` (a :class:`CallerUnit`, the scope checked).
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from backend.core.access import Access
from backend.core.caller import CallerLike
from backend.core.errors import LevierError, NotFound
from backend.core.graphql_context import GraphQLContext as Context
from backend.core.graphql_results import OperationError, operation_error
from backend.core.pagination import PageRequest
from backend.core.relay import NODE_KINDS, Connection, Node, decode_global_id, parse_id
from backend.core.tenancy import TenantId
from backend.core.write_gates import brand_write_gates

T = TypeVar("T")
Resolver = Callable[..., Awaitable[Any]]

AnyContext = Context[CallerLike]
BrandArgument = Annotated[
    strawberry.ID, strawberry.argument(description="The brand: its id (`uuid`) or global `id`.")
]
AgencyArgument = Annotated[
    strawberry.ID, strawberry.argument(description="The agency: its id (`uuid`) or global `id`.")
]


@dataclass(frozen=True)
class BrandUnit:
    """What a brand-scoped resolver works with: one unit of work on one brand."""

    session: AsyncSession
    tenant: TenantId
    context: AnyContext

    def page(self, first: int | None, after: str | None) -> PageRequest:
        return PageRequest.parse(first, after)

    def connection(
        self,
        items: Sequence[T],
        next_cursor: str | None,
        page: PageRequest,
        *,
        key: Callable[[T], UUID] | None = None,
        count: Callable[[AsyncSession], Awaitable[int]] | None = None,
    ) -> Connection[Any]:  # of the GraphQL type the resolver declares, derived from T
        """A connection of one page; `totalCount` runs ``count`` in a unit of its own, and only
        when a client asks for it."""
        counter = None
        if count is not None:
            context, tenant = self.context, self.tenant

            async def counter() -> int:
                async with context.transaction(tenant) as session:
                    return await count(session)

        return Connection.of(items, next_cursor, after=page.after, key=key, count=counter)


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _brand_resolver(
    resolver: Resolver,
    scope: str,
    access: Access,
    *,
    errors_as_result: bool,
    missing_is_null: bool,
) -> Resolver:
    signature = inspect.signature(resolver)
    own, unit, *arguments = signature.parameters.values()
    if unit.name != "unit":
        raise TypeError(f"{resolver.__qualname__}: the second parameter must be `unit: BrandUnit`")
    return_annotation: Any = signature.return_annotation
    if errors_as_result:
        return_annotation = _result_union(resolver)

    async def resolve(
        self: Any, info: Info[AnyContext, None], brand: strawberry.ID, **arguments: Any
    ) -> Any:
        context = info.context
        # Out of reach or short of role or scope: a GraphQL error, as on every field.
        tenant = context.require_caller().require_brand(parse_id(brand), access, scope)
        try:
            if errors_as_result:
                # A domain may hold the brand's writes (billing: a canceled subscription).
                await brand_write_gates.check(context.session_factory, tenant, scope)
            async with context.transaction(tenant) as session:
                return await resolver(self, BrandUnit(session, tenant, context), **arguments)
        except LevierError as exc:
            return _expected_failure(
                exc, errors_as_result=errors_as_result, missing_is_null=missing_is_null
            )

    functools.update_wrapper(resolve, resolver)
    info_parameter = inspect.Parameter(
        "info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Info[AnyContext, None]
    )
    brand_parameter = inspect.Parameter(
        "brand", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=BrandArgument
    )
    resolve.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[own, info_parameter, brand_parameter, *arguments],
        return_annotation=return_annotation,
    )
    return resolve


def _expected_failure(
    exc: LevierError, *, errors_as_result: bool, missing_is_null: bool
) -> OperationError | None:
    """A domain failure as the field answers it: null for a missing object where asked, the
    `OperationError` member of a mutation's union; anything else is raised as a GraphQL error."""
    if missing_is_null and isinstance(exc, NotFound):
        return None
    if errors_as_result:
        return operation_error(exc)
    raise exc


def _members(annotation: Any) -> tuple[Any, ...]:
    """The types of a union annotation (the strawberry union's own members when annotated)."""
    if typing.get_origin(annotation) is Annotated:
        annotation = annotation.__origin__
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def brand_query(
    scope: str,
    *,
    access: Access = Access.VIEWER,
    description: str | None = None,
    missing_is_null: bool = False,
) -> Callable[[Resolver], Any]:
    """A query field on one brand (`brand` argument); with ``missing_is_null`` a `NotFound`
    answers null (a single object looked up by id)."""

    def decorate(resolver: Resolver) -> Any:
        wrapped = _brand_resolver(
            resolver, scope, access, errors_as_result=False, missing_is_null=missing_is_null
        )
        return strawberry.field(resolver=wrapped, description=description or resolver.__doc__)

    return decorate


def brand_mutation(
    scope: str, *, access: Access = Access.MANAGER, description: str | None = None
) -> Callable[[Resolver], Any]:
    """A mutation on one brand (`brand` argument) whose expected failures are the
    `OperationError` member of its `<Name>Result` union."""

    def decorate(resolver: Resolver) -> Any:
        wrapped = _brand_resolver(
            resolver, scope, access, errors_as_result=True, missing_is_null=False
        )
        return strawberry.mutation(resolver=wrapped, description=description or resolver.__doc__)

    return decorate


@strawberry.type
class NodeQuery:
    @strawberry.field(
        description="Any object by its global `id`, on the brand named by `brand` or by the "
        "`Levier-Brand` header (null when the brand holds no such object)."
    )
    async def node(
        self,
        info: Info[AnyContext, None],
        id: strawberry.ID,
        brand: strawberry.ID | None = None,
    ) -> Node | None:
        context = info.context
        decoded = decode_global_id(str(id))
        if decoded is not None and decoded[0] in CALLER_NODE_KINDS:
            found: Node | None = await _load_caller_node(
                context, CALLER_NODE_KINDS[decoded[0]], decoded[1]
            )
            return found
        kind = NODE_KINDS.get(decoded[0]) if decoded else None
        brand_id = parse_id(brand) if brand is not None else context.tenant
        if decoded is None or kind is None or brand_id is None:
            return None
        access = kind.access if isinstance(kind.access, Access) else Access.VIEWER
        tenant = context.require_caller().require_brand(brand_id, access, kind.scope)
        try:
            async with context.transaction(tenant) as session:
                return await kind.load(session, decoded[1])
        except NotFound:
            return None


# Fields of one agency, and of the caller's own reach -------------------------------------------


@dataclass(frozen=True)
class CallerUnit:
    """What a field outside any brand works with: one unit of work (no tenant) and the caller."""

    session: AsyncSession
    context: AnyContext

    @property
    def caller(self) -> CallerLike:
        return self.context.require_caller()

    def page(self, first: int | None, after: str | None) -> PageRequest:
        return PageRequest.parse(first, after)

    def connection(
        self,
        items: Sequence[T],
        next_cursor: str | None,
        page: PageRequest,
        *,
        key: Callable[[T], UUID] | None = None,
        count: Callable[[AsyncSession], Awaitable[int]] | None = None,
    ) -> Connection[Any]:
        """A connection of one page; `totalCount` runs ``count`` in a unit of its own, and only
        when a client asks for it."""
        counter = None
        if count is not None:
            context = self.context

            async def counter() -> int:
                async with context.transaction() as session:
                    return await count(session)

        return Connection.of(items, next_cursor, after=page.after, key=key, count=counter)


@dataclass(frozen=True)
class AgencyUnit(CallerUnit):
    """What an agency-scoped resolver works with: the agency the caller was checked against."""

    agency_id: UUID


def _unit_resolver(
    resolver: Resolver,
    scope: str,
    access: Access,
    *,
    agency: bool,
    errors_as_result: bool,
    missing_is_null: bool,
) -> Resolver:
    signature = inspect.signature(resolver)
    own, unit, *arguments = signature.parameters.values()
    if unit.name != "unit":
        kind = "AgencyUnit" if agency else "CallerUnit"
        raise TypeError(f"{resolver.__qualname__}: the second parameter must be `unit: {kind}`")
    return_annotation: Any = signature.return_annotation
    if errors_as_result:
        return_annotation = _result_union(resolver)

    async def resolve(self: Any, info: Info[AnyContext, None], **arguments: Any) -> Any:
        context = info.context
        caller = context.require_caller()
        agency_id: UUID | None = None
        if agency:
            # Out of reach or short of role or scope: a GraphQL error, as on every field.
            agency_id = parse_id(arguments.pop("agency"), "Agency")
            caller.require_agency(agency_id, access, scope)
        else:
            caller.require_scope(scope)
        try:
            async with context.transaction() as session:
                work = (
                    CallerUnit(session, context)
                    if agency_id is None
                    else AgencyUnit(session, context, agency_id)
                )
                return await resolver(self, work, **arguments)
        except LevierError as exc:
            return _expected_failure(
                exc, errors_as_result=errors_as_result, missing_is_null=missing_is_null
            )

    functools.update_wrapper(resolve, resolver)
    added = [
        inspect.Parameter(
            "info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Info[AnyContext, None]
        )
    ]
    if agency:
        added.append(
            inspect.Parameter(
                "agency", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=AgencyArgument
            )
        )
    resolve.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[own, *added, *arguments], return_annotation=return_annotation
    )
    return resolve


def _result_union(resolver: Resolver) -> Any:
    """`<Name>Result`: the resolver's return type(s) or `OperationError`."""
    module = sys.modules[resolver.__module__].__dict__
    returned = typing.get_type_hints(resolver, globalns=module, include_extras=True)["return"]
    members = (*_members(returned), OperationError)
    return Annotated[
        typing.Union[members],  # noqa: UP007  (members given as a tuple)
        strawberry.union(f"{_pascal(resolver.__name__)}Result"),
    ]


def agency_query(
    scope: str,
    *,
    access: Access = Access.VIEWER,
    description: str | None = None,
    missing_is_null: bool = False,
) -> Callable[[Resolver], Any]:
    """A query field on one agency (`agency` argument: 404 unless the caller belongs to it,
    then 403 short of ``access`` or ``scope``); with ``missing_is_null`` a `NotFound` raised by
    the resolver answers null."""

    def decorate(resolver: Resolver) -> Any:
        wrapped = _unit_resolver(
            resolver,
            scope,
            access,
            agency=True,
            errors_as_result=False,
            missing_is_null=missing_is_null,
        )
        return strawberry.field(resolver=wrapped, description=description or resolver.__doc__)

    return decorate


def agency_mutation(
    scope: str, *, access: Access = Access.ADMIN, description: str | None = None
) -> Callable[[Resolver], Any]:
    """A mutation on one agency (`agency` argument; agency admins by default) whose expected
    failures are the `OperationError` member of its `<Name>Result` union."""

    def decorate(resolver: Resolver) -> Any:
        wrapped = _unit_resolver(
            resolver, scope, access, agency=True, errors_as_result=True, missing_is_null=False
        )
        return strawberry.mutation(resolver=wrapped, description=description or resolver.__doc__)

    return decorate


def caller_query(
    scope: str, *, description: str | None = None, missing_is_null: bool = False
) -> Callable[[Resolver], Any]:
    """A query field of the caller's own reach (no brand or agency argument; the token must
    carry ``scope``). Also for a field of an object type: the resolver's first parameter is
    then the object."""

    def decorate(resolver: Resolver) -> Any:
        wrapped = _unit_resolver(
            resolver,
            scope,
            Access.VIEWER,
            agency=False,
            errors_as_result=False,
            missing_is_null=missing_is_null,
        )
        return strawberry.field(resolver=wrapped, description=description or resolver.__doc__)

    return decorate


def caller_mutation(scope: str, *, description: str | None = None) -> Callable[[Resolver], Any]:
    """A mutation outside any brand or agency (creating an agency), with its result union."""

    def decorate(resolver: Resolver) -> Any:
        wrapped = _unit_resolver(
            resolver,
            scope,
            Access.VIEWER,
            agency=False,
            errors_as_result=True,
            missing_is_null=False,
        )
        return strawberry.mutation(resolver=wrapped, description=description or resolver.__doc__)

    return decorate


@asynccontextmanager
async def brand_unit(
    context: Context[Any], brand_id: UUID, scope: str, access: Access = Access.VIEWER
) -> AsyncIterator[BrandUnit]:
    """The unit of work of a brand an object names (a field of that object rather than one
    taking the `brand` argument): checked as :func:`brand_query` checks it."""
    tenant = context.require_caller().require_brand(brand_id, access, scope)
    async with context.transaction(tenant) as session:
        yield BrandUnit(session, tenant, context)


# Objects outside any brand (agencies, brands, OAuth clients) fetched by `node(id:)`: the loader
# checks the caller's reach itself (NotFound when out of reach).
CallerNodeLoader = Callable[[CallerUnit, UUID], Awaitable[object]]


@dataclass(frozen=True)
class CallerNodeKind:
    scope: str
    load: CallerNodeLoader


CALLER_NODE_KINDS: dict[str, CallerNodeKind] = {}


def register_caller_node(type_name: str, scope: str, load: CallerNodeLoader) -> None:
    """Let `node(id:)` fetch ``type_name`` without a brand: ``load`` checks the caller's reach."""
    kind = CallerNodeKind(scope, load)
    if CALLER_NODE_KINDS.get(type_name, kind) != kind:
        raise ValueError(f"two node loaders for {type_name}")
    CALLER_NODE_KINDS[type_name] = kind


async def _load_caller_node(context: AnyContext, kind: CallerNodeKind, uuid: UUID) -> Any:
    context.require_caller(kind.scope)
    try:
        async with context.transaction() as session:
            return await kind.load(CallerUnit(session, context), uuid)
    except NotFound:
        return None
