"""The optimize report opened in headless Chromium (Debian's package): the page renders its embedded plots, with
nothing fetched from the network, under the expected titles."""
import shutil
import subprocess

import numpy as np
import pytest

from edgekit.optimize.budgets import Budgets
from edgekit.optimize.report import html_report, summarise

TITLES = ["Pareto front: accuracy drop vs latency", "Latency distribution per candidate",
          "Memory and size against the budgets"]


def _cand(n, recipe, drop, latency, size, ram):
    return {"number": n, "params": {}, "recipe": recipe, "status": "measured", "reason": None, "artifact": None,
            "duplicate_of": None, "latency_ms": {"min": latency * 0.9, "p50": latency, "p90": latency * 1.1,
                                                 "p99": latency * 1.2, "max": latency * 1.3,
                                                 "time_base_label": "emulated virtual time on mps2-an500"},
            "figures": {"accuracy_drop": drop, "latency_ms": latency * 5, "size_bytes": size, "flash_bytes": size,
                        "ram_bytes": ram, "accuracy": 96 - drop,
                        "latency_basis": "estimated on stm32f746: n instructions x CPI / clock"}}


def _screenshot(html_path, png_path):
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1000,2200", f"--screenshot={png_path}", html_path.as_uri()],
                   check=True, capture_output=True, timeout=120)
    import matplotlib.image as mpimg
    return mpimg.imread(png_path)


def test_report_renders_its_plots_in_headless_chromium(tmp_path):
    if shutil.which("chromium") is None:
        pytest.skip("chromium not installed (make system-deps)")
    cands = [_cand(0, "int8", 0.3, 0.52, 23_920, 12_388), _cand(1, "prune 25% (l1) -> int8", 0.4, 0.37, 18_932, 11_600),
             _cand(2, "prune 55% (l1) -> int8", 2.5, 0.25, 12_000, 10_900)]
    summary = summarise(cands, Budgets(max_latency_ms=2.5, max_drop=1.0, max_ram_bytes=320 * 1024), "emu-cortex-m7",
                        96.1, {"name": "t"})
    page = html_report(summary, "edgekit optimize: emu-cortex-m7")
    assert summary["chosen"]["number"] == 1
    assert "http://" not in page and "https://" not in page
    with_plots, without = tmp_path / "report.html", tmp_path / "bare.html"
    with_plots.write_text(page)
    without.write_text(page.replace('src="data:image/png', 'data-src="x'))  # the same page, plots left out

    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          with_plots.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert all(f"<h2>{t}</h2>" in dom for t in TITLES) and dom.count("<img") == 3
    shot, bare = _screenshot(with_plots, tmp_path / "shot.png"), _screenshot(without, tmp_path / "bare.png")
    inked = lambda img: float((img[..., :3].mean(axis=2) < 0.9).mean())  # noqa: E731  share of non-white pixels
    assert shot.std() > 0.05 and inked(shot) > inked(bare) + 0.02  # the plots drew something the text alone does not
