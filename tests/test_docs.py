"""Every code block of the documentation runs as written.

Pages are discovered, not listed: README.md, CONTRIBUTING.md and every ``docs/**/*.md``, so
a page added later is covered as soon as it exists.  The rules (CONTRIBUTING.md, "Code
blocks in the docs") in short:

* ```` ```python ```` blocks run on the real kernel, as root, each in a fresh namespace,
  and must close what they open: the process's open fds are the same after the block as
  before (checked while the block's objects are still alive).
* A block preceded by ``<!-- doctest: fragment -->`` continues the page's previous python
  block: same namespace, and the fd check runs after the last fragment.
* ``<!-- doctest: excerpt PATH -->``: the block is quoted from the repository file PATH
  (``...`` lines stand for omitted code); each other line must occur in PATH, in order.
  PATH itself is run by its own tests.
* ```` ```sh ```` / ```` ```bash ```` / ```` ```console ```` blocks run with ``bash -e`` in the
  repository root, the venv's bin first on PATH, and must leave no new file behind.
* ``<!-- doctest: skip: REASON -->`` exempts one block; the reason is required.
* Output, data and declarations use ```` ```text ````, ```` ```json ````, ```` ```c ````,
  ```` ```toml ```` or a bare fence and are not run; any other language fails here.
* Relative links and backquoted repository paths (``bpfmaps/x.py``) must exist.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import require_kernel

ROOT = Path(__file__).resolve().parent.parent
RUN_LANGS = {"python", "sh", "bash", "console"}
TEXT_LANGS = {"", "text", "json", "c", "toml", "ini", "diff", "yaml"}
MARKER = re.compile(r"<!--\s*doctest:\s*(fragment|skip|excerpt)\b\s*:?\s*(.*?)\s*-->")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)(.*)$")


def doc_pages() -> list[Path]:
    pages = [ROOT / "README.md", ROOT / "CONTRIBUTING.md"]
    pages += sorted((ROOT / "docs").rglob("*.md"))
    return [p for p in pages if p.exists()]


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marker: str = ""  # "", "fragment", "skip", "excerpt"
    arg: str = ""
    fragments: list[Block] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def parse_blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3).lower()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            i += 1
        i += 1
        # a marker is the last non-blank line before the fence
        marker = arg = ""
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0:
            mm = MARKER.search(lines[j])
            if mm:
                marker, arg = mm.group(1), mm.group(2)
        blocks.append(Block(page, start + 1, lang, "\n".join(body) + "\n", marker, arg))
    return blocks


def _collect() -> tuple[list[Block], list[Block], list[Block], list[Block]]:
    """(python chains, shell blocks, excerpts, every block)."""
    chains: list[Block] = []
    shells: list[Block] = []
    excerpts: list[Block] = []
    every: list[Block] = []
    for page in doc_pages():
        last_py: Block | None = None
        for b in parse_blocks(page):
            every.append(b)
            if b.marker == "skip" or b.lang not in RUN_LANGS:
                continue
            if b.marker == "excerpt":
                excerpts.append(b)
            elif b.lang == "python":
                if b.marker == "fragment":
                    assert last_py is not None, (
                        f"{b.where}: a fragment with no python block before it"
                    )
                    last_py.fragments.append(b)
                else:
                    chains.append(b)
                    last_py = b
            else:
                shells.append(b)
    return chains, shells, excerpts, every


CHAINS, SHELLS, EXCERPTS, EVERY = _collect()


def test_pages_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in doc_pages()}
    assert "README.md" in names and "docs/getting-started.md" in names
    assert len(CHAINS) >= 10, [b.where for b in CHAINS]


@pytest.mark.parametrize("block", EVERY, ids=lambda b: b.where)
def test_block_is_classified(block: Block):
    """Every block is run, or has a language that is not code, or says why it is skipped."""
    langs = RUN_LANGS | TEXT_LANGS
    assert block.lang in langs, (
        f"{block.where}: code block language {block.lang!r} is neither run ({sorted(RUN_LANGS)}) "
        f"nor text ({sorted(TEXT_LANGS)}); see CONTRIBUTING.md"
    )
    if block.marker == "skip":
        assert block.arg, f"{block.where}: '<!-- doctest: skip: REASON -->' needs a reason"
    if block.marker == "fragment":
        assert block.lang == "python", f"{block.where}: only python blocks can be fragments"


def _open_fds() -> set[int]:
    return {int(x) for x in os.listdir("/proc/self/fd")}


def _fd_desc(fds: set[int]) -> list[str]:
    out = []
    for fd in sorted(fds):
        try:
            out.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            out.append(str(fd))
    return out


@pytest.mark.kernel
@pytest.mark.parametrize("block", CHAINS, ids=lambda b: b.where)
def test_python_block_runs(block: Block):
    require_kernel()
    ns: dict[str, object] = {"__name__": "__doc_example__"}
    before = _open_fds()
    out = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        for b in [block, *block.fragments]:
            code = compile(b.code, f"{b.where}", "exec")
            with contextlib.redirect_stdout(out):
                try:
                    exec(code, ns)
                except Exception as e:
                    raise AssertionError(
                        f"{b.where}: the example raised {type(e).__name__}: {e}\n--- output:\n"
                        f"{out.getvalue()}"
                    ) from e
        leaked = _open_fds() - before
    assert not leaked, (
        f"{block.where}: the example leaves open: {_fd_desc(leaked)} (close maps with "
        f"`with` or .close())"
    )
    ns.clear()


def _untracked() -> set[str]:
    r = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:  # not a git checkout (e.g. an unpacked sdist): compare listings
        return {str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if ".venv" not in p.parts}
    return set(r.stdout.splitlines())


@pytest.mark.kernel
@pytest.mark.parametrize("block", SHELLS, ids=lambda b: b.where)
def test_shell_block_runs(block: Block):
    require_kernel()
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    before = _untracked()
    r = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block.code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, f"{block.where}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    left = _untracked() - before
    assert not left, f"{block.where}: the commands leave files behind: {sorted(left)}"


def _normalized(text: str) -> str:
    """Code without comments and whitespace: how an excerpt is compared with its source."""
    out = []
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line)
        out.append(re.sub(r"\s+", "", line))
    return "".join(out)


@pytest.mark.parametrize("block", EXCERPTS, ids=lambda b: b.where)
def test_excerpt_matches_its_source(block: Block):
    src_path = ROOT / block.arg
    assert src_path.is_file(), f"{block.where}: excerpt of {block.arg}, which does not exist"
    src = _normalized(src_path.read_text(encoding="utf-8"))
    # the parts between "..." lines occur in the source, in order (comments and layout aside)
    parts = re.split(r"(?m)^\s*\.\.\.\s*$", block.code)
    pos = 0
    for part in parts:
        want = _normalized(part)
        if not want:
            continue
        found = src.find(want, pos)
        assert found >= 0, (
            f"{block.where}: this part of the excerpt is not in {block.arg} (after the previous "
            f"part):\n{part.strip()}"
        )
        pos = found + len(want)


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
PATH_REF = re.compile(r"`((?:[\w.-]+/)+[\w.-]+\.(?:py|md|c|h|sh|toml|txt))`")


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_and_paths_exist(page: Path):
    text = page.read_text(encoding="utf-8")
    missing = []
    for target in LINK.findall(text):
        if "://" in target or target.startswith("mailto:"):
            continue
        if not (page.parent / target).exists():
            missing.append(f"link {target}")
    for ref in PATH_REF.findall(text):
        if ref.startswith(("/", "linux/", "bpf/", "sys/")):
            continue  # system headers and absolute paths are not repository files
        cands = [ROOT / ref, page.parent / ref, ROOT / "bpfmaps" / ref, ROOT / "tests" / ref]
        if not any(c.exists() for c in cands):
            missing.append(f"path `{ref}`")
    assert not missing, f"{page.relative_to(ROOT)} cites what is not in the repository: {missing}"
