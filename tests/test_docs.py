"""The documentation stands alone: links resolve inside the repository, every command is in the
README's table, every category and reason is on docs/categories.md."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from responsemaster.categories import CATEGORIES, Category, reasons_of
from responsemaster.cli import main

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_resolve_inside_the_repository(page: Path) -> None:
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.is_relative_to(REPO), f"{page.name}: {target} points outside the repository"
        assert resolved.exists(), f"{page.name}: {target} does not exist"
        if anchor and resolved.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", resolved.read_text(encoding="utf-8"), re.M)
            assert anchor in {_slug(h) for h in headings}, f"{page.name}: no heading for #{anchor} in {path or page.name}"


def test_nothing_points_at_the_product_specification_outside_the_repository() -> None:
    """Users have docs/; a 'SPEC section N' reference sends them to a file they do not have."""
    offenders = []
    for folder in ("responsemaster", "mailer", "api", "docs"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix in (".py", ".md", ".toml", ".html") and re.search(r"\bSPEC\b", path.read_text("utf-8")):
                offenders.append(str(path.relative_to(REPO)))
    if re.search(r"\bSPEC\b", (REPO / "README.md").read_text("utf-8")):
        offenders.append("README.md")
    assert offenders == []


def _command_rows() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    return [line.split(" | ", 1)[0] for line in section.splitlines() if line.startswith("| `")]


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("path", _commands(main), ids=" ".join)
def test_the_readme_command_table_names_every_command(path: tuple[str, ...]) -> None:
    rows = _command_rows()
    *group, name = path
    hits = [row for row in rows if all(re.search(rf"\b{re.escape(word)}\b", row) for word in path)
            and (not group or row.startswith(f"| `{group[0]}"))]
    assert hits, f"README's command table has no row for `{' '.join(path)}`"


def test_the_categories_page_describes_every_category_and_reason() -> None:
    page = (REPO / "docs" / "categories.md").read_text(encoding="utf-8")
    for category in CATEGORIES:
        assert f"| `{category}` |" in page, category
        for reason in reasons_of(Category(category)):
            assert f"`{reason}`" in page, f"{category}/{reason}"
