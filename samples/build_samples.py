#!/usr/bin/env python3
"""Build the sample datasets under samples/ from CPython standard-library docstrings.

Run from anywhere:  python3 samples/build_samples.py

Text source: the docstrings of pure-Python standard-library modules of the running interpreter
(CPython 3.11.x; PSF License Agreement v2). Each source file is parsed with `ast`, so nothing is
imported or executed. Output is deterministic for a given interpreter: modules, classes and
functions are visited in sorted order and the only randomness is `random.Random(0)`.

Train and validation examples come from disjoint sets of modules (TRAIN_MODULES and
VALIDATION_MODULES below), so every validation split is held out by module.

Outputs (relative to this file's folder):
  domain/train.csv, domain/validation.csv                  column `text` (domain adaptation)
  instruction/{train,validation}/data.jsonl                {instruction, context, response}
  instruction-template/{train,validation}/data.jsonl       {question, answer} + template.json
  chat/train.jsonl, chat/validation.jsonl                  {messages: [{role, content}, ...]}
"""

from __future__ import annotations

import ast
import csv
import json
import random
import re
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
STDLIB = Path(sysconfig.get_paths()["stdlib"])

# Module name as a file under the stdlib -> the name users import it as.
DISPLAY_NAMES = {"_pydecimal": "decimal", "posixpath": "os.path", "unittest.case": "unittest"}

# Split by top-level package: no package contributes to both sides.
TRAIN_MODULES = [
    "_pydecimal", "argparse", "ast", "base64", "bisect", "codecs", "collections", "contextlib",
    "copy", "csv", "dataclasses", "datetime", "dis", "doctest", "email.message", "email.utils",
    "enum", "fnmatch", "functools", "getopt", "gettext", "glob", "hashlib", "heapq", "html",
    "http.client", "inspect", "json", "json.decoder", "json.encoder", "locale",
    "logging", "optparse", "pathlib", "posixpath", "pprint", "random", "secrets", "shutil",
    "string", "subprocess", "tarfile", "tempfile", "textwrap", "threading", "timeit",
    "tokenize", "trace", "typing", "unittest.case", "urllib.parse", "uuid", "zipfile",
]
VALIDATION_MODULES = [
    "calendar", "configparser", "difflib", "fractions", "gzip", "ipaddress", "queue",
    "sched", "statistics", "xml.etree.ElementTree",
]

# Row counts.
DOMAIN_TRAIN, DOMAIN_VALIDATION = 200, 50
INSTRUCTION_TRAIN, INSTRUCTION_VALIDATION = 96, 24
TEMPLATE_TRAIN, TEMPLATE_VALIDATION = 64, 16
CHAT_TRAIN, CHAT_VALIDATION = 64, 16

# Length limits (characters).
DOMAIN_MIN, DOMAIN_MAX = 100, 600
ANSWER_MIN, ANSWER_MAX = 60, 400
SIGNATURE_MAX = 160

TEMPLATE_JSON = {
    "prompt": "Question about the Python standard library: {question}",
    "completion": " {answer}",
}

INSTRUCTION_PHRASINGS = [
    "Explain what `{name}` does in Python.",
    "What does the `{name}` {kind} do?",
    "Describe the purpose of the `{name}` {kind} from the Python standard library.",
    "In Python, what is `{name}` used for?",
    "Summarize the behavior of `{name}`.",
]
QUESTION_PHRASINGS = [
    "What does `{name}` do?",
    "What is the {kind} `{name}` for?",
    "Briefly, what is the job of `{name}`?",
    "How would you describe `{name}`?",
]
CHAT_PHRASINGS = [
    "What does `{name}` do?",
    "Can you tell me what `{name}` is for?",
    "I keep seeing `{name}` in code. What does it do?",
    "Quick question: what is the purpose of `{name}`?",
]


@dataclass(frozen=True)
class Function:
    module: str  # display name, e.g. "os.path"
    qualname: str  # "dumps" or "Path.resolve"
    kind: str  # "function" or "method"
    signature: str  # e.g. "heapq.merge(*iterables, key=None, reverse=False)", or ""
    summary: str  # cleaned first paragraph of the docstring

    @property
    def name(self) -> str:
        return f"{self.module}.{self.qualname}"

    @property
    def owner(self) -> str:  # the class of a method
        return f"{self.module}.{self.qualname.rsplit('.', 1)[0]}"


