"""The rendering engine: one Jinja2 immutable sandbox with a time and output budget per render,
values that are missing fail the render (never "Hello ,"), and compiled templates cached per
version.

Budgets: output is counted as it streams out of ``Template.generate``; time is checked on every
chunk, every call the sandbox intercepts and every 256 items of every ``for`` loop (the
environment wraps each loop's iterable at parse time), so a loop producing nothing still stops.
"""

from __future__ import annotations

import contextvars
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, TemplateRuntimeError, UndefinedError, nodes
from jinja2.environment import Template
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from backend.content.errors import RefusalReason, RenderRefused
from backend.content.live import blocks as live_blocks

_LOOP_CHECK_EVERY = 256


class BudgetExceeded(Exception):
    """The render ran past its time or output budget."""


@dataclass
class Budget:
    deadline: float
    max_chars: int
    used_chars: int = 0

    def check_time(self) -> None:
        if time.perf_counter() > self.deadline:
            raise BudgetExceeded("the render ran out of time")


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "levier_render_budget", default=None
)


class Bag(dict[str, Any]):
    """A dict that knows where it sits in the context (``profile``, ``data``…), so a missing
    key is reported by its full name (``profile.first_name``)."""

    def __init__(self, path: str, values: Mapping[str, Any] | None = None) -> None:
        super().__init__(values or {})
        self.path = path


class MissingValue(ChainableUndefined):
    """A name or key without a value: ``default(...)``, ``is defined`` and ``if`` work on it;
    printing it fails the render with ``missing-value`` naming it."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        return f"no value for '{missing_name(self)}' (give it a default: | default(\"…\"))"

    def __str__(self) -> str:
        self._fail_with_undefined_error()

    __html__ = __str__


def missing_name(undefined: StrictUndefined | ChainableUndefined) -> str:
    name = undefined._undefined_name or "?"
    owner = undefined._undefined_obj
    path = getattr(owner, "path", None)
    return f"{path}.{name}" if isinstance(path, str) else str(name)


def _finalize(value: Any) -> Any:
    if value is None:
        raise RenderRefused(RefusalReason.MISSING_VALUE, "a printed expression has no value")
    return value


def _budgeted(iterable: Iterable[Any]) -> Iterator[Any]:
    budget = _BUDGET.get()
    if budget is None:
        yield from iterable
        return
    for count, item in enumerate(iterable):
        if count % _LOOP_CHECK_EVERY == 0:
            budget.check_time()
        yield item


class ContentEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox every template renders in (see the module's docstring)."""

    intercepted_binops = frozenset({"*", "**"})

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(
                loop.iter, "_budgeted", [], [], None, None, lineno=loop.iter.lineno
            )
        return tree

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _BUDGET.get()
        if budget is not None:
            budget.check_time()
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = _BUDGET.get()
        limit = budget.max_chars if budget is not None else 1_000_000
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise BudgetExceeded("an exponent is too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > limit:
                    raise BudgetExceeded("a repeated value is too large")
        return super().call_binop(context, operator, left, right)


def build_environment() -> ContentEnvironment:
    """The one environment templates compile in. Live blocks (``backend/content/live``) add
    their ``live(...)`` global here."""
    env = ContentEnvironment(
        undefined=MissingValue,
        finalize=_finalize,
        autoescape=lambda name: bool(name and name.endswith(".html")),
        auto_reload=False,
        keep_trailing_newline=True,
    )
    env.filters["_budgeted"] = _budgeted
    live_blocks.register(env)
    return env


ENVIRONMENT = build_environment()


def compile_template(source: str, *, html: bool) -> Template:
    """A compiled template (HTML ones autoescape what they print)."""
    name = "field.html" if html else "field.txt"
    code = ENVIRONMENT.compile(source, name=name)
    return ENVIRONMENT.template_class.from_code(
        ENVIRONMENT, code, ENVIRONMENT.make_globals(None), None
    )


class TemplateCache:
    """Compiled templates by key (a version, a locale, a field), least recently used out."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], Template] = OrderedDict()

    def get(self, key: tuple[Any, ...], source: str, *, html: bool) -> Template:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
            return found
        template = compile_template(source, html=html)
        self._items[key] = template
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return template

    def __len__(self) -> int:
        return len(self._items)


class Renderer:
    """Renders the fields of one message under one shared budget."""

    def __init__(self, *, seconds: float, max_chars: int) -> None:
        self.seconds = seconds
        self.max_chars = max_chars
        self._budget: Budget | None = None
        self._token: contextvars.Token[Budget | None] | None = None

    def __enter__(self) -> Renderer:
        self._budget = Budget(time.perf_counter() + self.seconds, self.max_chars)
        self._token = _BUDGET.set(self._budget)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _BUDGET.reset(self._token)

    def render(self, template: Template, context: Mapping[str, Any]) -> str:
        budget = self._budget
        assert budget is not None, "use the renderer as a context manager"
        parts: list[str] = []
        try:
            for chunk in template.generate(context):
                budget.used_chars += len(chunk)
                if budget.used_chars > budget.max_chars:
                    raise BudgetExceeded(f"the output passed {budget.max_chars} characters")
                budget.check_time()
                parts.append(chunk)
        except BudgetExceeded as exc:
            raise RenderRefused(RefusalReason.RENDER_BUDGET, str(exc)) from None
        except RecursionError:
            raise RenderRefused(RefusalReason.RENDER_BUDGET, "the render nested too deep") from None
        except UndefinedError as exc:
            raise RenderRefused(RefusalReason.MISSING_VALUE, exc.message or str(exc)) from None
        except (SecurityError, TemplateRuntimeError, TypeError, ValueError, ArithmeticError) as exc:
            raise RenderRefused(RefusalReason.RENDER_ERROR, str(exc)[:500]) from None
        return "".join(parts)


def render_all(
    renderer: Renderer, templates: Mapping[str, Template], context: Mapping[str, Any]
) -> dict[str, str]:
    return {field: renderer.render(t, context) for field, t in templates.items()}


Helper = Callable[..., Any]
