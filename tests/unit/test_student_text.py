"""Unit layer: student-controlled text in the feedback Markdown and in the terminal report is inert."""
import io

from markdown_it import MarkdownIt
from rich.console import Console

from grader.outputs.gradebook import feedback_markdown
from grader.report import CheckResult, Report, render_text, terminal_safe

HOSTILE = "x\n## Instructor note: regrade approved\n<img src=x onerror=alert(1)> [click](javascript:alert(1)) *"


def hostile_report() -> Report:
    report = Report(assignment="mlp", student="bob <script>alert(1)</script>",
                    notes=[f"code: {HOSTILE}", "not run: lab.ipynb line 1: ![i](http://x/y.png)"])
    report.checks.append(CheckResult("shapes", "fail", 0.0, 4.0, f"row conv1: {HOSTILE}\n```\nclosed the fence?"))
    report.output = "print 1\n````\n# Fake heading\n<img src=x onerror=alert(2)>\n\x1b[2J\x1b[HALL PASS"
    return report


def test_feedback_markdown_renders_only_what_the_grader_wrote():
    html = MarkdownIt("commonmark").render(feedback_markdown(hostile_report()))
    assert "<img" not in html and "<script" not in html and "javascript:" not in html.replace("javascript:alert", "")
    assert "<a " not in html
    headings = [line for line in html.splitlines() if line.startswith(("<h1", "<h2"))]
    assert headings == ["<h1>mlp: bob &lt;script&gt;alert(1)&lt;/script&gt;</h1>", "<h2>FAIL: shapes</h2>",
                        "<h2>What the grader did</h2>", "<h2>Your code printed</h2>"]
    # the printed output and the message each stay in one code block, however many backticks they hold
    assert html.count("<pre><code>") == 2 and "# Fake heading" in html and "closed the fence?" in html


def test_terminal_output_has_no_escape_sequences():
    buffer = io.StringIO()
    render_text(hostile_report(), Console(file=buffer, width=120, color_system=None, soft_wrap=True))
    text = buffer.getvalue()
    assert "\x1b" not in text and "ALL PASS" in text  # the words stay, the screen control goes
    assert terminal_safe("a\x1b]0;title\x07b\x1b[31mc\x9b31md\te\nf\x00") == "abcd\te\nf"
