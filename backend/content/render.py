"""The rendering engine: one Jinja2 immutable sandbox with a time and output budget per render,
values that are missing fail the render (never "Hello ,"), and compiled templates cached per
version.

Budgets: output is counted as it streams out of the template's generator, 16 chunks at a time;
time is checked every 16 chunks, every 16 calls the sandbox intercepts and every 256 items of every
``for`` loop (the environment wraps each loop's iterable at parse time), so a loop producing
nothing still stops. Checking the clock every N steps rather than at each keeps the common path
cheap; each step between two checks is bounded (the sandbox caps ranges, repeated strings and
exponents), so a render overruns its deadline by a few steps at most.

The common path is kept cheap otherwise too: our own helpers (``money``, ``date``…) are
:class:`SafeHelper` objects the sandbox calls without inspecting them, and the context's
:class:`Bag` dicts are read key first (one dict lookup; Jinja's default tries the attribute
first, so ``data.items`` named the dict's method and every key read raised AttributeError).
"""

from __future__ import annotations

import contextvars
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, TemplateRuntimeError, UndefinedError, nodes
from jinja2.environment import Template
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from backend.content.errors import RefusalReason, RenderRefused
from backend.content.live import blocks as live_blocks

_LOOP_CHECK_EVERY = 256
_CHECK_MASK = 15  # time checked every 16 calls
_CHUNKS = 16  # output counted, and time checked, every 16 output chunks


class BudgetExceeded(Exception):
    """The render ran past its time or output budget."""


@dataclass
class Budget:
    deadline: float
    max_chars: int
    used_chars: int = 0
    calls: int = 0
    # Helpers' answers for this message: an e-mail's text part prints what its HTML printed.
    memo: dict[tuple[Any, ...], Any] = field(default_factory=dict)

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


class SafeHelper:
    """A helper of ours (``money``, ``date``, ``coupon``…) placed in the context: the sandbox
    calls it directly, without the checks it makes on arbitrary callables. It must be a pure
    function of its arguments: its answers are reused within one message."""

    __slots__ = ("function",)

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<helper {getattr(self.function, '__name__', '?')}>"


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

    def getattr(self, obj: Any, attribute: str) -> Any:
        # A Bag holds the template's data: its keys come before the dict's methods.
        if type(obj) is Bag:
            try:
                return dict.__getitem__(obj, attribute)
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _BUDGET.get()
        if budget is None:
            return super().call(__context, __obj, *args, **kwargs)
        budget.calls += 1
        if not budget.calls & _CHECK_MASK:
            budget.check_time()
        if type(__obj) is not SafeHelper:
            return super().call(__context, __obj, *args, **kwargs)
        if kwargs:  # Jinja passes a loop's and a block's variables to every call
            kwargs.pop("_loop_vars", None)
            kwargs.pop("_block_vars", None)
            if kwargs:
                return __obj.function(*args, **kwargs)
        for arg in args:
            if type(arg) is MissingValue:  # undefined values all compare equal: never a key
                return __obj.function(*args)
        key = (__obj, *args)
        memo = budget.memo
        try:
            return memo[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable argument
            return __obj.function(*args)
        value = memo[key] = __obj.function(*args)
        if len(memo) > _MEMO_SIZE:
            memo.clear()
        return value

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


_MEMO_SIZE = 4096  # answers kept per message


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
        self._source: Mapping[str, Any] | None = None
        self._scope: dict[str, Any] = {}

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
        limit = budget.max_chars
        try:
            # The template's own generator (``Template.generate`` adds a layer and two copies of
            # the context), read _CHUNKS pieces at a time: their sizes are summed in C.
            chunks = template.root_render_func(
                template.new_context(self._scope_of(template, context), shared=True)
            )
            while batch := list(islice(chunks, _CHUNKS)):
                budget.used_chars += sum(map(len, batch))
                if budget.used_chars > limit:
                    raise BudgetExceeded(f"the output passed {limit} characters")
                budget.check_time()
                parts += batch
        except BudgetExceeded as exc:
            raise RenderRefused(RefusalReason.RENDER_BUDGET, str(exc)) from None
        except RecursionError:
            raise RenderRefused(RefusalReason.RENDER_BUDGET, "the render nested too deep") from None
        except UndefinedError as exc:
            raise RenderRefused(RefusalReason.MISSING_VALUE, exc.message or str(exc)) from None
        except (SecurityError, TemplateRuntimeError, TypeError, ValueError, ArithmeticError) as exc:
            raise RenderRefused(RefusalReason.RENDER_ERROR, str(exc)[:500]) from None
        return "".join(parts)

    def _scope_of(self, template: Template, context: Mapping[str, Any]) -> dict[str, Any]:
        """The globals and the context merged once per message, shared by its fields (a
        template never writes to it: its own assignments go to the context's ``vars``)."""
        if context is not self._source:
            self._scope = {**template.globals, **context}
            self._source = context
        return self._scope


def render_all(
    renderer: Renderer, templates: Mapping[str, Template], context: Mapping[str, Any]
) -> dict[str, str]:
    return {field: renderer.render(t, context) for field, t in templates.items()}


Helper = Callable[..., Any]
