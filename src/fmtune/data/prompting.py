"""How to prompt a tuned model the way it was trained; saved next to its weights as fmtune_format.json."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fmtune.data.channels import Mode
from fmtune.data.templates import instruction_prompt, placeholders

FORMAT_FILE = "fmtune_format.json"


@dataclass(frozen=True)
class PromptFormat:
    mode: Mode
    prompt_template: str | None = None  # instruction tuning: the template's prompt part
    demarcation: bool = True
    chat_template: str | None = None  # chat: template used when the tokenizer has none
    eos_token_ids: list[int] = field(default_factory=list)
    # End-of-turn text that is not a single special token for this tokenizer (catalog chat formats).
    stop_strings: list[str] = field(default_factory=list)
    base_model: str = ""

    def render(self, tokenizer: Any, text: str, fields: dict[str, str] | None = None) -> str:
        """The model input for a user's text: raw (domain), template-filled (instruction), or chat."""
        if self.mode == "chat":
            messages = [{"role": "user", "content": text}]
            return tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True, chat_template=self.chat_template
            )
        if self.mode == "instruction" and self.prompt_template is not None:
            names = placeholders(self.prompt_template)
            values = {name: "" for name in names}
            if names:
                values[names[0]] = text  # the first placeholder (e.g. {instruction}) takes the prompt
            values.update(fields or {})
            return instruction_prompt(self.prompt_template.format_map(values), self.demarcation)
        return text

    def save(self, directory: Path) -> None:
        (directory / FORMAT_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> PromptFormat | None:
        path = directory / FORMAT_FILE
        return cls(**json.loads(path.read_text())) if path.exists() else None


def end_of_turn_ids(tokenizer: Any, chat_template: str | None = None) -> list[int]:
    """Token ids that end an assistant turn: EOS plus the special token the chat template closes turns with."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    try:
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}],
            tokenize=False,
            chat_template=chat_template,
        )
    except Exception:  # no chat template: EOS alone ends a turn
        return ids
    tail = rendered[rendered.rindex("ok") + 2 :]
    special = set(tokenizer.all_special_ids) | set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    for token in tokenizer(tail, add_special_tokens=False)["input_ids"]:
        if token in special:
            if token not in ids:
                ids.append(token)
            break
    return ids
