"""The report's figures (`report.figures`) and its self-contained page (`report.html`).

Figures: written for a small hand-made score document (two models, chain of thought and
direct output), valid PNGs, the same bytes in two processes with different hash seeds. Page:
every figure embedded as a data: URI, and no external request, checked in the text and in a
real browser (Debian's Chromium, driven over the DevTools protocol on a pipe: every request
the page makes is recorded), which also takes a screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.metric.scoring import Verdict, join
from vlm4d_tasks.pipeline.score import run_entry, score_document
from vlm4d_tasks.report import figures
from vlm4d_tasks.report.html import write_html

CHROMIUM = Path("/usr/bin/chromium")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RESAMPLES = 200

# (category, question, options, answer letter) of the hand-made questions.
QUESTIONS = {
    "real": [
        ("translational", "Which way does the car move?",
         ["left", "right", "not moving", "there are no cars in the video"], "A"),
        ("translational", "Which way does the dog run?",
         ["towards the camera", "away from the camera", "left", "right"], "B"),
        ("translational", "Which way does the man walk?",
         ["right", "left", "not moving", "there are no people in the video"], "A"),
        ("translational", "Which way does the bus move?",
         ["not moving", "left", "right", "towards the camera"], "A"),
        ("rotational", "Which way does the wheel spin?",
         ["clockwise", "counter-clockwise", "not spinning", "both"], "B"),
        ("counting", "How many times does the ball bounce?", ["0", "1", "2", "3"], "C"),
        ("false_positive", "Which way does the cat move?",
         ["left", "right", "there are no cats in the video", "not moving"], "C"),
    ],
    "synthetic": [
        ("translational", "Which direction is the robot moving?",
         ["left", "no robot there", "not moving", "right"], "D"),
        ("translational", "Which direction is the drone moving?",
         ["away from the camera", "towards the camera", "left", "no drone there"], "B"),
        ("rotational", "Which way does the arm rotate?",
         ["clockwise", "counter-clockwise", "not rotating", "no arm there"], "A"),
        ("false_positive", "Which direction is the dragon moving?",
         ["left", "right", "not moving", "no dragon there"], "D"),
    ],
}  # fmt: skip


def _records(subset: str) -> list[Record]:
    out = []
    for i, (category, question, options, answer) in enumerate(QUESTIONS[subset], 1):
        out.append(Record(
            uid=f"{subset}/q{i}", question_id=f"q{i}", subset=subset,
            source="davis" if subset == "real" else "synthetic",
            perspective=("egocentric" if i % 2 else "exocentric") if subset == "real" else None,
            category=category, question=question, options=options, answer=answer,
            answer_text=options["ABCD".index(answer)], video=f"videos/{subset}_{i % 3}.mp4",
        ))  # fmt: skip
    return out


def _letters(records: list[Record], skill: int) -> list[str | None]:
    """A fixed answer sheet: right where (i + skill) % 3 != 0, else the next option; the
    first question of a skill-2 model has no valid answer."""
    letters: list[str | None] = []
    for i, r in enumerate(records):
        if (i + skill) % 3:
            letters.append(r.answer)
        else:
            letters.append("ABCD"[("ABCD".index(r.answer) + 1) % 4])
    if skill == 2:
        letters[0] = None
    return letters


def score_doc(*, old: bool = False) -> dict[str, Any]:
    """Two models x two prompt settings x two subsets, through the pipeline's own document
    builder. `old`: as written before the outcomes carried the true and chosen option texts."""
    runs, models = [], {}
    for name, skills in (("alpha-7B", (1, 2)), ("beta-13B", (0, 1))):
        for variant, skill in zip(("cot", "direct-output"), skills):
            model = f"{name} ({variant})"
            for subset in ("real", "synthetic"):
                records = _records(subset)
                letters = _letters(records, skill + (subset == "synthetic"))
                verdicts = [Verdict.chosen(r.uid, letter, "given") for r, letter in
                            zip(records, letters)]  # fmt: skip
                items = join(verdicts, records)
                run = run_entry(items, name=name, model=model, variant=variant, subset=subset,
                                file=None, grading={"mode": "rule"}, resamples=RESAMPLES,
                                seed=0)  # fmt: skip
                if old:
                    for outcome in run["outcomes"]:
                        del outcome["truth"], outcome["chosen"]
                runs.append(run)
                models.setdefault(model, []).extend(items)
    return score_document(runs, models, judge={"mode": "rule", "models": []},
                          resamples=RESAMPLES, seed=0)  # fmt: skip


PROBE_DIAGNOSIS = {
    "overall": {"correct": 70, "total": 112, "accuracy": 0.625},
    "by_category_perspective": {},
    "by_camera_motion": {
        "static": {"correct": 34, "total": 56, "accuracy": 34 / 56},
        "pan": {"correct": 4, "total": 7, "accuracy": 4 / 7},
        "truck": {"correct": 9, "total": 13, "accuracy": 9 / 13},
    },
    "pairs": {"both": 25, "static_only": 9, "moving_only": 11, "neither": 11},
    "confusion_traps": 8,
    "confusion_chose_apparent": 3,
    "unanswered": 0,
    "notes": [],
    "unresolved": 0,
}


def assert_png(path: Path) -> None:
    from PIL import Image

    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), path
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) > 200, (path, image.size)


# --------------------------------------------------------------------------------------------
# Figures


def test_figures_of_two_models_in_both_prompt_settings(tmp_path: Path) -> None:
    doc = score_doc()
    paths = figures.write_figures([doc], tmp_path / "figs")
    assert [p.name for p in paths] == [
        "accuracy_by_category.png", "cot_vs_direct.png", "direction_confusion_cot.png",
        "direction_confusion_direct-output.png",
    ]  # fmt: skip
    for path in paths:
        assert_png(path)
    assert figures.figure_notes([doc]) == []
    # One matrix per prompt setting, pooling its two models' runs: 2 models x 8 questions
    # whose answer names a direction (left, away, right, not moving, absent; right, towards,
    # absent).
    groups = figures.direction_groups([doc])
    assert [(g.key, g.models, g.matrix.total) for g in groups] == [
        ("cot", ("alpha-7B (cot)", "beta-13B (cot)"), 16),
        ("direct-output", ("alpha-7B (direct-output)", "beta-13B (direct-output)"), 16),
    ]

    # A document written before the outcomes named the chosen option: no matrix, and the
    # report is told why.
    old = score_doc(old=True)
    paths = figures.write_figures([old], tmp_path / "old")
    assert [p.name for p in paths] == ["accuracy_by_category.png", "cot_vs_direct.png"]
    notes = figures.figure_notes([old])
    assert len(notes) == 1 and "confusion" in notes[0] and "chosen" in notes[0]


def test_no_prompt_pair_no_prompt_figure(tmp_path: Path) -> None:
    doc = score_doc()
    doc["runs"] = [r for r in doc["runs"] if r["variant"] == "cot"]
    doc["models"] = [m for m in doc["models"] if m["model"].endswith("(cot)")]
    written = figures.write_figures([doc], tmp_path)
    assert [p.name for p in written] == ["accuracy_by_category.png",
                                         "direction_confusion_cot.png"]  # fmt: skip
    assert any("chain of thought" in note for note in figures.figure_notes([doc]))
    assert figures.write_figures([], tmp_path / "none") == []


def test_category_pooling_counts_questions_not_means() -> None:
    # 9/10 and 1/90 pool to 10/100, not the mean of 90% and 1.1%.
    bar = figures._pooled(
        [{"n": 10, "scored": 10, "correct": 9, "accuracy": 0.9},
         {"n": 90, "scored": 90, "correct": 1, "accuracy": 1 / 90}],
        resamples=RESAMPLES, seed=0,
    )  # fmt: skip
    assert bar is not None and bar.value == pytest.approx(10.0)
    assert bar.low < 10.0 < bar.high


def test_direction_confusion_counts() -> None:
    pairs = [
        ("left", "left"), ("left", "right"), ("Left.", "to the right"), ("right", None),
        ("towards the camera", "away from the camera"), ("coming closer", "towards"),
        ("there are no cars in the video", "not moving"), ("no dragon there", "no dragon there"),
        ("not moving", "up"), ("3", "2"), ("clockwise", "counter-clockwise"),
    ]  # fmt: skip
    m = figures.direction_confusion(pairs)
    assert m.rows == ("left", "right", "towards", "not moving", "absent")  # no "away" truth
    assert m.columns == (*figures.DIRECTIONS, figures.OTHER, figures.NO_ANSWER)
    table = {row: dict(zip(m.columns, counts)) for row, counts in zip(m.rows, m.counts)}
    assert table["left"]["left"] == 1 and table["left"]["right"] == 2
    assert table["right"][figures.NO_ANSWER] == 1
    assert table["towards"]["away"] == 1 and table["towards"]["towards"] == 1
    assert table["absent"]["not moving"] == 1 and table["absent"]["absent"] == 1
    assert table["not moving"][figures.OTHER] == 1
    assert m.skipped == 2 and m.total == 9


def test_direction_confusion_figure_and_probe_twin_figure(tmp_path: Path) -> None:
    path = figures.direction_confusion_figure(
        [("left", "right"), ("right", "right"), ("away", "towards the camera")],
        tmp_path / "confusion.png",
    )
    assert_png(path)
    with pytest.raises(ValueError, match="no direction question"):
        figures.direction_confusion_figure([("3", "2")], tmp_path / "none.png")

    from vlm4d_tasks.probe.diagnose import ProbeDiagnosis, Rate

    diagnosis = ProbeDiagnosis(
        overall=Rate(70, 112), by_category_perspective={},
        by_camera_motion={"static": Rate(34, 56), "pan": Rate(4, 7)},
        pairs={"both": 25, "static_only": 9, "moving_only": 11, "neither": 11},
        confusion_traps=8, confusion_chose_apparent=3, unanswered=0,
    )  # fmt: skip
    assert_png(figures.probe_twin_figure(diagnosis, tmp_path / "probe.png"))
    two = {"oracle": PROBE_DIAGNOSIS, "fooled": diagnosis}
    assert_png(figures.probe_twin_figure(two, tmp_path / "probe_two.png"))
    with pytest.raises(ValueError, match="probe diagnosis"):
        figures.probe_twin_figure({"x": {"overall": {}}}, tmp_path / "bad.png")


RENDER_SCRIPT = """
import json, sys
from pathlib import Path
from vlm4d_tasks.report import figures
doc, out = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
figures.write_figures([doc], out, progress=False)
figures.probe_twin_figure(json.loads(sys.argv[3]), out / "probe_twins.png")
"""


@pytest.mark.subprocess
def test_figures_are_byte_identical_across_processes(tmp_path: Path) -> None:
    source = tmp_path / "score.json"
    source.write_text(json.dumps(score_doc()), encoding="utf-8")
    outputs = []
    for seed in ("0", "4242"):
        out = tmp_path / f"hashseed_{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed, "MPLCONFIGDIR": str(tmp_path / f"mpl{seed}")}
        subprocess.run(
            [sys.executable, "-c", RENDER_SCRIPT, str(source), str(out),
             json.dumps(PROBE_DIAGNOSIS)],
            check=True, env=env, timeout=300,
        )  # fmt: skip
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert sorted(outputs[0]) == [
        "accuracy_by_category.png", "cot_vs_direct.png", "direction_confusion_cot.png",
        "direction_confusion_direct-output.png", "probe_twins.png",
    ]  # fmt: skip
    assert outputs[0] == outputs[1]


# --------------------------------------------------------------------------------------------
# The page

MARKDOWN = """# VLM4D report

