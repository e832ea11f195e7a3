"""Hyperparameter schemas: JumpStart names, string values and ranges, parsed once, all problems at once.

JumpStart passes every hyperparameter as a string ("True", "-1", "None"). A schema is a frozen dataclass of
`Schema` whose fields are made with `spec(...)` (default, meaning, accepted range, special values) and whose
`rules` say which settings exclude each other. Each task names its schema (fmtune.tasks); everything here
works for any of them: parsing, a model's defaults under the user's values, and the description shown by
`fmtune hyperparameters`, the SDK and the UI.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, TypeVar

from fmtune.errors import ConfigError, Problem

S = TypeVar("S", bound="Schema")


def spec(
    default: Any,
    doc: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    minus_one: str | None = None,
    none: str | None = None,
    choices: tuple[str, ...] = (),
) -> Any:
    """A schema field: default value, one-line meaning, accepted range and special values."""
    meta = {"doc": doc, "ge": ge, "gt": gt, "lt": lt, "le": le, "minus_one": minus_one, "none": none,
            "choices": choices}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Exclusive:
    """Two settings that cannot both hold: `first` = (key, value) and `second` = (key, value)."""

    first: tuple[str, Any]
    second: tuple[str, Any]
    message: str

    def broken_by(self, values: Schema) -> bool:
        return all(getattr(values, key) == value for key, value in (self.first, self.second))


@dataclass(frozen=True)
class Schema:
    """Base of every task's hyperparameters: typed, validated values under JumpStart's names."""

    rules: ClassVar[tuple[Exclusive, ...]] = ()

    def to_strings(self) -> dict[str, str]:
        """JumpStart's representation: every value a string."""
        return {f.name: format_value(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def defaults(cls) -> dict[str, str]:
        return cls().to_strings()

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """One row per hyperparameter: name, type, default, range, meaning (for --help, docs and the UI)."""
        defaults = cls.defaults()
        return [{"name": f.name, "type": _type_name(f.type), "default": defaults[f.name], "accepted": _accepted(f),
                 "description": f.metadata["doc"], "choices": _choices(f),
                 "range": {k: f.metadata[k] for k in ("ge", "gt", "le", "lt") if f.metadata[k] is not None}}
                for f in fields(cls)]

    @classmethod
    def parse(cls: type[S], values: Mapping[str, Any]) -> S:
        """Values over the schema's defaults; one ConfigError naming every problem."""
        return cls.resolve(values)[0]

    @classmethod
    def resolve(
        cls: type[S], given: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
    ) -> tuple[S, list[str]]:
        """The user's values over a model's defaults (over the schema's), and a notice per default that gave way.

        Only two values the user gave can conflict: where a rule is broken by a given value and a default, the
        default takes its neutral (the schema's) value, e.g. chat_dataset=True, a chat model's default, gives way
        to instruction_tuned=True. Front ends that cannot tell typed values from echoed defaults (the SDK, whose
        notebooks pass `retrieve_default(...)` back whole) first keep only `changed_values`."""
        problems: list[Problem] = []
        default_values = cls._parse_all(defaults or {}, problems)
        chosen = cls._parse_all(given, problems)
        values = {**default_values, **chosen}
        neutral = cls()
        notices: list[str] = []
        for rule in cls.rules:
            current = replace(neutral, **values)  # valid values only: never repeats a per-key problem
            if not rule.broken_by(current):
                continue
            keys = (rule.first[0], rule.second[0])
            yielding = [k for k in keys if k not in chosen]
            if len(yielding) != 1:  # both given by the user (or, a catalog defect, neither): the user must choose
                problems.append(Problem(rule.message, key=",".join(keys)))
                continue
            key = yielding[0]
            winner = next(k for k in keys if k != key)
            notices.append(
                f"{key}={format_value(getattr(current, key))} (the model's default) gives way to {winner}="
                f"{format_value(getattr(current, winner))}, which was given: using "
                f"{key}={format_value(getattr(neutral, key))}."
            )
            values[key] = getattr(neutral, key)
        if problems:
            raise ConfigError(problems)
        return cls(**values), notices

    @classmethod
    def changed_values(cls, values: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
        """`values` without those equal (once parsed) to their default: what was changed, not echoed back.
        Values that do not parse are kept, so that their problem is still reported."""
        by_name = {f.name: f for f in fields(cls)}
        changed = {}
        for key, raw in values.items():
            spec_ = by_name.get(key)
            if spec_ is not None and key in defaults and _parse_one(spec_, raw) == _parse_one(spec_, defaults[key]):
                continue
            changed[key] = raw
        return changed

    @classmethod
    def _parse_all(cls, values: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
        by_name = {f.name: f for f in fields(cls)}
        parsed: dict[str, Any] = {}
        for key, raw in values.items():
            spec_ = by_name.get(key)
            if spec_ is None:
                problems.append(Problem(_unknown_key(key, cls.names()), key=key, value=_shown(raw)))
                continue
            value, problem = _parse_one(spec_, raw)
            if problem:
                problems.append(Problem(problem, key=key, value=_shown(raw)))
            else:
                parsed[key] = value
        return parsed


def format_value(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        return repr(value)  # shortest exact form ('0.0001', '2e-06'): parses back to the same float
    return str(value)


def _shown(raw: Any) -> str:
    try:
        return raw if isinstance(raw, str) else format_value(raw)
    except ValueError:  # an int too long to print
        return "<too long>"


def _unknown_key(key: str, names: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"{key}: unknown hyperparameter.{hint} Run `fmtune hyperparameters MODEL_ID` for the accepted names."


def _parse_one(spec: Any, raw: Any) -> tuple[Any, str | None]:
    try:
        text = format_value(raw) if not isinstance(raw, str) else raw.strip()
    except ValueError:  # an int too long to print (Python caps int -> str at 4300 digits)
        return None, f"{spec.name}: the value is too long to be a setting; {_accepted(spec)}."
    kind = _type_name(spec.type)
    meta = spec.metadata
    shown = f"{spec.name}={text!r:.80}"
    if meta["none"] and text.lower() in ("none", "null", ""):
        return None, None
    if kind == "str" and not meta["choices"]:  # free text, e.g. a column name
        return text, None
    if kind == "str":
        choice = {c.lower(): c for c in meta["choices"]}.get(text.lower())
        if choice is not None:
            return choice, None
        return None, f"{shown}: {_accepted(spec)}."
    if kind == "bool":
        if text.lower() in ("true", "false"):
            return text.lower() == "true", None
        return None, f"{shown}: must be 'True' or 'False'."
    try:
        number: float = int(text) if kind == "int" else float(text)
    except ValueError:
        return None, f"{shown}: must be {'an integer' if kind == 'int' else 'a number'}; {_accepted(spec)}."
    if kind == "float" and not math.isfinite(number):
        return None, f"{shown}: must be a finite number; {_accepted(spec)}."
    if meta["minus_one"] and number == -1:
        return int(number), None
    if not _in_range(number, meta):
        return None, f"{shown}: out of range; {_accepted(spec)}."
    return number, None


def _in_range(x: float, meta: Mapping[str, Any]) -> bool:
    return not (
        (meta["ge"] is not None and x < meta["ge"])
        or (meta["gt"] is not None and x <= meta["gt"])
        or (meta["le"] is not None and x > meta["le"])
        or (meta["lt"] is not None and x >= meta["lt"])
    )


def _choices(spec: Any) -> list[str]:
    """The values a form can offer as a list (booleans and closed choices); [] for free values."""
    return ["True", "False"] if _type_name(spec.type) == "bool" else list(spec.metadata["choices"])


def _accepted(spec: Any) -> str:
    kind = _type_name(spec.type)
    meta = spec.metadata
    if kind == "bool":
        return "accepted: 'True' or 'False'"
    if kind == "str" and not meta["choices"]:
        return f"accepted: any text, or None ({meta['none']})" if meta["none"] else "accepted: any text"
    if kind == "str":
        return "accepted: " + ", ".join(repr(c) for c in meta["choices"])
    bounds = []
    for key, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if meta[key] is not None:
            bound = meta[key]
            bounds.append(f"{op} {int(bound) if kind == 'int' else bound:g}")
    text = f"accepted: {'an integer' if kind == 'int' else 'a number'} {' and '.join(bounds)}".rstrip()
    if meta["minus_one"]:
        text += f", or -1 ({meta['minus_one']})"
    if meta["none"]:
        text += f", or None ({meta['none']})"
    return text


def _type_name(annotation: Any) -> str:
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    return name.split("|")[0].strip()
