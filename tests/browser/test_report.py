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