Verdicts: `rule` (deterministic answer extraction). Numbers *in %*, see <https://example.org>
and [the paper](https://arxiv.org/abs/2508.02095); the figures are
[below](#figures-by-name) ([Protocols: elsewhere](#no-such-heading)).

| Model | Real Ego | Overall |
| --- | ---: | ---: |
| `alpha-7B (cot)` | 45.1 [42.4, 47.8] | 44.3 |
| beta-13B (direct-output) | 39.0 | 38.2 |

## Figures by name

![Accuracy by category](accuracy_by_category.png)

- first item with `code`
  - nested item
- second item

<script>alert(1)</script>
"""

# Every attribute or CSS value that could make the browser fetch something.
_URL_ATTRIBUTE = re.compile(r"""\b(?:src|href|srcset|action|poster|data)\s*=\s*["']?([^"'\s>]*)""",
                            re.IGNORECASE)  # fmt: skip
_CSS_URL = re.compile(r"""url\(\s*["']?([^"')]*)""", re.IGNORECASE)


def _write_page(tmp_path: Path) -> tuple[Path, list[Path]]:
    images = figures.write_figures([score_doc()], tmp_path)
    images.append(figures.probe_twin_figure(PROBE_DIAGNOSIS, tmp_path / "probe_twins.png"))
    return write_html(MARKDOWN, images, tmp_path / "report.html"), images


def test_html_embeds_every_image_and_references_nothing_outside(tmp_path: Path) -> None:
    page, images = _write_page(tmp_path)
    text = page.read_text(encoding="utf-8")
    assert len(images) == 5
    assert text.count("data:image/png;base64,") == len(images)
    for image in images:
        assert base64.b64encode(image.read_bytes()).decode() in text
    # The image the Markdown names sits where it names it; the others follow under Figures.
    assert text.index("Figures by name") < text.index('alt="Accuracy by category"')
    assert text.index('alt="Accuracy by category"') < text.index('<section class="figures">')
    # (a) statically: nothing to fetch but data: URIs and fragments.
    targets = _URL_ATTRIBUTE.findall(text) + _CSS_URL.findall(text)
    assert len(targets) == len(images) + 2  # and the two links within the page
    assert all(t.startswith("data:") or t.startswith("#") for t in targets), [
        t[:60] for t in targets if not t.startswith(("data:", "#"))
    ]
    for forbidden in ("<script", "<link", "@import", "<iframe", "<object", "<embed"):
        assert forbidden not in text.lower(), forbidden
    # Markdown converted: table, headings (with GitHub's ids), list, code spans; raw HTML left
    # as text; a link within the page kept, any other link its text alone.
    for fragment in (
        "<table>",
        '<h1 id="vlm4d-report">VLM4D report</h1>',
        '<h2 id="figures-by-name">Figures by name</h2>',
        "<ul>",
        "<code>rule</code>",
        "<em>in %</em>",
        "&lt;script&gt;",
        "and the paper; the figures are",
        '<a href="#figures-by-name">below</a>',
        '(<a href="#no-such-heading">Protocols: elsewhere</a>)',
    ):
        assert fragment in text, fragment
    assert "[the paper]" not in text and "arxiv.org" not in text and "](" not in text
    assert "<title>VLM4D report</title>" in text
    assert "Content-Security-Policy" in text


def test_html_refuses_a_file_that_is_not_an_image(tmp_path: Path) -> None:
    bogus = tmp_path / "fake.png"
    bogus.write_text("not a png", encoding="utf-8")
    with pytest.raises(ValueError, match="fake.png"):
        write_html("# x", [bogus], tmp_path / "report.html")
    with pytest.raises(ValueError, match="notes.txt"):
        write_html("# x", [tmp_path / "notes.txt"], tmp_path / "report.html")


# --------------------------------------------------------------------------------------------
# In a real browser


class DevTools:
    """Headless Chromium driven over `--remote-debugging-pipe`: the browser reads commands
    from its fd 3 and writes replies and events to its fd 4, each a JSON message ended by NUL.
    No port, no websocket, and nothing to install but the browser."""

    def __init__(self, workdir: Path, width: int = 1280, height: int = 2000) -> None:
        self.log = workdir / "chromium.log"
        args = [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={workdir / 'profile'}",
            "--remote-debugging-pipe", "--hide-scrollbars", "--force-device-scale-factor=1",
            f"--window-size={width},{height}", "about:blank",
        ]  # fmt: skip
        commands_r, commands_w = (_high(fd) for fd in os.pipe())
        replies_r, replies_w = (_high(fd) for fd in os.pipe())
        log = _high(os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
        null = _high(os.open(os.devnull, os.O_RDONLY))
        # The browser's fds 3 and 4 are the pipe (all ours sit above 9, so no dup2 clobbers
        # another); nothing else of this process is inherited (Python's fds are CLOEXEC).
        moves = [(null, 0), (log, 1), (log, 2), (commands_r, 3), (replies_w, 4)]
        try:
            self.pid = os.posix_spawn(
                args[0],
                args,
                dict(os.environ),
                file_actions=[(os.POSIX_SPAWN_DUP2, fd, to) for fd, to in moves],
            )
        finally:
            for fd in (commands_r, replies_w, log, null):
                os.close(fd)
        self.write_fd, self.read_fd = commands_w, replies_r
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.read_fd], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError(f"no reply from Chromium; its log: {self.log}")
            chunk = os.read(self.read_fd, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the pipe; its log: {self.log}")
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 60.0) -> dict[str, Any]:  # fmt: skip
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str, since: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        seen = self.events[since:]
        while not any(e.get("method") == method and e.get("sessionId") == session for e in seen):
            self.events.append(self._message(deadline))
            seen = self.events[since:]

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        deadline = time.monotonic() + 20
        while os.waitpid(self.pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)  # the browser this test started
                os.waitpid(self.pid, 0)
                break
            time.sleep(0.05)
        os.close(self.write_fd)
        os.close(self.read_fd)


def _high(fd: int) -> int:
    """`fd` moved to a number above 9 (close-on-exec)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


PAGE_STATE = """(() => ({
  images: document.images.length,
  decoded: Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length,
  tables: document.querySelectorAll('table').length,
  scrollWidth: document.documentElement.scrollWidth,
  scrollHeight: document.documentElement.scrollHeight,
  innerWidth: window.innerWidth,
  // tables wider than the page (they scroll sideways: part of them is out of view)
  wideTables: Array.from(document.querySelectorAll('.table-wrap'))
    .filter(e => e.scrollWidth > e.clientWidth + 1).length,
  resources: performance.getEntriesByType('resource').map(e => e.name),
  // each link: where it points and whether the page has that anchor
  links: Array.from(document.links).map(a => [a.getAttribute('href'),
    a.hash !== '' && document.getElementById(decodeURIComponent(a.hash.slice(1))) !== null]),
}))()"""


@dataclass
class PageLoad:
    url: str
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    failures: list[dict] = field(default_factory=list)  # Network.loadingFailed
    errors: list[str] = field(default_factory=list)  # console and log errors
    state: dict[str, Any] = field(default_factory=dict)  # PAGE_STATE after the load event
    screenshot: bytes = b""


def load_in_chromium(browser: DevTools, url: str, *, width: int = 1280, height: int = 2000,
                     full_page: bool = False) -> PageLoad:  # fmt: skip
    """Open `url` in a new tab of `browser` with the network log on; the requests it made,
    its errors, its state after the load event and a screenshot (`width` x `height`, or the
    whole page)."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"
    ]
    for domain in ("Page", "Network", "Runtime", "Log"):
        browser.send(f"{domain}.enable", session=session)
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    browser.send("Emulation.setDeviceMetricsOverride", metrics, session)
    start = len(browser.events)
    browser.send("Page.navigate", {"url": url}, session)
    browser.wait_for("Page.loadEventFired", session, start)
    # Let anything late (a lazy image, a font) show up in the log before reading it.
    browser.send("Runtime.evaluate", {"expression": "new Promise(r => setTimeout(r, 500))",
                                      "awaitPromise": True}, session)  # fmt: skip
    state = browser.send("Runtime.evaluate", {"expression": PAGE_STATE, "returnByValue": True},
                         session)["result"]["value"]  # fmt: skip
    if full_page:
        metrics["height"] = int(state["scrollHeight"])
        browser.send("Emulation.setDeviceMetricsOverride", metrics, session)
    shot = browser.send("Page.captureScreenshot", {"format": "png"}, session)["data"]
    load = PageLoad(url, state=state, screenshot=base64.b64decode(shot))
    for event in browser.events[start:]:
        if event.get("sessionId") != session:
            continue
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            load.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed":
            load.failures.append(params)
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            load.errors.append(params["entry"].get("text", ""))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            load.errors.append(str(params.get("args")))
        elif method == "Runtime.exceptionThrown":
            load.errors.append(str(params.get("exceptionDetails")))
    browser.send("Target.closeTarget", {"targetId": target})
    return load


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                    "(apt-get install chromium; .ci/run installs it)")  # fmt: skip
def test_html_in_headless_chromium_makes_no_request(tmp_path: Path) -> None:
    from PIL import Image, ImageStat

    page, images = _write_page(tmp_path / "report")
    control = tmp_path / "control.html"  # a page that does fetch: the log must show it
    control.write_text('<!DOCTYPE html><img src="http://127.0.0.1:9/probe.png">', "utf-8")
    browser = DevTools(tmp_path)
    try:
        load = load_in_chromium(browser, page.as_uri())
        fetching = load_in_chromium(browser, control.as_uri(), height=300)
    finally:
        browser.close()

    assert "http://127.0.0.1:9/probe.png" in fetching.requests  # the log sees requests
    assert load.requests and load.requests[0] == page.as_uri()
    outside = [u[:80] for u in load.requests if u != page.as_uri() and not u.startswith("data:")]
    assert outside == [], outside
    assert load.failures == [] and load.errors == [], (load.failures, load.errors)
    assert load.state["resources"] == []
    assert load.state["images"] == load.state["decoded"] == len(images)
    assert load.state["tables"] == 1
    # Links only within the page (a heading's anchor, or one that is missing: still no request)
    assert load.state["links"] == [["#figures-by-name", True], ["#no-such-heading", False]]
    # Nothing cut off: the page is no wider than the window, nor is any table.
    assert load.state["scrollWidth"] <= load.state["innerWidth"] == 1280
    assert load.state["wideTables"] == 0

    shot = tmp_path / "screenshot.png"
    shot.write_bytes(load.screenshot)
    assert_png(shot)
    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        grey = image.convert("L")
        assert ImageStat.Stat(grey).stddev[0] > 10  # not a blank page
        assert len(grey.getcolors(256) or []) > 20


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                    "(apt-get install chromium; .ci/run installs it)")  # fmt: skip
def test_the_leaderboard_with_its_validity_columns_fits_the_page(tmp_path: Path) -> None:
    """Every paper column, chance-corrected and debiased accuracy with intervals and model
    names as long as the release's: at 1280 pixels no table scrolls sideways (each interval
    goes under its value when needed), and the baselines are a table of their own."""
    from vlm4d_tasks.pipeline import rows as score_rows
    from vlm4d_tasks.report import leaderboard as lb
    from vlm4d_tasks.report import leaderboard_render as render

    document = score_doc()
    long_names = {}
    for i, row in enumerate(document["models"]):
        long_names[row["model"]] = f"Llama-4-Scout-17B-16E-Instruct_10frame-{i} (direct-output)"
    for entry in document["models"] + document["runs"]:
        entry["model"] = long_names[entry["model"]]
    validity = document["validity"]
    # As if every question were kept: each row's debiased accuracy is its overall one.
    validity["models"] = {
        row["model"]: {"debiased": row["columns"]["overall"]} for row in document["models"]
    }
    for row in validity["baselines"]:
        row["debiased"] = row["columns"]["overall"]
    markdown = render.report_markdown(
        lb.build([score_rows.Source("s.json", document)], resamples=20)
    )
    assert "| Chance-corr. | Debiased |" in markdown
    page = write_html(markdown, [], tmp_path / "report.html")
    browser = DevTools(tmp_path)
    try:
        load = load_in_chromium(browser, page.as_uri())
    finally:
        browser.close()
    assert load.requests == [page.as_uri()]
    assert load.state["tables"] >= 3  # leaderboard, baselines, categories (and published)
    assert load.state["wideTables"] == 0
    assert load.state["scrollWidth"] <= load.state["innerWidth"] == 1280


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                    "(apt-get install chromium; .ci/run installs it)")  # fmt: skip
def test_a_report_with_dsr_bench_rows_stays_self_contained_and_fits_the_page(
    tmp_path: Path,
) -> None:
    """VLM4D and DSR-Bench rows in one report (documents written by the pipeline): the page
    makes no request, its link to the DSR-Bench type table lands on that table, and the
    table of the 13 types fits 1280 pixels beside a model name as long as the release's."""
    from test_report_groups import dsr_document

    from vlm4d_tasks.pipeline.rows import Source
    from vlm4d_tasks.report import leaderboard as lb
    from vlm4d_tasks.report import leaderboard_render as render

    long_name = "Llama-4-Scout-17B-16E-Instruct_10frame"
    dsr = [dsr_document(tmp_path, long_name, task, skill)[0]
           for task, skill in (("dsr_bench_32frame", 2), ("dsr_bench_1fps", 3))]  # fmt: skip
    sources = [Source("s.json", score_doc()), *(Source(f"d{i}.json", d) for i, d in enumerate(dsr))]
    markdown = render.report_markdown(lb.build(sources, resamples=20, literature={"rows": []}))
    page = write_html(markdown, [], tmp_path / "report.html")
    browser = DevTools(tmp_path)
    try:
        load = load_in_chromium(browser, page.as_uri())
    finally:
        browser.close()
    assert load.requests == [page.as_uri()]
    assert load.failures == [] and load.errors == [], (load.failures, load.errors)
    assert ["#dsr-bench-by-question-type", True] in load.state["links"]
    assert load.state["wideTables"] == 0
    assert load.state["scrollWidth"] <= load.state["innerWidth"] == 1280
