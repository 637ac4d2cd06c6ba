"""Small server-side SVG charts: no chart library, no script, nothing fetched.

Colours come from CSS classes (``panel.css``), so the charts follow the page's palette and the
Content-Security-Policy needs no inline styles. Time runs right to left, as the page reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from peygir.web.panel.fmt import fa


@dataclass(frozen=True)
class Series:
    name: str
    css: str  # a class: s1, s2 …
    values: Sequence[float]


def _nice_max(value: float) -> float:
    step = 10 ** max(0, len(str(int(value))) - 2)
    return float(-(-value // step) * step)


def bars(labels: Sequence[str], series: Sequence[Series], title: str,
         width: int = 640, height: int = 240) -> Markup:
    """Grouped vertical bars; the first label is drawn on the right."""
    left, right, top, bottom = 8, 44, 16, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    # At least 4, so the five grid lines carry whole, distinct numbers.
    top_value = _nice_max(max(4, *(v for s in series for v in s.values)))
    if top_value % 4:
        top_value += 4 - top_value % 4
    n = max(1, len(labels))
    slot = plot_w / n
    # Every label, or every other (third …) one when they would touch: a narrow chart (one a
    # phone shows at near its own size) keeps its labels readable rather than crowded.
    step = max(1, -(-int(MIN_LABEL_SLOT) // max(1, int(slot))))
    bar_w = max(2.0, slot * 0.8 / max(1, len(series)))
    parts = [f'<svg class="chart" direction="ltr" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>"]
    for i in range(5):  # grid and scale on the right
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" '
                     f'y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{width - 4}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{fa(int(value))}</text>')
    for index, label in enumerate(labels):
        x0 = left + plot_w - (index + 1) * slot + slot * 0.1
        for k, s in enumerate(series):
            value = s.values[index] if index < len(s.values) else 0
            h = plot_h * value / top_value
            x = x0 + k * bar_w
            parts.append(
                f'<rect class="{s.css}" x="{x:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{bar_w - 1:.1f}" height="{h:.1f}"><title>{escape(s.name)}: '
                f"{fa(int(value))}</title></rect>")
        if index % step == 0:
            parts.append(f'<text class="axis" x="{x0 + slot * 0.4:.1f}" '
                         f'y="{height - bottom + 16}" text-anchor="middle">'
                         f"{escape(label)}</text>")
    legend_x = width - right
    for k, s in enumerate(series):
        y = height - 10
        x = legend_x - k * 120
        parts.append(f'<rect class="{s.css}" x="{x - 12}" y="{y - 10}" width="10" height="10"/>')
        parts.append(f'<text class="legend" x="{x - 16}" y="{y}" text-anchor="end">'
                     f"{escape(s.name)}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


MIN_LABEL_SLOT = 38  # viewBox units an x label («۰۸/۲۳» at 12 px) needs
LABEL_CHAR_PX = 6.6  # a generous average width of a 12 px Vazirmatn glyph (panel.css .label)


def _fits(text: str, chars: int) -> bool:
    return len(text.replace("\u200c", "")) <= chars  # a ZWNJ takes no room


def _cut(text: str, chars: int) -> str:
    return text if _fits(text, chars) else text[:max(1, chars - 1)].rstrip() + "…"


def wrap_label(label: str, width_px: float, lines: int = 2) -> list[str]:
    """A label broken at spaces into at most ``lines`` lines that fit ``width_px``; what does
    not fit ends in «…» (the chart gives the whole label as a tooltip)."""
    chars = max(4, int(width_px // LABEL_CHAR_PX))
    out: list[str] = []
    for word in label.split():
        if out and _fits(f"{out[-1]} {word}", chars):
            out[-1] = f"{out[-1]} {word}"
        else:
            out.append(word)
    if len(out) > lines:  # the rest goes on the last line, cut to fit with «…»
        rest = " ".join(out[lines - 1:])
        out = [*out[:lines - 1], rest[:max(1, chars - 1)].rstrip() + "…"]
    return [_cut(line, chars) for line in out] or [""]


def hbars(rows: Sequence[tuple[str, float]], title: str, width: int = 640,
          row_h: int = 26, label_w: int = 220) -> Markup:
    """Horizontal bars growing leftwards from a label column on the right. Long labels wrap
    to two lines within the column (the rest cut with «…», the whole label a tooltip), so
    no label runs into its bar."""
    pad, gap = 8, 12
    wrapped = [wrap_label(label, label_w - gap) for label, _ in rows]
    if any(len(lines) > 1 for lines in wrapped):
        row_h = max(row_h, 40)
    height = max(1, len(rows)) * row_h + pad * 2
    top_value = max((v for _, v in rows), default=0) or 1
    plot_w = width - label_w - 40
    x_end = width - label_w  # bars end here; the label column lies to its right
    parts = [f'<svg class="chart" direction="ltr" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>"]
    for i, ((label, value), lines) in enumerate(zip(rows, wrapped, strict=True)):
        y = pad + i * row_h
        w = plot_w * value / top_value
        mid = y + row_h / 2
        parts.append(f'<g class="row"><title>{escape(label)}: {fa(int(value))}</title>')
        first = mid + 4 - 7 * (len(lines) - 1)
        spans = "".join(
            f'<tspan x="{width - 4}" y="{first + 14 * k:.1f}">{escape(line)}</tspan>'
            for k, line in enumerate(lines))
        parts.append(f'<text class="label" x="{width - 4}" y="{first:.1f}" '
                     f'text-anchor="end">{spans}</text>')
        bar_h = min(row_h - 8, 18)
        parts.append(f'<rect class="s1" x="{x_end - w - 4:.1f}" y="{mid - bar_h / 2:.1f}" '
                     f'width="{w:.1f}" height="{bar_h}"/>')
        parts.append(f'<text class="axis" x="{x_end - w - 10:.1f}" y="{mid + 4:.1f}" '
                     f'text-anchor="end">{fa(int(value))}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))
