"""The A1111 prompt syntax: attention weights, BREAK, editing, LoRA tags, inline negatives, styles, counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdstudio.core.prompt import (
    BREAK,
    apply_styles,
    builtin_presets,
    count_tokens,
    effective_prompts,
    import_a1111_styles,
    load_styles,
    lora_tags,
    parse_prompt,
)
from sdstudio.core.request import RequestError

R, S = 1.1, 1 / 1.1

# (prompt, fragments at step 1)
ATTENTION = [
    ("a cat", [("a cat", 1.0)]),
    ("", [("", 1.0)]),
    ("(cat)", [("cat", R)]),
    ("((cat))", [("cat", R * R)]),
    ("(((cat)))", [("cat", R**3)]),
    ("[cat]", [("cat", S)]),
    ("[[cat]]", [("cat", S * S)]),
    ("(cat:1.3)", [("cat", 1.3)]),
    ("(cat: 1.3 )", [("cat", 1.3)]),
    ("(cat:0.5)", [("cat", 0.5)]),
    ("(cat:1.0)", [("cat", 1.0)]),
    ("(cat:-1)", [("cat", -1.0)]),
    ("a (cat) b", [("a ", 1.0), ("cat", R), (" b", 1.0)]),
    ("a [cat] b", [("a ", 1.0), ("cat", S), (" b", 1.0)]),
    ("(a (b) c)", [("a ", R), ("b", R * R), (" c", R)]),
    ("(a [b] c:1.5)", [("a ", 1.5), ("b", 1.5 * S), (" c", 1.5)]),
    ("((a:1.2))", [("a", 1.2 * R)]),
    ("[(a:1.2)]", [("a", 1.2 * S)]),
    ("(a)(b)", [("ab", R)]),  # equal weights merge
    ("(a:1.2) (b:1.2)", [("a", 1.2), (" ", 1.0), ("b", 1.2)]),
    (r"\(cat\)", [("(cat)", 1.0)]),
    (r"\[cat\]", [("[cat]", 1.0)]),
    (r"a \\ b", [("a \\ b", 1.0)]),
    (r"(\(cat\))", [("(cat)", R)]),
    (r"(cat\:1.2)", [("cat", 1.2)]),  # "\:" is no escape: A1111 drops the backslash
    ("a (cat", [("a ", 1.0), ("cat", R)]),  # unbalanced open: weights the rest
    ("a [cat", [("a ", 1.0), ("cat", S)]),
    ("a cat)", [("a cat)", 1.0)]),  # unbalanced close: literal
    ("a cat]", [("a cat]", 1.0)]),
    ("((cat)", [("cat", R * R)]),
    ("cat:1.2)", [("cat:1.2)", 1.0)]),
    ("a: b", [("a: b", 1.0)]),
    ("a BREAK b", [("a", 1.0), BREAK, ("b", 1.0)]),
    ("a BREAK", [("a", 1.0), BREAK]),
    ("BREAKFAST", [("BREAKFAST", 1.0)]),
    ("(a BREAK b)", [("a", R), BREAK, ("b", R)]),
    ("a <lora:detail:0.8> cat", [("a  cat", 1.0)]),
    ("a, (-bad hands), cat", [("a, cat", 1.0)]),
    ("(-bad hands -unnatural hands) (cat:1.2)", [("cat", 1.2)]),
]


@pytest.mark.parametrize(("prompt", "expected"), ATTENTION)
def test_attention(prompt: str, expected: list[tuple[str, float]]) -> None:
    got = parse_prompt(prompt).fragments
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert [w for _, w in got] == pytest.approx([w for _, w in expected])


# (prompt, steps, schedule)
EDITING = [
    ("[cat:dog:0.5]", 10, [(5, "cat"), (10, "dog")]),
    ("[cat:dog:3]", 10, [(3, "cat"), (10, "dog")]),
    ("a [cat:dog:0.25] b", 20, [(5, "a cat b"), (20, "a dog b")]),
    ("[hat:0.5]", 10, [(5, ""), (10, "hat")]),
    ("a [hat:4]", 10, [(4, "a "), (10, "a hat")]),
    ("[hat::0.5]", 10, [(5, "hat"), (10, "")]),
    ("[cat:dog:20]", 10, [(10, "cat")]),
    ("[cat:dog:0]", 10, [(10, "dog")]),
    ("[(cat:1.2):[dog]:0.5]", 4, [(2, "(cat:1.2)"), (4, "[dog]")]),
    ("[a:[b:c:0.8]:0.4]", 10, [(4, "a"), (8, "b"), (10, "c")]),
    ("[a|b]", 4, [(1, "a"), (2, "b"), (3, "a"), (4, "b")]),
    ("[cat:dog:x]", 10, [(10, "[cat:dog:x]")]),  # not a number: plain emphasis
    ("(cat:dog:0.5)", 10, [(10, "(cat:dog:0.5)")]),
    ("[cat:dog:0.5", 10, [(10, "[cat:dog:0.5")]),  # unbalanced: no editing
    (r"\[cat:dog:0.5\]", 10, [(10, r"\[cat:dog:0.5\]")]),
]


@pytest.mark.parametrize(("prompt", "steps", "expected"), EDITING)
def test_prompt_editing(prompt: str, steps: int, expected: list[tuple[int, str]]) -> None:
    assert parse_prompt(prompt).schedule(steps) == expected


LORAS = [
    ("a <lora:detail:0.8> cat", [("detail", 0.8)]),
    ("<lora:one> <lora:two:-0.5>", [("one", 1.0), ("two", -0.5)]),
    ("<LORA:Mixed Case:1.2>", [("Mixed Case", 1.2)]),
    ("<lora:a:0.5:lbw=1>", [("a", 0.5)]),
    ("no tags <hypernet:x:1>", []),
]


@pytest.mark.parametrize(("prompt", "expected"), LORAS)
def test_lora_tags(prompt: str, expected: list[tuple[str, float]]) -> None:
    assert lora_tags(prompt) == expected
    assert parse_prompt(prompt).loras == expected


# (prompt, negative) -> (effective prompt, effective negative)
INLINE = [
    (("a girl, (-bad hands -unnatural hands)", ""), ("a girl", "bad hands, unnatural hands")),
    (("(-bad anatomy) a girl", "blurry"), ("a girl", "blurry, bad anatomy")),
    (("a girl, (-bent fingers), smiling", "bent fingers"), ("a girl, smiling", "bent fingers")),
    (("a (-Bad Hands) b (-bad hands)", "x,"), ("a b", "x, Bad Hands")),
    (("a (-x-ray artifacts:1.3)", ""), ("a", "(x-ray artifacts:1.3)")),
    ((r"a \(-not this\)", ""), (r"a \(-not this\)", "")),  # escaped: literal
    (("a (not -this)", ""), ("a (not -this)", "")),  # must start with "-"
    (("a <lora:x:1> (-bad)", ""), ("a <lora:x:1>", "bad")),  # LoRA tags are recorded
    (("a (-bad hands, -extra fingers)", ""), ("a", "bad hands, extra fingers")),
]


@pytest.mark.parametrize(("given", "expected"), INLINE)
def test_inline_negatives(given: tuple[str, str], expected: tuple[str, str]) -> None:
    assert effective_prompts(*given) == expected


def test_table_size() -> None:
    assert len(ATTENTION) + len(EDITING) + len(LORAS) + len(INLINE) >= 40


def test_builtin_hands_preset() -> None:
    hands = builtin_presets()["hands"]
    for term in (
        "bad hands",
        "unnatural hands",
        "extra fingers",
        "fused fingers",
        "bent fingers",
        "bad anatomy",
    ):
        assert term in hands.negative_prompt
    p, n = effective_prompts("a girl (-bad hands)", "blurry", ("hands",))
    assert p == "a girl"
    assert n.split(", ").count("bad hands") == 1 and n.startswith("blurry, bad hands, unnatural hands")


def test_a1111_styles_import_and_placement(tmp_path: Path) -> None:
    csv = tmp_path / "styles.csv"
    csv.write_text(
        'name,prompt,negative_prompt\nfilm,"{prompt}, film grain, 35mm",lowres\n'
        'cinema,"cinematic shot",\n"quoted, name","a {prompt} b","{prompt}, ugly"\n',
        encoding="utf-8",
    )
    assert import_a1111_styles(csv) == ["film", "cinema", "quoted, name"]
    assert set(load_styles()) == {"film", "cinema", "quoted, name"}  # saved under config_dir
    assert apply_styles("a cat", "", ["film"]) == ("a cat, film grain, 35mm", "lowres")
    assert apply_styles("a cat", "blurry", ["cinema"]) == ("a cat, cinematic shot", "blurry")
    assert apply_styles("cat", "bad", ["quoted, name"]) == ("a cat b", "bad, ugly")
    assert apply_styles("cat", "", ["film", "hands"])[1].startswith("lowres, bad hands")


def test_unknown_style_lists_known() -> None:
    with pytest.raises(RequestError, match=r"unknown style 'nope'; known styles: .*hands"):
        effective_prompts("a", "", ("nope",))


def test_broken_styles_file_is_one_clear_error(sdstudio_home: Path) -> None:
    f = sdstudio_home / "config" / "styles.csv"
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text("garbage\n", encoding="utf-8")
    with pytest.raises(RequestError, match="styles.csv"):
        apply_styles("a", "", ["hands"])


def test_token_count_chunks() -> None:
    assert count_tokens("").display == "0/75"
    c = count_tokens("a cat")
    assert c.per_chunk == (2,) and c.display == "2/75"
    c = count_tokens("cat " * 81)
    assert c.per_chunk == (75, 6) and c.display == "81/150"
    assert count_tokens("a BREAK b").per_chunk == (1, 1)
    assert count_tokens("(cat:1.3) [dog]").total == 2  # syntax is not counted
    assert count_tokens("a (-bad hands) <lora:x:1>").total == 1


def test_an_embedding_counts_as_its_vectors() -> None:
    vectors = {"EasyNegative": 16, "bad-hands-5": 70}
    assert count_tokens("a fox, easynegative", embeddings=vectors).display == "19/75"  # a, fox, comma + 16
    assert count_tokens("(bad-hands-5:1.2), blurry", embeddings=vectors).per_chunk == (72,)
    assert count_tokens("a fox, easynegative, bad-hands-5", embeddings=vectors).chunks == 2
    plain = count_tokens("a fox, easynegatives").total
    assert count_tokens("a fox, easynegatives", embeddings=vectors).total == plain  # whole names only


def test_comma_backtrack() -> None:
    # 70 words, a comma, then 10 more: the chunk breaks after the comma, not at 75
    c = count_tokens("cat " * 70 + ", " + "dog " * 10)
    assert c.per_chunk == (71, 10)
    # a comma further back than 20 tokens does not move anything
    c = count_tokens("cat " * 40 + ", " + "dog " * 50)
    assert c.per_chunk == (75, 16)
