"""The HTML report, built over real quick runs and opened in a real headless browser.

Chromium (Debian's ``chromium`` package) loads the page from disk, runs its
inline check of every image, and gives back the DOM (``--dump-dom``) and a
screenshot. We check that every image decoded, every experiment is present,
and the browser logged no console message (a JavaScript error or a resource
that failed to load would show there). Without chromium these tests are
skipped with the reason; the page's structure is still tested without it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from nndl.experiments import EXPERIMENTS
from nndl.report import build_report, collect_results

QUICK_DIR = "nndl-quick-results"


def _quick_folder(tmp_path_factory):
    """The quick runs of every experiment (shared with test_experiments.py when both run)."""
    import io

    from nndl.experiments import Settings, run_all

    out = tmp_path_factory.getbasetemp() / QUICK_DIR
    if not (out / "summary.json").exists():
        buf = io.StringIO()
        run = run_all(Settings(quick=True, data="digits", seeds=1, out=out, stream=buf))
        (out / "printed.txt").write_text(buf.getvalue(), encoding="utf-8")
        assert not run["errors"], run["errors"]
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    src = _quick_folder(tmp_path_factory)
    # A private copy: some tests break it on purpose.
    dst = tmp_path_factory.mktemp("report") / "results"
    shutil.copytree(src, dst)
    return dst


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")


def _browse(page, tmp_path, *extra) -> subprocess.CompletedProcess:
    browser = _chromium()
    profile = tmp_path / "chromium-profile"
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *extra,
        page.resolve().as_uri(),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def _status(dom: str) -> dict:
    m = re.search(r'<p id="image-status"[^>]*>', dom)
    assert m, "the page's image check did not run"
    tag = m.group(0)
    return {k: int(v) for k, v in re.findall(r'data-(loaded|broken)="(\d+)"', tag)}


# ------------------------------------------------------------- in a browser
def test_report_in_headless_chromium(results, tmp_path):
    page = build_report(results)
    n_images = page.read_text(encoding="utf-8").count("<img ")
    assert n_images >= len(EXPERIMENTS)
    r = _browse(page, tmp_path, "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    assert 'data-report-ready="yes"' in dom
    assert _status(dom) == {"loaded": n_images, "broken": 0}
    assert dom.count('data-loaded="yes"') == n_images  # every <img>, none marked "no"
    assert 'data-loaded="no"' not in dom
    for name in EXPERIMENTS:
        assert f'data-name="{name}"' in dom, f"{name} missing from the page"
        assert f'href="#{name}"' in dom, f"{name} missing from the summary table"
    assert "not run" not in dom
    assert _console(r.stderr) == [], _console(r.stderr)

    shot = tmp_path / "report.png"
    r = _browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,900")
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1280, 900)
        grey = im.convert("L")
        lo, hi = grey.getextrema()
        assert hi - lo > 100, "the screenshot is blank"
        # Mostly white page with dark text: the first screen shows the summary table.
        hist = grey.histogram()
        assert sum(hist[:128]) > 2000


def test_embedded_report_is_one_self_contained_file(results, tmp_path):
    page = build_report(results, tmp_path / "elsewhere" / "report.html", embed=True)
    text = page.read_text(encoding="utf-8")
    assert "data:image/png;base64," in text and 'src="overfitting/' not in text
    r = _browse(page, tmp_path, "--dump-dom")
    status = _status(r.stdout)
    assert status["broken"] == 0 and status["loaded"] == text.count("<img ")
    assert _console(r.stderr) == []


def test_broken_image_is_caught(results, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(results, broken)
    victim = next((broken / "softmax").glob("*.png"))
    victim.unlink()
    page = build_report(broken)
    r = _browse(page, tmp_path, "--dump-dom")
    status = _status(r.stdout)
    assert status["broken"] == 1
    assert victim.name in r.stdout  # named in the status line
    assert 'data-loaded="no"' in r.stdout


# ------------------------------------------------------------ page structure
def test_page_structure_without_a_browser(results):
    page = build_report(results)
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<link" not in text and "http://" not in text and "https://" not in text  # offline
    for name in EXPERIMENTS:
        res = json.loads((results / name / "results.json").read_text())
        assert f'data-name="{name}"' in text
        for fig in res["figures"]:
            assert f'src="{name}/{fig["file"]}"' in text
        assert f"{res['wall_time_s']:.1f} s" in text
    assert "Settings, seeds and environment" in text


def test_missing_and_damaged_results_are_shown(results, tmp_path):
    folder = tmp_path / "partial"
    shutil.copytree(results / "softmax", folder / "softmax")
    (folder / "junk").mkdir()
    (folder / "junk" / "results.json").write_text("{not json")
    found = collect_results(folder)
    assert "unreadable" in found["junk"] and "checks" in found["softmax"]
    text = build_report(folder).read_text(encoding="utf-8")
    assert "cannot read results.json" in text
    for name in EXPERIMENTS:
        if name != "softmax":
            assert re.search(rf"<td>{name}</td><td class='notrun'", text), name


def test_text_is_escaped(results, tmp_path):
    folder = tmp_path / "evil"
    shutil.copytree(results / "softmax", folder / "softmax")
    path = folder / "softmax" / "results.json"
    res = json.loads(path.read_text())
    res["checks"][0]["label"] = "<script>alert(1)</script>"
    path.write_text(json.dumps(res))
    text = build_report(folder).read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_bad_arguments(tmp_path, results):
    with pytest.raises(ValueError, match="does not exist"):
        build_report(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="embed"):
        build_report(results, tmp_path / "outside.html")
