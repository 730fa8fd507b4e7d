"""Synthetic workspace generator for load tests and benchmarks.

``write_synthetic_workspace`` writes a complete, offline workspace of any size:
``workspace.toml`` and ``templates/`` copied from ``examples/demo``, a
Clay-style ``prospects.csv``, a ``web/<domain>/`` snapshot per company
(index, about, careers, blog), ``signals.csv``, ``suppressions.csv`` and
``enrichment.csv``.

Output is deterministic for a given seed. Rows are streamed company by company,
so memory use does not grow with the number of prospects; each company draws
from its own seeded random generator, which keeps a company's snapshot and
prospects stable regardless of what was generated before it.

Command line::

    python -m tools.synthetic OUT_DIR --prospects 10000 [--seed 7] [--companies 2000]
"""

from __future__ import annotations

import argparse
import csv
import html
import re
import shutil
import unicodedata
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from random import Random

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO_ROOT / "examples" / "demo"

PROSPECT_HEADERS = [
    "First Name",
    "Last Name",
    "Email",
    "Job Title",
    "Company Name",
    "Company Domain",
    "LinkedIn URL",
    "Country",
    "Timezone",
    "Employee Count",
    "Industry",
    "Owner",
    "Tier",
    "Source",
    "City",
    "Clay Score",
]
SIGNAL_HEADERS = ["company_domain", "email", "type", "detail", "url", "occurred_at"]
SUPPRESSION_HEADERS = ["email", "domain", "reason"]
ENRICHMENT_HEADERS = [
    "first_name",
    "last_name",
    "company_domain",
    "email",
    "phone",
    "linkedin_url",
    "credits",
]

# Country -> (weight, [(IANA zone, city), ...], phone prefix). Every zone is valid in tzdata.
GEO: dict[str, tuple[int, list[tuple[str, str]], str]] = {
    "US": (
        45,
        [
            ("America/New_York", "New York"),
            ("America/New_York", "Boston"),
            ("America/New_York", "Atlanta"),
            ("America/Chicago", "Chicago"),
            ("America/Chicago", "Austin"),
            ("America/Denver", "Denver"),
            ("America/Phoenix", "Phoenix"),
            ("America/Los_Angeles", "San Francisco"),
            ("America/Los_Angeles", "Seattle"),
            ("America/Anchorage", "Anchorage"),
            ("Pacific/Honolulu", "Honolulu"),
        ],
        "+1",
    ),
    "CA": (
        8,
        [
            ("America/Toronto", "Toronto"),
            ("America/Toronto", "Montréal"),
            ("America/Vancouver", "Vancouver"),
            ("America/Edmonton", "Calgary"),
            ("America/Halifax", "Halifax"),
        ],
        "+1",
    ),
    "GB": (
        10,
        [("Europe/London", "London"), ("Europe/London", "Manchester"), ("Europe/London", "Edinburgh")],
        "+44",
    ),
    "IE": (3, [("Europe/Dublin", "Dublin"), ("Europe/Dublin", "Cork")], "+353"),
    "DE": (
        8,
        [("Europe/Berlin", "Berlin"), ("Europe/Berlin", "Hamburg"), ("Europe/Berlin", "München")],
        "+49",
    ),
    "FR": (6, [("Europe/Paris", "Paris"), ("Europe/Paris", "Lyon")], "+33"),
    "NL": (4, [("Europe/Amsterdam", "Amsterdam"), ("Europe/Amsterdam", "Utrecht")], "+31"),
    "SE": (3, [("Europe/Stockholm", "Stockholm"), ("Europe/Stockholm", "Göteborg")], "+46"),
    "AU": (
        7,
        [
            ("Australia/Sydney", "Sydney"),
            ("Australia/Melbourne", "Melbourne"),
            ("Australia/Brisbane", "Brisbane"),
            ("Australia/Perth", "Perth"),
        ],
        "+61",
    ),
    "NZ": (2, [("Pacific/Auckland", "Auckland"), ("Pacific/Auckland", "Wellington")], "+64"),
    "SG": (4, [("Asia/Singapore", "Singapore")], "+65"),
}
_COUNTRIES = list(GEO)
COUNTRY_NAMES = {
    "US": "the United States",
    "CA": "Canada",
    "GB": "the United Kingdom",
    "IE": "Ireland",
    "DE": "Germany",
    "FR": "France",
    "NL": "the Netherlands",
    "SE": "Sweden",
    "AU": "Australia",
    "NZ": "New Zealand",
    "SG": "Singapore",
}
_COUNTRY_WEIGHTS = [GEO[c][0] for c in _COUNTRIES]

