"""The HTML coverage report as a real browser renders it: headless Chromium screenshot, then its pixels.

Chromium comes from Debian (`chromium-headless-shell`, installed by scripts/setup.sh when run as root) or
SIGMA_ES_CHROMIUM=/path/to/chrome. Without a browser the test fails in CI and is skipped elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from sigma_es_backend.conversion import convert_paths
from sigma_es_backend.coverage import collect
from sigma_es_backend.coverage.report import LEVEL_COLORS, html_report
from tests.png import read_png
from tests.unit.test_coverage import RULES

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTH, HEIGHT = 1100, 600  # the top of the page: totals, legend, the all-data-sources matrix


def find_browser() -> str:
    configured = os.environ.get("SIGMA_ES_CHROMIUM")
    found = configured or next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found:
        return found
    message = f"no headless Chromium ({', '.join(BROWSERS)} or SIGMA_ES_CHROMIUM): run scripts/setup.sh as root"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def screenshot(browser: str, page: Path, png: Path) -> None:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--force-device-scale-factor=1", f"--window-size={WIDTH},{HEIGHT}",
               f"--screenshot={png}", page.as_uri()]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0 and png.is_file(), completed.stderr[-2000:]


def rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))


def test_report_renders_matrix_in_chromium(tmp_path: Path) -> None:
    browser = find_browser()
    rules = tmp_path / "rules"
    rules.mkdir()
    for name, text in RULES.items():
        (rules / name).write_text(text)
    coverage = collect(convert_paths([rules], "es_lucene"), "es_lucene", ["ecs"], ["rules"])
    page = tmp_path / "report.html"
    page.write_text(html_report(coverage))

    png = tmp_path / "report.png"
    screenshot(browser, page, png)
    width, height, pixels = read_png(png)
    assert (width, height) == (WIDTH, HEIGHT)
    colours = Counter(pixels)
    assert len(colours) > 50  # text, tables, colours: not a blank page
    # Each level colour appears once in the legend; a matrix cell adds a block of its top level's colour.
    # Here T1059.001 is critical, T1218.011 low, and no technique's top level is high.
    legend_only = colours[rgb(LEVEL_COLORS["high"])]
    assert 300 < legend_only < 3000
    assert colours[rgb(LEVEL_COLORS["critical"])] - legend_only > 1000
    assert colours[rgb(LEVEL_COLORS["low"])] - legend_only > 1000