# --------------------------------------------------------------------------- reading and cleaning


def source_path(module: str) -> Path:
    base = STDLIB.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"build_samples: no source file for module {module!r} under {STDLIB}")


def parse(module: str) -> ast.Module:
    path = source_path(module)
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


SIGNATURE_LINE = re.compile(r"^[\w.]+\(.*\)(\s*->.*)?$")
ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")  # :func:`foo` -> `foo`
NOT_PROSE_STARTS = (">>>", "...", "-", "*", "+", "|", "::", ".. ")  # doctest, lists, tables, directives
BAD_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def blocks(docstring: str) -> list[str | None]:
    """The blank-line separated blocks of a cleaned docstring: prose text with whitespace collapsed,
    or None for a block that is not prose (doctest `>>>`, indented code, lists, tables, headings).
    """
    out: list[str | None] = []
    for block in re.split(r"\n\s*\n", docstring.strip()):
        lines = block.splitlines()
        text = " ".join(line.strip() for line in lines)
        text = ROLE.sub(r"`\1`", text).replace("``", "`")
        text = re.sub(r"\s+", " ", text).strip()
        if (
            not lines
            or any(line.startswith((" ", "\t")) for line in lines)  # code, literal or continued list
            or any(line.lstrip().startswith(NOT_PROSE_STARTS) for line in lines)
            or any(re.fullmatch(r"[-=~^*]{3,}", line.strip()) for line in lines)  # reST headings/tables
            or any(re.match(r"^[\w*.]+ *(--|:) ", line) for line in lines)  # "name -- description" lists
            or BAD_CHARS.search(text)
            or "XXX" in text
            or "TODO" in text
        ):
            out.append(None)
        else:
            out.append(text)
    return out


def paragraphs(docstring: str) -> list[str]:
    return [b for b in blocks(docstring) if b is not None]


def is_sentence(text: str) -> bool:
    return text[:1].isupper() and text.endswith(".") and not text.endswith("..")


def is_prose(text: str) -> bool:
    return is_sentence(text) and len(text.split()) >= 8


def summary(docstring: str) -> str | None:
    """The first paragraph of a function docstring, skipping a C-style signature line.

    When that paragraph is a one-line summary shorter than ANSWER_MIN, the next paragraph is
    appended (when it is prose), e.g. "Return the median of data. When the number of data
    points is even, ..."; otherwise the function is skipped.
    """
    parts = blocks(docstring)
    if parts and parts[0] is not None and SIGNATURE_LINE.match(parts[0]):
        parts = parts[1:]
    if not parts or parts[0] is None or not is_sentence(parts[0]):
        return None
    text = parts[0]
    if len(text) < ANSWER_MIN and len(parts) > 1 and parts[1] is not None and is_sentence(parts[1]):
        text = f"{text} {parts[1]}"
    return text if ANSWER_MIN <= len(text) <= ANSWER_MAX and is_prose(text) else None


