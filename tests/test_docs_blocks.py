"""Every ```python block of README.md and docs/*.md runs.

A block runs in a fresh namespace, unless its first line is a comment starting with
``# continued``: then it runs after the block before it, in that block's namespace. Code that is
not meant to run (shell commands, output, IR listings) uses another language tag (``bash``,
``text``). A block that needs an optional package (Dask, matplotlib, ...) is skipped where that
package is absent.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
CONTINUED = "# continued"
FENCE = re.compile(r"^(`{3,})\s*(\S*)")


def code_blocks(text: str) -> list:
    """``(first line number, language, source)`` of each fenced block of a Markdown text."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, language, start = m.group(1), m.group(2), i + 1
        i += 1
        while i < len(lines) and not lines[i].startswith(fence):
            i += 1
        blocks.append((start + 1, language, "\n".join(lines[start:i]) + "\n"))
        i += 1
    return blocks


def runnable_groups(text: str) -> list:
    """Lists of ``(line, source)`` python blocks that run together (continuations joined)."""
    groups = []
    for line, language, source in code_blocks(text):
        if language != "python":
            continue
        if source.lstrip().startswith(CONTINUED):
            if not groups:
                raise ValueError(f"line {line}: a '{CONTINUED}' block with no block before it")
            groups[-1].append((line, source))
        else:
            groups.append([(line, source)])
    return groups


def _cases():
    for page in PAGES:
        for group in runnable_groups(page.read_text()):
            name = f"{page.relative_to(ROOT)}:{group[0][0]}"
            yield pytest.param(page, group, id=name)


def test_the_block_reader_finds_fences_languages_and_continuations():
    text = ("intro\n```python\na = 1\n```\n```bash\nls\n```\n"
            "````python\n# continued\nb = a\n```\n````\n```python\nc = 2\n```\n")
    assert runnable_groups(text) == [[(3, "a = 1\n"), (9, "# continued\nb = a\n```\n")],
                                     [(14, "c = 2\n")]]
    with pytest.raises(ValueError, match="no block before it"):
        runnable_groups("```python\n# continued\n```\n")


def test_every_page_with_python_has_runnable_blocks():
    assert any(runnable_groups(p.read_text()) for p in PAGES)


@pytest.mark.parametrize("page,group", list(_cases()))
def test_code_block_runs(page, group, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # blocks may write files
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__docs__"}
    for line, source in group:
        # Line numbers of tracebacks and of linop's messages are the Markdown file's.
        code = compile("\n" * (line - 1) + source, str(page), "exec")
        try:
            exec(code, namespace)
        except ModuleNotFoundError as exc:
            if exc.name and not exc.name.startswith("linop"):
                pytest.skip(f"needs {exc.name}")
            raise
