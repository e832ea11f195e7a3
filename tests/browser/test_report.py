"""The evaluation report of a real job (the session's trained embedded model) in headless Chromium: every section
is there, the plots decode, the page is saved as a screenshot."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.slow


def test_the_report_opens_and_shows_every_section(page, trained_embedded_job):
    page.goto((trained_embedded_job / "eval" / "report.html").as_uri())
    expect(page.locator("h1")).to_contain_text("Did the fine-tune help?")
    headings = page.locator("h2").all_inner_texts()
    assert headings[:3] == ["Training", "Scores: base and tuned", "Side by side"]
    assert any(h.startswith("Best") for h in headings) and any(h.startswith("Worst") for h in headings)
    expect(page.locator(".cards .card")).not_to_have_count(0)
    expect(page.locator("table.side").first.locator("tbody tr")).to_have_count(8)
    widths = page.locator("img").evaluate_all("images => images.map(i => i.naturalWidth)")
    assert len(widths) == 2 and all(w > 400 for w in widths)  # both plots decoded
    screenshot(page, "14-evaluation-report")


@pytest.mark.usefixtures("recipes_in_process")
def test_a_stable_diffusion_report_shows_both_pipelines_images(page, tmp_path):
    from fmtune.cli.main import main
    from tests.conftest import SAMPLES

    job = tmp_path / "sd"
    assert main(["train", "model-txt2img-stabilityai-stable-diffusion-v2-1-base", "--tiny-random", "--training",
                 str(SAMPLES / "dreambooth"), "--output-dir", str(job), "-H", "resolution=64", "-H", "max_steps=1",
                 "-H", "peft_type=lora", "-H", "num_validation_images=0", "-H", "evaluation_images=2"]) == 0
    page.goto((job / "eval" / "report.html").as_uri())
    expect(page.locator("h1")).to_contain_text("Did the fine-tune help?")
    assert page.locator("h2").all_inner_texts()[:3] == ["Training", "Scores: base and tuned", "Side by side"]
    rows = page.locator("table.side tbody tr")
    expect(rows).to_have_count(4)  # the instance prompt, two new settings, the class prompt
    drawn = page.locator("img.drawn").evaluate_all("images => images.map(i => i.naturalWidth)")
    assert drawn == [64] * 16  # 4 prompts x 2 seeds x 2 pipelines, each decoded from the page itself
    screenshot(page, "15-evaluation-report-stable-diffusion")
