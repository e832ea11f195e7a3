"""Shared fixtures: an isolated FMTUNE_HOME per test session, with the embedded model converted once."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
TRAINED_JOB = "embedded-instruction"  # the session's one trained job of the embedded model
# Converted weights survive between local runs (CI starts clean and converts once, ~30 s).
MODEL_CACHE = REPO / ".pytest_cache" / "fmtune-models"

# JumpStart's retrieve_default for Llama 2 7B (shared/reference/jumpstart.md), as strings: stated here, not
# read from the catalog, so that tests of the catalog and the CLI check it against the reference.
LLAMA2_7B_DEFAULTS = {
    "epoch": "5",
    "learning_rate": "0.0001",
    "instruction_tuned": "False",
    "chat_dataset": "False",
    "add_input_output_demarcation_key": "True",
    "per_device_train_batch_size": "4",
    "per_device_eval_batch_size": "1",
    "max_train_samples": "-1",
    "max_val_samples": "-1",
    "max_input_length": "-1",
    "validation_split_ratio": "0.2",
    "train_data_split_seed": "0",
    "seed": "10",
    "preprocessing_num_workers": "None",
    "lora_r": "8",
    "lora_alpha": "32",
    "lora_dropout": "0.05",
    "int8_quantization": "False",
    "enable_fsdp": "True",
}


@pytest.fixture(scope="session", autouse=True)
def fmtune_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("fmtune-home")
    MODEL_CACHE.mkdir(parents=True, exist_ok=True)
    (home / "models").symlink_to(MODEL_CACHE, target_is_directory=True)
    os.environ["FMTUNE_HOME"] = str(home)
    os.environ["HF_HUB_OFFLINE"] = "1"
    return home


@pytest.fixture(scope="session")
def embedded_model_dir(fmtune_home: Path) -> Path:
    """The embedded SmolLM2-135M-Instruct as safetensors (converted from the bundled GGUF once)."""
    from fmtune.catalog import DEFAULT_MODEL_ID, get_card
    from fmtune.models.gguf import convert_gguf

    return convert_gguf(get_card(DEFAULT_MODEL_ID))


@pytest.fixture(scope="session")
def smollm_tokenizer(embedded_model_dir: Path):
    from fmtune.models.loading import load_tokenizer

    return load_tokenizer(embedded_model_dir)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty FMTUNE_HOME for one test (nothing in it is created until fmtune writes it)."""
    home = tmp_path / "home"
    monkeypatch.setenv("FMTUNE_HOME", str(home))
    return home


@contextlib.contextmanager
def recipes_here() -> Iterator[None]:
    """Single-process jobs run their recipe in this process instead of a new one: for tests where the runner's
    subprocess is not what is tested. Everything before (CLI or SDK, start_job's checks, the job store, the job
    folder) and the recipe itself are the real ones; a new process would spend ~6 s of a 2-core machine
    importing torch, transformers and peft again. A detached job (the SDK's fit) has ended when its start
    returns; multi-process jobs start as usual."""
    import importlib
    import signal

    from fmtune import process
    from fmtune.jobs import runner
    from fmtune.jobs.store import JobStore
    from fmtune.tasks import get_task

    real_launch = runner._launch

    def launch(job, layout, *, detach: bool, resume: bool) -> int:
        if job.launch.nproc_per_node > 1 or job.launch.nnodes > 1:
            return real_launch(job, layout, detach=detach, resume=resume)
        JobStore().set_process(job.job_name, os.getpid(), process.process_identity(os.getpid()))
        recipe = importlib.import_module(get_task(job.task).recipe)
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:  # the recipe installs its own stop handlers
            code = recipe.main(["--job-dir", job.job_dir, *(["--resume"] if resume else [])])
            return 0 if detach else code  # as for a detached process: its end is in the job store
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "_launch", launch)
        yield


@pytest.fixture(scope="module")
def recipes_in_process() -> Iterator[None]:
    """`recipes_here` for a whole test module, its module-scoped fixtures included."""
    with recipes_here():
        yield


@pytest.fixture(scope="session")
def trained_embedded_job(fmtune_home: Path, embedded_model_dir: Path) -> Path:
    """One real fine-tune of the embedded model, made once for the tests that only need a trained job: LoRA
    instruction tuning on 16 rows of 128 tokens, job name `embedded-instruction` in the session's job store."""
    from fmtune.cli.main import main

    job_dir = fmtune_home / "jobs" / TRAINED_JOB
    with recipes_here():
        code = main(["train", "--training", str(SAMPLES / "instruction" / "train"),
                     "--validation", str(SAMPLES / "instruction" / "validation"),
                     "-H", "instruction_tuned=True", "-H", "epoch=1", "-H", "max_train_samples=16",
                     "-H", "max_val_samples=8", "-H", "learning_rate=0.0005", "-H", "max_input_length=128",
                     "-H", "per_device_eval_batch_size=8", "--job-name", TRAINED_JOB, "--output-dir", str(job_dir)])
    assert code == 0, (job_dir / "logs.txt").read_text()
    return job_dir


@pytest.fixture(scope="module")
def endpoints_in_process() -> Iterator[None]:
    """Managed endpoints (`Estimator.deploy()`, `JumpStartModel.deploy()`, `predictor.delete_endpoint()`) serve
    from a thread of this process instead of a background process: for test modules about what an endpoint
    answers, not about the process that serves it (tests/integration/test_serve_process.py is). The engine, the
    app, the registry record and the stored key are the real ones; a new process would spend ~6 s importing."""
    import secrets
    from dataclasses import replace

    from fmtune import serve
    from fmtune.serve import launcher
    from fmtune.serve.launcher import Endpoint, default_name
    from fmtune.serve.registry import check_name, register, store_key, unregister
    from fmtune.serve.server import ServerThread, endpoint_record, load_engine
    from fmtune.serve.settings import ServeSettings

    real_stop = serve.stop_endpoint
    running: dict[str, tuple[ServerThread, object]] = {}

    def start(model, *, adapters=None, name=None, host="127.0.0.1", port=0, api_key=None, settings=None,
              timeout=300.0) -> Endpoint:
        key = api_key or secrets.token_urlsafe(24)
        settings = replace(settings or ServeSettings(), host=host, port=port, api_key=key).check()
        name = check_name(name or default_name(model))
        engine = load_engine(model, adapters, settings)
        server = ServerThread(engine, host, port).__enter__()
        running[name] = (server, engine)
        register(endpoint_record(name, server.url, model, engine))
        store_key(name, key)
        return Endpoint(name, server.url, os.getpid(), model, tuple(engine.adapters), key)

    def stop(endpoint, timeout: float = 30.0) -> bool:
        name = endpoint.name if isinstance(endpoint, Endpoint) else endpoint
        if name not in running:
            return real_stop(endpoint, timeout)
        server, engine = running.pop(name)
        server.stop()
        engine.close()
        unregister(name, os.getpid())
        return True

    with pytest.MonkeyPatch.context() as patch:
        for where in (serve, launcher):  # the package's name, and the launcher's own (Endpoint.stop calls it)
            patch.setattr(where, "start_endpoint", start)
            patch.setattr(where, "stop_endpoint", stop)
        yield
        for name in list(running):  # a test that failed before deleting its endpoints
            stop(name)


from tests.studio_support import studio  # noqa: E402, F401  (a fixture: Studio servers in their own processes)
