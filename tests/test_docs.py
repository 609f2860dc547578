"""The documentation holds together: the code layout page draws the package as it is."""

from __future__ import annotations

from docpages import ROOT, drawn_tree


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
