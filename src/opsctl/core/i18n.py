"""The interface language: message catalogs (gettext) and dates in the site's format.

English is the source language and the default. ``site.language`` (``zh_CN``) chooses,
else the locale (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``, as gettext reads
them). Catalogs are ``opsctl/locale/<lang>/LC_MESSAGES/opsctl.po``, kept up to date with
Babel (``python scripts/i18n.py update``), and their compiled ``.mo`` beside them, which
the standard library's :mod:`gettext` reads: Babel is not imported at start-up (it costs
~80 ms), only to format dates when a language other than English is active.

What is translated: everything opsctl writes itself for people — messages, table
headers, help texts, reports. What is not: ``--json`` keys and values, CSV, stored
records' machine fields, and text from people and devices. Duty-log entries that opsctl
writes itself are stored in the site language at the time of writing and never
translated again: the stored text is the record.
"""

from __future__ import annotations

import datetime as dt
import gettext as _gettext
import inspect
import os
from pathlib import Path

DOMAIN = "opsctl"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
SOURCE_LANGUAGE = "en"

_translations: _gettext.NullTranslations = _gettext.NullTranslations()
_language = SOURCE_LANGUAGE


def available() -> list[str]:
    """Languages with a compiled catalog (besides English)."""
    if not LOCALE_DIR.is_dir():
        return []
    return sorted(p.name for p in LOCALE_DIR.iterdir()
                  if (p / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file())


def normalize(language: str) -> str:
    """``zh-CN``, ``zh_CN.UTF-8``, ``zh_CN@x`` → ``zh_CN``; ``C``/``POSIX`` → ``en``."""
    lang = language.strip().split(".")[0].split("@")[0].replace("-", "_")
    if lang in ("", "C", "POSIX"):
        return SOURCE_LANGUAGE
    if "_" in lang:
        a, b = lang.split("_", 1)
        return f"{a.lower()}_{b.upper()}"
    return lang.lower()


def _resolve(language: str) -> str:
    """The catalog for a language: exact (``zh_CN``), else the first of its family
    (``zh`` → ``zh_CN``), else English."""
    lang = normalize(language)
    if lang == SOURCE_LANGUAGE or lang.startswith(SOURCE_LANGUAGE + "_"):
        return SOURCE_LANGUAGE
    have = available()
    if lang in have:
        return lang
    family = lang.split("_")[0]
    for h in have:
        if h.split("_")[0] == family:
            return h
    return SOURCE_LANGUAGE


def from_environment() -> str:
    """The language the locale asks for, in gettext's order; ``LANGUAGE`` may list
    several (``zh_CN:en``): the first one opsctl has wins."""
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "").strip()
        if not value:
            continue
        for candidate in value.split(":"):
            if not candidate.strip():
                continue
            lang = _resolve(candidate)
            if lang != SOURCE_LANGUAGE or normalize(candidate).split("_")[0] == "en":
                return lang
        return SOURCE_LANGUAGE
    return SOURCE_LANGUAGE


def set_language(language: str | None) -> str:
    """Switch the catalog; ``None`` means the locale's. Returns the language in use."""
    global _translations, _language
    lang = from_environment() if not language else _resolve(language)
    if lang == _language:
        return lang
    if lang == SOURCE_LANGUAGE:
        _translations = _gettext.NullTranslations()
    else:
        mo = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
        with mo.open("rb") as fh:
            _translations = _gettext.GNUTranslations(fh)
    _language = lang
    return lang


def language() -> str:
    return _language


def is_known(language: str) -> bool:
    """Whether opsctl has this language (English or a catalog of its family)."""
    lang = normalize(language)
    return lang.startswith(SOURCE_LANGUAGE) or _resolve(lang) != SOURCE_LANGUAGE


def _(message: str) -> str:  # noqa: N802 - the gettext convention
    """The message in the current language (the English text when untranslated)."""
    return _translations.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations.ngettext(singular, plural, n)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Marks a module-level constant for extraction; translated where it is shown,
    with ``_(CONSTANT)``, so the language chosen later (by the config) applies."""
    return message


def localize_command(cmd) -> None:
    """Translate a click command tree's help texts in place (called when a command is
    loaded, after the language is known). The msgid is the text as click shows it
    (``inspect.cleandoc``), which is what the extractor collects from docstrings and
    ``help=`` arguments. The English texts are kept, so a later call in another language
    translates from them. Duck-typed, so this module does not import click."""
    if getattr(cmd, "_opsctl_language", SOURCE_LANGUAGE) == _language:
        return
    source = cmd.__dict__.setdefault("_opsctl_source", {})
    items = [(cmd, a) for a in ("help", "short_help", "epilog")]
    items += [(p, "help") for p in getattr(cmd, "params", ())]
    for obj, attr in items:
        key = (id(obj), attr)
        if key not in source:
            text = getattr(obj, attr, None)
            source[key] = inspect.cleandoc(text) if isinstance(text, str) and text else None
        if source[key] is not None:
            setattr(obj, attr, _(source[key]))
    cmd._opsctl_language = _language
    for sub in getattr(cmd, "commands", {}).values():
        localize_command(sub)


# ----------------------------------------------------------------------- dates ----

def format_datetime(value: dt.datetime, tz=None, *, seconds: bool = False) -> str:
    """A moment for people, in the site's zone ``tz`` (a tzinfo) and the language's usual
    format: ``2026-12-03 14:05`` in English, ``2026年12月3日 14:05`` in Chinese (Babel's
    CLDR data). A naive datetime is taken as already in the site's zone. Machine formats
    (JSON, CSV) stay ISO 8601 and do not come here."""
    if tz is not None and value.tzinfo is not None:
        value = value.astimezone(tz)
    if _language == SOURCE_LANGUAGE:
        return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    from babel.dates import format_date, format_time

    # CLDR's medium date ("2026年12月3日") and a 24-hour time: the format of duty logs.
    day = format_date(value.date(), "medium", locale=_language)
    clock = format_time(value.timetz() if value.tzinfo else value.time(),
                        "HH:mm:ss" if seconds else "HH:mm", locale=_language)
    return f"{day} {clock}"


def format_date(value: dt.date) -> str:
    if _language == SOURCE_LANGUAGE:
        return value.isoformat()
    from babel.dates import format_date as babel_format_date

    return babel_format_date(value, "medium", locale=_language)
