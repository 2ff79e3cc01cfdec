"""report.html in Korean: the page says it is Korean (``<html lang="ko">``), its body's font stack names the Hangul
fonts (grader.i18n.fonts.CSS_FONT_STACK), and in headless Chromium Hangul really renders: two different syllables
drawn at a large size give different pixels (with no Hangul font both would be the same tofu box)."""
from pathlib import Path

import pytest

from grader.i18n import use_language
from grader.i18n.fonts import CSS_FONT_STACK, hangul_font

INJECT = """() => {
  for (const [id, text] of [["hangul-ga", "\\uac00"], ["hangul-hih", "\\ud7a3"]]) {
    const span = document.createElement("span");
    span.id = id;
    span.textContent = text;
    span.style.fontSize = "96px";
    span.style.display = "inline-block";
    document.body.prepend(span);
  }
}"""


def _korean_report(tmp_path: Path) -> Path:
    from grader.batch.entries import Entry
    from grader.outputs.html_report import render_html
    from grader.report import CheckResult, Flag, Report
    from grader.spec import load_spec

    spec = load_spec("simple-cnn")
    reports = {"ann": Report("simple-cnn", "ann", checks=[CheckResult("class", "pass", 1.0, 1.0, "Using Net."),
                                                         CheckResult("shapes", "fail", 0.0, 4.0, "conv2: padding")])}
    with use_language("ko"):
        html = render_html(spec, [Entry("ann", Path("ann"), name="김민지")], reports, [("bo", "박보라")],
                           {"ann": [Flag("not on the roster")]})
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def test_korean_report_html_declares_its_language_and_the_hangul_fonts(tmp_path):
    html = _korean_report(tmp_path).read_text(encoding="utf-8")
    assert '<html lang="ko">' in html
    assert f"font: 14px/1.4 {CSS_FONT_STACK};" in html and '"Noto Sans CJK KR"' in html
    assert "김민지" in html and "박보라" in html


@pytest.mark.slow
def test_hangul_renders_in_headless_chromium(tmp_path):
    if hangul_font() is None:
        pytest.skip("no font with Hangul is installed (apt install fonts-noto-cjk or fonts-nanum)")
    from playwright.sync_api import sync_playwright

    from tests.test_batch import _chromium

    chromium = _chromium()
    path = _korean_report(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 800, "height": 600})
        page.goto(path.as_uri())
        assert page.evaluate("() => document.documentElement.lang") == "ko"
        page.evaluate(INJECT)
        first = page.locator("#hangul-ga").screenshot()
        last = page.locator("#hangul-hih").screenshot()
        browser.close()
    assert first != last  # two syllables drawn apart: a Hangul font rendered them, not one tofu box
