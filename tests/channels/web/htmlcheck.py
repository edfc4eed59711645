"""A strict reading of the web channel's pages (standard library only): the doctype and
the Chinese language tag, every element closed in order (void elements excepted), no
duplicate attribute or id, each <label for> naming an element there, no inline script
(a Content-Security-Policy of ``script-src 'self'`` must be enough), and the ids a browser
test relies on. Not a full HTML5 validator, but it catches what hand-written templates get
wrong."""

from __future__ import annotations

from html.parser import HTMLParser

VOID = {"meta", "link", "input", "br", "img", "hr", "source", "wbr", "area", "base", "col"}


class PageCheck(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.open: list[str] = []
        self.ids: dict[str, dict[str, str | None]] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.label_for: list[str] = []
        self.doctype = False
        self.text_by_id: dict[str, str] = {}
        self._capturing: list[tuple[str, int]] = []  # (id, depth)

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = [name for name, _ in attrs]
        if len(names) != len(set(names)):
            self.problems.append(f"<{tag}> repeats an attribute: {names}")
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        ident = attributes.get("id")
        if ident is not None:
            if ident in self.ids:
                self.problems.append(f"duplicate id {ident!r}")
            self.ids[ident] = {"tag": tag, **attributes}
        if tag == "label" and attributes.get("for"):
            self.label_for.append(str(attributes["for"]))
        if tag == "script" and "src" not in attributes:
            self.problems.append("an inline <script>")
        if tag not in VOID:
            self.open.append(tag)
            if ident is not None:
                self._capturing.append((ident, len(self.open)))
                self.text_by_id[ident] = ""

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.problems.append(f"</{tag}> closes a void element")
            return
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
            return
        self._capturing = [(i, d) for i, d in self._capturing if d < len(self.open)]
        self.open.pop()

    def handle_data(self, data: str) -> None:
        for ident, _ in self._capturing:
            self.text_by_id[ident] += data


def check_page(html: str, ids: tuple[str, ...] = ()) -> PageCheck:
    """Read `html`; fail naming every problem; the reader (ids, texts) for more checks."""
    page = PageCheck()
    page.feed(html)
    page.close()
    problems = list(page.problems)
    if not page.doctype:
        problems.append("no <!doctype html>")
    if page.open:
        problems.append(f"left open: {page.open}")
    html_tags = [a for t, a in page.tags if t == "html"]
    if not html_tags or html_tags[0].get("lang") != "zh-CN":
        problems.append('no <html lang="zh-CN">')
    if not any(t == "title" for t, _ in page.tags):
        problems.append("no <title>")
    for target in page.label_for:
        if target not in page.ids:
            problems.append(f'<label for="{target}"> names no element')
    for ident in ids:
        if ident not in page.ids:
            problems.append(f"no #{ident}")
    assert not problems, "\n".join(problems) + "\n" + html
    return page
