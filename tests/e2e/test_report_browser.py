"""report.html of a real `harness eval` run, opened in headless Chromium (Debian's chromium and
chromium-driver; CI installs them): no console errors, filters work, a highlighted span shows in
a screenshot, and an answer holding <script> is shown as text, never run."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from harness.backends.scripted import ScriptedBackend
from tests.conftest import REPO, STARTER
from tests.e2e.conftest import run

HOSTILE = ("<script>window.__pwned = 1;</script><img src=x onerror=\"window.__pwned = 2\"> "
           "The insurer pays up to $999,999 for hotel bills in Paris after every flood.")
LOOP = "The policy does not say. The policy does not say. The policy does not say."
ARTIFACTS = Path(os.environ.get("HARNESS_TEST_ARTIFACTS", REPO / "test-artifacts"))

pytestmark = pytest.mark.usefixtures("in_tmp")


def chromium_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture
def report_run(tmp_path, sfip_index) -> Path:
    ScriptedBackend.pending.extend([HOSTILE, LOOP])
    result = run("eval", "--backend", "scripted", "--models", "base", "--decoding", "greedy", "seed-optimized",
                 "--eval-set", STARTER, "--index", sfip_index, "--limit", "5", "--results-dir", tmp_path / "results")
    assert result.exit_code == 0, result.output
    run_dir = Path(result.stdout.strip().splitlines()[-1]).parent
    assert "report: " in result.stderr and (run_dir / "report.html").is_file()
    return run_dir


@pytest.fixture
def browser():
    paths = chromium_paths()
    if paths is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium chromium-driver; CI installs it)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(paths[1]), options=options)
    yield driver
    driver.quit()


def visible(driver, css: str) -> list:
    return [e for e in driver.find_elements("css selector", css) if e.is_displayed()]


def test_report_opens_filters_and_highlights_in_chromium(report_run, browser):
    from selenium.webdriver.support.ui import Select

    items = [json.loads(line) for line in (report_run / "items.jsonl").read_text().splitlines()]
    hostile = next(r for r in items if r["raw_answer"] == HOSTILE)
    assert hostile["verdict"] == "hallucinated" and hostile["spans"]
    browser.get((report_run / "report.html").as_uri())
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors  # no console errors, including Content-Security-Policy violations
    # The hostile answer is text on the page; neither its script nor its onerror ran.
    assert browser.execute_script("return window.__pwned === undefined")
    assert any("<script>window.__pwned" in e.text for e in browser.find_elements("css selector", ".answer .text"))
    sections = browser.find_elements("css selector", "section.question")
    assert len(sections) == 5 and browser.find_element("id", "count").text == "5 of 5 questions"
    # Verdict filter: only questions with a hallucinated answer stay, and only those answers.
    Select(browser.find_element("id", "f-verdict")).select_by_value("hallucinated")
    want = {r["item_id"] for r in items if r["verdict"] == "hallucinated"}
    assert {s.get_attribute("id")[2:] for s in visible(browser, "section.question")} == want
    assert {a.get_attribute("data-verdict") for a in visible(browser, ".answer")} == {"hallucinated"}
    Select(browser.find_element("id", "f-verdict")).select_by_value("")
    # Model filter: one model · cell column left.
    Select(browser.find_element("id", "f-model")).select_by_value("base · seed-optimized")
    assert {a.get_attribute("data-label") for a in visible(browser, ".answer")} == {"base · seed-optimized"}
    Select(browser.find_element("id", "f-model")).select_by_value("")
    # Category filter and search.
    category = items[0]["category"]
    Select(browser.find_element("id", "f-category")).select_by_value(category)
    assert {s.get_attribute("data-category") for s in visible(browser, "section.question")} == {category}
    Select(browser.find_element("id", "f-category")).select_by_value("")
    browser.find_element("id", "f-search").send_keys("hotel bills in Paris")
    assert [s.get_attribute("id")[2:] for s in visible(browser, "section.question")] == [hostile["item_id"]]
    assert browser.find_element("id", "count").text == "1 of 5 questions"
    # The highlighted span, with its reason on hover, and the trimmed tail struck through.
    marks = visible(browser, "mark.unsupported")
    assert marks and any("999,999" in m.text for m in marks) and all(m.get_attribute("title") for m in marks)
    browser.find_element("id", "f-search").clear()
    browser.find_element("id", "f-search").send_keys(" ")  # input event with an empty query: all back
    tails = visible(browser, "del.trimmed")
    assert tails and "The policy does not say." in tails[0].text
    # Screenshot of the highlighted span, kept as a test artifact; the highlight colour is in it.
    mark = next(m for m in visible(browser, "mark.unsupported") if "999,999" in m.text)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", mark)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    browser.save_screenshot(str(shot))
    from PIL import Image

    pixels = Image.open(shot).convert("RGB").getdata()
    highlight = sum(1 for r, g, b in pixels if abs(r - 255) < 6 and abs(g - 208) < 8 and abs(b - 201) < 8)
    assert highlight > 200, f"no highlighted span visible in {shot}"
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_report_command_and_compare_page(report_run):
    (report_run / "report.html").unlink()
    result = run("report", report_run)
    assert result.exit_code == 0 and Path(result.stdout.strip()) == report_run / "report.html"
    page = (report_run / "report.html").read_text()
    assert "http://" not in page and "https://" not in page  # nothing to fetch: works offline
    assert "&lt;script&gt;window.__pwned" in page and "<script>window.__pwned" not in page
    assert {p.name for p in (report_run / "plots").glob("*.png")} == {"hallucination.png", "refusal_grid.png",
                                                                     "categories.png"}
    assert page.count('src="data:image/png;base64,') == 3
    out = report_run / "compare.html"
    result = run("compare", report_run, "--html", out)
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "Questions that flipped" in page and "&lt;script&gt;" in page  # the hostile answer flipped
    assert run("report", report_run.parent / "missing").exit_code == 2


def test_an_unscored_run_still_gets_a_report(tmp_path, sfip_index):
    result = run("eval", "--backend", "scripted", "--models", "base", "--eval-set", STARTER, "--index", sfip_index,
                 "--limit", "2", "--no-score", "--results-dir", tmp_path / "results")
    assert result.exit_code == 0, result.output
    run_dir = Path(result.stdout.strip().splitlines()[-1]).parent
    page = (run_dir / "report.html").read_text()
    assert page.count('class="answer"') == 2 and "verdict-unscored" in page
    assert "data:image/png" not in page and not list((run_dir / "plots").glob("*.png"))  # nothing to plot
