"""The jinja2 environment chat templates (code from model files, i.e. from strangers) run in.

jinja2's `ImmutableSandboxedEnvironment` already refuses private/dunder attributes (the
`__globals__` walks), unsafe callables and methods that mutate the caller's data. It does not
bound work or memory, so a template may loop for ever or build a gigabyte string. This module adds
a render budget, checked everywhere a template can spend time or memory:

- a deadline (RENDER_SECONDS) checked on every loop iteration, call, filter, attribute/item
  access and operator: every `{% for %}` iterable is wrapped by a rewrite of the template's AST
  before code generation, so even a loop whose body calls nothing is counted;
- a size limit (MAX_VALUE_CHARS) on every string/list a template builds, checked *before* the
  operation where the result size is known in advance (`*`, `+`, `~`, `join`, `replace`,
  padding methods, `indent`, `expandtabs`, `%`/`format` widths) and after every call otherwise;
- integer arguments over MAX_INT_ARG and big-integer arithmetic over MAX_INT_BITS refused.

A template over budget raises TemplateBudgetError (a jinja2 SecurityError); the renderer turns it
into a ChatTemplateError. Only `render_budget(...)` active in the current thread is consulted, so
one environment may render in several threads at once.
"""
from __future__ import annotations

import contextlib
import functools
import numbers
import re
import threading
import time
from typing import Any, Iterable, Iterator

from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

RENDER_SECONDS = 2.0          # wall time one render may take (real templates take milliseconds)
MAX_VALUE_CHARS = 1 << 20     # characters / items in any one value a template builds
MAX_INT_ARG = 1 << 20         # an integer argument to any call or filter
MAX_INT_BITS = 1 << 16        # bits of an integer built by * or **
MAX_EXPONENT = 1024
# a %-format or str.format width/precision of 7+ digits asks for a megabyte of padding
_HUGE_WIDTH = re.compile(r"\d{7,}")


class TemplateBudgetError(SecurityError):
    """The template went over its time or size budget."""


class _Budget:
    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateBudgetError(f"rendering took longer than {self.seconds:g} s")


_local = threading.local()


def _tick() -> None:
    budget = getattr(_local, "budget", None)
    if budget is not None:
        budget.tick()


@contextlib.contextmanager
def render_budget(seconds: float = RENDER_SECONDS) -> Iterator[None]:
    """Everything rendered inside the block, in this thread, shares one deadline."""
    outer = getattr(_local, "budget", None)
    _local.budget = _Budget(seconds)
    try:
        yield
    finally:
        _local.budget = outer


def _check_size(n: int, what: str) -> None:
    if n > MAX_VALUE_CHARS:
        raise TemplateBudgetError(f"{what} would build {n} items, over the limit {MAX_VALUE_CHARS}")


def _check_result(value: Any, what: str) -> Any:
    if isinstance(value, (str, bytes, list, tuple, dict)):
        _check_size(len(value), what)
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise TemplateBudgetError(f"{what} built a {value.bit_length()}-bit integer, over {MAX_INT_BITS} bits")
    return value


def _check_format_string(s: Any, what: str) -> None:
    if isinstance(s, str) and _HUGE_WIDTH.search(s):
        raise TemplateBudgetError(f"{what}: a format width or precision of 7+ digits is refused")


def _check_args(name: str, args: tuple, kwargs: dict) -> None:
    for v in (*args, *kwargs.values()):
        if isinstance(v, numbers.Integral) and not isinstance(v, bool) and abs(v) > MAX_INT_ARG:
            raise TemplateBudgetError(f"{name}: integer argument {v} is over the limit {MAX_INT_ARG}")


def _joined_size(sep: str, items: Any) -> int:
    if not isinstance(items, (list, tuple)):
        return 0
    return sum(len(x) if isinstance(x, str) else 16 for x in items) + len(sep) * max(len(items) - 1, 0)


def _check_known_growth(name: str, target: Any, args: tuple) -> None:
    """Size checks for operations whose result size is known before they run."""
    if not isinstance(target, str):
        return
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        count = len(target) + 1 if args[0] == "" else target.count(args[0])
        if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
            count = min(count, args[2])
        _check_size(len(target) + count * max(len(args[1]) - len(args[0]), 0), "replace")
    elif name == "join" and args:
        _check_size(_joined_size(target, args[0]), "join")
    elif name == "expandtabs":
        size = args[0] if args and isinstance(args[0], int) else 8
        _check_size(len(target) + target.count("\t") * size, "expandtabs")
    elif name == "indent":
        width = args[0] if args and isinstance(args[0], int) else (len(args[0]) if args and isinstance(args[0], str) else 4)
        _check_size(len(target) + (target.count("\n") + 1) * width, "indent")
    elif name in ("format", "format_map"):
        _check_format_string(target, name)


