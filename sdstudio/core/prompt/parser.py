"""A1111 prompt syntax: attention weights, BREAK, prompt editing, LoRA tags and inline negatives."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SYNTAX_HELP = """Prompt syntax (as in A1111):
(word) x1.1, ((word)) x1.21, (word:1.3) any weight, [word] /1.1; \\( \\) \\[ \\] for literal brackets
BREAK starts a new 75-token chunk; long prompts are split into chunks automatically
[from:to:when] switches text at a step (when < 1: fraction of the steps), [add:when], [remove::when], [a|b] alternates
<lora:name:weight> applies a LoRA or LyCORIS (<lora:name:te:unet> sets text encoder and UNet apart; <lyco:...> too)
(-bad hands -unnatural hands) moves those terms to the negative prompt
an embedding's file name (EasyNegative, badhandv4) uses that textual-inversion embedding
{image} uses the attached reference; {image:NAME_OR_PATH:0.8:pose} names one (kinds: canny, lineart, scribble, depth, pose, reference, style, composition)"""

BREAK: tuple[str, float] = ("BREAK", -1.0)
ROUND = 1.1
SQUARE = 1 / 1.1

_RE_ATTENTION = re.compile(
    r"""
    \\\( | \\\) | \\\[ | \\\] | \\\\ | \\ |   # escapes, and a lone backslash
    \( | \[ |
    :\s*([+-]?[.\d]+)\s*\) |                  # weight that closes a round group
    \) | \] |
    [^\\()\[\]:]+ |
    :
    """,
    re.X,
)
_RE_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)
_RE_LORA = re.compile(r"<(?:lora|lyco):([^:<>]+)(?::([^:<>]*))?(?::[^<>]*)?>", re.I)
_RE_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)\s*")
# a round group whose content starts with "-": "(-bad hands -unnatural hands)", optional ":weight"
_RE_INLINE_NEG = re.compile(r"(?<!\\)\(\s*(-[^()\\]*?)(?::\s*([+-]?[.\d]+)\s*)?\)")


def parse_attention(text: str) -> list[tuple[str, float]]:
    """Text with (), [], (x:w), escapes and BREAK into merged (text, weight) fragments, as A1111 does."""
    res: list[list] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def multiply(start: int, mult: float) -> None:
        for item in res[start:]:
            if item[1] != BREAK[1]:  # BREAK inside a group still breaks
                item[1] *= mult

    for m in _RE_ATTENTION.finditer(text):
        tok, weight = m.group(0), m.group(1)
        if tok.startswith("\\"):
            res.append([tok[1:], 1.0])
        elif tok == "(":
            round_open.append(len(res))
        elif tok == "[":
            square_open.append(len(res))
        elif weight is not None and round_open:
            try:
                multiply(round_open.pop(), float(weight))
            except ValueError:  # e.g. "(x:1.2.3)": literal, as A1111 would fail softly
                res.append([tok, 1.0])
        elif tok == ")" and round_open:
            multiply(round_open.pop(), ROUND)
        elif tok == "]" and square_open:
            multiply(square_open.pop(), SQUARE)
        else:
            for i, part in enumerate(_RE_BREAK.split(tok)):
                if i > 0:
                    res.append(list(BREAK))
                res.append([part, 1.0])
    for pos in round_open:  # unbalanced opens still weight the rest
        multiply(pos, ROUND)
    for pos in square_open:
        multiply(pos, SQUARE)

    out: list[tuple[str, float]] = []
    for t, w in res:
        if t == "" and w != BREAK[1]:
            continue
        if out and out[-1][1] == w and w != BREAK[1] and out[-1] != BREAK:
            out[-1] = (out[-1][0] + t, w)
        else:
            out.append((t, w))
    return out or [("", 1.0)]


# -- prompt editing ------------------------------------------------------------------------------
@dataclass
class _Sched:
    before: list
    after: list
    when: float


@dataclass
class _Alt:
    options: list[list]


def _matching(text: str, i: int) -> int:
    """Index of the bracket closing text[i], or -1 when unbalanced."""
    pairs = {"(": ")", "[": "]"}
    stack = [pairs[text[i]]]
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c in pairs:
            stack.append(pairs[c])
        elif c in ")]":
            if c != stack[-1]:
                return -1
            stack.pop()
            if not stack:
                return j
        j += 1
    return -1


def _split_top(text: str, sep: str) -> list[str]:
    """Split at sep outside brackets and escapes."""
    parts, depth, start, j = [], 0, 0, 0
    while j < len(text):
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c in "([":
            depth += 1
        elif c in ")]":
            depth = max(0, depth - 1)
        elif c == sep and depth == 0:
            parts.append(text[start:j])
            start = j + 1
        j += 1
    parts.append(text[start:])
    return parts


def _tree(text: str) -> list:
    """Text into a list of str, _Sched and _Alt nodes; other brackets stay literal text."""
    out: list = []
    buf: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            buf.append(text[i : i + 2])
            i += 2
            continue
        if c in "([":
            end = _matching(text, i)
            if end < 0:
                buf.append(c)
                i += 1
                continue
            inner = text[i + 1 : end]
            node = _bracket(inner) if c == "[" else None
            if node is None:
                out.extend(["".join(buf), c])
                buf = []
                out.extend(_tree(inner))
                out.append(text[end])
            else:
                out.extend(["".join(buf), node])
                buf = []
            i = end + 1
            continue
        buf.append(c)
        i += 1
    out.append("".join(buf))
    return [n for n in out if n != ""]


def _bracket(inner: str) -> _Sched | _Alt | None:
    """[from:to:when], [add:when], [remove::when] or [a|b]; None for plain [x] emphasis."""
    parts = _split_top(inner, ":")
    if len(parts) in (2, 3) and _RE_NUMBER.fullmatch(parts[-1]):
        when = float(parts[-1])
        before, after = ("", parts[0]) if len(parts) == 2 else (parts[0], parts[1])
        return _Sched(_tree(before), _tree(after), when)
    if len(parts) == 1:
        options = _split_top(inner, "|")
        if len(options) > 1:
            return _Alt([_tree(o) for o in options])
    return None


def _render(nodes: list, step: int, steps: int) -> str:
    out = []
    for n in nodes:
        if isinstance(n, str):
            out.append(n)
        elif isinstance(n, _Sched):
            out.append(_render(n.before if step <= _when_step(n.when, steps) else n.after, step, steps))
        else:
            out.append(_render(n.options[(step - 1) % len(n.options)], step, steps))
    return "".join(out)


def _when_step(when: float, steps: int) -> int:
    """A1111: below 1 is a fraction of the steps, else a step number."""
    return min(steps, int(when * steps if when < 1 else when))


def _boundaries(nodes: list, steps: int, acc: set[int]) -> bool:
    """Collect switch steps; True when an alternation switches every step."""
    alternate = False
    for n in nodes:
        if isinstance(n, _Sched):
            s = _when_step(n.when, steps)
            if s >= 1:
                acc.add(s)
            alternate |= _boundaries(n.before, steps, acc) | _boundaries(n.after, steps, acc)
        elif isinstance(n, _Alt):
            alternate = True
            for o in n.options:
                _boundaries(o, steps, acc)
    return alternate


# -- whole prompts -------------------------------------------------------------------------------
@dataclass
class ParsedPrompt:
    """A prompt parsed: text to encode (LoRA tags and inline negatives removed) plus what was taken out."""

    text: str
    loras: list[tuple[str, float]] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)
    nodes: list = field(default_factory=list, repr=False)

    @property
    def has_editing(self) -> bool:
        return any(not isinstance(n, str) for n in self.nodes)

    @property
    def fragments(self) -> list[tuple[str, float]]:
        """Weighted fragments of the prompt as of step 1."""
        return parse_attention(self.text_at(1, 1000))

    def text_at(self, step: int, steps: int) -> str:
        """The prompt text used at 1-based step `step` of `steps`."""
        return _render(self.nodes, step, steps)

    def schedule(self, steps: int) -> list[tuple[int, str]]:
        """(last 1-based step, text) pairs covering steps 1..steps, as A1111's prompt schedules."""
        steps = max(1, steps)
        ends: set[int] = set()
        if _boundaries(self.nodes, steps, ends):
            ends.update(range(1, steps + 1))
        ends = {e for e in ends if e < steps} | {steps}
        out: list[tuple[int, str]] = []
        for end in sorted(ends):
            text = self.text_at(end, steps)
            if out and out[-1][1] == text:
                out[-1] = (end, text)
            else:
                out.append((end, text))
        return out


