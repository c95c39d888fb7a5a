"""README.md stays a short user's guide; its links and docs/ hold."""
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGES = [REPO_ROOT / 'README.md'] + sorted((REPO_ROOT / 'docs').glob('*.md'))
LINK = re.compile(r'\]\(([^)\s]+)\)')


def _anchors(page: Path) -> set:
    """GitHub's anchors of the page's headings."""
    anchors = set()
    for line in page.read_text().splitlines():
        if line.startswith('#'):
            title = line.lstrip('#').strip().lower()
            anchors.add(re.sub(r'[^\w\- ]', '', title).replace(' ', '-'))
    return anchors


def test_readme_is_short_and_keeps_its_markers():
    text = (REPO_ROOT / 'README.md').read_text()
    assert len(text.splitlines()) <= 250
    assert 'make test' in text
    start = text.index('<!-- benchmark-summary:start -->')
    assert start < text.index('<!-- benchmark-summary:end -->')
    # the generated tables live in docs/benchmark.md
    assert '<!-- benchmark:start -->' not in text
    bench = (REPO_ROOT / 'docs' / 'benchmark.md').read_text()
    assert bench.index('<!-- benchmark:start -->') < bench.index(
        '<!-- benchmark:end -->')


@pytest.mark.parametrize('page', PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r'[a-z]+://', target):
            continue
        path, _, anchor = target.partition('#')
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == '.md' and anchor not in _anchors(dest):
            broken.append(target)
    assert not broken, f'{page.name}: broken links {broken}'


def test_anchor_rule_matches_github():
    """The anchors the link check compares against, on known headings."""
    page = REPO_ROOT / 'docs' / 'training.md'
    assert 'resume-with-torch--26' in _anchors(page)
    assert 'main-commands' in _anchors(REPO_ROOT / 'README.md')


def test_readme_links_every_docs_page():
    linked = {
        target.partition('#')[0]
        for target in LINK.findall((REPO_ROOT / 'README.md').read_text())
    }
    pages = {f'docs/{p.name}' for p in PAGES[1:]}
    assert pages and pages <= linked, sorted(pages - linked)
