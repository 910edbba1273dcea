"""JSON from strangers, parsed with its work bounded: size first, then nesting depth, then ``json.loads``.

Python's parser recurses once per level, so a valid body nested tens of thousands of levels
deep raises ``RecursionError`` from inside it. The depth is counted here before parsing,
over the brackets outside strings, in one pass; every refusal is an ``InputError`` that
says what is wrong and where.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import InputError

MAX_DEPTH = 32
# The characters that decide nesting: quotes and backslashes (strings), and the four brackets.
_STRUCTURE = re.compile(r'["\\\[\]{}]')


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (brackets inside strings do not count).

    One pass over the structural characters only, in linear time whatever the input.
    """
    depth = deepest = 0
    in_string = False
    escaped_at = -1
    for match in _STRUCTURE.finditer(text):
        at, char = match.start(), match.group()
        if at == escaped_at:
            continue
        if in_string:
            if char == "\\":
                escaped_at = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_json(data: bytes | str, what: str, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """``data`` parsed, or ``InputError`` naming ``what`` and the problem (size, encoding, depth, syntax)."""
    size = len(data)
    if size > max_bytes:
        raise InputError(f"{what} is {size:,} bytes; the limit is {max_bytes:,}")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{what} is not UTF-8 text (byte {exc.start})") from exc
    else:
        text = data
    depth = nesting_depth(text)
    if depth > max_depth:
        raise InputError(f"{what} is nested {depth:,} levels deep; the limit is {max_depth}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
