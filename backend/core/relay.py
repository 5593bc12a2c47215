"""Relay-style GraphQL: global object ids, the `Node` interface and cursor connections.

Apollo, urql and Relay normalise their caches on `id` and paginate `edges { node cursor }` with
`pageInfo` without hand-written policies when lists and objects have these shapes.

A node's `id` is opaque and global: the base64url of ``Type:uuid``. Its `uuid` is the id REST
shows, the one reference fields such as `profileId` hold. Arguments naming an object accept
either form (:func:`parse_id`). `node(id:)` finds any node of the brand named by its `brand`
argument or the `Levier-Brand` header.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from backend.core.errors import NotFound
from backend.core.pagination import encode_cursor

T = TypeVar("T")


def global_id(type_name: str, uuid: UUID) -> strawberry.ID:
    raw = f"{type_name}:{uuid}".encode()
    return strawberry.ID(base64.urlsafe_b64encode(raw).decode().rstrip("="))


def decode_global_id(value: str) -> tuple[str, UUID] | None:
    """``(type name, uuid)`` of a global id; None when ``value`` is not one."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        type_name, _, uuid = raw.partition(":")
        return (type_name, UUID(uuid)) if type_name else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def parse_id(value: strawberry.ID | str, type_name: str | None = None) -> UUID:
    """An id argument: a UUID, or a global id (of ``type_name`` when named). Anything else,
    or a global id of another type, names no object (404)."""
    text = str(value)
    try:
        return UUID(text)
    except ValueError:
        pass
    decoded = decode_global_id(text)
    if decoded is None or (type_name is not None and decoded[0] != type_name):
        raise NotFound("no object has this id")
    return decoded[1]


@strawberry.interface(description="An object that can be fetched again by its global `id`.")
class Node:
    @strawberry.field(description="Opaque, globally unique id (cache key; `node(id:)` finds it).")
    def id(self, info: Info[Any, Any]) -> strawberry.ID:
        uuid: UUID = self.id  # the root is the entity struct
        return global_id(info._raw_info.parent_type.name, uuid)

    @strawberry.field(
        description="The id REST shows; reference fields such as `profileId` hold it."
    )
    def uuid(self) -> strawberry.ID:
        return strawberry.ID(str(self.id))


NodeLoader = Callable[[AsyncSession, UUID], Awaitable[object | None]]


@dataclass(frozen=True)
class NodeKind:
    """How `node(id:)` fetches one type: the scope and role it needs and its loader."""

    scope: str
    load: NodeLoader
    access: object | None = None  # the caller's `require_brand` default when None


NODE_KINDS: dict[str, NodeKind] = {}


def register_node(type_name: str, kind: NodeKind) -> None:
    if type_name in NODE_KINDS and NODE_KINDS[type_name] != kind:
        raise ValueError(f"two node loaders for {type_name}")
    NODE_KINDS[type_name] = kind


@strawberry.type(description="Where a page stands in its list.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="One item of a list and its cursor.")
class Edge(Generic[T]):
    node: T
    cursor: str


@strawberry.type(description="A page of a list: pass `pageInfo.endCursor` as `after` for the next.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]] | None] = None

    @strawberry.field(description="The items of this page, without their cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]

    @strawberry.field(
        description="How many items the whole list holds (counted only when asked; null where "
        "the list cannot be counted cheaply)."
    )
    async def total_count(self) -> int | None:
        return None if self.count is None else await self.count()

    @classmethod
    def of(
        cls,
        items: Sequence[T],
        next_cursor: str | None,
        *,
        after: object | None = None,
        key: Callable[[T], UUID] | None = None,
        count: Callable[[], Awaitable[int]] | None = None,
    ) -> Connection[T]:
        """A page of ``items`` (keyset-paged on ``key``, by default their `id`)."""
        key_of = key or (lambda item: item.id)  # type: ignore[attr-defined]
        edges = [Edge(node=item, cursor=encode_cursor(key_of(item))) for item in items]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=next_cursor is not None,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            count=count,
        )
