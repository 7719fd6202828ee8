"""Canonical JSON: one byte string per value, so that a hash over it is reproducible anywhere.

Keys sorted, no insignificant whitespace, UTF-8, no floating point (floats have several spellings;
audit records hold only strings, integers, booleans, null, lists and objects). This is the subset of
JSON on which the JSON Canonicalization Scheme (RFC 8785) and plain sorted-key serialisation agree.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    _refuse_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("audit records hold no floating-point numbers; use an integer or a string")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("audit record keys must be strings")
            _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_floats(item)
