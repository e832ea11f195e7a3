"""`sagemaker.jumpstart.notebook_utils.list_jumpstart_models(filter=...)` over fmtune's catalog, with JumpStart's
filter syntax: "KEY OP VALUE" strings combined with `And(...)` / `Or(...)`.

Keys: `model_id`, `task` and `framework` (read off the JumpStart id, `{framework}-{task}-...`, e.g. `txt2img`,
`textgeneration`, `llm`, `text2text`), `search_keywords` (the task's words and the family, e.g. "Text
Generation"), `license`, `display_name`. Operators: `==`, `!=`, `in`, `not in` (a list: `[a, b]` or `a,b`),
`includes`, `not includes` (a keyword of a list, or a substring), `begins with`, `ends with`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fmtune.catalog import ModelCard, all_cards

TASK_KEYWORDS = {"text-generation": "Text Generation", "text2text": "Text2Text Generation",
                 "text-to-image": "Text To Image"}
OPERATORS = ("not includes", "includes", "not in", "begins with", "ends with", "==", "!=", "in")
_EXPRESSION = re.compile(r"^\s*(\w+)\s+(" + "|".join(re.escape(o) for o in OPERATORS) + r")\s+(.+?)\s*$")


@dataclass(frozen=True)
class And:
    filters: tuple[Any, ...]

    def __init__(self, *filters: Any) -> None:
        object.__setattr__(self, "filters", filters)


@dataclass(frozen=True)
class Or:
    filters: tuple[Any, ...]

    def __init__(self, *filters: Any) -> None:
        object.__setattr__(self, "filters", filters)


def model_fields(card: ModelCard) -> dict[str, Any]:
    parts = card.model_id.split("-")
    framework, task = (parts[2], parts[1]) if parts[0] == "model" else (parts[0], parts[1])
    keywords = [TASK_KEYWORDS.get(card.task, card.task), card.display_name.split()[0]]
    if card.eula_required:
        keywords.append("Gated")
    return {"model_id": card.model_id, "task": task, "framework": framework, "search_keywords": keywords,
            "license": card.license, "display_name": card.display_name}


def matches(fields: dict[str, Any], expression: Any) -> bool:
    if isinstance(expression, And):
        return all(matches(fields, e) for e in expression.filters)
    if isinstance(expression, Or):
        return any(matches(fields, e) for e in expression.filters)
    found = _EXPRESSION.match(str(expression))
    if found is None:
        raise ValueError(f"filter {expression!r}: expected 'KEY OP VALUE' with OP one of {list(OPERATORS)}, "
                         "e.g. 'task == txt2img' or 'search_keywords includes Text Generation'.")
    key, operator, raw = found.groups()
    if key not in fields:
        raise ValueError(f"filter {expression!r}: unknown key {key!r}; keys: {sorted(fields)}.")
    value, wanted = fields[key], _unquote(raw)
    if operator in ("in", "not in"):
        choices = [_unquote(v) for v in raw.strip("[]").split(",")]
        return (value in choices) == (operator == "in")
    if operator in ("includes", "not includes"):
        inside = any(wanted.lower() == v.lower() for v in value) if isinstance(value, list) else \
            wanted.lower() in str(value).lower()
        return inside == (operator == "includes")
    text = str(value)
    return {"==": text == wanted, "!=": text != wanted, "begins with": text.startswith(wanted),
            "ends with": text.endswith(wanted)}[operator]


def _unquote(text: str) -> str:
    return text.strip().strip("'\"")


def list_jumpstart_models(filter: Any = None, list_versions: bool = False, **cloud_only: Any) -> list[Any]:
    """The catalog's model ids that match `filter` (all without one), sorted; with `list_versions`,
    (model_id, version) pairs, as JumpStart lists them."""
    ids = sorted(c.model_id for c in all_cards() if filter is None or matches(model_fields(c), filter))
    return [(model_id, "*") for model_id in ids] if list_versions else ids
