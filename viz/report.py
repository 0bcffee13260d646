"""One HTML page that bundles the pictures of a run, each with a caption: ``out/report.html``.

Pictures are referenced by relative paths (the page sits beside them, so the folder can be zipped or served as it
is); unrolling frames become a small player that shows the graph after 1, 2, …, T steps one after another,
scrolled so that the step just added is in view; an unrolled graph is an explorer (``viz.explore``'s page, in an
``<iframe>``) with its static pictures linked. The page
needs no network and no library: a few lines of inline script run the player and mark the body with how many
pictures loaded (``data-pictures`` / ``data-broken``) and how many explorers started (``data-explorers``), which is
what the headless-browser test reads.

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> report = Report("Demo")
>>> report.section("Numbers", "held-out loss 1.23")
>>> path = report.write(os.path.join(folder, "report.html"))
>>> "held-out loss 1.23" in open(path, encoding="utf-8").read()
True
"""
from __future__ import annotations

import html
import os

from tinygrad_rnn.serialization import atomic_path
from viz.dot import frame_focus

_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.92em; margin-top: 0.3em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.88em; }
.wide .scroll { overflow: auto; max-height: 75vh; border: 1px solid #eee; }
.wide .scroll img { height: 560px; width: auto; max-width: none; border: none; }
.frames img { display: none; } .frames img.shown { display: block; }
.frames button { margin-right: 0.4em; }
.explorer iframe { width: 100%; height: 640px; border: 1px solid #ddd; }
"""

# Marks the body with the count of pictures and the ones that failed to load, and of the explorers that started
# (each says so with a message: a page opened from disk may not look inside its frames); runs the frame players.
_SCRIPT = """
const started = new Set();
window.addEventListener("message", event => {
  if (!event.data || event.data.explorer !== "ready") return;
  started.add(event.source);
  document.body.dataset.explorers = started.size;
});
function showFrame(player, k) {
  const frames = player.querySelectorAll("img");
  k = (k + frames.length) % frames.length;
  frames.forEach((img, i) => img.classList.toggle("shown", i === k));
  player.dataset.frame = k;
  player.querySelector(".counter").textContent = "step " + (k + 1) + " of " + frames.length;
  const box = player.querySelector(".scroll"), focus = frames[k].dataset.focus;
  if (box && focus) {  // keep the step just added in view, near the right edge, the steps before it to its left
    box.scrollLeft = Math.max(0, Number(focus) * frames[k].clientWidth - 0.85 * box.clientWidth);
    player.dataset.scrolled = box.scrollLeft;
  }
}
function play(player) {
  if (player.timer) { clearInterval(player.timer); player.timer = null; return; }
  const count = player.querySelectorAll("img").length;
  if (Number(player.dataset.frame) + 1 >= count) showFrame(player, 0);  // at the end: play from the start
  player.timer = setInterval(() => {
    const next = Number(player.dataset.frame) + 1;
    showFrame(player, next);
    if (next + 1 >= count) { clearInterval(player.timer); player.timer = null; }
  }, 900);
}
document.addEventListener("click", event => {
  const move = event.target.dataset && event.target.dataset.move;
  const player = event.target.closest && event.target.closest(".frames");
  if (!move || !player) return;
  if (move === "play") play(player); else showFrame(player, Number(player.dataset.frame) + Number(move));
});
window.addEventListener("load", () => {
  document.querySelectorAll(".frames").forEach(p => showFrame(p, 0));
  const pictures = Array.from(document.images);
  const broken = pictures.filter(img => !(img.complete && img.naturalWidth > 0));
  document.body.dataset.pictures = pictures.length;
  document.body.dataset.broken = broken.map(img => img.getAttribute("src")).join(" ");
});
"""


def _focus(path: str) -> str:
    """The ``data-focus`` of a frame drawn as SVG: where its newest step lies (``viz.dot.frame_focus``), which the
    player scrolls to."""
    if not path.endswith(".svg"):
        return ""
    with open(path, encoding="utf-8") as f:
        focus = frame_focus(f.read())
    return f' data-focus="{focus:.4f}"' if focus is not None else ""


class Report:
    """Sections of text, figures and frame players, written as one self-contained HTML page.

    Paths given to :meth:`figure` and :meth:`frames` may be absolute or relative to the working directory; the page
    refers to them relative to where it is written, and a missing picture is an error at :meth:`write` time rather
    than a broken image in the browser.
    """

    def __init__(self, title: str):
        self.title = title
        self._parts: list = []

    def section(self, heading: str, text: str = "", pre: bool = False) -> None:
        """A heading and a paragraph (``pre=True`` keeps the text's lines, e.g. a training log)."""
        self._parts.append(("section", heading, text, pre))

    def figure(self, path: str, caption: str, wide: bool = False) -> None:
        """One picture (SVG, PNG, …) with its caption. ``wide`` shows it at its own size in a scrolling box, with a
        link to open it alone — for an unrolled graph, which shrunk to the page's width could not be read."""
        self._parts.append(("figure", [path], caption, wide))

    def frames(self, paths: list, caption: str, wide: bool = False) -> None:
        """Pictures shown one after another with previous / play / next buttons (the unrolling of a graph)."""
        if not paths:
            raise ValueError("Report.frames: no frames given")
        self._parts.append(("frames", list(paths), caption, wide))

    def explorer(self, page: str, caption: str, links=()) -> None:
        """An explorer page (``viz.explore(...).save(page)``) shown in a frame, with links to ``links`` (the same
        graph's static SVG or PNG, say) below it."""
        self._parts.append(("explorer", [page, *links], caption, False))

    def pictures(self) -> list:
        """Every picture path the page shows or links to, in order (explorer pages included)."""
        return [p for part in self._parts if part[0] != "section" for p in part[1]]

    def _html(self, folder: str) -> str:
        missing = [p for p in self.pictures() if not os.path.exists(p)]
        if missing:
            raise FileNotFoundError(f"Report.write: pictures not found: {', '.join(missing)}")

        def src(path: str) -> str:
            return html.escape(os.path.relpath(os.path.abspath(path), folder).replace(os.sep, "/"))

        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for index, part in enumerate(self._parts):
            if part[0] == "section":
                _, heading, text, pre = part
                body.append(f"<h2>{html.escape(heading)}</h2>")
                if text:
                    body.append(f"<pre>{html.escape(text)}</pre>" if pre else f"<p>{html.escape(text)}</p>")
            elif part[0] == "figure":
                _, (path,), caption, wide = part
                image = f'<img src="{src(path)}" alt="{html.escape(caption)}">'
                opening = "<figure>"
                if wide:
                    image = f'<div class="scroll">{image}</div><a href="{src(path)}">open the picture alone</a>'
                    opening = '<figure class="wide">'
                body.append(f"{opening}{image}<figcaption>{html.escape(caption)}</figcaption></figure>")
            elif part[0] == "explorer":
                _, (page, *links), caption, _ = part
                also = ", ".join(f'<a href="{src(p)}">{html.escape(os.path.basename(p))}</a>' for p in links)
                body.append(f'<figure class="explorer"><iframe src="{src(page)}" title="{html.escape(caption)}">'
                            f'</iframe><figcaption>{html.escape(caption)} <a href="{src(page)}">Open the explorer '
                            f'alone</a>{"; static pictures: " + also if also else ""}.</figcaption></figure>')
            else:
                _, paths, caption, wide = part
                images = "".join(f'<img src="{src(p)}" alt="frame {k + 1}"{_focus(p)}>' for k, p in enumerate(paths))
                if wide:
                    images = f'<div class="scroll">{images}</div>'
                body.append(f'<figure class="frames{" wide" if wide else ""}" id="frames{index}" data-frame="0"><div>'
                            '<button data-move="-1">&#9664;</button><button data-move="play">play</button>'
                            '<button data-move="1">&#9654;</button> <span class="counter"></span></div>'
                            f"{images}<figcaption>{html.escape(caption)}</figcaption></figure>")
        return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head>\n<body>\n"
                + "\n".join(body) + f"\n<script>{_SCRIPT}</script>\n</body></html>\n")

    def write(self, path: str) -> str:
        """Write the page atomically to ``path``; returns the path."""
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        page = self._html(folder)
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write(page)
        return path
