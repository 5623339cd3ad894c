"""The report as one self-contained HTML page (`report.html` of `vlm4d report --out`).

The page opens from disk in any browser, without a server and without the network: the
figures are embedded as base64 `data:` URIs, the style sheet is inline, and it loads no font,
script or style from anywhere. A Content-Security-Policy in the page (`default-src 'none'`,
images only from `data:`) makes the browser refuse any other request, should one ever slip
into the text.

The Markdown (`report.md`: headings, paragraphs, lists, tables, code spans) is converted by
markdown-it-py (CommonMark with GFM tables), with raw HTML, autolinks and link references
switched off (they render as their literal text). A link to a heading of the page
(`[Protocols](#protocols-of-the-measured-rows)`, the anchor GitHub gives that heading) stays a
link: headings get GitHub's ids, and following it moves within the page, a fragment, never a
request. Any other link renders as its text alone, so no `href` leaves the page. An image in
the Markdown (`![caption](accuracy_by_category.png)`) is replaced by the embedded figure of
that file name; figures it does not name follow in a closing "Figures" section.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

MIME_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
              ".gif": "image/gif", ".webp": "image/webp"}  # fmt: skip
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEFAULT_TITLE = "VLM4D report"
# Nothing but inline styles and data: images; no base URL, no form target.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'"
)

STYLE = """
:root { color-scheme: light; }
body { margin: 0; background: #fff; color: #1b1b1b;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "DejaVu Sans", sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 24px 48px; }
h1 { font-size: 1.75em; margin: 0.4em 0 0.6em; padding-bottom: 0.2em;
  border-bottom: 2px solid #333; }
h2 { font-size: 1.35em; margin: 1.8em 0 0.6em; padding-bottom: 0.15em;
  border-bottom: 1px solid #bbb; }
h3 { font-size: 1.12em; margin: 1.4em 0 0.5em; }
h4, h5, h6 { font-size: 1em; margin: 1.2em 0 0.4em; }
p, ul, ol { margin: 0.55em 0; }
li { margin: 0.15em 0; }
li > ul, li > ol { margin: 0.15em 0; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono",
  monospace; font-size: 0.88em; background: #f2f2f2; padding: 0.05em 0.3em;
  border-radius: 3px; overflow-wrap: break-word; }
pre { background: #f4f4f4; padding: 0.7em 0.9em; overflow-x: auto; border-radius: 4px; }
pre code { background: none; padding: 0; overflow-wrap: normal; }
blockquote { margin: 0.8em 0; padding: 0.1em 1em; border-left: 4px solid #bbb; color: #444; }
hr { border: none; border-top: 1px solid #ccc; margin: 1.6em 0; }
.table-wrap { overflow-x: auto; margin: 0.9em 0 1.2em; }
table { border-collapse: collapse; font-size: 12.5px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #cfcfcf; padding: 3px 6px; vertical-align: top; }
td[style*="right"] { white-space: nowrap; }  /* numbers: "+1.5", "60.4 (n=1178)" on one line */
/* "55.5 [51.2, 59.9]": the interval may go under its value, never break itself, so that a
   wide leaderboard fits the page instead of squeezing the model names (`_interval_cells`) */
td.interval { white-space: normal; }
td.interval .ci { white-space: nowrap; }
th { background: #ececec; font-weight: 600; }
tbody tr:nth-child(even) { background: #f8f8f8; }
img { max-width: 100%; height: auto; }
figure { margin: 1.4em 0 2em; }
figure img { display: block; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; margin-top: 0.35em; }
.missing-image { color: #8a1c1c; font-style: italic; }
@media print { main { max-width: none; padding: 0; } figure { break-inside: avoid; } }
"""


def data_uri(path: Path) -> str:
    """The image file as a `data:` URI; ValueError naming the file for another kind of file."""
    mime = MIME_TYPES.get(path.suffix.lower())
    if mime is None:
        raise ValueError(
            f"{path}: not an image the report embeds ({', '.join(MIME_TYPES)}); "
            "fix: pass the PNGs of `figures.write_figures`"
        )
    data = path.read_bytes()
    if mime == "image/png" and not data.startswith(PNG_SIGNATURE):
        raise ValueError(f"{path}: named .png but not a PNG file; fix: pass a PNG")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


_FRAGMENT = re.compile(r"#[\w-]+")  # an in-page anchor as `heading_id` makes them
# A right-aligned cell holding a value and its interval, as markdown-it renders it.
_INTERVAL_CELL = re.compile(r'<td style="text-align:right">([^<\[\]]+) (\[[^<\[\]]+\])</td>')


def _interval_cells(body: str) -> str:
    """Mark each "value [low, high]" table cell so that its interval can wrap under the value
    as a whole (STYLE: `td.interval`)."""
    return _INTERVAL_CELL.sub(
        r'<td style="text-align:right" class="interval">\1 <span class="ci">\2</span></td>', body
    )


def heading_id(text: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped (letters, digits,
    `_` and `-` kept), each space a `-` ("Protocols of the measured rows" ->
    "protocols-of-the-measured-rows")."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _caption(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ")


def _converter() -> Any:
    """CommonMark + tables; no raw HTML; links to the page's headings only (any other link
    is its text); headings with GitHub's ids; images by file name."""
    try:
        from markdown_it import MarkdownIt
    except ModuleNotFoundError as exc:  # installed with the `lmms` extra (rich, via typer)
        raise ModuleNotFoundError(
            "report.html needs markdown-it-py; fix: pip install 'markdown-it-py>=3,<5'"
        ) from exc

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table")
    md.disable(["autolink", "reference", "html_inline", "html_block", "linkify"],
               ignoreInvalid=True)  # fmt: skip

    def image(self: Any, tokens: list, idx: int, options: Any, env: dict) -> str:
        token = tokens[idx]
        src = unquote(str(token.attrGet("src") or ""))
        alt = self.renderInlineAsText(token.children or [], options, env)
        found = env["images"].get(src) or env["images"].get(Path(src).name)
        if found is None:
            shown = html.escape(alt or src)
            return f'<span class="missing-image">[figure not embedded: {shown}]</span>'
        if found in env["used"]:  # each figure is embedded once
            return f'<span class="figure-ref">[{html.escape(alt or _caption(found))}: above]</span>'
        env["used"].add(found)
        return f'<img src="{env["uris"][found]}" alt="{html.escape(alt or _caption(found))}">'

    def table_open(self: Any, tokens: list, idx: int, options: Any, env: dict) -> str:
        return '<div class="table-wrap">\n' + self.renderToken(tokens, idx, options, env)

    def table_close(self: Any, tokens: list, idx: int, options: Any, env: dict) -> str:
        return self.renderToken(tokens, idx, options, env) + "</div>\n"

    def link_open(self: Any, tokens: list, idx: int, options: Any, env: dict) -> str:
        href = str(tokens[idx].attrGet("href") or "")
        inside = _FRAGMENT.fullmatch(href) is not None
        env["links"].append(inside)  # link_close renders as its link_open did (no nesting)
        return f'<a href="{html.escape(href)}">' if inside else ""

    def link_close(self: Any, tokens: list, idx: int, options: Any, env: dict) -> str:
        return "</a>" if env["links"].pop() else ""

    def heading_open(self: Any, tokens: list, idx: int, options: Any, env: dict) -> str:
        text = self.renderInlineAsText(tokens[idx + 1].children or [], options, env)
        slug = heading_id(text)
        seen = env["headings"].get(slug, 0)
        env["headings"][slug] = seen + 1
        if slug:  # a second heading of the same text gets "-1", as on GitHub
            tokens[idx].attrSet("id", slug if not seen else f"{slug}-{seen}")
        return self.renderToken(tokens, idx, options, env)

    md.add_render_rule("image", image)
    md.add_render_rule("link_open", link_open)
    md.add_render_rule("link_close", link_close)
    md.add_render_rule("heading_open", heading_open)
    md.add_render_rule("table_open", table_open)
    md.add_render_rule("table_close", table_close)
    return md


def _title(md: Any, markdown_text: str) -> str:
    tokens = md.parse(markdown_text)
    for i, token in enumerate(tokens[:-1]):
        if token.type == "heading_open" and token.tag == "h1":
            text = "".join(
                child.content for child in tokens[i + 1].children or [] if child.content
            ).strip()
            if text:
                return text
    return DEFAULT_TITLE


def render_html(markdown_text: str, images: Sequence[Path]) -> str:
    """The page (see the module docstring) as a string."""
    paths = [Path(image) for image in images]
    md = _converter()
    uris = {path: data_uri(path) for path in paths}
    by_name: dict[str, Path] = {}
    for path in paths:
        by_name.setdefault(str(path), path)
        by_name.setdefault(path.name, path)
    env: dict[str, Any] = {"images": by_name, "uris": uris, "used": set(), "links": [],
                           "headings": {}}  # fmt: skip
    body = _interval_cells(md.render(markdown_text, env))
    rest = [path for path in paths if path not in env["used"]]
    if rest:
        body += '<section class="figures">\n<h2>Figures</h2>\n'
        for number, path in enumerate(rest, 1):
            alt = html.escape(_caption(path))
            body += (
                f'<figure>\n<img src="{uris[path]}" alt="{alt}">\n'
                f"<figcaption>Figure {number}: <code>{html.escape(path.name)}</code>"
                "</figcaption>\n</figure>\n"
            )
        body += "</section>\n"
    title = html.escape(_title(md, markdown_text))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}</main>\n</body>\n</html>\n"
    )


def write_html(markdown_text: str, images: list[Path], path: Path) -> Path:
    """Write the report page to `path` (its folder created): the Markdown converted, every
    image of `images` embedded once (where the Markdown names it, else under "Figures", in
    the given order). Returns `path`."""
    from vlm4d_tasks.data.files import write_file

    path = Path(path)
    text = render_html(markdown_text, images)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, text.encode("utf-8"))  # a symlink planted at path is replaced, not followed
    return path
