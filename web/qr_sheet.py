"""Printable sheets of QR codes for staff members and places (issue 20, ``peygir qr sheet``).

Each A4 page (SVG, millimetres) holds six cards, cut along the dashed lines: the city's name,
the QR code of ``{PEYGIR_PUBLIC_URL}/q/<token>``, the Persian label (a name and role, or a
place's name and kind), a line saying what the code is for, the URL, and the Telegram/Bale
links when the bots' usernames are known. Vazirmatn (web/static/fonts) is embedded, so the
sheet prints the same on any machine; everything written by the city is XML-escaped.

The QR symbol is drawn from segno's module matrix (error correction M) as one path.
A PDF is the same pages printed by Chromium (:func:`pdf`), where it is installed.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import segno

from peygir.conversation.qr import link_payload
from peygir.messages import qr_texts as t

FONTS = Path(__file__).resolve().parent / "static" / "fonts"
PAGE_W, PAGE_H = 210.0, 297.0  # A4, mm
COLUMNS, ROWS = 2, 3
PER_PAGE = COLUMNS * ROWS
CARD_W, CARD_H = PAGE_W / COLUMNS, PAGE_H / ROWS
QR_MM = 46.0  # the symbol with its quiet zone: scans from about half a metre
CHROMIUM = Path(os.environ.get("PEYGIR_CHROMIUM", "/usr/bin/chromium"))


@dataclass(frozen=True)
class Card:
    name: str
    detail: str  # a staff member's role, or a place's kind
    prompt: str  # what the code is for
    url: str  # what the QR code holds
    links: tuple[str, ...] = ()  # Telegram/Bale start links


def card(kind: str, name: str, detail: str, token: str, base_url: str,
         telegram: str = "", bale: str = "") -> Card:
    """One entry's card; ``kind`` is staff or place (``detail``: role, or place kind)."""
    payload = link_payload(token)
    links = []
    if telegram:
        links.append(f"https://t.me/{telegram}?start={payload}")
    if bale:
        links.append(f"https://ble.ir/{bale}?start={payload}")
    if kind == "staff":
        return Card(name, detail, t.SHEET_STAFF, f"{base_url.rstrip('/')}/q/{token}",
                    tuple(links))
    label = t.PLACE_KINDS.get(detail, t.PLACE_KINDS["other"])
    return Card(name, label, t.SHEET_PLACE.format(kind=label),
                f"{base_url.rstrip('/')}/q/{token}", tuple(links))


def qr_path(data: str) -> tuple[str, int]:
    """The QR symbol of ``data`` as an SVG path in module units (runs of dark modules on a
    row are one rectangle), and its width in modules without the quiet zone."""
    symbol = segno.make(data, error="m", micro=False)
    parts = []
    size = 0
    for y, row in enumerate(symbol.matrix_iter(scale=1, border=0)):
        cells = list(row)
        size = len(cells)
        x = 0
        while x < size:
            if cells[x]:
                start = x
                while x < size and cells[x]:
                    x += 1
                parts.append(f"M{start} {y}h{x - start}v1h{start - x}z")
            else:
                x += 1
    return "".join(parts), size


@cache
def _font_face() -> str:
    faces = []
    for weight, name in ((400, "Vazirmatn-Regular.woff2"), (700, "Vazirmatn-Bold.woff2")):
        path = FONTS / name
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            faces.append(f"@font-face{{font-family:'Vazirmatn';font-weight:{weight};"
                         f"src:url(data:font/woff2;base64,{data}) format('woff2');}}")
    return "".join(faces)


