"""Prompt templates for instruction tuning: template.json, JumpStart's defaults, the demarcation key."""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from pathlib import Path

from fmtune.data.readers import Row, parse_json, preview, read_text_file
from fmtune.errors import DataError

# JumpStart's default for decoder LLMs when the channel has no template.json (Dolly-style rows).
DEFAULT_PROMPT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{context}"
)
DEFAULT_COMPLETION = "{response}"
# JumpStart's default for Flan-T5 (text2text).
TEXT2TEXT_PROMPT, TEXT2TEXT_COMPLETION = "{prompt}", "{completion}"
# Appended to every prompt when add_input_output_demarcation_key=True, in training and at inference.
DEMARCATION = "\n\n### Response:\n"


@dataclass(frozen=True)
class Template:
    prompt: str
    completion: str
    origin: str  # the template.json path, or "default template"

    @property
    def prompt_fields(self) -> list[str]:
        return placeholders(self.prompt)

    def render(self, row: Row) -> tuple[str, str, list[str]]:
        """(prompt, completion, keys whose number/boolean was written as text) for one row.

        Every problem names the row's file:line and the key.
        """
        if not isinstance(row.value, dict):
            raise DataError(
                f"{row.origin}: expected a JSON object with the template's fields "
                f"{sorted(set(self.prompt_fields + placeholders(self.completion)))}, "
                f"found {type(row.value).__name__}."
            )
        converted: list[str] = []
        return self._fill(self.prompt, row, converted), self._fill(self.completion, row, converted), converted

    def _fill(self, text: str, row: Row, converted: list[str]) -> str:
        parts = []
        for literal, name, _, _ in string.Formatter().parse(text):
            parts.append(literal)
            if name is not None:
                parts.append(self._field_text(row, name, converted))
        return "".join(parts)

    def _field_text(self, row: Row, name: str, converted: list[str]) -> str:
        if name not in row.value:
            raise DataError(
                f"{row.origin}: the row has no key '{name}', which {self.origin} uses as "
                f"{{{name}}}. Keys in this row: {sorted(row.value)}. Add the key to every row or "
                "change the template."
            )
        value = row.value[name]
        if isinstance(value, str):
            return value
        if isinstance(value, bool):  # before int: bool is an int; spelled as in the JSON file
            converted.append(name)
            return "true" if value else "false"
        if isinstance(value, int | float):
            converted.append(name)
            return str(value)
        kind = "array" if isinstance(value, list) else "object"
        found = "null" if value is None else f"a JSON {kind} ({preview(value)})"
        raise DataError(
            f"{row.origin}: key '{name}' is {found}, but {self.origin} fills {{{name}}} "
            f"with text. Give '{name}' a string value in every row (\"\" for none), or change the template."
        )


def placeholders(text: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


# The template a channel without template.json gets; each text task names its own (fmtune.tasks.text).
DEFAULT_TEMPLATE = Template(DEFAULT_PROMPT, DEFAULT_COMPLETION, "default template")
TEXT2TEXT_TEMPLATE = Template(TEXT2TEXT_PROMPT, TEXT2TEXT_COMPLETION, "default text2text template")


def load_template(path: Path) -> Template:
    """Parse template.json: {"prompt": "...{field}...", "completion": "...{field}..."}."""
    try:
        value = parse_json(read_text_file(path))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: template.json is not valid JSON ({err.msg}).") from None
    problems = []
    if not isinstance(value, dict):
        raise DataError(f'{path}: expected an object {{"prompt": "...", "completion": "..."}}.')
    for key in ("prompt", "completion"):
        if not isinstance(value.get(key), str):
            problems.append(f"'{key}' must be a string (found {preview(value.get(key))})")
    unknown = sorted(set(value) - {"prompt", "completion"})
    if unknown:
        problems.append(f"unknown keys {preview(unknown)}; only 'prompt' and 'completion' are read")
    if problems:
        raise DataError(f"{path}: " + "; ".join(problems) + ".")
    for key in ("prompt", "completion"):
        _check_placeholders(path, key, value[key])
    return Template(value["prompt"], value["completion"], str(path))


def _check_placeholders(path: Path, key: str, text: str) -> None:
    """Placeholders are row keys, nothing more: str.format's specs, conversions, attributes and indexes
    would otherwise run on row values (ValueError, or a 20 GB pad from `{x:>20000000000}`)."""
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(text)
                  if name is not None]
    except ValueError as err:
        raise DataError(
            f"{path}: '{key}' is not a valid template ({err}); write literal braces as {{{{ and }}}}."
        ) from None
    for name, spec, conversion in fields:
        if not name or name.isdigit():
            raise DataError(
                f"{path}: '{key}' has a positional placeholder ({{}} or {{0}}); name the row's field "
                "instead, e.g. {question}, or write literal braces as {{ and }}."
            )
        if spec or conversion or any(c in name for c in ".["):
            written = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            plain = re.split(r"[.\[]", name)[0] or "field"
            raise DataError(
                f"{path}: '{key}' has the placeholder {written[:80]}; placeholders are plain row keys, without "
                f"format specs (:...), conversions (!r), attributes (.x) or indexes ([0]). Write {{{plain}}}, and "
                "literal braces as {{ and }}."
            )


def instruction_prompt(prompt: str, demarcation: bool) -> str:
    """The text the model sees before the completion, in training and at inference."""
    return prompt + DEMARCATION if demarcation else prompt
