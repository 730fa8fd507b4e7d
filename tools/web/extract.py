"""Readable text from an HTML page, with trafilatura. Scripts, styles and navigation never
reach the text; a page built only of `div`s still yields its sentences."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import trafilatura
from lxml import html as lxml_html

from tools.untrusted import hidden_texts


def page_text(html: str) -> str:
    """The page's main text, one block per line (empty when the page has none)."""
    if not html.strip():
        return ""
    # Precision first (drops navigation, keeps list items whole); recall for pages where
    # that finds nothing (a few divs); the plain text of the page as a last resort.
    text = (
        trafilatura.extract(html, favor_precision=True, include_comments=False, include_tables=True)
        or trafilatura.extract(html, favor_recall=True, include_comments=False, include_tables=True)
        or trafilatura.html2txt(html)
        or ""
    )
    lines = (re.sub(r"\s+", " ", re.sub(r"^\s*[-*•]\s+", "", line)).strip() for line in text.splitlines())
    # Text a reader of the page cannot see (display:none, hidden, zero size...) is never
    # evidence: it is where instructions to AI readers hide (tools.untrusted).
    hidden = [t for t, _why in hidden_texts(html)]
    return "\n".join(line for line in lines if line and not any(line in h for h in hidden))


def page_links(html: str, base_url: str) -> list[str]:
    """Absolute http(s) links of a page, fragments removed, in page order, unique."""
    try:
        tree = lxml_html.fromstring(html)
    except (ValueError, lxml_html.etree.ParserError):
        return []
    seen: dict[str, None] = {}
    for href in tree.xpath("//a/@href"):
        url = urljoin(base_url, str(href).strip()).split("#", 1)[0]
        if urlsplit(url).scheme in ("http", "https"):
            seen.setdefault(url, None)
    return list(seen)


def sitemap_urls(xml: str) -> list[str]:
    """`<loc>` URLs of a sitemap (or sitemap index)."""
    return [u.strip() for u in re.findall(r"<loc>\s*([^<\s]+)\s*</loc>", xml, re.I)]
