"""The students' feedback Markdown (OUT/feedback/<student>.md), rendered as a Markdown viewer would and loaded in
headless Chromium: no string a student controls (the entry's name, the names of the files in it, the messages of
the exceptions its code raises, what its code prints) runs script or adds structure to the page.

markdown-it-py's "commonmark" preset passes raw HTML through, as many viewers do, so any ``<`` the writer left
unescaped would become an element. A canary, the same hostile strings put into Markdown unescaped, goes through the
same inspection and must fail it: the harness itself is shown able to see a leak.
"""
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from grader.grading import grade
from grader.outputs.gradebook import output_names
from grader.sandbox.limits import Limits
from grader.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
SIMPLE = (ROOT / "reference" / "simple_cnn.py").read_text()
INIT = "        super().__init__()\n"

NOTE = "# Instructor note: regrade approved"
ENTRY_IMG = '<img src=x onerror="window.__pwned=1">'
ENTRY_LINES = f"bob\n{NOTE} `x` [a](javascript:window.__pwned=5)"
RAISED = f"boom <img src=x onerror='window.__pwned=2'>\n```\n{NOTE}\n\n<img src=x onerror=\"window.__pwned=2\">"
LOAD_RAISED = f"at load <img src=x onerror=\"window.__pwned=6\">\n{NOTE}\n<iframe src=\"javascript:window.__pwned=6\">"
PRINTED = f"```\n<script>window.__pwned=3</script>\n{NOTE}\n````\n~~~\n<img src=x onerror=\"window.__pwned=3\">"
FILE_NAME = "[x](javascript:window.__pwned=4)<img src=x onerror=\"window.__pwned=4\">#`|!.py"
ZIP_MEMBER = f"../<img src=x onerror=\"window.__pwned=8\">\n```\n{NOTE}.py"

# What the writer's Markdown may become: headings, paragraphs, the score in bold, lists, code blocks. Emphasis
# (em, strong) is the one structure student text may add: gradebook.md_text leaves * and _ unescaped on purpose.
ALLOWED_TAGS = {"h1", "h2", "p", "strong", "em", "ul", "li", "pre", "code"}

SNAPSHOT = """() => {
  const all = [...document.body.querySelectorAll('*')];
  return {
    pwned: window.__pwned === undefined ? null : String(window.__pwned),
    tags: [...new Set(all.map(e => e.tagName.toLowerCase()))],
    attrs: all.flatMap(e => [...e.attributes].map(a => e.tagName.toLowerCase() + '[' + a.name + ']')),
    headings: [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => [h.tagName.toLowerCase(), h.textContent]),
    pres: [...document.querySelectorAll('pre')].map(p => ({inner: [...p.children].map(c => c.tagName.toLowerCase()),
                                                          text: p.textContent})),
    items: [...document.querySelectorAll('li')].map(li => li.textContent),
    blocks: [...document.querySelectorAll('p,li,h1,h2,h3,h4,h5,h6')].map(b => b.textContent.trim()),
    text: document.body.textContent,
  };
}"""


def student(code_in_init: str) -> str:
    """The reference SimpleCNN with ``code_in_init`` run first in its __init__."""
    return SIMPLE.replace(INIT, INIT + "".join(f"        {line}\n" for line in code_in_init.strip().splitlines()), 1)


def one_line(text: str) -> str:
    """Student text as the writer puts it in a heading or a list item: its lines joined by spaces."""
    return " ".join(text.splitlines())


def _chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None and os.environ.get("CI"):
        pytest.fail("chromium is not installed: .ci/run installs Debian's chromium")
    if path is None:
        pytest.skip("chromium is not installed here (apt-get install chromium); CI runs this test")
    return path


def _entry_folder(subs: Path, *names: str) -> str:
    """A folder submission holding the reference, under the first of ``names`` this file system accepts."""
    for name in names:
        try:
            (subs / name).mkdir()
        except OSError:
            continue
        (subs / name / "net.py").write_text(SIMPLE)
        return name
    raise AssertionError(f"no entry name of {names} could be created")


