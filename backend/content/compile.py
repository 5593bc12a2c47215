"""Save-time compilation of a template version's content: syntax, names and coupon pools
checked (422 with line and column), snippets inlined, MJML compiled, CSS inlined, the text part
generated. What it returns is stored in the version and rendered as is at send."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import css_inline
import html2text
from jinja2 import TemplateSyntaxError, meta, nodes
from mjml import mjml_to_html  # type: ignore[import-untyped]

from backend.content.render import ENVIRONMENT, compile_template

# The names a template may use at its top level (the context of `backend.content.context`).
PROFILE_FIELDS = (
    "id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "birth_date",
    "country",
    "preferred_store",
    "channel_appetency",
)
CONTEXT_NAMES = frozenset(
    {
        *PROFILE_FIELDS,
        "profile",
        "attributes",
        "consents",
        "orders",
        "linked",
        "rfm",
        "segments",
        "segment_names",
        "source",
        "data",
        "locale",
        "time_zone",
        "now",
        "money",
        "date",
        "datetime",
        "coupon",
    }
)
SNIPPET_PREFIX = "snippet:"
_SNIPPET_INCLUDE = re.compile(r"\{%-?\s*include\s+([\"'])snippet:([a-z0-9_\-]{1,64})\1\s*-?%\}")
_JINJA_TAG = re.compile(r"\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}", re.DOTALL)
_INLINER = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)


@dataclass
class Problems:
    """Field errors in the shape of every 422 (plus line and column where known)."""

    items: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self, pointer: str, message: str, line: int | None = None, column: int | None = None
    ) -> None:
        item: dict[str, Any] = {
            "field": pointer.rsplit("/", 1)[-1],
            "pointer": pointer,
            "message": message,
        }
        if line is not None:
            item["line"] = line
            item["column"] = column or 1
        self.items.append(item)


@dataclass
class Checked:
    """What a source uses: top-level names, coupon pools and snippets."""

    names: set[str] = field(default_factory=set)
    pools: set[str] = field(default_factory=set)
    snippets: set[str] = field(default_factory=set)


def _column(source: str, line: int, needle: str | None) -> int:
    lines = source.splitlines() or [""]
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    if needle:
        found = re.search(rf"\b{re.escape(needle)}\b", text)
        if found:
            return found.start() + 1
    tag = re.search(r"\{[{%#]", text)
    return tag.start() + 1 if tag else 1


def check_source(
    source: str,
    pointer: str,
    problems: Problems,
    *,
    offered: Iterable[str] = CONTEXT_NAMES,
    allow_includes: bool = True,
) -> Checked:
    """Parse ``source``; report syntax errors, unknown top-level names, non-literal coupon
    pools and includes other than snippets. Returns what it uses."""
    checked = Checked()
    if "\x00" in source:
        problems.add(pointer, "NUL characters are not allowed")
        return checked
    try:
        tree = ENVIRONMENT.parse(source)
    except TemplateSyntaxError as exc:
        line = exc.lineno or 1
        problems.add(pointer, exc.message or "syntax error", line, _column(source, line, None))
        return checked
    known = set(offered) | set(ENVIRONMENT.globals)
    names = meta.find_undeclared_variables(tree)
    checked.names = names & known
    for name in sorted(names - known):
        line = next(
            (n.lineno for n in tree.find_all(nodes.Name) if n.name == name and n.ctx == "load"), 1
        )
        problems.add(pointer, f"unknown name '{name}'", line, _column(source, line, name))
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name == "coupon":
            arg = call.args[0] if call.args else None
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str) and not call.kwargs:
                checked.pools.add(arg.value)
            else:
                problems.add(
                    pointer,
                    'coupon() takes the pool\'s key as a literal: coupon("POOL")',
                    call.lineno,
                    _column(source, call.lineno, "coupon"),
                )
    for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        target = getattr(node, "template", None)
        included = target.value if isinstance(target, nodes.Const) else None
        if (
            allow_includes
            and isinstance(node, nodes.Include)
            and isinstance(included, str)
            and included.startswith(SNIPPET_PREFIX)
        ):
            checked.snippets.add(included.removeprefix(SNIPPET_PREFIX))
        else:
            problems.add(
                pointer,
                'only snippets can be included: {% include "snippet:key" %}',
                node.lineno,
                _column(source, node.lineno, None),
            )
    if checked.snippets and len(_SNIPPET_INCLUDE.findall(source)) != len(
        list(tree.find_all(nodes.Include))
    ):
        problems.add(pointer, 'write snippet includes as {% include "snippet:key" %}')
    return checked


def inline_snippets(source: str, snippets: Mapping[str, str]) -> str:
    """The source with each snippet include replaced by the snippet's body (as of now)."""
    return _SNIPPET_INCLUDE.sub(lambda m: snippets[m.group(2)], source)


def _protected(source: str, wrap: Callable[[int], str]) -> tuple[str, list[str]]:
    tags: list[str] = []

    def keep(match: re.Match[str]) -> str:
        tags.append(match.group(0))
        return wrap(len(tags) - 1)

    return _JINJA_TAG.sub(keep, source), tags


def _restored(text: str, tags: list[str], pattern: str) -> str:
    return re.sub(pattern, lambda m: tags[int(m.group(1))], text)


def _shielded(source: str) -> tuple[str, list[str]]:
    return _protected(source, lambda i: f"<!--lvj{i}-->")


def _unshielded(html: str, tags: list[str]) -> str:
    # A comment inside an attribute value may come back escaped.
    return _restored(_restored(html, tags, r"&lt;!--lvj(\d+)--&gt;"), tags, r"<!--lvj(\d+)-->")


def compile_mjml(source: str) -> tuple[str | None, str | None]:
    """(html, None) or (None, the compiler's complaint). Jinja tags pass through the compiler
    as comments: left as text, a `{% for %}` between the rows of an `mj-table` would be moved
    out of the table by its HTML parser, leaving the loop empty."""
    shielded, tags = _shielded(source)
    try:
        result = mjml_to_html(shielded)
    except Exception as exc:  # the compiler raises many kinds on malformed input
        return None, f"MJML does not compile: {exc}"[:500]
    if result.errors:
        return None, f"MJML does not compile: {result.errors[0]}"[:500]
    return _unshielded(str(result.html), tags), None


def inline_css(html: str) -> str:
    """The HTML with its CSS inlined; Jinja tags are kept out of the HTML parser's reach (as
    comments, so a loop between table rows stays where it is)."""
    protected, tags = _shielded(html)
    return _unshielded(_INLINER.inline(protected), tags)


def text_of_html(html: str) -> str:
    """A plain-text part for an HTML template, with its Jinja tags carried over."""
    protected, tags = _protected(html, lambda i: f"LVJ{i}JVL")
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.protect_links = False
    converter.ignore_tables = True  # email layouts are tables: keep their text in order
    text = converter.handle(protected).strip() + "\n"
    return _restored(text, tags, r"LVJ(\d+)JVL")


def compiles(source: str, *, html: bool) -> str | None:
    """None, or why the source no longer compiles."""
    try:
        compile_template(source, html=html)
    except TemplateSyntaxError as exc:
        return f"line {exc.lineno}: {exc.message}"
    return None
