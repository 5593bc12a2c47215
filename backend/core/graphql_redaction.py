"""GraphQL errors never echo what the client sent.

graphql-core's messages about a refused input show the whole value (``…found: {'name': …,
'secret': 'whsec_…'}``) and, printed, an excerpt of the document around the error. An input may
hold a secret (a connector's signing secret) or personal data: answered or logged, the error
names the place of the fault (its path, line and column), as REST's 422 does, never the value.
"""

from __future__ import annotations

import re

from graphql import GraphQLError

NOT_SHOWN = "(the value is not shown)"
_TAILS = [
    # "Expected value of type 'X' to include required field 'y', found: {…}." and alike.
    (re.compile(r", but encountered error '.*\Z", re.S), f" {NOT_SHOWN}."),
    (re.compile(r",? [Ff]ound: .*\Z", re.S), f" {NOT_SHOWN}."),
    # "String cannot represent a non string value: 5"
    (re.compile(r"(cannot represent [^:]*value): .*\Z", re.S), rf"\1 {NOT_SHOWN}."),
    # "Value 'x' does not exist in 'Kind' enum."
    (re.compile(r"Value '.*?' does not exist in '", re.S), "Value does not exist in '"),
]


def without_values(message: str) -> str:
    for pattern, replacement in _TAILS:
        message = pattern.sub(replacement, message)
    return message


def redact_values(error: GraphQLError) -> None:
    """Drop the values from ``error`` (and the GraphQL errors it wraps), and the document
    excerpt its printed form would carry; its locations and path are kept."""
    seen: GraphQLError | BaseException | None = error
    while isinstance(seen, GraphQLError):
        redacted = without_values(seen.message)
        if redacted != seen.message and not isinstance(seen.original_error, GraphQLError):
            # A scalar's parse error (logged with its traceback) would quote the value too.
            seen.original_error = None
        seen.message = redacted
        seen.args = (redacted,)
        seen.nodes = None  # `str(error)` would print the document's lines around it
        seen.source = None
        seen = seen.original_error