FIRST_NAMES = [
    "James",
    "Maria",
    "Wei",
    "Aisha",
    "Lukas",
    "Sofia",
    "Noah",
    "Emma",
    "Liam",
    "Olivia",
    "Mateo",
    "Chloé",
    "Arjun",
    "Priya",
    "Hiroshi",
    "Yuki",
    "Fatima",
    "Omar",
    "Ingrid",
    "Lars",
    "Zoë",
    "José",
    "Søren",
    "Anneke",
    "Siobhan",
    "Ciarán",
    "Elena",
    "Marco",
    "Grace",
    "Daniel",
    "Rachel",
    "Kwame",
    "Amara",
    "Tomás",
    "Leilani",
    "Aroha",
    "Mei",
    "Ravi",
    "Hannah",
    "Felix",
    "Camille",
    "Hugo",
    "Nora",
    "Ethan",
    "Isabel",
    "Jonas",
    "Freya",
    "Diego",
    "Laila",
    "Owen",
]
LAST_NAMES = [
    "Smith",
    "Garcia",
    "Chen",
    "Okafor",
    "Müller",
    "Rossi",
    "Nguyen",
    "Johansson",
    "Dubois",
    "Murphy",
    "Patel",
    "Kim",
    "Tanaka",
    "Schneider",
    "van Dijk",
    "Ångström",
    "O'Brien",
    "Kowalski",
    "Silva",
    "Novak",
    "Brown",
    "Wilson",
    "Taylor",
    "Anderson",
    "Thomas",
    "Moore",
    "Martin",
    "Jackson",
    "Lee",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Wright",
    "Lopez",
    "Hill",
    "Scott",
    "Green",
    "Adams",
    "Baker",
    "Nakamura",
    "Fischer",
    "Weber",
    "Laurent",
    "Byrne",
    "Eklund",
    "Ngata",
    "Tan",
    "Shah",
    "Reyes",
]
TITLES = [
    ("CFO", 14),
    ("VP Finance", 12),
    ("Controller", 20),
    ("Head of Finance", 12),
    ("Finance Director", 10),
    ("Financial Controller", 8),
    ("Assistant Controller", 6),
    ("FP&A Manager", 8),
    ("Revenue Accounting Manager", 5),
    ("Chief Accounting Officer", 3),
    ("Director of Accounting", 4),
]
_TITLE_NAMES = [t for t, _ in TITLES]
_TITLE_WEIGHTS = [w for _, w in TITLES]
INDUSTRIES = ["Software", "Fintech", "E-commerce", "Logistics", "Healthcare IT"]
OWNERS = ["sam@agency.example", "nina@agency.example", "tom@agency.example", "ola@agency.example"]
SOURCES = ["clay", "clay", "clay", "csv", "event: FinOps Summit 2026"]

