"""A polite, bounded fetcher for one company's own site.

Rules it keeps, each enforced here and tested against a local server:
- only the company's domain and its subdomains (redirects included: a hop off the site
  is refused before it is requested);
- robots.txt (parsed with protego) is read once per host and obeyed for our user agent;
- at most one request per `delay_seconds` per host (injected clock and sleep);
- a timeout per request, a size cap (streamed, cut off as soon as it is crossed) and an
  HTML/text content-type check;
- errors keep their class: 404/410 NotFound, 429/5xx/timeouts Transient (one bounded retry
  that honours Retry-After), anything refused by the rules above InvalidInput.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
from protego import Protego

from core.errors import InvalidInput, NotFound, ProviderError, Transient

PROVIDER = "web"
TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "application/xml", "text/xml")
MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 30.0


@dataclass(frozen=True)
class FetchedPage:
    url: str  # the final URL, after redirects on the site
    status: int
    content_type: str
    body: str
    content_hash: str


def on_site(url: str, domain: str) -> bool:
    """True when `url` is on the company's domain or one of its subdomains."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    domain = domain.lower().strip(".")
    return bool(host) and (host == domain or host.endswith("." + domain))


class SiteFetcher:
    def __init__(
        self,
        client: httpx.Client,
        domain: str,
        *,
        user_agent: str = "OutboundResearch/1.0",
        timeout: float = 10.0,
        max_bytes: int = 2_000_000,
        delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.domain = domain
        self.user_agent = user_agent
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.delay = delay
        self.sleep = sleep
        self.clock = clock
        self._robots: dict[str, Protego | None] = {}
        self._last: dict[str, float] = {}
        self.requests = 0

    # -- rules -----------------------------------------------------------------------
    def _polite(self, host: str) -> None:
        last = self._last.get(host)
        if last is not None:
            wait = self.delay - (self.clock() - last)
            if wait > 0:
                self.sleep(wait)
        self._last[host] = self.clock()

    def robots(self, base: str) -> Protego | None:
        """The parsed robots.txt of the host of `base` (None: none published)."""
        parts = urlsplit(base)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            try:
                resp = self._get(origin + "/robots.txt")
                self._robots[origin] = Protego.parse(resp.body) if resp.status == 200 else None
            except (NotFound, InvalidInput):
                self._robots[origin] = None
        return self._robots[origin]

    def allowed(self, url: str) -> bool:
        rp = self.robots(url)
        return rp is None or rp.can_fetch(url, self.user_agent)

    # -- fetching ----------------------------------------------------------------------
    def fetch(self, url: str) -> FetchedPage:
        """GET a page on the site, following redirects that stay on it."""
        for _hop in range(MAX_REDIRECTS + 1):
            if not on_site(url, self.domain):
                raise InvalidInput(f"{url} is not on {self.domain}; not fetched", provider=PROVIDER)
            if not self.allowed(url):
                raise InvalidInput(f"robots.txt disallows {url}", provider=PROVIDER)
            page = self._get(url)
            if page.status in (301, 302, 303, 307, 308):
                url = urljoin(url, page.body)
                continue
            return page
        raise InvalidInput(f"more than {MAX_REDIRECTS} redirects from {url}", provider=PROVIDER)

    def _get(self, url: str) -> FetchedPage:
        try:
            return self._once(url)
        except Transient as exc:
            wait = min(exc.retry_after if exc.retry_after is not None else self.delay, MAX_RETRY_AFTER)
            self.sleep(wait)
            return self._once(url)

    def _once(self, url: str) -> FetchedPage:
        host = urlsplit(url).netloc
        self._polite(host)
        self.requests += 1
        headers = {
            "User-Agent": self.user_agent,
            "Accept": "text/html,application/xhtml+xml,text/plain;q=0.8",
        }
        try:
            with self.client.stream(
                "GET", url, headers=headers, timeout=self.timeout, follow_redirects=False
            ) as r:
                if r.is_redirect:
                    return FetchedPage(url, r.status_code, "", r.headers.get("location", ""), "")
                self._check_status(r, url)
                ctype = r.headers.get("content-type", "").split(";")[0].strip().lower()
                if ctype not in TEXT_TYPES:
                    raise InvalidInput(
                        f"{url} is {ctype or 'of unknown type'}, not a page", provider=PROVIDER
                    )
                declared = r.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise InvalidInput(
                        f"{url} is {declared} bytes, over the {self.max_bytes} cap", provider=PROVIDER
                    )
                chunks, size = [], 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise InvalidInput(f"{url} is over the {self.max_bytes}-byte cap", provider=PROVIDER)
                    chunks.append(chunk)
                raw = b"".join(chunks)
                body = raw.decode(r.encoding or "utf-8", errors="replace")
                return FetchedPage(url, r.status_code, ctype, body, hashlib.sha256(raw).hexdigest())
        except httpx.TimeoutException as exc:
            raise Transient(f"timed out fetching {url}", provider=PROVIDER) from exc
        except httpx.TransportError as exc:
            raise Transient(f"could not reach {url}: {type(exc).__name__}", provider=PROVIDER) from exc

    @staticmethod
    def _check_status(r: httpx.Response, url: str) -> None:
        code = r.status_code
        if code < 400:
            return
        if code in (404, 410):
            raise NotFound(f"{url} answered {code}", provider=PROVIDER, status=code)
        if code == 429 or code >= 500:
            ra = r.headers.get("retry-after", "")
            raise Transient(
                f"{url} answered {code}",
                provider=PROVIDER,
                status=code,
                retry_after=float(ra) if ra.replace(".", "", 1).isdigit() else None,
            )
        raise InvalidInput(f"{url} answered {code}", provider=PROVIDER, status=code)


__all__ = ["FetchedPage", "ProviderError", "SiteFetcher", "on_site"]
