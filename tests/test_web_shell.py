"""The one page shell: each page is static/shell.html around its own fragment, with the CSP."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip(
    "starlette", reason="the web extra is not installed: pip install 'mitbadak[web]'"
)
pytest.importorskip("starlette.testclient", reason="Starlette's TestClient needs httpx2")

from starlette.testclient import TestClient  # noqa: E402

from mitbadak.web.app import (  # noqa: E402
    API_MODULES,
    HOME_PAGE,
    PAGES,
    STATIC_DIR,
    Page,
    compose_page,
    create_app,
)
from mitbadak.web.hardening import CONTENT_SECURITY_POLICY  # noqa: E402
from mitbadak.web.models import ModelRegistry  # noqa: E402

PATHS = ["/", *(f"/{p.name}" for p in PAGES)]


class _Tags(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(ModelRegistry())) as c:
        yield c


def test_the_pages_are_the_five_of_the_playground():
    assert [p.name for p in PAGES] == ["draw", "train", "graph", "descent", "conv"]
    assert HOME_PAGE == "draw"
    assert API_MODULES == [p.name for p in PAGES]  # one api/NAME.py per page


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_each_page_has_its_files_and_its_nav_label_in_both_languages(page):
    for ext in ("html", "css", "js"):
        assert (STATIC_DIR / f"{page.name}.{ext}").is_file()
    common = (STATIC_DIR / "common.js").read_text(encoding="utf-8")
    labels = re.findall(rf'"nav\.{page.name}": "([^"]+)"', common)
    assert len(labels) == 2 and labels[0] != labels[1], labels  # English, then Korean


@pytest.mark.parametrize("path", PATHS)
def test_every_page_has_the_shells_header_and_nav_exactly_once(client, path):
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert r.headers["x-content-type-options"] == "nosniff"
    html = r.text
    assert html.startswith('<!doctype html>\n<html lang="en">\n<head>\n')
    assert "{{" not in html and "<!--" not in html  # every slot filled, no template notes
    tags = _parse(html)
    for tag in ("html", "head", "title", "body", "header", "nav", "main"):
        assert len(tags.find(tag)) == 1, (path, tag)
    assert len(tags.find("header", **{"class": "topbar"})) == 1
    assert len(tags.find("nav", id="nav")) == 1
    assert len(tags.find("div", **{"class": "brand"})) == 1
    assert len(tags.find("button", id="lang-toggle")) == 1
    assert len(tags.find("div", id="status")) == 1
    assert len(tags.find("link", href="/static/common.css")) == 1
    assert len(tags.find("script", src="/static/common.js")) == 1
    # the header comes before the page's own part, which comes before the status line
    order = [t for t, a in tags.tags if t in ("header", "main") or a.get("id") == "status"]
    assert order == ["header", "main", "div"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_each_page_links_its_own_files_and_marks_itself_in_the_nav(client, page):
    html = client.get(f"/{page.name}").text
    tags = _parse(html)
    assert f"<title>mitbadak — {page.title}</title>" in html
    assert tags.find("link", rel="stylesheet", href=f"/static/{page.name}.css")
    scripts = [a["src"] for a in tags.find("script")]
    assert scripts == (["/vendor/plotly.min.js"] if page.plotly else []) + [
        "/static/common.js",
        f"/static/{page.name}.js",
    ]
    assert all("defer" in a for a in tags.find("script"))
    links = [(a["href"], a["data-i18n"], a.get("class")) for a in _nav_links(html)]
    assert links == [
        (f"/{p.name}", f"nav.{p.name}", "active" if p is page else None) for p in PAGES
    ]
    for p in (page.name, "css", "js"):
        assert (
            client.get(f"/static/{page.name}.{p if p != page.name else 'html'}").status_code == 200
        )


def _nav_links(html: str) -> list[dict[str, str | None]]:
    nav = re.search(r'<nav id="nav" class="nav">(.*?)</nav>', html, re.DOTALL)
    assert nav, "no nav"
    return _parse(nav.group(1)).find("a")


def test_no_inline_script_and_nothing_from_elsewhere(client):
    # The CSP runs script files of this origin only: an inline script would be refused.
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY.split("script-src")[1].split(";")[0]
    for path in PATHS:
        html = client.get(path).text
        assert re.findall(r"<script(?![^>]*\bsrc=)", html) == [], path
        assert not re.search(r"\bon[a-z]+\s*=", html), path  # no inline event handlers
        assert "http://" not in html and "https://" not in html, path


def test_home_is_the_draw_page_and_the_topbar_slot_holds_its_model_choice(client):
    home = client.get("/").text
    assert home == client.get(f"/{HOME_PAGE}").text
    header = home.split("<header", 1)[1].split("</header>", 1)[0]
    assert '<select id="model"></select>' in header
    assert header.index('id="nav"') < header.index('id="model"') < header.index("lang-toggle")
    assert 'id="model"' not in client.get("/train").text  # other pages' top bars hold nothing
    assert '<body data-state="idle">' in client.get("/train").text
    assert "<body>" in client.get("/graph").text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_fragments_hold_only_the_pages_own_part(page):
    text = (STATIC_DIR / f"{page.name}.html").read_text(encoding="utf-8")
    for tag in ("<html", "<head", "<body", "<header", "<nav", "<script", 'id="lang-toggle"'):
        assert tag not in text, (page.name, tag)
    assert text.count("<main") == 1


def _copy_static(tmp_path: Path) -> Path:
    static = tmp_path / "static"
    shutil.copytree(STATIC_DIR, static, ignore=shutil.ignore_patterns("*.js", "*.css"))
    return static


def test_a_fragment_holding_a_shell_part_is_one_clear_error(tmp_path):
    static = _copy_static(tmp_path)
    (static / "extra.html").write_text("<header>mine</header>\n<main></main>\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"extra\.html: holds '<header'; a page fragment holds"):
        compose_page(Page("extra", "extra"), static, PAGES)
    (static / "extra.html").write_text("<main><script>alert(1)</script></main>\n")
    with pytest.raises(ValueError, match="holds '<script'"):
        compose_page(Page("extra", "extra"), static, PAGES)


def test_a_shell_slot_without_a_value_is_one_clear_error(tmp_path):
    static = _copy_static(tmp_path)
    shell = (static / "shell.html").read_text(encoding="utf-8")
    (static / "shell.html").write_text(shell.replace("{{title}}", "{{subtitle}}"))
    with pytest.raises(ValueError, match=r"shell\.html: no value for the slot \{\{subtitle\}\}"):
        compose_page(PAGES[0], static, PAGES)


def test_a_new_page_needs_only_its_fragment_and_a_page_entry(tmp_path):
    static = _copy_static(tmp_path)
    (static / "quiz.html").write_text(
        '<!-- the quiz page -->\n<!-- topbar -->\n    <span id="score"></span>\n'
        '<!-- /topbar -->\n  <main class="quiz"><p>Which digit?</p></main>\n'
    )
    quiz = Page("quiz", "a quiz", state="asking")
    html = compose_page(quiz, static, (*PAGES, quiz))
    tags = _parse(html)
    assert '<body data-state="asking">' in html and "<title>mitbadak — a quiz</title>" in html
    header = html.split("<header", 1)[1].split("</header>", 1)[0]
    assert '<span id="score"></span>' in header and "Which digit?" not in header
    assert [a["href"] for a in _nav_links(html)][-1] == "/quiz"
    assert tags.find("a", href="/quiz", **{"class": "active"})
    assert [a["src"] for a in tags.find("script")] == ["/static/common.js", "/static/quiz.js"]