def signature(module: str, qualname: str, node: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> str:
    """`module.qualname(args)` from the source, without `self`/`cls`.

    "" when longer than SIGNATURE_MAX or when it shows private names (e.g. `fallback=_UNSET`).
    """
    args = node.args
    static = any(ast.unparse(d) == "staticmethod" for d in node.decorator_list)
    if method and not static and (args.posonlyargs or args.args):  # drop self / cls
        args = ast.arguments(**{field: list(getattr(args, field)) if isinstance(getattr(args, field), list)
                                else getattr(args, field) for field in args._fields})
        if args.posonlyargs:
            args.posonlyargs.pop(0)
        else:
            args.args.pop(0)
        positional = len(args.posonlyargs) + len(args.args)
        args.defaults = args.defaults[len(args.defaults) - positional:] if len(args.defaults) > positional \
            else args.defaults
    text = f"{module}.{qualname}({ast.unparse(args)})"
    if node.returns is not None:
        text += f" -> {ast.unparse(node.returns)}"
    text = re.sub(r"\s+", " ", text)
    return "" if len(text) > SIGNATURE_MAX or re.search(r"\b_[A-Za-z]", text) else text


def public(name: str) -> bool:
    return not name.startswith("_")


def is_overload(node: ast.AST) -> bool:
    decorators = getattr(node, "decorator_list", [])
    return any(ast.unparse(d).endswith(("overload", "setter", "deleter")) for d in decorators)


def functions(module: str) -> list[Function]:
    tree, display = parse(module), DISPLAY_NAMES.get(module, module)
    found: list[Function] = []

    def visit(node: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str, method: bool) -> None:
        decorators = [ast.unparse(d) for d in node.decorator_list]
        # Properties are attributes, not callables; typing's special forms are decorated functions.
        if is_overload(node) or "property" in decorators or any("SpecialForm" in d for d in decorators):
            return
        doc = ast.get_docstring(node, clean=True)
        text = summary(doc) if doc else None
        if text:
            found.append(Function(display, qualname, "method" if method else "function",
                                  signature(display, qualname, node, method), text))

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and public(node.name):
            visit(node, node.name, method=False)
        elif isinstance(node, ast.ClassDef) and public(node.name):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and public(item.name):
                    visit(item, f"{node.name}.{item.name}", method=True)
    return sorted(found, key=lambda f: f.name)


def domain_paragraphs(module: str) -> list[str]:
    """Prose paragraphs of the module docstring and of its public classes, functions and methods."""
    tree = parse(module)
    nodes: list[ast.AST] = [tree]
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and public(node.name):
            nodes.append(node)
            if isinstance(node, ast.ClassDef):
                nodes += [item for item in node.body
                          if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and public(item.name)]
    out = []
    for node in nodes:
        doc = ast.get_docstring(node, clean=True)
        if doc:
            out += [p for p in paragraphs(doc) if DOMAIN_MIN <= len(p) <= DOMAIN_MAX and is_prose(p)]
    return out


def dedupe(items: list, key=lambda x: x) -> list:
    seen, out = set(), []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            out.append(item)
    return out


# --------------------------------------------------------------------------- building rows


def pick(rng: random.Random, items: list, n: int, what: str) -> list:
    if len(items) < n:
        raise SystemExit(f"build_samples: only {len(items)} candidates for {what}, need {n}")
    return rng.sample(items, n)


def instruction_rows(fns: list[Function], rng: random.Random) -> list[dict]:
    rows = []
    for i, fn in enumerate(fns):
        phrasing = INSTRUCTION_PHRASINGS[i % len(INSTRUCTION_PHRASINGS)]
        context = fn.signature if fn.signature and rng.random() < 0.5 else ""
        rows.append({"instruction": phrasing.format(name=fn.name, kind=fn.kind), "context": context,
                     "response": fn.summary})
    return rows


def template_rows(fns: list[Function]) -> list[dict]:
    return [{"question": QUESTION_PHRASINGS[i % len(QUESTION_PHRASINGS)].format(name=fn.name, kind=fn.kind),
             "answer": fn.summary} for i, fn in enumerate(fns)]


def follow_up(fn: Function, i: int) -> tuple[str, str]:
    module = fn.module
    choices = [("Which module is it in?", f"It is in the `{module}` module.")]
    if fn.kind == "method":
        choices.append(("Is it a plain function?",
                        f"No, it is a method of the `{fn.owner}` class in the `{module}` module."))
    if fn.signature:
        choices.append(("What is its signature?", f"`{fn.signature}`"))
    return choices[i % len(choices)]


def chat_rows(fns: list[Function]) -> list[dict]:
    rows = []
    for i, fn in enumerate(fns):
        messages = [
            {"role": "user", "content": CHAT_PHRASINGS[i % len(CHAT_PHRASINGS)].format(name=fn.name)},
            {"role": "assistant", "content": fn.summary},
        ]
        if i % 3 == 0:  # about a third of the conversations have a second turn
            question, answer = follow_up(fn, i // 3)
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        rows.append({"messages": messages})
    return rows


# --------------------------------------------------------------------------- writing


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_csv(path: Path, texts: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["text"])
        writer.writerows([t] for t in texts)


README = """\
# Sample datasets

Small, real-text datasets for trying `fmtune` end to end. Rows are kept short (paragraphs under
600 characters, answers under 400) so that a ~135M-parameter model can go through them quickly on
a CPU. All text is taken from the docstrings of the CPython {python} standard
library (the interpreter that ran the generator), read with `ast` from the `.py` sources so nothing
is imported or executed. The files are generated; do not edit them by hand. Regenerate with

```
python3 samples/build_samples.py
```

(stdlib only; deterministic: sorted iteration, `random.Random(0)`, identical output on CPython
{python}; another Python version yields different text because its docstrings differ).

Every validation split is held out **by module**: its rows come only from the validation modules
listed below, none of which (nor any module of the same package) contributes to a train split.

| folder | files | train | validation | hyperparameters |
|---|---|---|---|---|
| `domain/` | `train.csv`, `validation.csv` | {n_domain_train} | {n_domain_validation} | (domain adaptation) |
| `instruction/` | `train/data.jsonl`, `validation/data.jsonl` \
| {n_instruction_train} | {n_instruction_validation} | `instruction_tuned=True` |
| `instruction-template/` | `data.jsonl` + `template.json` in `train/`, `validation/` \
| {n_template_train} | {n_template_validation} | `instruction_tuned=True` |
| `chat/` | `train.jsonl`, `validation.jsonl` | {n_chat_train} | {n_chat_validation} | `chat_dataset=True` |

Point the `training` channel at the train file/folder and the `validation` channel at the
validation file/folder (e.g. `samples/domain/train.csv` and `samples/domain/validation.csv`,
or `samples/instruction/train/` and `samples/instruction/validation/`).

## Formats

- **domain**: CSV (`csv` module quoting, UTF-8) with the header `text`; each row is one prose
  paragraph ({domain_min}-{domain_max} chars) of a module, class, function or method docstring
  (whitespace collapsed; doctest `>>>` blocks, code, lists and tables dropped).
- **instruction**: Dolly-style rows `{{"instruction": ..., "context": ..., "response": ...}}`
  with no `template.json`, so fmtune's default (JumpStart) template applies. `instruction` asks
  about one function or method in one of five phrasings (e.g. "What does the `textwrap.dedent`
  function do?"); `context` is either `""` or the signature read from the source, without `self`
  (e.g. `"heapq.merge(*iterables, key=None, reverse=False)"`); `response` is the first paragraph
  of its docstring ({answer_min}-{answer_max} chars; a one-line summary shorter than {answer_min} chars
  is joined with the next paragraph).
- **instruction-template**: rows `{{"question": ..., "answer": ...}}` (same kind of text, other
  functions than `instruction/`) and `template.json`:
  `{template}`.
- **chat**: rows `{{"messages": [{{"role": "user", "content": ...}}, {{"role": "assistant", ...}}]}}`:
  a user question and the assistant's answer (the docstring paragraph); every third
  conversation has a second turn, e.g. "Which module is it in?" -> "It is in the `json` module.",
  "What is its signature?" or, for methods, "Is it a plain function?".

JSONL files are UTF-8, one JSON object per line, every line newline-terminated. The
instruction, instruction-template and chat datasets use disjoint functions within a split.

## Modules

Train modules: {train_modules}.

Validation modules (held out): {validation_modules}.

(Module names are the import names: `decimal` is read from `_pydecimal.py`, `os.path` from
`posixpath.py`, `unittest` from `unittest/case.py`.)

## Source and license

Generated from the docstrings of the CPython {python} standard library (the `.py` files in the
interpreter's `lib/python3.11/`). CPython, including the docstrings of its standard library, is
distributed under the PSF License Agreement for Python (version 2; the full text is the
`LICENSE.txt` of that directory and <https://docs.python.org/3/license.html>): "Copyright (c)
2001-2023 Python Software Foundation; All Rights Reserved". The text is used unchanged apart
from the selection described above, whitespace collapsing, and reST markup simplification
(double backquotes and roles such as `:func:` reduced to single backquotes).
"""


def main() -> None:
    if sys.version_info[:2] != (3, 11):
        version = sys.version.split()[0]
        print(f"build_samples: warning: Python {version}; the committed samples come from 3.11",
              file=sys.stderr)
    train_pkgs = {m.split(".")[0] for m in TRAIN_MODULES}
    val_pkgs = {m.split(".")[0] for m in VALIDATION_MODULES}
    assert not train_pkgs & val_pkgs, train_pkgs & val_pkgs
    rng = random.Random(0)

    split_fns: dict[str, list[Function]] = {}
    split_paras: dict[str, list[tuple[str, str]]] = {}  # (module, paragraph)
    for split, modules in (("train", sorted(TRAIN_MODULES)), ("validation", sorted(VALIDATION_MODULES))):
        fns = [fn for m in modules for fn in functions(m)]
        split_fns[split] = dedupe(dedupe(fns, key=lambda f: f.summary), key=lambda f: f.name)
        paras = [(DISPLAY_NAMES.get(m, m), p) for m in modules for p in domain_paragraphs(m)]
        split_paras[split] = dedupe(paras, key=lambda mp: mp[1])
    # Held out by text too: drop validation items whose text also appears in train.
    train_texts = {f.summary for f in split_fns["train"]} | {p for _, p in split_paras["train"]}
    split_fns["validation"] = [f for f in split_fns["validation"] if f.summary not in train_texts]
    split_paras["validation"] = [mp for mp in split_paras["validation"] if mp[1] not in train_texts]

    counts = {
        "train": (DOMAIN_TRAIN, INSTRUCTION_TRAIN, TEMPLATE_TRAIN, CHAT_TRAIN),
        "validation": (DOMAIN_VALIDATION, INSTRUCTION_VALIDATION, TEMPLATE_VALIDATION, CHAT_VALIDATION),
    }
    used: dict[str, set[str]] = {}
    for split in ("train", "validation"):
        n_domain, n_instruction, n_template, n_chat = counts[split]
        paras = pick(rng, split_paras[split], n_domain, f"{split} domain paragraphs")
        # Disjoint functions for the three instruction-style datasets while there are enough.
        pool = list(split_fns[split])
        rng.shuffle(pool)
        need = n_instruction + n_template + n_chat
        if len(pool) < need:
            pool += rng.sample(split_fns[split], need - len(pool))
        instruction = pool[:n_instruction]
        template = pool[n_instruction:n_instruction + n_template]
        chat = pool[n_instruction + n_template:need]
        used[split] = {m for m, _ in paras} | {f.module for f in pool[:need]}

        write_csv(HERE / "domain" / f"{split}.csv", [p for _, p in paras])
        write_jsonl(HERE / "instruction" / split / "data.jsonl", instruction_rows(instruction, rng))
        write_jsonl(HERE / "instruction-template" / split / "data.jsonl", template_rows(template))
        write_json(HERE / "instruction-template" / split / "template.json", TEMPLATE_JSON)
        write_jsonl(HERE / "chat" / f"{split}.jsonl", chat_rows(chat))
        print(f"{split}: {len(split_paras[split])} paragraphs, {len(split_fns[split])} functions available; "
              f"wrote {n_domain} domain, {n_instruction} instruction, {n_template} template, {n_chat} chat "
              f"rows from {len(used[split])} modules: {', '.join(sorted(used[split]))}")

    python = sys.version.split()[0]
    (HERE / "README.md").write_text(README.format(
        python=python, domain_min=DOMAIN_MIN, domain_max=DOMAIN_MAX,
        answer_min=ANSWER_MIN, answer_max=ANSWER_MAX, template=json.dumps(TEMPLATE_JSON),
        n_domain_train=DOMAIN_TRAIN, n_domain_validation=DOMAIN_VALIDATION,
        n_instruction_train=INSTRUCTION_TRAIN, n_instruction_validation=INSTRUCTION_VALIDATION,
        n_template_train=TEMPLATE_TRAIN, n_template_validation=TEMPLATE_VALIDATION,
        n_chat_train=CHAT_TRAIN, n_chat_validation=CHAT_VALIDATION,
        train_modules=", ".join(f"`{m}`" for m in sorted(used["train"])),
        validation_modules=", ".join(f"`{m}`" for m in sorted(used["validation"])),
    ), encoding="utf-8")
    print(f"source: CPython {python} standard library at {STDLIB}")


if __name__ == "__main__":
    main()