NAME_HEADS = [
    "North",
    "Blue",
    "Bright",
    "Iron",
    "Cedar",
    "Harbor",
    "Silver",
    "Granite",
    "Maple",
    "Summit",
    "Copper",
    "River",
    "Stone",
    "Lumen",
    "Aster",
    "Falcon",
    "Kestrel",
    "Tide",
    "Orbit",
    "Juniper",
    "Quarry",
    "Vantage",
    "Meridian",
    "Pioneer",
    "Beacon",
    "Cobalt",
    "Saffron",
    "Willow",
    "Atlas",
    "Ember",
]
NAME_TAILS = [
    "path",
    "stack",
    "line",
    "works",
    "field",
    "bridge",
    "loop",
    "grid",
    "point",
    "wave",
    "forge",
    "yard",
    "gate",
    "flow",
    "craft",
    "scale",
    "mark",
    "port",
    "leaf",
    "ridge",
]
LEGAL_SUFFIX = {
    "US": ["Inc.", "LLC", "Corp."],
    "CA": ["Inc.", "Ltd."],
    "GB": ["Ltd"],
    "IE": ["Ltd", "DAC"],
    "DE": ["GmbH", "AG"],
    "FR": ["SAS", "SA"],
    "NL": ["B.V."],
    "SE": ["AB"],
    "AU": ["Pty Ltd"],
    "NZ": ["Limited"],
    "SG": ["Pte. Ltd."],
}
PRODUCTS = {
    "Software": [
        "workflow software for operations teams",
        "a scheduling platform for field teams",
        "retail analytics software",
        "HR and payroll software",
    ],
    "Fintech": [
        "embedded payments for vertical software",
        "corporate cards and spend management",
        "loan origination software",
        "business current accounts and invoicing",
    ],
    "E-commerce": [
        "subscription storefronts",
        "cross-border marketplace selling",
        "online retail for home and garden goods",
        "direct-to-consumer fulfilment",
    ],
    "Logistics": [
        "regional parcel delivery",
        "contract warehousing and fulfilment",
        "a digital freight brokerage",
        "cold-chain shipping",
    ],
    "Healthcare IT": [
        "prior authorization automation",
        "remote patient monitoring",
        "claims scrubbing software",
        "practice management software",
    ],
}
CUSTOMERS = {
    "Software": "mid-size companies",
    "Fintech": "small and mid-size businesses",
    "E-commerce": "consumer brands",
    "Logistics": "shippers and retailers",
    "Healthcare IT": "clinics and hospitals",
}
FINANCE_ROLES = [
    "Controller",
    "Senior Revenue Accountant",
    "Revenue Accountant",
    "FP&A Manager",
    "Accounts Payable Specialist",
    "Head of Finance",
    "Financial Controller",
]
OTHER_ROLES = [
    "Account Executive",
    "Senior Backend Engineer",
    "Product Designer",
    "Customer Success Manager",
    "Data Engineer",
    "Operations Manager",
    "Marketing Manager",
    "Support Specialist",
]
INVESTORS = [
    "Harbor Lane Ventures",
    "Ironbridge Capital",
    "Northstar Growth",
    "Beacon Street Partners",
    "Atlantic Seaboard Capital",
    "Nordlicht Partners",
    "Straits Growth Partners",
    "Pacific Crest Fund",
]
ERPS = [
    ("QuickBooks", "NetSuite"),
    ("Xero", "NetSuite"),
    ("Sage 50", "Sage Intacct"),
    ("QuickBooks", "Sage Intacct"),
    ("DATEV", "SAP S/4HANA"),
    ("Sage 300", "Workday Financials"),
]
ROUNDS = ["Seed", "Series A", "Series B", "Series C", "Series D"]

_BLOG_START = date(2026, 7, 1)
_BLOG_DAYS = (date(2026, 11, 15) - _BLOG_START).days + 1
_SIGNAL_START = datetime(2026, 9, 1, tzinfo=UTC)
_SIGNAL_SECONDS = int((datetime(2026, 11, 30, 23, 59, tzinfo=UTC) - _SIGNAL_START).total_seconds())

_esc = html.escape
_SLUG_RE = re.compile(r"[^a-z0-9]+")