def _text(x: float, y: float, size: float, text: str, *, bold: bool = False,
          rtl: bool = True, cls: str = "") -> str:
    attrs = (f'x="{x:.2f}" y="{y:.2f}" font-size="{size:.2f}" text-anchor="middle"'
             + (' font-weight="700"' if bold else "")
             + (' direction="rtl"' if rtl else ' direction="ltr" font-family="monospace"')
             + (f' class="{cls}"' if cls else ""))
    return f"<text {attrs}>{escape(text)}</text>"


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _card(item: Card, city: str, left: float, top: float) -> str:
    cx = left + CARD_W / 2
    path, modules = qr_path(item.url)
    quiet = 4  # modules of white around the symbol, as the standard asks
    scale = QR_MM / (modules + 2 * quiet)
    qx, qy = cx - QR_MM / 2, top + 14
    out = [f'<g class="card" data-url={quoteattr(item.url)}>',
           f'<rect x="{left + 3:.2f}" y="{top + 3:.2f}" width="{CARD_W - 6:.2f}" '
           f'height="{CARD_H - 6:.2f}" rx="3" fill="#fff" stroke="#0f766e" stroke-width="0.5"/>',
           _text(cx, top + 11, 4.2, city, bold=True, cls="city"),
           f'<rect x="{qx:.2f}" y="{qy:.2f}" width="{QR_MM}" height="{QR_MM}" fill="#fff"/>',
           f'<path class="qr" transform="translate({qx + quiet * scale:.3f} '
           f'{qy + quiet * scale:.3f}) scale({scale:.4f})" fill="#000" d="{path}"/>',
           # A long name (a bus line's two ends) is set smaller rather than cut.
           _text(cx, qy + QR_MM + 6, max(3.4, min(5.6, 5.6 * 28 / max(len(item.name), 1))),
                 _fit(item.name, 52), bold=True, cls="name"),
           _text(cx, qy + QR_MM + 12, 4.0, _fit(item.detail, 44), cls="detail"),
           _text(cx, qy + QR_MM + 18, 3.3, _fit(item.prompt, 56), cls="prompt"),
           _text(cx, qy + QR_MM + 22.5, 2.6, t.SHEET_SCAN, cls="scan"),
           _text(cx, qy + QR_MM + 26.5, 2.3, item.url, rtl=False, cls="url")]
    for i, link in enumerate(item.links[:2]):
        out.append(_text(cx, qy + QR_MM + 30 + 3.2 * i, 2.1, link, rtl=False, cls="link"))
    out.append("</g>")
    return "".join(out)


def pages(cards: Iterable[Card], city: str) -> list[str]:
    """One SVG document per A4 page of six cards."""
    items = list(cards)
    city = city or t.SHEET_DEFAULT_CITY
    docs = []
    for start in range(0, max(len(items), 1), PER_PAGE):
        body = []
        for i, item in enumerate(items[start:start + PER_PAGE]):
            col, row = i % COLUMNS, i // COLUMNS
            left = PAGE_W - CARD_W * (col + 1)  # right to left, as a Persian page reads
            body.append(_card(item, city, left, CARD_H * row))
        cuts = "".join(
            [f'<line x1="{CARD_W * c:.2f}" y1="0" x2="{CARD_W * c:.2f}" y2="{PAGE_H}"/>'
             for c in range(1, COLUMNS)]
            + [f'<line x1="0" y1="{CARD_H * r:.2f}" x2="{PAGE_W}" y2="{CARD_H * r:.2f}"/>'
               for r in range(1, ROWS)])
        docs.append(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{PAGE_W}mm" height="{PAGE_H}mm" '
            f'viewBox="0 0 {PAGE_W} {PAGE_H}" lang="fa">'
            f"<title>{escape(city)}</title>"
            f"<style>{_font_face()}text{{font-family:'Vazirmatn',Tahoma,sans-serif;"
            "fill:#111}.city{fill:#0f766e}.url,.link{fill:#333}</style>"
            f'<rect width="{PAGE_W}" height="{PAGE_H}" fill="#fff"/>'
            f'<g stroke="#999" stroke-width="0.3" stroke-dasharray="2 2">{cuts}</g>'
            + "".join(body) + "</svg>\n")
    return docs


def html(svgs: list[str]) -> str:
    """The pages in one HTML document, one per printed A4 sheet (for the PDF)."""
    inner = "".join(f'<div class="page">{s.split("?>", 1)[-1]}</div>' for s in svgs)
    return ("<!doctype html><html lang=\"fa\"><head><meta charset=\"utf-8\"><style>"
            "@page{size:A4;margin:0}body{margin:0}.page{width:210mm;height:297mm;"
            "page-break-after:always;overflow:hidden}.page svg{display:block}</style></head>"
            f"<body>{inner}</body></html>")


async def pdf(svgs: list[str], out: Path) -> None:
    """Print the pages to a PDF with Chromium (Playwright and Debian's chromium); raises
    RuntimeError where either is missing: the SVG pages print from any browser instead."""
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        raise RuntimeError("PDF needs Playwright and Chromium; write .svg instead") from exc
    if not CHROMIUM.exists():
        raise RuntimeError(f"PDF needs Chromium at {CHROMIUM} (PEYGIR_CHROMIUM); "
                           "write .svg instead")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM),
                                           args=["--no-sandbox", "--disable-gpu"])
        try:
            page = await browser.new_page()
            await page.set_content(html(svgs), wait_until="load")
            await page.pdf(path=str(out), format="A4", print_background=True,
                           margin={"top": "0", "right": "0", "bottom": "0", "left": "0"})
        finally:
            await browser.close()
