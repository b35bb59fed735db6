"""Screenshot of a run's report.html in headless Chromium, scrolled to the first highlighted span
(the README's picture):  python docs/tools/screenshot_report.py results/RUN docs/report.png"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def main(run_dir: str, out: str, width: int = 1300, height: int = 900) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"), options=options)
    try:
        driver.get((Path(run_dir) / "report.html").resolve().as_uri())
        marks = driver.find_elements("css selector", "mark.unsupported")
        if marks:
            # Past the sticky filter bar, so the question's heading shows.
            driver.execute_script("arguments[0].closest('section').scrollIntoView({block: 'start'});"
                                  "window.scrollBy(0, -70);", marks[0])
        driver.save_screenshot(out)
    finally:
        driver.quit()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
