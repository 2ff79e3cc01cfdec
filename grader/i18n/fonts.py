"""Fonts with Hangul, for the plots (matplotlib) and report.html (CSS).

Public interface:

* :data:`HANGUL_FONTS`: font families with Hangul, most wanted first (Noto Sans CJK KR, NanumGothic, ...).
* :data:`CSS_FONT_STACK`: the CSS ``font-family`` of report.html: the system UI fonts, then those, then sans-serif.
* :func:`hangul_font`: the first of HANGUL_FONTS matplotlib can find on this machine (None: none installed).
* :func:`plot_fonts`: matplotlib rc settings that draw Latin text as before and fall back to a Hangul font.

No font ships with the grader: install one (``apt install fonts-noto-cjk`` or ``fonts-nanum``; macOS and Windows
have Apple SD Gothic Neo and Malgun Gothic). :func:`plot_fonts` warns once when a Korean plot finds none.
"""
from __future__ import annotations

import functools

HANGUL_FONTS = ("Noto Sans CJK KR", "Noto Sans KR", "NanumGothic", "NanumBarunGothic", "Malgun Gothic",
                "Apple SD Gothic Neo", "AppleGothic", "UnDotum", "Baekmuk Gulim")
CSS_FONT_STACK = ", ".join(["system-ui", "-apple-system", '"Segoe UI"', "Roboto", '"Helvetica Neue"', "Arial"]
                           + [f'"{name}"' for name in HANGUL_FONTS] + ["sans-serif"])


@functools.lru_cache(maxsize=1)
def hangul_font() -> str | None:
    """The family name of the first installed font of :data:`HANGUL_FONTS` (matplotlib's font list), or None."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in HANGUL_FONTS if name in installed), None)


def plot_fonts() -> dict:
    """rc settings for ``matplotlib.rc_context``: DejaVu Sans first (the Latin text looks as it always did), then
    the Hangul font when one is installed; the minus sign drawn as ASCII (CJK fonts lack U+2212)."""
    from grader.i18n import current_language

    if hangul_font() is None and current_language() == "ko":
        _warn_no_font()
    family = ["DejaVu Sans"] + ([hangul_font()] if hangul_font() else [])
    # the list itself as the family: matplotlib falls back glyph by glyph only along font.family's own list
    return {"font.family": family, "font.sans-serif": family, "axes.unicode_minus": False}


@functools.lru_cache(maxsize=1)
def _warn_no_font() -> None:
    import warnings

    warnings.warn("no font with Hangul is installed, so Korean text in the plots shows as boxes: install one "
                  "(apt install fonts-noto-cjk or fonts-nanum)", stacklevel=3)
