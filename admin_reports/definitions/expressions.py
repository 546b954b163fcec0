"""
Expressions in report definitions: a small, whitelisted subset of Python syntax
compiled to Django expressions. Nothing is ever evaluated.

    parsed = parse_expression(
        "sum(quantity * unit_price, filter=order.status == 'paid')",
        resolve=lambda path: resolve_path(OrderLine, path),
    )
    parsed.expression  # Sum(F(quantity) * F(unit_price), filter=Q(Exact(F(order__status), ...)))
    parsed.aggregate  # True

Allowed: field paths (`order.customer.name`, join aliases first), literals
(numbers, strings, True, False, None), `+ - * / %`, comparisons
(`== != < <= > >= in, not in, is None, is not None`), `and or not`,
`a if condition else b`, and calls of the functions and aggregates in
`functions.function_table()`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NoReturn

from django.db.models import BooleanField, ExpressionWrapper, F, Q, Value, When
from django.db.models import lookups as L

from .functions import ArgumentError, FunctionSpec, choice_label, function_table
from .paths import PathError, ResolvedPath, did_you_mean
from .problems import ERROR_CHARS, DefinitionError, cut, shown
from .runvalues import RANGE, RunValue, as_local_date, temporal
from .types import Arithmetic, UnifiedCase, decimal_value
from .windows import RANKINGS, WindowCall, descending, has_window, ranking

WINDOW_AGGREGATES = ("sum", "count", "avg", "min", "max")

MAX_LENGTH = 2000
MAX_DEPTH = 40
MAX_INT = 2**63 - 1

ALLOWED = (
    "field paths, literals, + - * / %, comparisons, and, or, not,"
    " 'a if condition else b', and function calls"
)

# Django's connectors (its MOD is "%%"); the types are decided when resolved (types.Arithmetic,
# "Numbers" in docs/definitions.md).
ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%%"}

COMPARISONS = {
    ast.Eq: L.Exact,
    ast.Lt: L.LessThan,
    ast.LtE: L.LessThanOrEqual,
    ast.Gt: L.GreaterThan,
    ast.GtE: L.GreaterThanOrEqual,
}

CONSTRUCTS = {
    ast.Lambda: "a lambda",
    ast.Subscript: "subscripts",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.JoinedStr: "an f-string",
    ast.NamedExpr: "an assignment expression",
    ast.Starred: "a starred argument",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


class ExpressionError(DefinitionError):
    """An invalid expression; `offset` says where in its text."""

    def __init__(self, id: str, message: str, offset: int = 0, hint: str | None = None):
        super().__init__(id, message, hint, offset)


@dataclass(frozen=True)
class Node:
    """A compiled part of an expression."""

    expression: Any
    condition: bool = False  # a Q object, usable as a filter
    aggregate: bool = False
    path: ResolvedPath | None = None  # set when the node is a bare field path


@dataclass(frozen=True)
class ParsedExpression:
    expression: Any
    condition: bool
    aggregate: bool
    is_path: bool
    paths: tuple[ResolvedPath, ...] = field(default=())


def parse_expression(
    text: Any,
    resolve: Callable[[str], ResolvedPath],
    *,
    allow_aggregates: bool = True,
    functions: dict[str, FunctionSpec] | None = None,
    columns: Mapping[str, ParsedExpression] | None = None,
    later: Collection[str] = (),
) -> ParsedExpression:
    """Compile `text`, or raise ExpressionError; never anything else."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ExpressionError("E002", f"must be an expression (a string), not {shown(text)}.")
    text = str(text)
    if len(text) > MAX_LENGTH:
        raise ExpressionError("E011", f"is longer than {MAX_LENGTH} characters.")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        # Python gives offset 0 when it only knows the text ended too early.
        offset = (exc.offset - 1 if exc.offset else len(text)) if exc.lineno == 1 else 0
        message = f"is not a valid expression: {cut(str(exc.msg), ERROR_CHARS)}."
        raise ExpressionError("E011", message, offset) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        message = f"is not a valid expression: {cut(str(exc), ERROR_CHARS)}."
        raise ExpressionError("E011", message) from None
    compiler = _Compiler(resolve, functions or function_table(), allow_aggregates)
    compiler.columns, compiler.later = columns or {}, later
    try:
        node = compiler.visit(tree.body)
    except RecursionError:
        raise ExpressionError("E011", "is nested too deeply.") from None
    return ParsedExpression(
        node.expression,
        node.condition,
        node.aggregate,
        node.path is not None,
        tuple(compiler.paths),
    )