def _ascii_slug(text: str, sep: str = "") -> str:
    """Lower-case ASCII form of a name, e.g. "Zoë Ångström" -> "zoeangstrom"."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return _SLUG_RE.sub(sep, folded).strip(sep)


def _client_toml(text: str, prospects: int) -> str:
    """Rewrite the [client] table's id and name for a synthetic workspace."""
    out, section = [], ""
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.split("#", 1)[0].strip().strip("[]").strip()
        if section in DEMO_ONLY_SECTIONS:
            continue  # the demo's deliberately tight caps: synthetic workspaces use the defaults
        if section == "client":
            m = re.match(r'^(\s*)(id|name)(\s*=\s*)"(.*)"(.*)$', line.rstrip("\n"))
            if m:
                indent, key, eq, value, rest = m.groups()
                new = f"synthetic-{prospects}" if key == "id" else f"{value} (synthetic {prospects})"
                line = f'{indent}{key}{eq}"{new}"{rest}\n'
        out.append(line)
    result = "".join(out)
    if f'id = "synthetic-{prospects}"' not in result:
        result = result.replace('id = "demo"', f'id = "synthetic-{prospects}"', 1)
    return result


# Sections of the demo's workspace.toml that exist to show rules firing on 60 prospects
# (a tiny mailbox cap, a tiny run budget, no near-cap review); a synthetic workspace
# runs with the production defaults instead.
DEMO_ONLY_SECTIONS = frozenset({"policy.capacity", "policy.budget.run", "policy"})


