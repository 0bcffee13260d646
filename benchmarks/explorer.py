"""The explorer against its aims, in headless Chromium: a 1,000-step 2-layer LSTM at op level (unfused, every gate
an op) opens at its overview in at most 3 s, shows any one step expanded to ops in at most 1 s, and its file is at
most 10 MB.

    python benchmarks/explorer.py [--steps 1000] [--repeats 3] [--screenshots docs/img]

Prints the graph's size, the time to write the page, the file's size, and per repeat (each in a fresh page): the
time from navigation to the first drawing, and the time from a click on a step's box to the drawing of its ops (the
in-page time of that drawing too: building the DOT and Graphviz's layout). ``--screenshots`` also writes the README's
pictures of each interaction (1000×600 PNGs) from a 12-step graph.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import viz  # noqa: E402
from tinygrad_rnn.tasks.graph import build  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def write_page(steps: int, folder: str) -> tuple:
    start = time.perf_counter()
    graph, _ = build("lstm", steps=steps, layers=2, fused=False)
    traced = time.perf_counter() - start
    start = time.perf_counter()
    path = viz.explore(graph, title=f"2-layer LSTM, {steps} steps, op level").save(os.path.join(folder, "lstm.html"))
    return graph, path, traced, time.perf_counter() - start


def wait_render(page, count: int) -> None:
    page.wait_for_function(f"Number(document.body.dataset.renders) >= {count}", timeout=60_000)


def one_run(browser, path: str, step: int) -> dict:
    """Open the page in a fresh tab, then expand the first layer's box at ``step`` (moving the window there)."""
    page = browser.new_page(viewport={"width": 1000, "height": 600})
    start = time.perf_counter()
    page.goto(Path(path).as_uri())
    page.wait_for_selector("body[data-ready]", state="attached", timeout=60_000)
    opened = time.perf_counter() - start
    drawn = int(page.evaluate("document.body.dataset.drawn"))
    opening = page.evaluate("document.body.dataset.opening")
    page.evaluate(f"explorer.setWindow({step}, {step + 3})")
    wait_render(page, 2)
    group = page.evaluate(f"explorer.model.groups.step.indexOf({step})")
    start = time.perf_counter()
    page.click(f"#G{group}")
    wait_render(page, 3)
    expanded = time.perf_counter() - start
    in_page = float(page.evaluate("document.body.dataset.renderMs")) / 1000
    result = {"open": opened, "expand": expanded, "expand_in_page": in_page, "drawn": drawn,
              "drawn_expanded": int(page.evaluate("document.body.dataset.drawn")),
              "phases": page.evaluate("document.body.dataset.phases"), "opening": opening}
    page.close()
    return result


def measure(steps: int, repeats: int) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        graph, path, traced, written = write_page(steps, folder)
        size = os.path.getsize(path)
        print(f"{steps}-step 2-layer LSTM, op level: {len(graph):,} nodes ({len(graph.ops):,} ops), "
              f"{len(graph.edges):,} edges; traced with backward in {traced:.1f} s, page written in {written:.1f} s, "
              f"{size / 1e6:.2f} MB")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            runs = [one_run(browser, path, step=(k + 1) * steps // (repeats + 1)) for k in range(repeats)]
            browser.close()
    for key, what in (("open", "open to the overview"), ("expand", "one step expanded to ops (click to drawn)"),
                      ("expand_in_page", "  of which DOT + Graphviz layout in the page")):
        values = [r[key] for r in runs]
        print(f"{what}: median {statistics.median(values):.2f} s (runs: {', '.join(f'{v:.2f}' for v in values)})")
    print(f"nodes drawn: overview {runs[0]['drawn']}, with one step expanded {runs[0]['drawn_expanded']}; the "
          f"expansion's ms (DOT from the model, Graphviz, the page's own): {'; '.join(r['phases'] for r in runs)}")
    print(f"opening's ms (page parsed, model read and indexed, Graphviz compiled, first drawing): "
          f"{'; '.join(r['opening'] for r in runs)}")
    print(f"load average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


def shoot(page, folder: str, name: str) -> None:
    page.wait_for_timeout(150)
    page.screenshot(path=os.path.join(folder, f"explorer_{name}.png"))
    print(f"wrote {os.path.join(folder, f'explorer_{name}.png')}")


def screenshots(folder: str) -> None:
    """The README's pictures: overview, a step expanded, a search match with its details, a highlighted path, the
    overlay off."""
    from playwright.sync_api import sync_playwright

    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        _, path, _, _ = write_page(12, tmp)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 600})
        page.goto(Path(path).as_uri())
        page.wait_for_selector("body[data-ready]", state="attached")
        shoot(page, folder, "overview")
        page.click(f"#G{page.evaluate('explorer.model.groups.step.indexOf(1)')}")
        wait_render(page, 2)
        shoot(page, folder, "expanded")
        page.fill("#search", "f LSTM/l1 t=9")
        page.press("#search", "Enter")
        wait_render(page, 3)
        shoot(page, folder, "search")
        page.select_option("#highlight", "cell-state highway")
        wait_render(page, 4)
        shoot(page, folder, "highway")
        page.uncheck("#overlay")
        wait_render(page, 5)
        shoot(page, folder, "no_overlay")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--screenshots", help="also write the README's screenshots into this folder")
    args = parser.parse_args()
    if args.screenshots:
        screenshots(args.screenshots)
    measure(args.steps, args.repeats)


if __name__ == "__main__":
    main()
