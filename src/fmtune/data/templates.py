"""Prompt templates for instruction tuning: template.json, JumpStart's defaults, the demarcation key."""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path

from fmtune.data.readers import Row, read_text_file
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

    def render(self, row: Row) -> tuple[str, str]:
        """(prompt, completion) for one row; a missing placeholder names the key and the row's line."""
        if not isinstance(row.value, dict):
            raise DataError(
                f"{row.origin}: expected a JSON object with the template's fields "
                f"{sorted(set(self.prompt_fields + placeholders(self.completion)))}, "
                f"found {type(row.value).__name__}."
            )
        return self._fill(self.prompt, row), self._fill(self.completion, row)

    def _fill(self, text: str, row: Row) -> str:
        values = {}
        for name in placeholders(text):
            if name not in row.value:
                raise DataError(
                    f"{row.origin}: the row has no key '{name}', which {self.origin} uses as "
                    f"{{{name}}}. Keys in this row: {sorted(row.value)}. Add the key to every row or "
                    "change the template."
                )
            value = row.value[name]
            values[name] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return text.format_map(values)


def placeholders(text: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def default_template(task: str) -> Template:
    if task == "text2text":
        return Template(TEXT2TEXT_PROMPT, TEXT2TEXT_COMPLETION, "default text2text template")
    return Template(DEFAULT_PROMPT, DEFAULT_COMPLETION, "default template")


def load_template(path: Path) -> Template:
    """Parse template.json: {"prompt": "...{field}...", "completion": "...{field}..."}."""
    try:
        value = json.loads(read_text_file(path))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: template.json is not valid JSON ({err.msg}).") from None
    problems = []
    if not isinstance(value, dict):
        raise DataError(f'{path}: expected an object {{"prompt": "...", "completion": "..."}}.')
    for key in ("prompt", "completion"):
        if not isinstance(value.get(key), str):
            problems.append(f"'{key}' must be a string (found {value.get(key)!r})")
    unknown = sorted(set(value) - {"prompt", "completion"})
    if unknown:
        problems.append(f"unknown keys {unknown}; only 'prompt' and 'completion' are read")
    if problems:
        raise DataError(f"{path}: " + "; ".join(problems) + ".")
    for key in ("prompt", "completion"):
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(value[key]) if name is not None]
        except ValueError as err:
            raise DataError(
                f"{path}: '{key}' is not a valid template ({err}); write literal braces as {{{{ and }}}}."
            ) from None
        if any(not name or name.isdigit() for name in names):
            raise DataError(
                f"{path}: '{key}' has a positional placeholder ({{}} or {{0}}); name the row's field "
                "instead, e.g. {question}, or write literal braces as {{ and }}."
            )
    return Template(value["prompt"], value["completion"], str(path))


def instruction_prompt(prompt: str, demarcation: bool) -> str:
    """The text the model sees before the completion, in training and at inference."""
    return prompt + DEMARCATION if demarcation else prompt
