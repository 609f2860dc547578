"""The project's documents for tests: README.md and docs/*.md, by page and by section.

Tests that hold a documented table against the code read it here, so a page can
move without each test knowing where it went.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

_HEADING = re.compile(r"^(#{1,6}) +(.+?) *#*$")
_FENCE = re.compile(r"^ *(```|~~~)")


def doc_path(page: str) -> Path:
    """`README` is the front door; any other name is a page under docs/ (`operations`)."""
    return ROOT / "README.md" if page == "README" else DOCS / f"{page}.md"


def read_doc(page: str) -> str:
    """The text of a page (see `doc_path`)."""
    return doc_path(page).read_text(encoding="utf-8")


def prose_lines(text: str) -> list[str]:
    """The lines of a Markdown text with fenced code blocks blanked (kept, so numbers hold)."""
    lines = text.splitlines()
    fenced = False
    for number, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            lines[number] = ""
        elif fenced:
            lines[number] = ""
    return lines


def doc_section(page: str, heading: str) -> str:
    """One section of a page: its heading line (e.g. `## Metrics`) up to the next
    heading of the same or a higher level, or the end of the page.

    Raises:
        LookupError: the page has no such heading (a test must not pass on nothing).
    """
    level = len(heading) - len(heading.lstrip("#"))
    lines = read_doc(page).splitlines()
    prose = prose_lines("\n".join(lines))
    try:
        start = prose.index(heading)
    except ValueError:
        raise LookupError(f"{doc_path(page).name} has no heading {heading!r}") from None
    end = len(lines)
    for number in range(start + 1, len(lines)):
        found = _HEADING.match(prose[number])
        if found and len(found.group(1)) <= level:
            end = number
            break
    return "\n".join(lines[start:end]) + "\n"


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to `-`."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a Markdown text; repeated headings get `-1`, `-2`, … as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(text):
        heading = _HEADING.match(line)
        if heading is None:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


_CODE_SPAN = re.compile(r"`[^`]*`")
_LINK = re.compile(r"\[[^\]]*\]\(([^()\s]+)(?: \"[^\"]*\")?\)")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def relative_links(text: str) -> list[str]:
    """Link targets of a Markdown text that are paths or anchors (not `https:`, `mailto:`),
    outside code blocks and code spans."""
    prose = _CODE_SPAN.sub("", "\n".join(prose_lines(text)))
    return [target for target in _LINK.findall(prose) if not _SCHEME.match(target)]


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Each relative link of a page whose file (in `root`), or whose anchor in it, is missing."""
    problems = []
    for target in relative_links(path.read_text(encoding="utf-8")):
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.is_relative_to(root.resolve()) or not destination.exists():
            problems.append(f"{path.name}: {target}: no such file in the repository")
        elif anchor and destination.suffix != ".md":
            problems.append(f"{path.name}: {target}: an anchor into a file that has none")
        elif anchor and anchor not in anchors(destination.read_text(encoding="utf-8")):
            problems.append(f"{path.name}: {target}: no heading with that anchor")
    return problems


def drawn_tree(page: str, heading: str) -> set[str]:
    """The file paths a tree drawing names: the first code block under `heading`.

    A line whose first word ends in `/` opens a directory inside the nearest one
    drawn less indented; every `*.py` word on a line belongs to the directory
    the line opens or, failing that, to the nearest less indented one.
    """
    block = doc_section(page, heading).split("```")[1]
    stack: list[tuple[int, str]] = []
    files: set[str] = set()
    for line in block.splitlines()[1:]:
        words = line.split()
        if not words:
            continue
        indent = len(line) - len(line.lstrip())
        if words[0].endswith("/"):
            while stack and stack[-1][0] >= indent:
                stack.pop()
            parent = stack[-1][1] if stack else ""
            stack.append((indent, parent + words[0]))
            words = words[1:]
        else:
            while stack and stack[-1][0] >= indent:
                stack.pop()
        folder = stack[-1][1] if stack else ""
        files.update(folder + word for word in words if re.fullmatch(r"\w+\.py", word))
    return files
