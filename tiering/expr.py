"""A small, safe expression language for rules and triggers.

Expressions such as ``monetary >= 10000 and frequency >= 5`` or
``recency_days > 2 * median_gap and tier == "A"`` are parsed with :mod:`ast` and
evaluated column-wise over a DataFrame. Only these are allowed:

- names of columns (or of extra scalar values passed in), numbers, strings, booleans;
- arithmetic ``+ - * / // %`` and unary ``-``/``+``;
- comparisons ``< <= > >= == !=`` (chains like ``1 <= x < 5`` too) and
  ``in`` / ``not in`` with a list of constants;
- ``and``, ``or``, ``not`` and parentheses.

Anything else — attribute access, calls, subscripts, lambdas, comprehensions,
``__import__`` — is refused with a :class:`ExpressionError` before anything is
evaluated. Nothing is ever passed to ``eval`` or ``exec``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tiering.errors import TieringError, closest

MAX_LENGTH = 500


class ExpressionError(TieringError):
    """An expression is not valid in the rule language."""


_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_CMPOPS = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_ALLOWED_TEXT = (
    "comparisons (< <= > >= == !=, in), and/or/not, arithmetic (+ - * / // %) "
    "on column names, numbers and quoted text"
)


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its text, tree and the names it uses."""

    text: str
    tree: ast.Expression
    names: frozenset[str]

    def evaluate(self, frame: pd.DataFrame, *, values: Mapping[str, object] | None = None):
        """Evaluate over ``frame``; returns a Series (or a scalar for constant expressions)."""
        return _Evaluator(frame, dict(values or {}), self.text).visit(self.tree.body)

    def mask(self, frame: pd.DataFrame, *, values: Mapping[str, object] | None = None) -> pd.Series:
        """Evaluate as a condition: a boolean Series aligned with ``frame`` (missing → False)."""
        out = self.evaluate(frame, values=values)
        if np.isscalar(out) or isinstance(out, bool | np.bool_):
            out = pd.Series(bool(out), index=frame.index)
        out = pd.Series(out, index=frame.index)
        if out.dtype != bool:
            if not (pd.api.types.is_bool_dtype(out) or out.dropna().isin([True, False]).all()):
                raise ExpressionError(
                    f"The expression {self.text!r} is not a condition",
                    hint="compare values, e.g. monetary >= 1000",
                )
            out = out.fillna(False).astype(bool)
        return out


def parse(text: str, *, allowed_names: Iterable[str], where: str | None = None) -> Expression:
    """Parse and check an expression. ``allowed_names`` are the names it may use."""
    allowed = set(allowed_names)
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(
            "An expression is empty", where=where, hint="write a condition such as monetary >= 1000"
        )
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"An expression is {len(text)} characters long (limit {MAX_LENGTH})",
            where=where,
            hint="split it into simpler rules",
        )
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(
            f"Cannot read the expression {text!r}: {exc.msg}",
            where=where,
            hint=f"use only {_ALLOWED_TEXT}",
        ) from None
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id not in allowed:
                hint = closest(node.id, allowed)
                raise ExpressionError(
                    f"Unknown name {node.id!r} in {text!r}",
                    where=where,
                    hint=(f"did you mean {hint!r}? " if hint else "")
                    + f"available: {', '.join(sorted(allowed))}",
                )
            names.add(node.id)
        elif not isinstance(node, _ALLOWED_NODES):
            raise ExpressionError(
                f"{_describe(node)} is not allowed in {text!r}",
                where=where,
                hint=f"rules may use only {_ALLOWED_TEXT}",
            )
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float | str | bool):
            raise ExpressionError(
                f"The constant {node.value!r} is not allowed in {text!r}",
                where=where,
                hint="use numbers, quoted text, True or False",
            )
        if isinstance(node, ast.Compare):
            for op, right in zip(node.ops, node.comparators):
                if isinstance(op, ast.In | ast.NotIn) and not _constant_list(right):
                    raise ExpressionError(
                        f"'in' needs a list of constants in {text!r}",
                        where=where,
                        hint='e.g. region in ["North", "East"]',
                    )
    return Expression(text=text.strip(), tree=tree, names=frozenset(names))


def _constant_list(node) -> bool:
    return isinstance(node, ast.List | ast.Tuple) and all(
        isinstance(e, ast.Constant) for e in node.elts
    )


def _describe(node) -> str:
    kinds = {
        ast.Call: "A function call",
        ast.Attribute: "Attribute access (a.b)",
        ast.Subscript: "Indexing (a[b])",
        ast.Lambda: "lambda",
        ast.NamedExpr: "The := operator",
        ast.IfExp: "if/else",
        ast.Starred: "*",
        ast.Dict: "A dict",
        ast.Set: "A set",
        ast.JoinedStr: "An f-string",
        ast.Await: "await",
        ast.Pow: "The ** operator",
        ast.BitAnd: "The & operator (use 'and')",
        ast.BitOr: "The | operator (use 'or')",
    }
    for kind, text in kinds.items():
        if isinstance(node, kind):
            return text
    return f"The construct {type(node).__name__!r}"


_ALLOWED_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    *_BINOPS,
    ast.Compare,
    *_CMPOPS,
    ast.In,
    ast.NotIn,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.List,
    ast.Tuple,
)


class _Evaluator:
    def __init__(self, frame: pd.DataFrame, values: dict, text: str):
        self.frame, self.values, self.text = frame, values, text

    def visit(self, node):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.values:
                return self.values[node.id]
            return self.frame[node.id]
        if isinstance(node, ast.List | ast.Tuple):
            return [self.visit(e) for e in node.elts]
        if isinstance(node, ast.UnaryOp):
            v = self.visit(node.operand)
            if isinstance(node.op, ast.Not):
                return ~_as_bool(v) if isinstance(v, pd.Series) else (not v)
            return -v if isinstance(node.op, ast.USub) else +v
        if isinstance(node, ast.BinOp):
            left, right = self.visit(node.left), self.visit(node.right)
            try:
                with np.errstate(divide="ignore", invalid="ignore"):
                    return _BINOPS[type(node.op)](left, right)
            except (TypeError, ZeroDivisionError) as exc:
                raise ExpressionError(
                    f"Cannot compute {self.text!r}: {exc}",
                    hint="arithmetic works on numeric columns",
                ) from None
        if isinstance(node, ast.BoolOp):
            parts = [_as_bool(self.visit(v)) for v in node.values]
            out = parts[0]
            for p in parts[1:]:
                out = (out & p) if isinstance(node.op, ast.And) else (out | p)
            return out
        if isinstance(node, ast.Compare):
            left = self.visit(node.left)
            result = None
            for op, comp in zip(node.ops, node.comparators):
                right = self.visit(comp)
                try:
                    if isinstance(op, ast.In | ast.NotIn):
                        part = left.isin(right) if isinstance(left, pd.Series) else left in right
                        if isinstance(op, ast.NotIn):
                            part = ~part if isinstance(part, pd.Series) else not part
                    else:
                        part = _CMPOPS[type(op)](left, right)
                except TypeError as exc:
                    raise ExpressionError(
                        f"Cannot compare in {self.text!r}: {exc}",
                        hint="compare numbers with numbers and text with quoted text",
                    ) from None
                result = part if result is None else (_as_bool(result) & _as_bool(part))
                left = right
            return result
        raise ExpressionError(
            f"{_describe(node)} is not allowed in {self.text!r}"
        )  # pragma: no cover


def _as_bool(v):
    if isinstance(v, pd.Series):
        return v.fillna(False).astype(bool) if v.dtype != bool else v
    return bool(v)