@pytest.fixture(scope="module")
def feedback_class(tmp_path_factory):
    """A simple-cnn class whose students put HTML and Markdown in every string of theirs the feedback quotes."""
    root = tmp_path_factory.mktemp("feedback-render")
    subs, out = root / "submissions", root / "out"
    subs.mkdir()
    (subs / "honest.py").write_text(SIMPLE)
    hostile = {
        "img_entry": _entry_folder(subs, ENTRY_IMG, f"{NOTE} `x`"),
        "lines_entry": _entry_folder(subs, ENTRY_LINES, f"bob {NOTE} ``x``"),
        "raiser": "raiser", "printer": "printer", "classbody": "classbody", "files": "files", "badzip": "badzip",
    }
    (subs / "raiser.py").write_text(student(f"raise ValueError({RAISED!r})"))
    (subs / "printer.py").write_text(student(f"print({PRINTED!r})"))
    # a class body runs on import: its exception is a note on loading, written as plain text, not in a fence
    (subs / "classbody.py").write_text(SIMPLE + f"\n\nclass Config:\n    raise ValueError({LOAD_RAISED!r})\n")
    # a file name in the "code:" note, and again in "Your working copy" (the code appends to it while checked)
    (subs / "files").mkdir()
    (subs / "files" / FILE_NAME).write_text("X = 1\n")
    (subs / "files" / "net.py").write_text(student(
        f"import os\nopen(os.path.join(os.path.dirname(__file__), {FILE_NAME!r}), 'a').write('# changed')"))
    with zipfile.ZipFile(subs / "badzip.zip", "w") as archive:  # its member's name is quoted in the fatal error
        archive.writestr(ZIP_MEMBER, "X = 1\n")
    result = grade(load_spec("simple-cnn"), subs, out, workers=2, limits=Limits(wall_s=60), progress=False,
                   log=lambda m: None)
    return result, out, hostile


def expected_of(report) -> dict:
    """The page the writer means: one h1, an h2 per check and per section present, one code block per message."""
    sections = [("The check could not finish", bool(report.fatal))]
    sections += [(f"{c.status.upper()}: {c.name}", True) for c in report.checks]
    sections += [("What the grader did", bool(report.notes)), ("Not allowed while grading", bool(report.sandbox_events)),
                 ("Your working copy", bool(report.changed_files)), ("Your code printed", bool(report.output)),
                 ("Sandbox limits this machine could not apply", bool(report.isolation))]
    codes = ([report.fatal.strip()] if report.fatal else []) + [c.message.strip() for c in report.checks] \
        + ([report.output.rstrip()] if report.output else [])
    return {"headings": [["h1", f"{report.assignment}: {one_line(report.student)}"]]
            + [["h2", title] for title, present in sections if present],
            "codes": codes, "items": len(report.notes) + len(report.sandbox_events) + len(report.isolation)}


def problems(snap: dict, errors: list[str], expected: dict) -> list[str]:
    """What is wrong with a rendered page, as short labels (empty: the page is exactly the writer's)."""
    found = []
    if snap["pwned"] is not None:
        found.append(f"script ran: window.__pwned = {snap['pwned']}")
    if errors:
        found.append(f"console errors: {errors}")
    if set(snap["tags"]) - ALLOWED_TAGS:
        found.append(f"elements from text: {sorted(set(snap['tags']) - ALLOWED_TAGS)}")
    if snap["attrs"]:
        found.append(f"attributes from text: {snap['attrs']}")
    if snap["headings"] != expected["headings"]:
        found.append(f"headings: {snap['headings']} != {expected['headings']}")
    if any(block.lstrip("#\\ ").startswith("Instructor note") for block in snap["blocks"]):
        found.append("a student's line starts a block (heading or paragraph) of its own")
    if any(pre["inner"] != ["code"] for pre in snap["pres"]) or \
            [pre["text"] for pre in snap["pres"]] != [code + "\n" for code in expected["codes"]]:
        found.append(f"code blocks: {[pre['text'] for pre in snap['pres']]} != {expected['codes']}")
    if len(snap["items"]) != expected["items"]:
        found.append(f"list items: {len(snap['items'])} != {expected['items']}")
    return found