def _fail(node: ast.AST, id: str, message: str, hint: str | None = None) -> NoReturn:
    raise ExpressionError(id, message, getattr(node, "col_offset", 0), hint)


class _Compiler:
    def __init__(self, resolve, functions, allow_aggregates: bool) -> None:
        self.resolve = resolve
        self.functions = functions
        self.allow_aggregates = allow_aggregates
        self.paths: list[ResolvedPath] = []
        self.depth = 0
        self.in_aggregate = False
        self.columns: Mapping[str, ParsedExpression] = {}
        self.later: Collection[str] = ()

    def visit(self, node: ast.AST) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            _fail(node, "E011", "is nested too deeply.")
        try:
            method = getattr(self, f"visit_{type(node).__name__}", None)
            if method is None:
                construct = CONSTRUCTS.get(type(node), type(node).__name__)
                _fail(
                    node,
                    "E012",
                    f"uses {construct}, which is not allowed.",
                    f"Allowed: {ALLOWED}.",
                )
            return method(node)
        finally:
            self.depth -= 1

    # Values ---------------------------------------------------------------

    def visit_Constant(self, node: ast.Constant) -> Node:
        value = node.value
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return Node(Value(value))
        if isinstance(value, int):
            if abs(value) > MAX_INT:
                _fail(node, "E026", f"uses the number {shown(value)}, which is too large.")
            return Node(Value(value))
        if isinstance(value, float):
            # Decimal, not float: mixing with DecimalFields must stay exact.
            decimal = Decimal(repr(value))
            if not decimal.is_finite():
                _fail(node, "E026", f"uses the number {shown(value)}, which is not finite.")
            return Node(decimal_value(decimal))
        _fail(node, "E012", f"uses the literal {shown(value)}, which is not allowed.")

    def visit_Name(self, node: ast.Name) -> Node:
        return self._path(node, node.id)

    def visit_Attribute(self, node: ast.Attribute) -> Node:
        parts = [node.attr]
        base = node.value
        while isinstance(base, ast.Attribute):
            parts.append(base.attr)
            base = base.value
        if not isinstance(base, ast.Name):
            _fail(node, "E012", "uses an attribute of something that is not a field path.")
        parts.append(base.id)
        path = ".".join(reversed(parts))
        if path in RANGE:  # the run's dates, not a field: see runvalues
            return Node(RunValue(path))
        return self._path(node, path)

    def _path(self, node: ast.AST, path: str) -> Node:
        try:
            resolved = self.resolve(path)
        except PathError as exc:
            if path in self.columns or path in self.later:
                return self._column(node, path)
            offset = getattr(node, "col_offset", 0)
            raise ExpressionError(exc.id, exc.message, offset, exc.hint) from None
        self.paths.append(resolved)
        return Node(F(resolved.lookup), path=resolved)

    def _column(self, node: ast.AST, name: str) -> Node:
        """Another column of the report, by name: its expression, as if written here."""
        column = self.columns.get(name)
        if column is None:
            _fail(
                node,
                "E066",
                f"refers to the column {shown(name)}, which is not defined before it.",
                "A column may use the columns above it: move this one below it.",
            )
        if column.aggregate and (self.in_aggregate or not self.allow_aggregates):
            where = "inside an aggregate" if self.in_aggregate else "here"
            _fail(node, "E025", f"uses the aggregate column {shown(name)} {where}.")
        self.paths.extend(column.paths)
        return Node(column.expression, column.condition, column.aggregate)

    def visit_BinOp(self, node: ast.BinOp) -> Node:
        connector = ARITHMETIC.get(type(node.op))
        if connector is None:
            _fail(node, "E012", f"uses the operator {_op_text(node.op)}, which is not allowed.")
        left, right = self._value(node.left), self._value(node.right)
        return Node(
            Arithmetic(left.expression, connector, right.expression),
            aggregate=left.aggregate or right.aggregate,
        )

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Node:
        if isinstance(node.op, ast.Not):
            operand = self._condition(node.operand)
            return Node(~operand.expression, condition=True, aggregate=operand.aggregate)
        if isinstance(node.op, ast.UAdd | ast.USub):
            operand = self._value(node.operand)
            if isinstance(node.op, ast.UAdd):
                return operand
            if isinstance(operand.expression, Value) and not isinstance(
                operand.expression.value, str | bool | type(None)
            ):
                value = -operand.expression.value
                return Node(decimal_value(value) if isinstance(value, Decimal) else Value(value))
            negated = Arithmetic(operand.expression, "*", Value(-1))
            return Node(negated, aggregate=operand.aggregate)
        _fail(node, "E012", "uses the operator ~, which is not allowed.")

    def visit_IfExp(self, node: ast.IfExp) -> Node:
        test = self._condition(node.test)
        body, orelse = self._value(node.body), self._value(node.orelse)
        return Node(
            UnifiedCase(When(test.expression, then=body.expression), default=orelse.expression),
            aggregate=test.aggregate or body.aggregate or orelse.aggregate,
        )

    # Conditions -----------------------------------------------------------

    def visit_BoolOp(self, node: ast.BoolOp) -> Node:
        operands = [self._condition(value) for value in node.values]
        combined = operands[0].expression
        for operand in operands[1:]:
            if isinstance(node.op, ast.And):
                combined = combined & operand.expression
            else:
                combined = combined | operand.expression
        return Node(combined, condition=True, aggregate=any(o.aggregate for o in operands))

    def visit_Compare(self, node: ast.Compare) -> Node:
        left = self._value(node.left)
        conditions, aggregate = [], left.aggregate
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            condition, right = self._comparison(node, left, op, comparator)
            conditions.append(condition)
            aggregate = aggregate or right.aggregate
            left = right
        combined = conditions[0]
        for condition in conditions[1:]:
            combined &= condition
        return Node(combined, condition=True, aggregate=aggregate)

    def _comparison(self, node, left: Node, op: ast.cmpop, comparator: ast.AST):
        if isinstance(op, ast.In | ast.NotIn):
            values = self._literal_list(comparator)
            condition = Q(L.In(left.expression, values))
            return (~condition if isinstance(op, ast.NotIn) else condition), Node(Value(None))
        if isinstance(op, ast.Is | ast.IsNot):
            if not (isinstance(comparator, ast.Constant) and comparator.value is None):
                _fail(comparator, "E012", "uses 'is' with something other than None.")
            return Q(L.IsNull(left.expression, isinstance(op, ast.Is))), Node(Value(None))
        right = self._value(comparator)
        lhs, rhs = self._dates(left.expression, right.expression)
        if isinstance(op, ast.NotEq):
            return ~Q(L.Exact(lhs, rhs)), right
        return Q(COMPARISONS[type(op)](lhs, rhs)), right

    def _dates(self, left: Any, right: Any) -> tuple[Any, Any]:
        """A datetime compared with a date is compared by its date in the report's time
        zone (Django would compare it with the date's UTC midnight, with a warning)."""
        fields = {path.lookup: path.field for path in self.paths}
        kinds = temporal(left, fields), temporal(right, fields)
        if kinds == ("datetime", "date"):
            return as_local_date(left), right
        if kinds == ("date", "datetime"):
            return left, as_local_date(right)
        return left, right

    def _literal_list(self, node: ast.AST) -> list[Any]:
        if not isinstance(node, ast.List | ast.Tuple | ast.Set):
            _fail(node, "E012", "uses 'in' with something other than a list of literals.")
        values = []
        for item in node.elts:
            value = self.visit(item).expression
            if not isinstance(value, Value):
                _fail(item, "E012", "uses 'in' with something other than a list of literals.")
            values.append(value.value)
        if not values:
            _fail(node, "E012", "uses 'in' with an empty list.")
        return values

    # Calls ----------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name):
            _fail(node, "E012", "calls something that is not a function name.")
        name = node.func.id
        spec = self.functions.get(name)
        if spec is None:
            _fail(
                node,
                "E013",
                f"calls {shown(name)}, which is not a known function or aggregate."
                + did_you_mean(name, self.functions),
                f"Known: {', '.join(sorted(self.functions))}.",
            )
        if spec.aggregate:
            return self._aggregate_call(node, name, spec)
        if spec.build is choice_label:
            return self._label(node, spec)
        if name in RANKINGS and spec.build is RANKINGS[name]:
            return self._ranking(node, name, spec)
        args, keywords = self._arguments(node, name, spec)
        return Node(
            self._build(node, name, spec, args, keywords),
            aggregate=any(a.aggregate for a in args),
        )

    def _aggregate_call(self, node: ast.Call, name: str, spec: FunctionSpec) -> Node:
        if not self.allow_aggregates:
            _fail(node, "E025", f"uses the aggregate {name!r}, which is not allowed here.")
        if self.in_aggregate:
            _fail(node, "E025", f"uses the aggregate {name!r} inside another aggregate.")
        over = next((k for k in node.keywords if k.arg == "over"), None)
        if over is not None:
            return self._window_aggregate(node, name, spec, over)
        self.in_aggregate = True
        try:
            args, keywords = self._arguments(node, name, spec)
        finally:
            self.in_aggregate = False
        return Node(self._build(node, name, spec, args, keywords), aggregate=True)

    # Windows ----------------------------------------------------------------

    def _window_aggregate(self, node: ast.Call, name: str, spec: FunctionSpec, over) -> Node:
        """`sum(x, over=[key])`: finished by the validation (windows.WindowCall)."""
        if name not in WINDOW_AGGREGATES:
            _fail(
                node,
                "E070",
                f"calls {name!r} with over=, which it does not take.",
                f"Aggregates that take over=: {', '.join(WINDOW_AGGREGATES)}.",
            )
        partition = self._partition(over.value)
        plain = ast.Call(node.func, node.args, [k for k in node.keywords if k is not over])
        ast.copy_location(plain, node)
        # Its argument may be an aggregate (a grouped column's value: sum(revenue, over=True)).
        args, keywords = self._arguments(plain, name, spec)
        if any(has_window(arg.expression) for arg in args):
            _fail(node, "E071", f"uses a window inside the window {name!r}.")
        arguments = [arg.expression for arg in args]
        options = {key: value.expression for key, value in keywords.items()}
        if any(arg.aggregate for arg in args) and options:
            _fail(node, "E070", f"calls {name!r} of an aggregate with filter= or default=.")
        self._try_build(node, name, spec, arguments, options)
        window = WindowCall(name, spec.build, arguments, options, partition)
        return Node(window, aggregate=any(arg.aggregate for arg in args))

    def _ranking(self, node: ast.Call, name: str, spec: FunctionSpec) -> Node:
        """`rank(order_by=-revenue, over=[genre])`: a ranking window."""
        if not self.allow_aggregates or self.in_aggregate:
            where = "inside an aggregate" if self.in_aggregate else "here"
            _fail(node, "E070", f"uses the window {name!r} {where}, which is not allowed.")
        if node.args:
            _fail(node, "E014", f"calls {name!r} with arguments; usage: {spec.usage}.")
        found = {k.arg: k.value for k in node.keywords}
        unknown = [key for key in found if key not in ("order_by", "over")]
        if unknown or "order_by" not in found:
            _fail(node, "E014", f"calls {name!r} wrongly; usage: {spec.usage}.")
        order = self._order(found["order_by"])
        partition = self._partition(found["over"]) if "over" in found else []
        return Node(ranking(name, order, partition), aggregate=False)

    def _terms(self, node: ast.AST) -> list[ast.AST]:
        return list(node.elts) if isinstance(node, ast.List | ast.Tuple) else [node]

    def _partition(self, node: ast.AST) -> list[Any]:
        """over=True (the whole result) or over=[key, ...]."""
        if isinstance(node, ast.Constant) and node.value is True:
            return []
        if not isinstance(node, ast.List | ast.Tuple) or not node.elts:
            _fail(node, "E070", "uses over= with something other than True or a list of keys.")
        keys = []
        for term in node.elts:
            key = self._value(term)
            if key.aggregate or has_window(key.expression):
                _fail(term, "E070", "uses over= with an aggregate; over= takes grouping keys.")
            keys.append(key.expression)
        return keys

    def _order(self, node: ast.AST) -> list[Any]:
        order = []
        for term in self._terms(node):
            down = isinstance(term, ast.UnaryOp) and isinstance(term.op, ast.USub)
            value = self._value(term.operand if down else term)  # type: ignore[attr-defined]
            if has_window(value.expression):
                _fail(term, "E071", "orders a window by a window.")
            order.append(descending(value.expression) if down else value.expression.asc())
        return order

    def _label(self, node: ast.Call, spec: FunctionSpec) -> Node:
        """label(field): the display label of a choice field's value (get_FOO_display)."""
        self._arguments(node, "label", spec)  # the number of arguments, the keywords
        value = self.visit(node.args[0])
        choices = getattr(value.path.field, "flatchoices", None) if value.path else None
        if not choices:
            _fail(
                node,
                "E072",
                "calls 'label' with something other than a field with choices.",
                "label() takes a path to a field with choices, e.g. label(order.status).",
            )
        return Node(choice_label(value.expression, choices), aggregate=value.aggregate)

    def _arguments(self, node: ast.Call, name: str, spec: FunctionSpec):
        count = len(node.args)
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            _fail(node, "E014", f"calls {name!r} with {count} argument(s); usage: {spec.usage}.")
        literal_args = spec.literal_args or {}
        args = []
        for position, arg in enumerate(node.args):
            if position in literal_args:
                args.append(self._literal_arg(arg, name, spec, literal_args[position]))
            else:
                args.append(self._value(arg))
        keywords = {}
        for keyword in node.keywords:
            if keyword.arg not in spec.keywords:
                _fail(
                    keyword.value,
                    "E014",
                    f"calls {name!r} with the keyword {shown(keyword.arg)}; usage: {spec.usage}.",
                )
            if keyword.arg == "filter":
                keywords["filter"] = self._condition(keyword.value)
            else:
                keywords[keyword.arg] = self._literal_arg(keyword.value, name, spec, None)
        return args, keywords

    def _literal_arg(self, node, name, spec, choices) -> Node:
        value = self.visit(node)
        if not isinstance(value.expression, Value):
            _fail(
                node, "E014", f"calls {name!r} with a non-literal argument; usage: {spec.usage}."
            )
        if choices is not None and value.expression.value not in choices:
            _fail(
                node,
                "E014",
                f"calls {name!r} with {shown(value.expression.value)}; choose one of: "
                + ", ".join(repr(choice) for choice in choices)
                + "."
                + did_you_mean(str(value.expression.value), choices),
            )
        return value

    def _build(self, node, name, spec, args: list[Node], keywords: dict[str, Node]):
        values = [arg.expression for arg in args]
        options = {key: value.expression for key, value in keywords.items()}
        return self._try_build(node, name, spec, values, options)

    def _try_build(self, node, name, spec, values: list[Any], options: dict[str, Any]):
        try:
            return spec.build(*values, **options)
        except (ArgumentError, TypeError, ValueError) as exc:
            _fail(
                node,
                "E014",
                f"calls {name!r} wrongly: {cut(str(exc), ERROR_CHARS)}; usage: {spec.usage}.",
            )

    # Helpers --------------------------------------------------------------

    def _value(self, node: ast.AST) -> Node:
        result = self.visit(node)
        if result.condition:
            wrapped = ExpressionWrapper(result.expression, output_field=BooleanField())
            return Node(wrapped, aggregate=result.aggregate)
        return result

    def _condition(self, node: ast.AST) -> Node:
        result = self.visit(node)
        if result.condition:
            return result
        if result.path is not None and isinstance(result.path.field, BooleanField):
            return Node(Q(L.Exact(result.expression, True)), condition=True)
        _fail(
            node, "E012", "uses a value where a condition (a comparison, and, or, not) is needed."
        )


def _op_text(op: ast.operator) -> str:
    return {
        ast.Pow: "**",
        ast.FloorDiv: "//",
        ast.MatMult: "@",
        ast.LShift: "<<",
        ast.RShift: ">>",
        ast.BitOr: "|",
        ast.BitAnd: "&",
        ast.BitXor: "^",
    }.get(type(op), type(op).__name__)