def _budgeted_filter(name: str, fn):
    """A filter wrapped with the budget; keeps jinja's pass_context/pass_eval_context marks."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        _tick()
        _check_args(f"filter {name}", args, kwargs)
        # the filtered value is the first argument after any context jinja passes
        values = [a for a in args if isinstance(a, str)]
        if name == "join" and args:
            seq = next((a for a in args if isinstance(a, (list, tuple))), None)
            sep = args[-1] if isinstance(args[-1], str) and len(args) >= 2 else ""
            if seq is not None:
                _check_size(_joined_size(sep, seq), "join")
        elif name in ("replace", "indent", "format") and values:
            target_at = next(i for i, a in enumerate(args) if isinstance(a, str))
            _check_known_growth(name, args[target_at], args[target_at + 1:])
        return _check_result(fn(*args, **kwargs), f"filter {name}")
    return run


def _budget_iter(iterable: Iterable) -> Iterator:
    """Every `{% for %}` iterates through this: one deadline check per item."""
    for item in iterable:
        _tick()
        yield item


def _budget_concat(*parts: Any) -> str:
    """`a ~ b ~ c`: sized before joining."""
    _tick()
    texts = [p if isinstance(p, str) else str(p) for p in parts]
    _check_size(sum(map(len, texts)), "~ concatenation")
    return "".join(texts)


class _BudgetCodeGenerator(CodeGenerator):
    """Rewrites the template's AST before code generation: every for-loop iterable goes
    through _budget_iter, every `~` through _budget_concat."""

    def visit_Template(self, node, frame=None):
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Call(nodes.ImportedName(f"{__name__}._budget_iter"), [loop.iter], [], None, None,
                                   lineno=loop.lineno)
        for concat in list(node.find_all(nodes.Concat)):
            call = nodes.Call(nodes.ImportedName(f"{__name__}._budget_concat"), list(concat.nodes), [], None, None,
                              lineno=concat.lineno)
            _replace_node(node, concat, call)
        return super().visit_Template(node, frame)


def _replace_node(root: nodes.Node, old: nodes.Node, new: nodes.Node) -> None:
    for parent in root.find_all(nodes.Node):
        for field, value in parent.iter_fields():
            if value is old:
                setattr(parent, field, new)
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        value[i] = new
                        return


class _BudgetedFilters(dict):
    """env.filters: every filter, including ones added later, runs with the budget."""

    def __setitem__(self, name, fn):
        super().__setitem__(name, _budgeted_filter(name, fn))


class TemplateSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the render budget (see the module docstring)."""
    code_generator_class = _BudgetCodeGenerator
    intercepted_binops = frozenset(["*", "**", "+", "%"])

    def __init__(self, **options):
        super().__init__(**options)
        self.globals.pop("lipsum", None)   # a text generator no chat template needs
        filters = _BudgetedFilters()
        for name, fn in self.filters.items():
            filters[name] = fn
        self.filters = filters

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 — jinja's signature
        _tick()
        name = getattr(__obj, "__name__", type(__obj).__name__)
        _check_args(name, args, kwargs)
        _check_known_growth(name, getattr(__obj, "__self__", None), args)
        return _check_result(super().call(__context, __obj, *args, **kwargs), f"call to {name}")

    def unsafe_undefined(self, obj, attribute):
        """An unsafe attribute (`__globals__`, `_private`, `gi_frame`, ...) is refused outright
        (jinja's default renders it as an empty Undefined and fails only on further use)."""
        raise SecurityError(f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is unsafe")

    def getattr(self, obj, attribute):
        _tick()
        if attribute in ("format", "format_map"):
            _check_format_string(obj, f"str.{attribute}")
        return super().getattr(obj, attribute)

    def getitem(self, obj, argument):
        _tick()
        return super().getitem(obj, argument)

    def call_binop(self, context, operator, left, right):
        _tick()
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, numbers.Integral):
                    _check_size(len(seq) * int(n), "repetition")
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise TemplateBudgetError(f"integer product over {MAX_INT_BITS} bits")
        elif operator == "**" and isinstance(right, numbers.Real):
            if abs(right) > MAX_EXPONENT:
                raise TemplateBudgetError(f"exponent {right} is over the limit {MAX_EXPONENT}")
            if isinstance(left, int) and isinstance(right, int) and left.bit_length() * abs(right) > MAX_INT_BITS:
                raise TemplateBudgetError(f"power over {MAX_INT_BITS} bits")
        elif operator == "+":
            if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
                _check_size(len(left) + len(right), "+ concatenation")
        elif operator == "%":
            _check_format_string(left, "% formatting")
            _check_args("% formatting", right if isinstance(right, tuple) else (right,), {})
        return _check_result(super().call_binop(context, operator, left, right), f"operator {operator}")
