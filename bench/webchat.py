"""The web chat's weight and first render in Chromium at phone size (issue 17).

Starts the real `peygir serve` on a throwaway SQLite file, opens ``/`` in Debian's Chromium at
390×844 a few times with a cold cache, and prints what the page costs: the bytes of HTML, CSS,
JS and fonts it loads (bodies as served, before any transfer compression), and the time to
first paint and first contentful paint, median and worst.

    .venv/bin/python -m bench.webchat [--runs 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

from playwright.sync_api import Response, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
KINDS = {"document": "html", "stylesheet": "css", "script": "js", "font": "fonts"}


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    env = {**os.environ, "PEYGIR_WEB_HOST": "127.0.0.1", "PEYGIR_WEB_PORT": str(port),
           "PEYGIR_DATABASE_URL": f"sqlite://{folder}/bench.db",
           "PEYGIR_MEDIA_DIR": str(folder / "media"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "peygir", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                return proc, base
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("`peygir serve` did not start") from None
            time.sleep(0.2)


def measure(base: str, runs: int) -> dict[str, object]:
    weights: dict[str, int] = defaultdict(int)
    first_paint: list[float] = []
    contentful: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for run in range(runs):
            context = browser.new_context(viewport=PHONE, locale="fa-IR", is_mobile=True,
                                          has_touch=True, device_scale_factor=2)
            page = context.new_page()
            seen: list[Response] = []

            def keep(response: Response, into: list[Response] = seen) -> None:
                into.append(response)  # a function: Playwright cannot wrap a bound builtin

            page.on("response", keep)
            page.goto(base + "/", wait_until="load")
            page.evaluate("document.fonts.ready.then(() => true)")
            paints = page.evaluate(
                "Object.fromEntries(performance.getEntriesByType('paint')"
                ".map(e => [e.name, e.startTime]))")
            first_paint.append(float(paints.get("first-paint", 0.0)))
            contentful.append(float(paints.get("first-contentful-paint", 0.0)))
            if run == 0:  # every run loads the same files; weigh them once
                for response in seen:
                    kind = KINDS.get(response.request.resource_type)
                    if kind and response.ok:
                        weights[kind] += len(response.body())
            context.close()
        browser.close()
    return {
        "bytes": dict(weights) | {"total": sum(weights.values())},
        "first_paint_ms": {"median": statistics.median(first_paint), "max": max(first_paint)},
        "first_contentful_paint_ms": {"median": statistics.median(contentful),
                                      "max": max(contentful)},
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = _serve(Path(tmp))
        try:
            figures = measure(base, options.runs)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    weights = figures["bytes"]
    assert isinstance(weights, dict)
    print(f"web chat at {PHONE['width']}×{PHONE['height']}, {options.runs} cold loads")
    for kind in ("html", "css", "js", "fonts", "total"):
        print(f"  {kind:<6} {weights.get(kind, 0) / 1024:8.1f} KB")
    for name in ("first_paint_ms", "first_contentful_paint_ms"):
        value = figures[name]
        assert isinstance(value, dict)
        print(f"  {name.removesuffix('_ms').replace('_', ' ')}: median {value['median']:.0f} ms,"
              f" worst {value['max']:.0f} ms")
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
