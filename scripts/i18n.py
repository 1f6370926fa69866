#!/usr/bin/env python3
"""Keep the message catalogs in step with the code (Babel's API; needs `pip install babel`).

    python scripts/i18n.py extract     # write src/opsctl/locale/opsctl.pot
    python scripts/i18n.py update      # merge new/changed messages into every .po, compile .mo
    python scripts/i18n.py compile     # .po -> .mo only (after editing translations)
    python scripts/i18n.py check       # exit 1 when a catalog misses a message, a placeholder
                                       # differs, or a .mo is not the compiled .po

What is extracted: ``_()``, ``N_()`` and ``ngettext()`` calls anywhere in src/opsctl
(Babel's Python extractor), and the click help texts of the modules in HELP_MODULES:
command docstrings and ``help=``/``short_help=``/``epilog=`` strings, cleaned as click
shows them (``inspect.cleandoc``), which is the msgid ``opsctl.core.i18n.localize_command``
looks up. The equivalent command-line steps are ``pybabel extract`` / ``pybabel update``
/ ``pybabel compile`` with this module's ``extract_opsctl`` as the Python method.
"""

from __future__ import annotations

import ast
import inspect
import io
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file, extract_python
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "opsctl"
LOCALE = SRC / "locale"
DOMAIN = "opsctl"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}

# Modules whose click help texts are in the catalogs; the others' help stays English
# until they are translated (add the module here, run `update`, translate, `compile`).
HELP_MODULES = {
    "cli/main.py",
    "cli/config_cmd.py",
    "cli/inspect.py",
    "cli/duty.py",
    "cli/power.py",
    "cli/daemon.py",
    "cli/store_cmd.py",
}

_HELP_KWARGS = {"help", "short_help", "epilog"}
_CLICK_DECORATORS = {"command", "group"}


def _decorator_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _help_texts(source: str):
    """(line, text) of click help: command docstrings and help=/epilog= strings."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(
                _decorator_name(d) in _CLICK_DECORATORS for d in node.decorator_list):
            has_help = any(isinstance(d, ast.Call) and any(k.arg == "help" for k in d.keywords)
                           for d in node.decorator_list
                           if _decorator_name(d) in _CLICK_DECORATORS)
            doc = ast.get_docstring(node, clean=True)
            if doc and not has_help:
                yield node.lineno, doc
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if (kw.arg in _HELP_KWARGS and isinstance(kw.value, ast.Constant)
                        and isinstance(kw.value.value, str) and kw.value.value):
                    yield kw.value.lineno, inspect.cleandoc(kw.value.value)


def extract_opsctl(fileobj, keywords, comment_tags, options):
    """Babel extraction method: Babel's Python extractor plus click help texts."""
    data = fileobj.read()
    yield from extract_python(io.BytesIO(data), keywords, comment_tags, options)
    if options.get("help"):
        for lineno, text in _help_texts(data.decode("utf-8")):
            yield lineno, None, text, []


def extract() -> Catalog:
    catalog = Catalog(project="opsctl", domain=DOMAIN, charset="utf-8",
                      msgid_bugs_address="", copyright_holder="the opsctl authors")
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        options = {"help": rel in HELP_MODULES}
        for lineno, message, comments, context in extract_from_file(
                extract_opsctl, str(path), keywords=KEYWORDS, comment_tags=("TRANSLATORS:",),
                options=options, strip_comment_tags=True):
            catalog.add(message, None, [(f"src/opsctl/{rel}", lineno)],
                        auto_comments=comments, context=context)
    return catalog


def po_files() -> list[Path]:
    return sorted(LOCALE.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def read(path: Path) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=path.parent.parent.name, domain=DOMAIN)


def compiled(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


_BRACE = re.compile(r"\{[^{}]*\}")
_PERCENT = re.compile(r"%(?:\([A-Za-z_]\w*\))?[-#0+]*\d*(?:\.\d+)?[sdifrxXeEgGc%]")


def placeholders(text: str) -> list[str]:
    """str.format fields and %-specifiers, sorted: a translation must use the same."""
    return sorted(_BRACE.findall(text) + [p for p in _PERCENT.findall(text) if p != "%%"])


def problems(pos: list[Path] | None = None, template: Catalog | None = None) -> list[str]:
    """What is wrong with the catalogs, one line each; empty when all is in step."""
    template = extract() if template is None else template
    out: list[str] = []
    for po in po_files() if pos is None else pos:
        cat = read(po)
        rel = po.relative_to(ROOT) if po.is_relative_to(ROOT) else po
        for msg in template:
            if not msg.id:
                continue
            have = cat.get(msg.id, context=msg.context)
            where = ", ".join(f"{f}:{n}" for f, n in msg.locations[:2])
            if have is None or not have.string or (isinstance(have.string, tuple)
                                                  and not all(have.string)):
                out.append(f"{rel}: missing translation of {msg.id!r} ({where})")
                continue
            if have.fuzzy:
                out.append(f"{rel}: fuzzy translation of {msg.id!r} ({where})")
                continue
            ids = msg.id if isinstance(msg.id, tuple) else (msg.id,)
            strs = have.string if isinstance(have.string, tuple) else (have.string,)
            for s in strs:
                if placeholders(s) not in (placeholders(i) for i in ids):
                    out.append(f"{rel}: placeholders differ in {msg.id!r}: "
                               f"{placeholders(ids[0])} vs {placeholders(s)} ({where})")
        mo = po.with_suffix(".mo")
        if not mo.is_file() or _messages(read_mo(io.BytesIO(mo.read_bytes()))) != _messages(
                read_mo(io.BytesIO(compiled(cat)))):
            out.append(f"{mo}: not the compiled {po.name} "
                       "(python scripts/i18n.py compile)")
    return out


def _messages(catalog: Catalog) -> dict:
    """What a compiled catalog says (the header's Babel version aside)."""
    def key(v):
        return tuple(v) if isinstance(v, list | tuple) else v

    return {key(m.id): key(m.string) for m in catalog if m.id}


def write_pot() -> Path:
    pot = LOCALE / f"{DOMAIN}.pot"
    with pot.open("wb") as fh:
        write_po(fh, extract(), width=100, omit_header=False, sort_output=False)
    return pot


def compile_all() -> None:
    for po in po_files():
        po.with_suffix(".mo").write_bytes(compiled(read(po)))


def update() -> None:
    template = extract()
    for po in po_files():
        cat = read(po)
        # no fuzzy matching: a changed message is re-translated, not guessed
        cat.update(template, no_fuzzy_matching=True)
        with po.open("wb") as fh:
            write_po(fh, cat, width=100, ignore_obsolete=True)
    compile_all()


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "check"
    if cmd == "extract":
        print(write_pot())
    elif cmd == "update":
        update()
    elif cmd == "compile":
        compile_all()
    elif cmd == "check":
        found = problems()
        for p in found:
            print(p)
        return 1 if found else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