class _Company:
    """One synthetic company: identity, geography and website facts."""

    __slots__ = (
        "idx",
        "name",
        "legal",
        "domain",
        "country",
        "tz",
        "city",
        "industry",
        "employees",
        "founded",
        "product",
        "jobs",
        "articles",
        "rng",
    )

    def __init__(self, seed: int, idx: int) -> None:
        rng = Random(seed * 1_000_003 + idx)
        self.rng = rng
        self.idx = idx
        head, tail = rng.choice(NAME_HEADS), rng.choice(NAME_TAILS)
        self.country = rng.choices(_COUNTRIES, _COUNTRY_WEIGHTS)[0]
        self.tz, self.city = rng.choice(GEO[self.country][1])
        self.industry = rng.choice(INDUSTRIES)
        self.name = f"{head}{tail} {self.industry.split()[0]}" if rng.random() < 0.5 else f"{head}{tail}"
        self.legal = f"{self.name} {rng.choice(LEGAL_SUFFIX[self.country])}"
        self.domain = f"{_ascii_slug(head + tail)}{idx}.example"
        self.employees = rng.choice([60, 85, 120, 180, 240, 310, 420, 560, 750, 980, 1400, 1900])
        self.founded = rng.randint(2004, 2022)
        self.product = rng.choice(PRODUCTS[self.industry])
        roll = rng.random()
        if roll < 0.08:
            self.jobs = None  # no careers page at all
        else:
            jobs = [(r, self.city) for r in rng.sample(OTHER_ROLES, rng.randint(1, 3))]
            if roll < 0.78:
                jobs[:0] = [(r, self.city) for r in rng.sample(FINANCE_ROLES, rng.randint(1, 2))]
            self.jobs = jobs
        self.articles = self._articles(rng)

    def _articles(self, rng: Random) -> list[tuple[str, str, str, str, str]]:
        """Two or three blog posts as (anchor, kind, title, iso date, text), newest first."""
        other = COUNTRY_NAMES[rng.choice([c for c in _COUNTRIES if c != self.country])]
        old, new = rng.choice(ERPS)
        round_ = rng.choice(ROUNDS)
        amount = rng.choice([8, 12, 18, 25, 30, 40, 55, 85])
        pool = [
            (
                "funding",
                "funding",
                f"{self.name} raises ${amount}M {round_}",
                f"We raised a ${amount}M {round_} led by {rng.choice(INVESTORS)} to grow our team and our finance operations.",
            ),
            (
                "expansion",
                "news",
                f"{self.name} expands to {other}",
                f"We are expanding to {other} with a new office and local customer support.",
            ),
            (
                "erp",
                "tech_change",
                f"Moving from {old} to {new}",
                f"Our finance team is moving from {old} to {new} so that the month-end close no longer depends on spreadsheets.",
            ),
            (
                "launch",
                "news",
                f"Introducing {self.name} {rng.choice(['Insights', 'Connect', 'Flow', 'Pulse'])}",
                f"Today we launch a new module that extends our {self.product} for {CUSTOMERS[self.industry]}.",
            ),
            (
                "milestone",
                "news",
                f"{rng.choice([100, 250, 500, 1000])} customers and counting",
                f"{self.name} now serves {CUSTOMERS[self.industry]} in {rng.randint(2, 9)} countries.",
            ),
        ]
        picked = rng.sample(pool, rng.randint(2, 3))
        arts = []
        for anchor, kind, title, text in picked:
            day = (_BLOG_START + timedelta(days=rng.randrange(_BLOG_DAYS))).isoformat()
            arts.append((anchor, kind, title, day, text))
        arts.sort(key=lambda a: a[3], reverse=True)
        return arts

    # -- web snapshot -----------------------------------------------------------------
    def _page(self, title: str, body: str, description: str | None = None) -> str:
        meta = f'\n  <meta name="description" content="{_esc(description)}">' if description else ""
        careers = ' | <a href="careers.html">Careers</a>' if self.jobs is not None else ""
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n  <meta charset="utf-8">\n'
            f"  <title>{_esc(title)}</title>{meta}\n</head>\n<body>\n"
            f'  <header><nav><a href="index.html">Home</a> | <a href="about.html">About</a>{careers}'
            ' | <a href="blog.html">Blog</a></nav></header>\n'
            f"  <main>\n{body}  </main>\n"
            f"  <footer><p>&copy; 2026 {_esc(self.legal)}</p></footer>\n</body>\n</html>\n"
        )

    def write_snapshot(self, web_dir: Path) -> None:
        d = web_dir / self.domain
        d.mkdir(parents=True, exist_ok=True)
        name, cust = _esc(self.name), CUSTOMERS[self.industry]
        index = (
            f"    <h1>{_esc(self.product[0].upper() + self.product[1:])}, done right.</h1>\n"
            f"    <p>{name} provides {_esc(self.product)} for {_esc(cust)}.</p>\n"
            f"    <p>Teams switch to {name} to save time every week and to see their numbers in one place.</p>\n"
        )
        _write(
            d / "index.html",
            self._page(
                f"{self.name} – {self.product}", index, f"{self.name} provides {self.product} for {cust}."
            ),
        )
        about = (
            f"    <h1>About {name}</h1>\n"
            f"    <p>{name} was founded in {self.founded} in {_esc(self.city)}.</p>\n"
            f"    <p>Our headquarters are in {_esc(self.city)}.</p>\n"
            f"    <p>We are {self.employees:,} people across {_esc(self.city)} and remote.</p>\n"
            f"    <p>We provide {_esc(self.product)}; our customers are {_esc(cust)}.</p>\n"
        )
        _write(d / "about.html", self._page(f"About us – {self.name}", about))
        if self.jobs is not None:
            items = "".join(
                f'      <li><span class="role">{_esc(r)}</span> – <span class="location">{_esc(loc)}</span></li>\n'
                for r, loc in self.jobs
            )
            careers = (
                f"    <h1>Careers at {name}</h1>\n    <p>Open roles:</p>\n"
                f'    <ul class="jobs">\n{items}    </ul>\n'
            )
            _write(d / "careers.html", self._page(f"Careers – {self.name}", careers))
        posts = "".join(
            f'    <article id="{anchor}">\n      <h2>{_esc(title)}</h2>\n'
            f'      <time datetime="{day}">{day}</time>\n      <p>{_esc(text)}</p>\n    </article>\n'
            for anchor, _kind, title, day, text in self.articles
        )
        _write(d / "blog.html", self._page(f"Blog – {self.name}", f"    <h1>{name} blog</h1>\n{posts}"))


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def _signal(company: _Company, emails: list[str]) -> list[str]:
    """One signal row for a company, consistent with its snapshot."""
    rng = company.rng
    at = _SIGNAL_START + timedelta(seconds=rng.randrange(_SIGNAL_SECONDS))
    recent = [a for a in company.articles if a[3] >= "2026-09-01"]
    finance_jobs = [r for r, _ in (company.jobs or []) if r in FINANCE_ROLES]
    roll = rng.random()
    if roll < 0.45 and recent:
        anchor, kind, title, day, _text = rng.choice(recent)
        at = datetime.fromisoformat(day).replace(hour=rng.randint(7, 18), tzinfo=UTC)
        return [company.domain, "", kind, title, f"https://{company.domain}/blog#{anchor}", _iso(at)]
    if roll < 0.75 and finance_jobs:
        role = rng.choice(finance_jobs)
        article = "an" if role[0] in "AEIOU" else "a"
        return [
            company.domain,
            "",
            "hiring",
            f"Hiring {article} {role} in {company.city}",
            f"https://{company.domain}/careers",
            _iso(at),
        ]
    if emails:
        email = rng.choice(emails)
        if rng.random() < 0.6:
            return [
                "",
                email,
                "website_visit",
                "Viewed the pricing page",
                "https://ledgerly.example/pricing",
                _iso(at),
            ]
        return [
            "",
            email,
            "job_change",
            "Started a new finance leadership role",
            f"https://{company.domain}/about",
            _iso(at),
        ]
    return [
        company.domain,
        "",
        "news",
        f"{company.name} featured in trade press",
        f"https://{company.domain}/blog",
        _iso(at),
    ]


