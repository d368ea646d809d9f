"""Success and failure conditions of analysis metrics: small, safe expressions over a measurement.

A condition such as ``result < 0.05``, ``result[0] >= 0.95 and len(result) > 0`` or
``ratio <= 1.2`` is parsed with Python's ``ast`` and evaluated by walking a whitelist of node types, so a
Compose file can never run code: no attribute access, no imports, no calls beyond a few pure functions.
The names available are the measurement's ``result`` (a number, or a list of numbers for multi-series
answers), and in baseline mode ``baseline`` (the stable revision's value) and ``ratio`` (result/baseline).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "abs": abs,
    "min": min,
    "max": max,
    "sum": sum,
    "all": all,
    "any": any,
    "isnan": math.isnan,
    "mean": lambda xs: sum(xs) / len(xs) if xs else math.nan,
}


class ConditionError(ValueError):
    """The condition cannot be parsed, or cannot be evaluated on this measurement."""


@lru_cache(maxsize=256)
def parse(expression: str) -> ast.Expression:
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"invalid condition {expression!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
                raise ConditionError(
                    f"invalid condition {expression!r}: only {', '.join(sorted(_FUNCTIONS))} may be called"
                )
        elif isinstance(node, ast.Attribute | ast.Lambda | ast.NamedExpr | ast.Starred | ast.Await):
            raise ConditionError(f"invalid condition {expression!r}: {type(node).__name__} is not allowed")
    return tree


def validate(expression: str, names: tuple[str, ...] = ("result", "baseline", "ratio")) -> None:
    """Raise ``ConditionError`` unless ``expression`` parses and only uses known names."""
    tree = parse(expression)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in names and node.id not in _FUNCTIONS:
            raise ConditionError(f"invalid condition {expression!r}: unknown name {node.id!r} (use {', '.join(names)})")


def evaluate(expression: str, variables: Mapping[str, Any]) -> bool:
    """Evaluate ``expression`` with ``variables``; the result is a bool."""
    tree = parse(expression)
    try:
        return bool(_eval(tree.body, variables))
    except ConditionError:
        raise
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError) as exc:
        raise ConditionError(f"condition {expression!r} cannot be evaluated on {dict(variables)}: {exc}") from None


def _eval(node: ast.AST, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        if node.id in ("true", "True"):
            return True
        if node.id in ("false", "False"):
            return False
        raise ConditionError(f"unknown name {node.id!r}")
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, env) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, env)
        if isinstance(node.op, ast.Not):
            return not value
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_eval(node.left, env), _eval(node.right, env))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, env)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Subscript):
        return _eval(node.value, env)[_eval(node.slice, env)]
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, env) for e in node.elts]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _FUNCTIONS[node.func.id](*[_eval(a, env) for a in node.args])
    if isinstance(node, ast.IfExp):
        return _eval(node.body, env) if _eval(node.test, env) else _eval(node.orelse, env)
    raise ConditionError(f"{type(node).__name__} is not allowed in a condition")
