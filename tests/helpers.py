"""Small helpers the test modules share."""
import itertools

import numpy as np

import tinygrad_rnn as tr


def host(value) -> np.ndarray:
    """A NumPy copy of a Tensor or of a backend array (NumPy, array_api_strict, CuPy, or a NumPy scalar)."""
    if isinstance(value, tr.Tensor):
        return np.array(value.numpy())
    if hasattr(value, "get"):
        return value.get()
    if isinstance(value, np.ndarray) or np.isscalar(value) or isinstance(value, np.generic):
        return np.array(value)
    return np.from_dlpack(value).copy()


def unrolled_rnn(steps: int = 4):
    """A hand-written tanh RNN over ``steps`` steps inside scope "rnn": its shared weight W_hh and its last h."""
    tr.manual_seed(0)
    W = tr.nn.Parameter(tr.randn(3, 3) * 0.5)
    W.name = "W_hh"
    h = tr.zeros(1, 3).named("h0")
    x = tr.tensor(np.ones((steps, 1, 3), dtype="float32"), name="x")
    with tr.scope("rnn"):
        for t in range(steps):
            with tr.step(t):
                h = (x[t] + h @ W).tanh().named("h")
    return W, h


BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def open_in_browser(page: str) -> dict:
    """Load ``page`` in headless Chromium; returns the body's ``data-pictures`` / ``data-broken`` marks (set by the
    report's script once every picture has loaded or failed), ``data-explorers`` (how many explorers started) and
    the console messages. Chromium's log does not keep
    a message's level, and the report logs nothing itself, so every console message counts as an error."""
    import re
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    import pytest

    browser = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no headless Chromium: make test installs Debian's chromium package where it can "
                    "(sudo apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:  # a fresh profile, and no network: only the page's own files
        run = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                              "--v=0", "--disable-background-networking", f"--user-data-dir={profile}",
                              "--virtual-time-budget=10000", "--dump-dom", Path(page).resolve().as_uri()],
                             capture_output=True, text=True, timeout=120)
    body = re.search(r"<body([^>]*)>", run.stdout)
    marks = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(1))) if body else {}
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    return {"pictures": int(marks.get("pictures", -1)), "broken": marks.get("broken", "").split(),
            "explorers": int(marks.get("explorers", 0)), "console_errors": console}


def launch_chromium(playwright):
    """Debian's Chromium driven by Playwright (never ``playwright install``: it downloads a browser from outside);
    skips, saying why, where either is missing."""
    import shutil

    import pytest

    browser = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no headless Chromium: make test installs Debian's chromium package where it can "
                    "(sudo apt-get install chromium)")
    return playwright.chromium.launch(executable_path=browser, args=["--no-sandbox"])


class Watched:
    """A Playwright page with what it printed on its console, its uncaught errors and every request it made."""

    def __init__(self, browser, width: int = 1000, height: int = 600):
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.console, self.requests = [], []
        self.page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        self.page.on("pageerror", lambda error: self.console.append(f"error: {error}"))
        self.page.on("request", lambda request: self.requests.append(request.url))

    def open(self, path: str, ready: str = "body[data-ready]"):
        from pathlib import Path

        self.page.goto(Path(path).resolve().as_uri())
        self.page.wait_for_selector(ready, state="attached", timeout=60_000)
        return self.page


# every LSTM cell the fused step's gate math has a branch for: peepholes, f = 1 − i, no forget gate, no bias
LSTM_VARIANTS = [dict(peephole=p, coupled=c, forget_gate=f, bias=b)
                 for p, (c, f), b in itertools.product((False, True), ((False, True), (True, True), (False, False)),
                                                       (True, False))]


def lstm_variant_id(variant: dict) -> str:
    return "-".join(k for k, on in variant.items() if on) or "none"


def lstm_gate_inputs(rng, batch: int, hidden: int, dtype, variant: dict) -> tuple:
    """``(gx, hw, bias, c, peepholes, (coupled, forget_gate))`` for an LSTM gate-math call of ``variant``."""
    def draw(*shape):
        return rng.standard_normal(shape).astype(dtype)

    gx, hw, b, c = draw(batch, 4 * hidden), draw(batch, 4 * hidden), draw(4 * hidden), draw(batch, hidden)
    own_forget = variant["forget_gate"] and not variant["coupled"]
    peepholes = tuple(draw(hidden) if variant["peephole"] and (name != "cf" or own_forget) else None
                      for name in ("ci", "cf", "co"))
    return gx, hw, b if variant["bias"] else None, c, peepholes, (variant["coupled"], variant["forget_gate"])


def check_backwards_write_into(gates, dtype: str = "float32") -> None:
    """Every fused step's gate backward that takes ``into`` (a gradient slot) writes its first gradient there and
    returns that very array, with the values it returns without one."""
    rng, batch, hidden = np.random.default_rng(7), 3, 5

    def draw(*shape):
        return rng.standard_normal(shape).astype(dtype)

    def check(backward, *args):
        expected = backward(*args)
        first = expected[0] if isinstance(expected, tuple) else expected
        buffer = np.full((3,) + first.shape, np.nan, dtype=dtype)
        into = buffer[1]  # a middle row of a buffer, as Unbind hands out: its neighbours must stay untouched
        got = backward(*args, into)
        got_first = got[0] if isinstance(got, tuple) else got
        assert got_first is into
        assert np.isnan(buffer[0]).all() and np.isnan(buffer[2]).all()
        for a, e in zip(got if isinstance(got, tuple) else (got,), expected if isinstance(expected, tuple)
                        else (expected,), strict=True):
            np.testing.assert_array_equal(a, e)

    g = draw(batch, hidden)
    for kind, activation in (("tanh", np.tanh), ("relu", lambda a: np.maximum(a, 0)),
                             ("sigmoid", lambda a: 1 / (1 + np.exp(-a)))):
        check(gates.rnn_cell_backward, g, activation(draw(batch, hidden)).astype(dtype), kind)
    for variant in LSTM_VARIANTS:
        gx, hw, bias, c, peepholes, flags = lstm_gate_inputs(rng, batch, hidden, dtype, variant)
        _, _, saved = gates.lstm_cell(gx, hw, bias, c, peepholes, *flags)
        check(gates.lstm_cell_backward, draw(batch, hidden), draw(batch, hidden), saved, peepholes, *flags)
    for bias in (None, draw(3 * hidden)):
        _, saved = gates.gru_cell(draw(batch, 3 * hidden), draw(batch, 3 * hidden), bias, draw(batch, hidden))
        check(gates.gru_cell_backward, g, saved)
