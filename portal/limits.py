"""How much a user may store: tags, user data, and JSON documents such as `customdata`.

Services call these on every write, so pages, the API and commands meet one rule; the API's
parser also holds whole request bodies to the depth limit (portal.api.parsers). Metal documents
no limits for either, so these are ours.
"""

import json
from collections.abc import Iterable

from .errors import ServiceError

MAX_TAGS = 100
MAX_TAG_LENGTH = 255
# Deep enough for any real document, and far below where Python's recursion limit stops the
# code that walks one (the JSON encoder and decoder, DRF's renderer, the metadata service): a
# document stored once can always be rendered again.
MAX_JSON_DEPTH = 32
# User data and customdata are rendered in every device list page and served to the server
# itself: a few of them must not make a page of a hundred devices hundreds of megabytes.
MAX_USERDATA_BYTES = 64 * 1024
MAX_CUSTOMDATA_BYTES = 64 * 1024


def json_too_deep(value, limit: int) -> bool:
    """Whether `value` nests lists and objects more than `limit` levels deep (`{}` is one).

    Iterative, so any depth the parser produced is measured without recursing."""
    if not isinstance(value, dict | list):
        return False
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _unstorable_text(value) -> str | None:
    """Why a string in `value` (a key or a value) cannot be stored, or None.

    NUL: PostgreSQL's jsonb and text refuse it. A lone surrogate (JSON allows "\\ud800"): it
    has no UTF-8 form, so neither database driver can send it. Iterative, as json_too_deep."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return "Null characters are not allowed."
            try:
                node.encode()
            except UnicodeEncodeError:
                return "Surrogate characters are not allowed."
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def clean_customdata(value, *, field: str = "customdata") -> dict:
    """A JSON object that can be stored and rendered again: its depth, its size, and text
    every database can store."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ServiceError("Must be a JSON object.", field=field)
    if json_too_deep(value, MAX_JSON_DEPTH):
        raise ServiceError(f"Must not nest more than {MAX_JSON_DEPTH} levels deep.", field=field)
    unstorable = _unstorable_text(value)
    if unstorable:
        raise ServiceError(unstorable, field=field)
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError):
        raise ServiceError("Must be a JSON object.", field=field) from None
    if size > MAX_CUSTOMDATA_BYTES:
        raise ServiceError(
            f"Must be at most {MAX_CUSTOMDATA_BYTES // 1024} KiB as JSON.", field=field
        )
    return value


def clean_tags(tags: Iterable[str] | None, *, field: str = "tags") -> list[str]:
    """Trimmed, distinct, non-blank tags: at most MAX_TAGS of at most MAX_TAG_LENGTH each."""
    cleaned: list[str] = []
    for tag in tags or ():
        if not isinstance(tag, str):
            raise ServiceError("Tags must be strings.", field=field)
        tag = tag.strip()
        if not tag or tag in cleaned:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise ServiceError(f"Tags are at most {MAX_TAG_LENGTH} characters.", field=field)
        unstorable = _unstorable_text(tag)
        if unstorable:
            raise ServiceError(unstorable, field=field)
        cleaned.append(tag)
        if len(cleaned) > MAX_TAGS:
            raise ServiceError(f"At most {MAX_TAGS} tags.", field=field)
    return cleaned


def clean_userdata(text: str | None, *, field: str = "userdata") -> str:
    """User data within MAX_USERDATA_BYTES (whether cloud-init can read it is the forms' and
    /userdata/validate's question: Metal stores what it is given)."""
    text = text or ""
    unstorable = _unstorable_text(text)
    if unstorable:
        raise ServiceError(unstorable, field=field)
    if len(text.encode()) > MAX_USERDATA_BYTES:
        raise ServiceError(
            f"User data is limited to {MAX_USERDATA_BYTES // 1024} KiB.", field=field
        )
    return text