def render(browser, markdown: str) -> tuple[dict, list[str]]:
    """``markdown`` rendered by CommonMark (raw HTML passed through) and loaded in a fresh page: its DOM, errors."""
    html = "<!doctype html><html><head><meta charset='utf-8'></head><body>" \
        + MarkdownIt("commonmark").render(markdown) + "</body></html>"
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_content(html, wait_until="load")
    page.wait_for_timeout(100)  # any image error handler has fired by now
    snap = page.evaluate(SNAPSHOT)
    page.close()
    return snap, errors


@pytest.mark.slow
def test_feedback_markdown_renders_student_strings_as_text_in_headless_chromium(feedback_class):
    from playwright.sync_api import sync_playwright

    chromium = _chromium()
    result, out, hostile = feedback_class
    names = output_names([entry.student for entry in result.entries])
    assert sorted(p.name for p in (out / "feedback").glob("*.md")) == sorted(f"{n}.md" for n in names.values())
    reports = result.reports
    # Every hostile string reached its student's feedback: else the checks below would prove nothing.
    source = {student: (out / "feedback" / f"{names[student]}.md").read_text() for student in result.reports}
    assert "onerror" in source[hostile["img_entry"]] or "`x`" in hostile["img_entry"]
    assert "Instructor note" in source[hostile["lines_entry"]]
    assert RAISED in reports["raiser"].checks[0].message and RAISED in source["raiser"]
    assert any(LOAD_RAISED in note for note in reports["classbody"].notes)
    assert reports["printer"].output.rstrip() == PRINTED and PRINTED in source["printer"]
    assert reports["files"].changed_files == [FILE_NAME] and f"code: {FILE_NAME}, net.py" in reports["files"].notes
    assert one_line(ZIP_MEMBER) in one_line(reports["badzip"].fatal)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        pages = {student: render(browser, text) for student, text in source.items()}
        # The canary: the same strings written into Markdown as a careless writer would.
        canary = (f"# simple-cnn: {hostile['img_entry']}\n\n## Your code printed\n\n```\n{PRINTED}\n```\n\n"
                  f"- code: {FILE_NAME}\n- error while loading: {LOAD_RAISED}\n")
        canary_page = render(browser, canary)
        browser.close()

    for student, (snap, errors) in pages.items():
        assert problems(snap, errors, expected_of(result.reports[student])) == [], student

    snap, _ = pages["honest"]
    assert snap["headings"][0] == ["h1", "simple-cnn: honest"]
    assert [h for _, h in snap["headings"][1:8]] == [f"PASS: {c}" for c in ("class", "shapes", "params", "batch",
                                                                             "output", "determinism")] \
        + ["What the grader did"]  # then, on a machine short of sandbox limits, a section saying which
    assert "Score: 10 / 10" in snap["text"]
    # The student's strings are shown, whole, where the writer put them.
    assert pages[hostile["img_entry"]][0]["headings"][0] == ["h1", f"simple-cnn: {hostile['img_entry']}"]
    assert pages[hostile["lines_entry"]][0]["headings"][0] == ["h1", f"simple-cnn: {one_line(hostile['lines_entry'])}"]
    printed = [pre["text"] for pre in pages["printer"][0]["pres"] if "__pwned" in pre["text"]]
    assert printed == [PRINTED + "\n"]  # all of it in one <pre><code>: the fence inside did not close it
    assert ["h2", "Your code printed"] in pages["printer"][0]["headings"]
    assert f"code: {FILE_NAME}, net.py" in pages["files"][0]["items"]
    assert f"Your code changed {FILE_NAME} in its working copy" in pages["files"][0]["text"]
    assert any(item.startswith("error while loading classbody.py") and one_line(LOAD_RAISED) in item
               for item in pages["classbody"][0]["items"])

    # The inspection sees each kind of leak in the canary: run script, elements, a heading, a fence closed early.
    snap, errors = canary_page
    expect = {"headings": [["h1", f"simple-cnn: {hostile['img_entry']}"], ["h2", "Your code printed"]],
              "codes": [PRINTED], "items": 2}
    found = problems(snap, errors, expect)
    assert snap["pwned"] is not None, found
    for label in ("script ran", "elements from text", "attributes from text", "headings:",
                  "starts a block", "code blocks:"):
        assert any(label in f for f in found), (label, found)
