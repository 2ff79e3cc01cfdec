"""The arithmetic of convolutions and pools, told with the student's numbers: O = floor((I - K + 2P) / S) + 1 per
side, and which of K, P or S to change so a convolution gives the table's size.

Interface:
    Finding(code, text)                        a problem as a check decides it: its cause code and its words
    spatial_arithmetic(rec, expected)          the O = ... lines of a conv or pool layer (with a fix when one exists)
    spatial_finding(rec, expected)             those lines and the cause of the first fix they give
    conv_fix(size, k, s, p, want)              which of K, P or S to change, with the arithmetic
    conv_fix_finding(size, k, s, p, want)      the same with its cause

:mod:`grader.inspection.messages` re-exports them.
"""
from __future__ import annotations

from typing import NamedTuple

from grader.i18n import N_, _
from grader.inspection.recorder import LayerRecord, conv_output_size


class Finding(NamedTuple):
    """A problem as the check decided it: ``code``, its typed cause (a code of :data:`grader.report.CAUSES`), and
    ``text``, the words the student reads. The code is set here, where the text is chosen, never parsed from it."""

    code: str
    text: str


# The axis a line of arithmetic is about, when height and width differ.
AXES = (N_("height"), N_("width"))
ARITHMETIC = "O = floor((I - K + 2P) / S) + 1 = floor(({size} - {kernel} + 2*{padding}) / {stride}) + 1 = {out}"


def spatial_arithmetic(rec: LayerRecord, expected: list[int] | None) -> list[str]:
    """The O = floor((I - K + 2P) / S) + 1 lines for a conv or pool layer, with a fix when one exists."""
    return spatial_finding(rec, expected)[0]


def spatial_finding(rec: LayerRecord, expected: list[int] | None) -> tuple[list[str], str]:
    """:func:`spatial_arithmetic`'s lines and the cause of the first fix they give (``padding``, ``kernel_size``,
    ``stride``; "" when they give none)."""
    cfg = rec.config
    if not cfg or "kernel_size" not in cfg or not rec.input_shape or len(rec.input_shape) != 4:
        return [], ""
    if isinstance(cfg.get("padding"), str):
        return [_("it uses padding={padding}", padding=repr(cfg["padding"]))], "padding"
    lines, code = [], ""
    for axis, label in enumerate(AXES):
        size = rec.input_shape[2 + axis]
        k, s, p, d = cfg["kernel_size"][axis], cfg["stride"][axis], cfg["padding"][axis], cfg["dilation"][axis]
        out = conv_output_size(size, k, s, p, d, cfg.get("ceil_mode", False))
        if axis == 1 and rec.input_shape[2] == rec.input_shape[3] and cfg["kernel_size"][0] == k \
                and cfg["stride"][0] == s and cfg["padding"][0] == p:
            break  # square input and layer: one line says it
        k_text = f"{d}*({k}-1)+1" if d != 1 else str(k)
        line = ARITHMETIC.format(size=size, kernel=k_text, padding=p, stride=s, out=out)
        want = expected[2 + axis] if expected and len(expected) == 4 else None
        if want is not None and want != out:
            fix = conv_fix_finding(size, k, s, p, want) if d == 1 and rec.kind == "Conv2d" else Finding("", "")
            if fix.text:
                line = _("{arithmetic}, but the table needs {want} ({fix})", arithmetic=line, want=want, fix=fix.text)
                code = code or fix.code
            else:
                line = _("{arithmetic}, but the table needs {want}", arithmetic=line, want=want)
        if rec.input_shape[2] != rec.input_shape[3] or cfg["kernel_size"][0] != cfg["kernel_size"][1]:
            line = _("{axis}: {arithmetic}", axis=_(label), arithmetic=line)
        lines.append(line)
    return lines, code


MAX_PLAUSIBLE_KERNEL = 11


def conv_fix(size: int, k: int, s: int, p: int, want: int) -> str:
    """Which of K, P or S to change so a convolution gives ``want``, with the arithmetic for the likeliest one.

    Padding the table does not want is the likeliest slip when P = 0 fixes it (Conv2d(1, 10, 5, padding=2) for a
    table that shrinks the side); a side that stays or grows takes padding; with no padding, the kernel size; then
    any plausible padding, kernel or stride.
    """
    return conv_fix_finding(size, k, s, p, want).text


def conv_fix_finding(size: int, k: int, s: int, p: int, want: int) -> Finding:
    """:func:`conv_fix` with its cause: ``padding``, ``kernel_size`` or ``stride`` (the one it says to change), or
    ``("", "")`` when no plausible change gives ``want``."""
    def gives(k_: int, s_: int, p_: int) -> bool:
        return k_ >= 1 and s_ >= 1 and p_ >= 0 and conv_output_size(size, k_, s_, p_) == want
    k_fix = size + 2 * p - s * (want - 1)
    k_ok = 1 <= k_fix <= MAX_PLAUSIBLE_KERNEL and k_fix != k and gives(k_fix, s, p)
    p_fix = next((q for q in range(0, k + 1) if q != p and gives(k, s, q)), None)
    s_fix = next((t for t in range(1, k + 1) if t != s and gives(k, t, p)), None)
    k_text = _("change K: with S={s} and P={p}, that takes K = I + 2P - S*(O-1) = {k_fix}", s=s, p=p,
               k_fix=k_fix) if k_ok else ""
    p_text = _("change P: keeping K={k} and S={s}, P = {p_fix} gives floor(({size} - {k} + 2*{p_fix}) / {s}) + 1 "
               "= {want}", k=k, s=s, p_fix=p_fix, size=size, want=want) if p_fix is not None else ""
    s_text = _("change S: keeping K={k} and P={p}, S = {s_fix} gives floor(({size} - {k} + 2*{p}) / {s_fix}) + 1 "
               "= {want}", k=k, p=p, s_fix=s_fix, size=size, want=want) if s_fix is not None else ""
    padding, kernel, stride = Finding("padding", p_text), Finding("kernel_size", k_text), Finding("stride", s_text)
    if p != 0 and p_fix == 0:
        return padding
    if want >= size and p_text:  # the table keeps or grows the side: only padding does that
        return padding
    if p == 0 and k_text:
        return kernel
    if p_text and p_fix is not None and p_fix <= k // 2:
        return padding
    return next((f for f in (kernel, padding, stride) if f.text), Finding("", ""))
