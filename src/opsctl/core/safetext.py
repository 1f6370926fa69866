"""User and device text made safe to show on a terminal.

Duty entries, names, notes, answers, SNMP sysDescr/ifAlias, fstab lines and help text are
data. Two things could go wrong when they are printed:

* rich would read ``[red]x[/red]`` or ``[/var/log]`` as markup (tags vanish, or a
  MarkupError makes the view unusable for good, since the log is append-only);
* control characters and escape sequences (``ESC [2J``, OSC titles, ``\\r``, bidi
  overrides) would act on the terminal and make the screen disagree with the record.

Renderers therefore never hand a ``str`` of user text to rich: they build ``Text``
objects from :func:`visible`, which spells every such character out (``\\x1b``,
``\\u202e``). JSON output keeps the raw data; ``json.dumps`` escapes it by itself.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls except newline and tab, DEL, C1 controls; bidi embeddings, overrides,
# isolates and marks (they reorder what follows: "Trojan Source"); line and paragraph
# separators (they break lines without a newline); lone surrogates (undecodable bytes
# kept by surrogateescape).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029"
    "\u2066-\u2069\ud800-\udfff]"
)
_UNSAFE_LINES = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029"
    "\u2066-\u2069\ud800-\udfff]"
)


def _spell(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def visible(text: Any, *, newlines: bool = True) -> str:
    """``text`` with every control, escape and bidi character spelled out.

    Newlines (and tabs) are kept when ``newlines`` is true: a multi-line note stays
    multi-line. With ``newlines=False`` they are spelled out too, for one-line fields.
    """
    s = text if isinstance(text, str) else str(text)
    pattern = _UNSAFE if newlines else _UNSAFE_LINES
    if pattern.search(s) is None:  # the common case: nothing to do, no copy
        return s
    return pattern.sub(_spell, s)


def safe_text(value: Any, style: str = "", *, newlines: bool = True):
    """A rich ``Text`` of ``value``: never parsed as markup, controls spelled out."""
    from rich.text import Text

    return Text(visible(value, newlines=newlines), style=style)
