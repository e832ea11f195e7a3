"""A DreamBooth job stopped and resumed through the job store (`fmtune jobs stop / resume`), the recipe in the
process the runner starts: SIGTERM lands mid-training, a checkpoint is written, the job ends Stopped and resumes
from that step to the end; then `fmtune deploy --detach` serves it from an endpoint process."""

from __future__ import annotations

import base64
import io
import json
import re
import time
from pathlib import Path

import pytest
from PIL import Image

from fmtune.cli.main import main
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.store import JobStore
from fmtune.serve.launcher import find_endpoint

from ..conftest import SAMPLES

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("home")]

SD = "model-txt2img-stabilityai-stable-diffusion-v2-1-base"


def test_stop_resume_then_deploy_from_the_endpoint_process(tmp_path, capsys):
    assert main(["train", SD, "--tiny-random", "--training", str(SAMPLES / "dreambooth"), "--job-name", "cat",
                 "--detach", "-H", "peft_type=lora", "-H", "max_steps=100", "-H", "resolution=64",
                 "-H", "num_validation_images=0"]) == 0
    layout = JobLayout(Path(JobStore().require("cat").job_dir))
    deadline = time.monotonic() + 300
    while "step=3/" not in (layout.logs.read_text() if layout.logs.exists() else ""):
        assert time.monotonic() < deadline and JobStore().require("cat").active, layout.logs.read_text()
        time.sleep(0.05)
    assert main(["jobs", "stop", "cat"]) == 0
    assert JobStore().require("cat").status == "Stopped"
    log = layout.logs.read_text()
    stopped_at = int(re.search(r"stopped by SIGTERM; checkpoint saved at step (\d+)", log).group(1))
    assert 3 <= stopped_at < 100 and (layout.checkpoints / f"step-{stopped_at:08d}" / "COMPLETE").exists()

    capsys.readouterr()
    assert main(["jobs", "resume", "cat"]) == 0
    log = layout.logs.read_text()
    assert f"resumed from step-{stopped_at:08d}: step {stopped_at} of 100" in log
    assert f"step={stopped_at + 1}/100" in log and "step=100/100" in log
    assert JobStore().require("cat").status == "Completed" and layout.has_model()

    # the endpoint process (`python -m fmtune.serve`) for the job, started and stopped by the CLI
    capsys.readouterr()
    assert main(["deploy", "cat", "--name", "sd", "--port", "0", "--detach", "--max-inference-steps", "4"]) == 0
    key = capsys.readouterr().out.split("API key (made for this endpoint): ")[1].split()[0]
    endpoint = find_endpoint("sd", key)
    assert endpoint is not None
    try:
        body, media = endpoint.client().invoke_raw(b"a photo of a Chelsea cat", "application/x-text",
                                                   "application/json;jpeg")
        image = Image.open(io.BytesIO(base64.b64decode(json.loads(body)["generated_image"])))
        assert media.startswith("application/json;jpeg") and image.size == (64, 64)
    finally:
        assert main(["endpoints", "stop", "sd"]) == 0
    assert find_endpoint("sd", key) is None

