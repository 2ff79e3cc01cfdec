"""grader.check(..., lang=...): the notebook's self-check in the language asked for, its grades the same."""
import re

import pytest
import torch.nn as nn
import torch.nn.functional as F

import grader
from grader.i18n import LanguageError, current_language, use_language

HANGUL = re.compile("[\uac00-\ud7a3]")


class WideNet(nn.Module):
    """The mlp assignment's network with a first layer too wide (64, not 50): shapes and params fail."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 64)
        self.fc2 = nn.Linear(64, 50)
        self.fc3 = nn.Linear(50, 10)

    def forward(self, x):
        x = x.flatten(1)
        x = F.dropout(F.relu(self.fc1(x)), training=self.training)
        x = F.dropout(F.relu(self.fc2(x)), training=self.training)
        return F.log_softmax(self.fc3(x), dim=1)


def _grades(result):
    return [(c.name, c.status, c.score, c.max_score) for c in result.report.checks]


def test_check_renders_the_whole_report_in_the_language_asked_for():
    english = grader.check(WideNet, "mlp", lang="en")
    korean = grader.check(WideNet, "mlp", lang="ko")
    assert current_language() == "en"  # the language before the call is back
    assert _grades(korean) == _grades(english)
    assert {status for _name, status, _score, _max in _grades(english)} >= {"pass", "fail"}
    assert (korean.score, korean.max_score, korean.passed) == (english.score, english.max_score, english.passed)
    text, html = str(korean), korean._repr_html_()
    assert HANGUL.search(text) and HANGUL.search(html)
    assert "모델 클래스: WideNet" in text and "파라미터 수가 다릅니다:" in text
    assert not HANGUL.search(str(english)) and "model class: WideNet" in str(english)
    with use_language("en"):  # shown later, in another language: still the language it was checked in
        assert str(korean) == text


def test_check_without_lang_keeps_the_current_language():
    with use_language("ko"):
        result = grader.check(WideNet, "mlp")
        assert current_language() == "ko"
    assert HANGUL.search(str(result))
    assert not HANGUL.search(str(grader.check(WideNet, "mlp")))


def test_an_unknown_language_is_an_error():
    with pytest.raises(LanguageError):
        grader.check(WideNet, "mlp", lang="xx")
    assert current_language() == "en"