def _unique_name(rng: Random, used: set[tuple[str, str]]) -> tuple[str, str]:
    """A (first, last) pair not yet used at this company (name + domain is an identity)."""
    for _ in range(12):
        pair = (rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES))
        if pair not in used:
            used.add(pair)
            return pair
    first, last = pair
    k = len(used)
    while True:
        initial = chr(ord("A") + k % 26)
        generation = "" if k < 26 else f" {k // 26 + 1}"
        candidate = (f"{first} {initial}.", f"{last}{generation}")
        if candidate not in used:
            used.add(candidate)
            return candidate
        k += 1


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def budget_toml(run_credits: float) -> str:
    """`[policy.budget.run]` and `[policy.budget.month]` tables for a per-run credit budget of
    `run_credits` (the other run caps as the defaults; the dollar caps and the month's caps
    raised so that the run's credits are what binds)."""
    usd = 25.0 + run_credits * 0.01  # the demo's credit_usd
    return (
        "\n[policy.budget.run]\n"
        f"credits = {float(run_credits)}\nllm_usd = 5.0\nusd = {usd}\n"
        "\n[policy.budget.month]\n"
        f"credits = {max(2000.0, 4.0 * run_credits)}\nllm_usd = 100.0\nusd = {max(1500.0, 4.0 * usd)}\n"
    )