def _num(s: str | None, default: float = 1.0) -> float:
    try:
        return float(s) if s not in (None, "") else default
    except ValueError:
        return default


def lora_tags(prompt: str) -> list[tuple[str, float]]:
    """`<lora:name:weight>` (and `<lyco:...>`) tags in order, weight 1.0 when left out."""
    return [(m.group(1).strip(), _num(m.group(2))) for m in _RE_LORA.finditer(prompt)]


def strip_loras(prompt: str) -> str:
    return _RE_LORA.sub("", prompt)


def split_inline_negatives(prompt: str) -> tuple[str, list[str]]:
    """Remove `(-a -b)` groups; return the cleaned prompt and the terms ("a", "b", or "(a:w)")."""
    terms: list[str] = []

    def take(m: re.Match) -> str:
        body, weight = m.group(1), m.group(2)
        for t in re.split(r"(?:^|\s)-", body):
            t = t.strip().strip(",").strip()
            if t:
                terms.append(f"({t}:{weight})" if weight and _num(weight) != 1.0 else t)
        return "\x00"

    out = _RE_INLINE_NEG.sub(take, prompt)
    if not terms:
        return prompt, []
    # tidy the seams the removed groups leave: no doubled commas or spaces
    out = re.sub(r"[ \t]*\x00[ \t]*", " ", out)
    out = re.sub(r"\s*,(?:\s*,)+", ",", out)
    out = re.sub(r"[ \t]{2,}", " ", out)
    out = re.sub(r"[ \t]+,", ",", out)
    return out.strip().strip(",").strip(), terms


def _key(term: str) -> str:
    return " ".join(term.lower().split())


def merge_negative(negative: str, terms: list[str]) -> str:
    """Append terms to the negative prompt, skipping ones already there."""
    have = {_key(t) for t in negative.split(",")}
    new = []
    for t in terms:
        if _key(t) not in have:
            have.add(_key(t))
            new.append(t)
    if not new:
        return negative
    base = negative.rstrip().rstrip(",").rstrip()
    return (base + ", " if base else "") + ", ".join(new)


def parse_prompt(text: str, inline_negatives: bool = True) -> ParsedPrompt:
    """Parse a prompt: LoRA tags and inline negatives taken out, editing and attention syntax kept.

    A negative prompt is parsed with inline_negatives=False: there a "(-x)" group is plain text."""
    loras = lora_tags(text)
    body, negatives = strip_loras(text), list[str]()
    if inline_negatives:
        body, negatives = split_inline_negatives(body)
    return ParsedPrompt(body, loras, negatives, _tree(body))
