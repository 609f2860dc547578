"""The documentation holds together: the README stays a front door, every relative link
of README.md and docs/*.md lands on a file and heading that exist, and the code layout
page draws the package as it is."""

from __future__ import annotations

from pathlib import Path

import pytest
from docpages import DOCS, ROOT, anchors, broken_links, drawn_tree, read_doc, relative_links

PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def test_readme_stays_under_300_lines() -> None:
    """README.md is the front door; reference material belongs in a page under docs/."""
    assert len(read_doc("README").splitlines()) < 300


def test_readme_links_every_docs_page() -> None:
    """Every page under docs/ is reachable from the README."""
    linked = {
        (ROOT / target.partition("#")[0]).resolve() for target in relative_links(read_doc("README"))
    }
    assert sorted(page.name for page in DOCS.glob("*.md") if page.resolve() not in linked) == []


def test_every_relative_link_lands_on_a_file_and_heading_that_exist() -> None:
    """Each relative link of README.md and docs/*.md names an existing file, and an existing
    heading of it when it has an anchor."""
    targets = [target for page in PAGES for target in relative_links(page.read_text())]
    assert len(targets) > 50  # the check saw the links
    assert sum("#" in target for target in targets) > 30
    assert [problem for page in PAGES for problem in broken_links(page)] == []


def test_link_check_reports_a_missing_file_anchor_or_escape(tmp_path: Path) -> None:
    """The link check itself: a missing file, a missing heading, a path out of the
    repository and an anchor into a non-Markdown file are reported; code is not read."""
    (tmp_path / "other.md").write_text("# Other\n\n## Real heading\n", encoding="utf-8")
    (tmp_path / "data.yaml").write_text("a: 1\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md#real-heading) [self](#page) [file](data.yaml)\n"
        "[gone](missing.md) [no anchor](other.md#nowhere) [out](../outside.md)\n"
        "[into yaml](data.yaml#a) [web](https://example.com/x.md) `[code](nowhere.md)`\n\n"
        "```\n[fenced](nowhere.md)\n```\n",
        encoding="utf-8",
    )
    problems = broken_links(page, root=tmp_path)
    assert [problem.split(": ")[1] for problem in problems] == [
        "missing.md",
        "other.md#nowhere",
        "../outside.md",
        "data.yaml#a",
    ]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Browser clients (CORS)", "browser-clients-cors"),
        ("What is forwarded, and how", "what-is-forwarded-and-how"),
        ("On one host: `serve --workers N`", "on-one-host-serve---workers-n"),
        ("What `/metrics` reveals", "what-metrics-reveals"),
        ("5. Downstream HTTP API", "5-downstream-http-api"),
    ],
)
def test_anchors_are_the_ones_github_makes(heading: str, anchor: str) -> None:
    """Headings get GitHub's anchors: lower case, punctuation dropped, each space a `-`;
    a repeated heading gets `-1`."""
    assert anchors(f"# Top\n\n## {heading}\n\n## {heading}\n") == {"top", anchor, f"{anchor}-1"}


def test_layout_doc_draws_every_module_of_the_package() -> None:
    """docs/layout.md's tree names every module of gateway/ where it lives, and no other."""
    modules = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "gateway").rglob("*.py")
        if path.name != "__init__.py"
    }
    drawn = drawn_tree("layout", "## The tree")
    assert sorted(drawn - modules) == [], "drawn but not in gateway/"
    assert sorted(modules - drawn) == [], "in gateway/ but not drawn"
