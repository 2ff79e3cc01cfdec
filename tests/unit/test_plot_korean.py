"""Unit layer: the curves plots drawn in Korean use a font with Hangul (no glyph drawn as a box)."""
import warnings

import pytest

from grader.i18n import _, use_language
from grader.i18n.fonts import hangul_font
from grader.quiz.curves import curves_picture, read_png_curves, write_curves


def _missing_glyphs(caught) -> list[str]:
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_korean_plots_are_written_with_a_hangul_font(tmp_path):
    with use_language("ko"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _("validation loss") != "validation loss"  # the catalog translates the axis labels
        write_curves(tmp_path, [0.31, 0.12, 0.15], [90.5, 96.0, 95.2])
        picture = curves_picture([0.31, 0.12, 0.15], [90.5, 96.0, 95.2], (2, 0.12, 96.0))
    for plot in ("val_loss.png", "val_acc.png"):
        assert (tmp_path / plot).stat().st_size > 0
        # the data a program reads back from the plot stays as it is, whatever the language
        assert read_png_curves(tmp_path / plot) == {"val_loss": [0.31, 0.12, 0.15], "val_accuracy": [90.5, 96.0, 95.2]}
    assert picture is not None and picture.startswith(b"\x89PNG")
    if hangul_font() is None:
        pytest.skip("no font with Hangul is installed (apt install fonts-noto-cjk or fonts-nanum)")
    assert _missing_glyphs(caught) == []


def test_the_overlay_of_several_runs_has_its_korean_title_drawn_in_hangul(tmp_path):
    from grader.quiz.curves import overlay_plots

    runs = []
    for name, losses in (("run-a", [0.5, 0.3, 0.35]), ("run-b", [0.6, 0.4, 0.2])):
        write_curves(tmp_path / name, losses, [80.0, 88.0, 90.0])
        runs.append(tmp_path / name)
    with use_language("ko"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        title = _("star: each run's best.pt epoch (minimum validation loss)")
        written = overlay_plots(runs, tmp_path / "slides")
    assert any("\uac00" <= ch <= "\ud7a3" for ch in title)  # the title drawn is Korean
    assert written and all(path.stat().st_size > 0 for path in written)
    if hangul_font() is None:
        pytest.skip("no font with Hangul is installed (apt install fonts-noto-cjk or fonts-nanum)")
    assert _missing_glyphs(caught) == []
