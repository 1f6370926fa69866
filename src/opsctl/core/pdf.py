"""Printable sheets: HTML + CSS paged media rendered to PDF with WeasyPrint.

Every sheet shares one page frame: the site and the sheet's title at the top (a running
element, so user text stays HTML-escaped, never CSS), "page x of y" and the chain position
and hash of the first and last record on the page at the bottom (named strings set by
each record row), so a page taken out of a filed sheet shows as a gap ("no torn pages").
CJK text is set in Noto Sans CJK (Debian's fonts-noto-cjk), which WeasyPrint embeds
(subset) in the PDF.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from pathlib import Path

from opsctl.core.errors import UsageError
from opsctl.core.i18n import _
from opsctl.core.safetext import visible

FONTS = '"Noto Sans CJK SC", "Noto Sans CJK", "Noto Sans", "DejaVu Sans", sans-serif'
MONO = '"Noto Sans Mono CJK SC", "DejaVu Sans Mono", monospace'

_CSS = """
@page {
  size: A4; margin: 16mm 12mm 24mm 12mm;
  @top-left { content: element(sheethead); width: 100%; vertical-align: bottom; }
  @bottom-left {
    content: FIRST string(mark, first) LAST string(mark, last);
    white-space: pre; font: 6.5pt MONO; vertical-align: top; width: 80%;
  }
  @bottom-right {
    content: PAGE_X_OF_Y;
    font: 8pt FONTS; vertical-align: top;
  }
}
html { font: 9pt/1.35 FONTS; }
.sheethead { position: running(sheethead); font-size: 8pt; color: #333;
             border-bottom: 0.5pt solid #888; padding-bottom: 1mm; }
h1 { font-size: 14pt; margin: 0 0 2mm 0; }
h2 { font-size: 11pt; margin: 5mm 0 2mm 0; break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin-bottom: 3mm; table-layout: fixed; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
th, td { border: 0.5pt solid #999; padding: 1pt 3pt; font-size: 8pt; text-align: left;
         vertical-align: top; overflow-wrap: anywhere; }
th { background: #eee; }
.mark { string-set: mark attr(data-mark); }
.num { text-align: right; }
.mono { font-family: MONO; font-size: 7pt; }
.sign { margin-top: 6mm; break-inside: avoid; }
.sign td { height: 14mm; }
.meta td:first-child { width: 30%; font-weight: bold; }
.bad { color: #b00; font-weight: bold; }
""".replace("MONO", MONO).replace("FONTS", FONTS)


def esc(value: object) -> str:
    """User and device text as HTML text: escaped, controls spelled out (data, never markup)."""
    return html.escape(visible("-" if value is None else str(value)))


def mark(position: str, digest: str) -> str:
    """The data-mark attribute a record row carries onto its page's footer."""
    return f'class="mark" data-mark="{esc(position)} {esc(digest)}"'


def _css_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\A ") + '"'


def _page_frame_css() -> str:
    """The page frame's words in the interface language: "page x of y", first/last."""
    parts = re.split(r"(\{page\}|\{pages\})", _("page {page} of {pages}"))
    x_of_y = " ".join("counter(page)" if p == "{page}" else "counter(pages)"
                      if p == "{pages}" else _css_string(p) for p in parts if p)
    return (_CSS.replace("PAGE_X_OF_Y", x_of_y)
            .replace("FIRST", _css_string(_("first:") + " "))
            .replace("LAST", _css_string("\n" + _("last:") + "  ")))


def document(title: str, site: str, subtitle: str, body: str) -> str:
    from opsctl.core import i18n

    lang = i18n.language().replace("_", "-")
    return (f'<!DOCTYPE html><html lang="{esc(lang)}"><head><meta charset="utf-8">'
            f"<title>{esc(title)}</title><style>{_page_frame_css()}</style></head><body>"
            f'<div class="sheethead">{esc(site)} — {esc(title)} — {esc(subtitle)}</div>'
            f"<h1>{esc(title)}</h1>{body}</body></html>")


def table(headers: list[str], rows: list[tuple[str, list[str]]],
          widths: list[int] | None = None) -> str:
    """rows: (tr attributes, already-escaped cells); widths: per cent of the page width
    (default: equal). Fixed table layout: the automatic one measures every cell's
    narrowest width first, which took ~90 % of a month sheet's time."""
    if not rows:
        return "<p>" + esc(_("none")) + "</p>"
    widths = widths or [100 // len(headers)] * len(headers)
    cols = "".join(f'<col style="width: {w}%">' for w in widths)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(f"<tr {attrs}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
                   for attrs, cells in rows)
    return (f"<table><colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def write_pdf(html_text: str, output: str | os.PathLike) -> int:
    """Render and write atomically (fsync'd temp file renamed over OUTPUT); the page count."""
    try:
        import weasyprint
    except (ImportError, OSError) as exc:
        # OSError: WeasyPrint is installed but cannot load Pango (a system library).
        raise UsageError(f"PDF output needs WeasyPrint and Pango ({exc}); install them with "
                         "`pip install weasyprint` and `apt-get install libpango-1.0-0 "
                         "libpangoft2-1.0-0 fonts-noto-cjk`") from None
    doc = weasyprint.HTML(string=html_text).render()
    path = Path(output)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            doc.write_pdf(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(doc.pages)
