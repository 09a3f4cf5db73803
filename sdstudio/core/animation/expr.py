"""A small safe expression language for Deforum schedules (numexpr's syntax), parsed by hand, never `eval`.

Numbers, the variables the caller gives (`t`, `max_f`, `s`), `pi` and `e`, the operators
`+ - * / % ** < <= > >= == != & | ~` and numexpr's functions (`sin`, `where`, `arctan2`, ...).
Expressions evaluate on numpy arrays, so a whole run of frames is computed at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


class ExpressionError(ValueError):
    """A malformed or unevaluable expression; the message says what and where (0-based column)."""


_FUNCTIONS: dict[str, tuple[int, Callable[..., np.ndarray]]] = {
    "sin": (1, np.sin),
    "cos": (1, np.cos),
    "tan": (1, np.tan),
    "arcsin": (1, np.arcsin),
    "arccos": (1, np.arccos),
    "arctan": (1, np.arctan),
    "arctan2": (2, np.arctan2),
    "sinh": (1, np.sinh),
    "cosh": (1, np.cosh),
    "tanh": (1, np.tanh),
    "arcsinh": (1, np.arcsinh),
    "arccosh": (1, np.arccosh),
    "arctanh": (1, np.arctanh),
    "log": (1, np.log),
    "log10": (1, np.log10),
    "log1p": (1, np.log1p),
    "exp": (1, np.exp),
    "expm1": (1, np.expm1),
    "sqrt": (1, np.sqrt),
    "abs": (1, np.abs),
    "floor": (1, np.floor),
    "ceil": (1, np.ceil),
    "round": (1, np.round),
    "fmod": (2, np.fmod),
    "min": (2, np.minimum),
    "max": (2, np.maximum),
    "where": (3, lambda c, a, b: np.asarray(np.where(c != 0, a, b))),
}
_CONSTANTS = {"pi": np.pi, "e": np.e}

_TOKEN = re.compile(
    r"(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<op>\*\*|<=|>=|==|!=|[-+*/%()<>&|~,]))"
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # num, name, op, end
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ExpressionError(f"unexpected character {text[pos]!r} at column {pos}")
        kind = m.lastgroup or "op"
        tokens.append(_Tok(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


# A parsed expression is a tree of tuples: ("num", v) ("var", name) ("un", op, x) ("bin", op, a, b) ("call", f, args)
Node = tuple

_BINARY = {  # operator: (left binding power, right binding power)
    "|": (1, 2),
    "&": (3, 4),
    "<": (5, 6),
    "<=": (5, 6),
    ">": (5, 6),
    ">=": (5, 6),
    "==": (5, 6),
    "!=": (5, 6),
    "+": (7, 8),
    "-": (7, 8),
    "*": (9, 10),
    "/": (9, 10),
    "%": (9, 10),
    "**": (14, 13),  # right-associative, binds tighter than unary minus on its left
}
_UNARY_POWER = 11


class _Parser:
    def __init__(self, text: str, variables: frozenset[str]):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.variables = variables

    def peek(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            found = "the end" if tok.kind == "end" else repr(tok.text)
            raise ExpressionError(f"expected {text!r} at column {tok.pos}, found {found}")

    def parse(self) -> Node:
        node = self.expression(0)
        tok = self.peek()
        if tok.kind != "end":
            raise ExpressionError(f"unexpected {tok.text!r} at column {tok.pos}")
        return node

    def expression(self, min_power: int) -> Node:
        left = self.prefix()
        while True:
            tok = self.peek()
            if tok.kind != "op" or tok.text not in _BINARY:
                return left
            lbp, rbp = _BINARY[tok.text]
            if lbp < min_power:
                return left
            self.take()
            left = ("bin", tok.text, left, self.expression(rbp))

    def prefix(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            return ("num", float(tok.text))
        if tok.kind == "op" and tok.text in ("-", "+", "~"):
            return ("un", tok.text, self.expression(_UNARY_POWER))
        if tok.kind == "op" and tok.text == "(":
            node = self.expression(0)
            self.expect(")")
            return node
        if tok.kind == "name":
            return self.name(tok)
        found = "the end" if tok.kind == "end" else repr(tok.text)
        raise ExpressionError(f"expected a number, name or '(' at column {tok.pos}, found {found}")

    def name(self, tok: _Tok) -> Node:
        if self.peek().text == "(":
            if tok.text not in _FUNCTIONS:
                raise ExpressionError(f"unknown function {tok.text!r} at column {tok.pos}")
            self.take()
            args: list[Node] = []
            if self.peek().text != ")":
                args.append(self.expression(0))
                while self.peek().text == ",":
                    self.take()
                    args.append(self.expression(0))
            self.expect(")")
            arity = _FUNCTIONS[tok.text][0]
            if len(args) != arity:
                raise ExpressionError(f"{tok.text}() takes {arity} argument(s), got {len(args)}")
            return ("call", tok.text, tuple(args))
        if tok.text in self.variables:
            return ("var", tok.text)
        if tok.text in _CONSTANTS:
            return ("num", float(_CONSTANTS[tok.text]))
        known = ", ".join(sorted(self.variables | set(_CONSTANTS)))
        raise ExpressionError(f"unknown name {tok.text!r} at column {tok.pos} (known: {known})")


@dataclass(frozen=True)
class Expression:
    """A parsed expression; `evaluate` gives a float array shaped like the broadcast variables."""

    text: str
    tree: Node

    def evaluate(self, **variables: np.ndarray | float) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.asarray(_eval(self.tree, variables), dtype=np.float64)

    @property
    def constant(self) -> bool:
        return not _uses_variables(self.tree)


def parse(text: str, variables: tuple[str, ...] = ("t", "max_f", "s")) -> Expression:
    """Parse `text`; raises ExpressionError naming the problem and its column."""
    if not text.strip():
        raise ExpressionError("empty expression")
    return Expression(text, _Parser(text, frozenset(variables)).parse())


def _uses_variables(node: Node) -> bool:
    kind = node[0]
    if kind == "var":
        return True
    if kind == "un":
        return _uses_variables(node[2])
    if kind == "bin":
        return _uses_variables(node[2]) or _uses_variables(node[3])
    if kind == "call":
        return any(_uses_variables(a) for a in node[2])
    return False


def _eval(node: Node, env: dict[str, np.ndarray | float]) -> np.ndarray | float:
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "var":
        return np.asarray(env[node[1]], dtype=np.float64)
    if kind == "un":
        x = _eval(node[2], env)
        if node[1] == "-":
            return -np.asarray(x)
        if node[1] == "~":
            return (np.asarray(x) == 0).astype(np.float64)
        return x
    if kind == "bin":
        return _binary(node[1], _eval(node[2], env), _eval(node[3], env))
    fn = _FUNCTIONS[node[1]][1]
    return fn(*(np.asarray(_eval(a, env), dtype=np.float64) for a in node[2]))


def _binary(op: str, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if op == "/":
        return x / y
    if op == "%":
        return np.mod(x, y)
    if op == "**":
        return np.power(x, y)
    if op == "&":
        return ((x != 0) & (y != 0)).astype(np.float64)
    if op == "|":
        return ((x != 0) | (y != 0)).astype(np.float64)
    compare = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
    compare |= {"==": np.equal, "!=": np.not_equal}
    return compare[op](x, y).astype(np.float64)
