"""The request edge: what every body and query string must be before any handler sees it.

One rule for the whole API, applied by :class:`EdgeMiddleware` before a route decodes anything:

- a route that reads a JSON body (a ``data`` parameter, or the ``opt`` mark :data:`BODY_OPT`)
  answers 415 to a non-empty body whose ``Content-Type`` is not ``application/json`` or
  ``…+json``;
- JSON nested deeper than ``LEVIER_JSON_MAX_DEPTH`` answers 400 ``nesting-too-deep`` — checked
  without recursion, before any recursive decoder or validator touches the data;
- a NUL character (``\\u0000``) in any JSON string or key, or in a query parameter, answers 422
  naming the field: no database text column can hold it.

GraphQL gets the same checks answered as a GraphQL error response. Routes that read their body
themselves (file uploads, signed partner hooks) declare :attr:`BodyRule.RAW` and call
:func:`decode_json` where they parse it; the event batch declares :attr:`BodyRule.JSON_ITEMS` so
that a NUL rejects only the event holding it (:func:`nul_field`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from http import HTTPStatus
from itertools import accumulate
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar.enums import RequestEncodingType, ScopeType
from litestar.handlers import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from backend.config import Settings
from backend.core.errors import InvalidInput, LevierError, send_error
from backend.core.idempotency import header, read_body

# Route ``opt`` key: how the edge treats the body (a :class:`BodyRule`); derived when absent.
BODY_OPT = "edge_body"
NUL_MESSAGE = "contains a NUL character (\\u0000), which text cannot hold"


class BodyRule(StrEnum):
    JSON = "json"  # a JSON body: media type, depth and NUL checked here
    JSON_ITEMS = "json-items"  # JSON, depth checked here; NUL judged per item by the handler
    GRAPHQL = "graphql"  # JSON checked here, refused as a GraphQL error response
    FORM = "form"  # a url-encoded form: NUL checked here
    RAW = "raw"  # the handler reads (and checks) the body itself
    NONE = "none"  # no body expected: left alone


class NestingTooDeep(LevierError):
    status, slug, title = HTTPStatus.BAD_REQUEST, "nesting-too-deep", "Nesting too deep"


class PayloadTooLarge(LevierError):
    status, slug, title = HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload-too-large", "Too large"


class UnsupportedMediaType(LevierError):
    status, slug, title = (
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "Unsupported media type",
    )


def nul_refusal(field: str, *, where: str = "body") -> InvalidInput:
    return InvalidInput(
        f"{field} {NUL_MESSAGE}",
        errors=[{"field": field, "in": where, "message": NUL_MESSAGE}],
    )


def too_deep(limit: int) -> NestingTooDeep:
    return NestingTooDeep(f"the JSON is nested deeper than {limit} levels")


# Depth, without recursion --------------------------------------------------------------------

# Brackets only, ``{}`` read as ``[]``: the depth does not depend on which kind nests.
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = tuple(1 if b == ord("[") else -1 for b in range(256))
# Each pass drops the innermost level everywhere: enough for wide bodies to vanish.
_PAIR_PASSES = 4


def _outside_strings(body: bytes) -> bytes:
    """``body`` without its JSON strings, by C-speed byte operations only (no regex, no loop)."""
    if b"\\" in body:
        # Escaped backslashes pair up from the left, as a decoder reads them; then an escaped
        # quote is a backslash before a quote.
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(body.split(b'"')[::2])


def nesting_exceeds(body: bytes, limit: int) -> bool:
    """Whether the JSON in ``body`` nests arrays and objects deeper than ``limit``.

    No recursion and no per-byte Python code: a few ``replace`` passes drop the innermost level
    everywhere (wide, shallow bodies vanish), then a running sum over what is left measures the
    rest. Malformed JSON may be judged either way; its decoder refuses it.
    """
    brackets = _outside_strings(body).translate(_BRACKETS, _NOT_BRACKETS)
    if brackets.count(b"[") <= limit:
        return False
    removed = 0
    while brackets and removed < _PAIR_PASSES:
        if b"[" * (limit - removed + 1) in brackets:
            return True
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            break  # unbalanced: what is left opens below ``removed`` levels
        brackets, removed = shorter, removed + 1
    if not brackets:
        return removed > limit
    return removed + max(accumulate(map(_STEP.__getitem__, brackets))) > limit


# NUL characters ------------------------------------------------------------------------------

NUL_ESCAPE = b"\\u0000"


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    """(path, value) of every string and key, depth first, with an explicit stack."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            children = []
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                yield child_path, key
                children.append((child_path, child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", c) for i, c in reversed(list(enumerate(item))))
        elif isinstance(item, str):
            yield path, item


def nul_field(value: Any) -> str | None:
    """The path (``attributes.color``, ``items[2].label``) of the first string or key of a
    decoded JSON value holding a NUL, or None. The NUL itself is shown escaped."""
    for path, text in _walk(value):
        if "\x00" in text:
            return path.replace("\x00", "\\u0000") or "body"
    return None


def check_json(body: bytes, limit: int, *, nul: bool = True) -> None:
    """Refuse ``body`` when too deep (and, with ``nul``, when a string holds a NUL); malformed
    JSON is left to the decoder that reads it."""
    if nesting_exceeds(body, limit):
        raise too_deep(limit)
    if nul and NUL_ESCAPE in body:
        try:
            value = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return
        field = nul_field(value)
        if field is not None:
            raise nul_refusal(field)


def decode_json(body: bytes, limit: int) -> Any:
    """``body`` decoded, after :func:`check_json`: for routes that read their body themselves.
    Raises InvalidInput when it is not JSON."""
    check_json(body, limit)
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise InvalidInput("the body is not JSON", errors=[{"field": "body"}]) from None


def check_query(query_string: bytes, *, where: str = "query") -> None:
    """Refuse a query parameter (or form field) whose name or value holds a NUL."""
    if b"%00" not in query_string and b"\x00" not in query_string:
        return
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            raise nul_refusal(name.replace("\x00", "\\u0000"), where=where)


# A NUL written as a GraphQL string escape (``\u0000`` or ``\u{0}``) inside the document itself.
_GRAPHQL_NUL = re.compile(r"\\u(?:0000|\{0+\})")


def check_graphql_document(body: bytes) -> None:
    """Refuse a GraphQL document whose string literals would hold a NUL."""
    if b"\\u" not in body:
        return
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return
    query = document.get("query") if isinstance(document, dict) else None
    if isinstance(query, str) and _GRAPHQL_NUL.search(query):
        raise nul_refusal("query")


# The middleware ------------------------------------------------------------------------------


def is_json_media_type(content_type: bytes | None) -> bool:
    if content_type is None:
        return False
    essence = content_type.split(b";", 1)[0].strip().lower()
    return essence == b"application/json" or (
        essence.startswith(b"application/") and essence.endswith(b"+json")
    )


def body_rule(handler: BaseRouteHandler | None) -> BodyRule:
    """The handler's declared rule, or the one its ``data`` parameter implies."""
    if handler is None:
        return BodyRule.NONE
    declared = handler.opt.get(BODY_OPT)
    if declared is not None:
        return BodyRule(declared)
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return BodyRule.NONE
    media_type = getattr(data.kwarg_definition, "media_type", RequestEncodingType.JSON)
    if media_type == RequestEncodingType.JSON:
        return BodyRule.JSON
    return BodyRule.FORM if media_type == RequestEncodingType.URL_ENCODED else BodyRule.RAW


def _refused_unread(scope: Scope, handler: BaseRouteHandler | None) -> bool:
    """Whether the route's guards refuse this request before anything reads its body: every
    guard of a JSON route needs a caller, so an anonymous body costs no check here (the depth
    check of a hostile 10 MB body takes up to a second of the event loop)."""
    return scope.get("user") is None and handler is not None and bool(handler.resolve_guards())


async def _send_graphql_error(send: Send, error: LevierError) -> None:
    # GraphQL-over-HTTP: a request refused before execution is a 400 with an ``errors`` list.
    extensions: dict[str, Any] = {"code": error.slug}
    if error.errors:
        extensions["errors"] = error.errors
    body = msgspec.json.encode(
        {"data": None, "errors": [{"message": str(error), "extensions": extensions}]}
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class EdgeMiddleware:
    """Applies the module's rules to every HTTP request before its handler runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        handler = scope.get("route_handler")
        rule = body_rule(handler)
        settings: Settings = scope["litestar_app"].state.settings
        try:
            if "\x00" in scope["path"]:
                raise nul_refusal("path", where="path")
            check_query(scope["query_string"])
            if rule is BodyRule.GRAPHQL and scope["method"] == "GET":
                self._check_graphql_query(scope, settings.json_max_depth)
        except LevierError as error:
            await self._refuse(scope, send, rule, error)
            return
        if (
            rule in (BodyRule.NONE, BodyRule.RAW)
            or scope["method"] in ("GET", "HEAD")
            or _refused_unread(scope, handler)
        ):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive, settings.max_body_bytes)
        if body is None:
            await send_error(scope, send, PayloadTooLarge("request body is too large"))
            return
        try:
            self._check_body(scope, rule, body, settings.json_max_depth)
        except LevierError as error:
            await self._refuse(scope, send, rule, error)
            return
        delivered = False

        async def replay() -> Any:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # a disconnect, when the client goes away

        await self.app(scope, replay, send)

    @staticmethod
    def _check_body(scope: Scope, rule: BodyRule, body: bytes, limit: int) -> None:
        if not body:
            return
        if rule is BodyRule.FORM:
            check_query(body, where="body")
            return
        is_json = is_json_media_type(header(scope, b"content-type"))
        if rule is BodyRule.GRAPHQL and not is_json:
            return  # GraphQL reads its other media types (and refuses unknown ones) itself
        if not is_json:
            raise UnsupportedMediaType("this route reads JSON: send the body as application/json")
        check_json(body, limit, nul=rule is not BodyRule.JSON_ITEMS)
        if rule is BodyRule.GRAPHQL:
            check_graphql_document(body)

    @staticmethod
    def _check_graphql_query(scope: Scope, limit: int) -> None:
        for name, value in parse_qsl(scope["query_string"].decode("latin-1")):
            if name == "query" and _GRAPHQL_NUL.search(value):
                raise nul_refusal("query", where="query")
            if name == "variables":
                try:
                    check_json(value.encode(), limit)
                except InvalidInput as error:
                    field = (error.errors or [{}])[0].get("field", "variables")
                    raise nul_refusal(f"variables.{field}", where="query") from None

    @staticmethod
    async def _refuse(scope: Scope, send: Send, rule: BodyRule, error: LevierError) -> None:
        if rule is BodyRule.GRAPHQL:
            await _send_graphql_error(send, error)
        else:
            await send_error(scope, send, error)