def write_synthetic_workspace(
    out_dir: Path,
    prospects: int,
    seed: int = 7,
    companies: int | None = None,
    run_credits: float | None = None,
) -> dict:
    """Write a complete synthetic workspace to ``out_dir`` and return a summary.

    ``prospects`` rows are spread over ``companies`` companies (default: one per
    five prospects). ``run_credits`` sets the per-run credit budget (default: the
    production default, 50 credits, which on a large workspace lets about 100 prospects
    act and carries the rest over). Returns ``{"prospects": N, "companies": C, "path": str(out_dir)}``.
    """
    if prospects < 0:
        raise ValueError("prospects must be >= 0")
    n_companies = max(1, round(prospects / 5)) if companies is None else companies
    if n_companies < 1:
        raise ValueError("companies must be >= 1")
    out_dir = Path(out_dir)
    web_dir = out_dir / "web"
    web_dir.mkdir(parents=True, exist_ok=True)

    toml_src = DEMO_DIR / "workspace.toml"
    if toml_src.exists():
        text = _client_toml(toml_src.read_text(encoding="utf-8"), prospects)
        _write(
            out_dir / "workspace.toml", text + (budget_toml(run_credits) if run_credits is not None else "")
        )
    templates_src = DEMO_DIR / "templates"
    if templates_src.is_dir():
        shutil.copytree(templates_src, out_dir / "templates", dirs_exist_ok=True)

    suppress_emails: list[str] = []
    enrich_rows: list[list[str]] = []
    written = 0
    with (
        open(out_dir / "prospects.csv", "w", newline="", encoding="utf-8") as pf,
        open(out_dir / "signals.csv", "w", newline="", encoding="utf-8") as sf,
    ):
        prospect_w, signal_w = csv.writer(pf), csv.writer(sf)
        prospect_w.writerow(PROSPECT_HEADERS)
        signal_w.writerow(SIGNAL_HEADERS)
        for c_idx in range(n_companies):
            company = _Company(seed, c_idx)
            company.write_snapshot(web_dir)
            rng = company.rng
            count = ((c_idx + 1) * prospects) // n_companies - (c_idx * prospects) // n_companies
            used_locals: set[str] = set()
            used_names: set[tuple[str, str]] = set()
            emails: list[str] = []
            for _ in range(count):
                first, last = _unique_name(rng, used_names)
                base = f"{_ascii_slug(first)}.{_ascii_slug(last)}"
                local, n = base, 2
                while local in used_locals:
                    local, n = f"{base}{n}", n + 1
                used_locals.add(local)
                email = f"{local}@{company.domain}"
                linkedin = (
                    f"https://www.linkedin.com/in/{_ascii_slug(first, '-')}-"
                    f"{_ascii_slug(last, '-')}-{seed % 4096:03x}{written:06x}"
                )
                tz, city = company.tz, company.city
                if rng.random() < 0.15:
                    tz, city = rng.choice(GEO[company.country][1])
                roll = rng.random()
                if roll < 0.10:  # LinkedIn only
                    email_out, linkedin_out = "", linkedin
                elif roll < 0.11:  # name + domain only: enrichment candidate
                    email_out, linkedin_out = "", ""
                    if len(enrich_rows) < 3:
                        enrich_rows.append(
                            [
                                first,
                                last,
                                company.domain,
                                email,
                                f"{GEO[company.country][2]} 555 {rng.randint(1000, 9999)}",
                                linkedin,
                                "2",
                            ]
                        )
                else:
                    email_out = email
                    linkedin_out = linkedin if rng.random() < 0.6 else ""
                    emails.append(email)
                    if c_idx > 0 and len(suppress_emails) < 2 and rng.random() < 0.05:
                        suppress_emails.append(email)
                t = rng.random()
                tier = "1" if t < 0.10 else ("2" if t < 0.50 else "3")
                prospect_w.writerow(
                    [
                        first,
                        last,
                        email_out,
                        rng.choices(_TITLE_NAMES, _TITLE_WEIGHTS)[0],
                        company.legal,
                        company.domain,
                        linkedin_out,
                        company.country,
                        tz,
                        str(company.employees),
                        company.industry,
                        rng.choice(OWNERS),
                        tier,
                        rng.choice(SOURCES),
                        city,
                        str(rng.randint(35, 99)),
                    ]
                )
                written += 1
            if rng.random() < 0.10:
                signal_w.writerow(_signal(company, emails))

    with open(out_dir / "suppressions.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(SUPPRESSION_HEADERS)
        w.writerow(["", "closewise.example", "competitor"])
        w.writerow(["", "brightfieldlabs.example", "customer"])
        w.writerow(["legal@closewise.example", "", "do_not_contact"])
        for email, reason in zip(suppress_emails, ["unsubscribed", "bounced"], strict=False):
            w.writerow([email, "", reason])

    with open(out_dir / "enrichment.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(ENRICHMENT_HEADERS)
        w.writerows(enrich_rows)
        w.writerow(
            ["Ingrid", "Holm", "brightfieldlabs.example", "ingrid.holm@brightfieldlabs.example", "", "", "1"]
        )

    return {"prospects": written, "companies": n_companies, "path": str(out_dir)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic outbound workspace.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--prospects", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--companies", type=int, default=None)
    parser.add_argument(
        "--run-credits", type=float, default=None, help="Per-run credit budget (default: the policy default)."
    )
    args = parser.parse_args(argv)
    summary = write_synthetic_workspace(
        args.out_dir, args.prospects, seed=args.seed, companies=args.companies, run_credits=args.run_credits
    )
    print(
        f"wrote {summary['prospects']} prospects across {summary['companies']} companies to {summary['path']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
