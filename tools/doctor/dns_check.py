"""The sending domain's DNS, the records that decide whether cold email lands: SPF (one
record, includes the sending service, no ``+all``), DKIM (a key at each selector) and
DMARC (a policy, aligned with the From domain). Look-ups use dnspython; the resolver is
injected (``make_resolver("127.0.0.1:5353")`` in tests, the system's otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence

import dns.exception
import dns.resolver

from tools.doctor.findings import Finding, fail, ok, warn

AREA = "dns"


class DnsUnavailable(Exception):
    """The resolver could not be reached or timed out (nothing is known)."""


def make_resolver(server: str | None = None, *, timeout: float = 3.0) -> dns.resolver.Resolver:
    """The system resolver, or one that asks only ``HOST[:PORT]``."""
    if not server:
        resolver = dns.resolver.Resolver()
    else:
        host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host or server]
        if port:
            resolver.port = int(port)
    resolver.lifetime = timeout
    resolver.timeout = timeout
    return resolver


def txt_records(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    """The TXT strings at ``name`` (each record's chunks joined); [] when none exist."""
    try:
        answer = resolver.resolve(name, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
        raise DnsUnavailable(f"{type(exc).__name__} looking up {name}") from None
    return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]


def org_domain(domain: str) -> str:
    """An approximation of the organisational domain (last two labels; three for
    two-letter second levels under a country code such as example.co.uk)."""
    labels = domain.lower().strip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in ("co", "com", "org", "net", "ac", "gov"):
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def check_spf(resolver: dns.resolver.Resolver, domain: str, required: Sequence[str]) -> list[Finding]:
    records = [r for r in txt_records(resolver, domain) if r.lower().startswith("v=spf1")]
    if not records:
        return [
            fail(
                AREA,
                "spf",
                f"no SPF record at {domain}",
                f'Publish a TXT record at {domain}: "v=spf1 '
                + " ".join(f"include:{i}" for i in required or ["<your sending service>"])
                + ' ~all".',
            )
        ]
    if len(records) > 1:
        return [
            fail(
                AREA,
                "spf",
                f"{len(records)} SPF records at {domain} (receivers treat this as an error)",
                "Merge them into one v=spf1 record.",
                records=records,
            )
        ]
    record = records[0]
    terms = record.split()[1:]
    out: list[Finding] = []
    includes = [t.split(":", 1)[1].lower() for t in terms if t.lower().startswith("include:")]
    missing = [r for r in required if r.lower() not in includes]
    if missing:
        out.append(
            fail(
                AREA,
                "spf_include",
                f"SPF at {domain} does not include {', '.join(missing)}",
                f"Add {' '.join('include:' + m for m in missing)} to the SPF record before its 'all'.",
                record=record,
            )
        )
    elif required:
        out.append(ok(AREA, "spf_include", f"SPF includes {', '.join(required)}", record=record))
    else:
        out.append(
            warn(
                AREA,
                "spf_include",
                "no sending service is configured to check SPF against",
                'Set [sender] spf_includes (e.g. ["_spf.google.com"]) so doctor can check the include.',
                record=record,
            )
        )
    if any(t.lower() in ("+all", "all") for t in terms):
        out.append(
            fail(
                AREA,
                "spf_all",
                f"SPF at {domain} ends in +all: anyone may send as {domain}",
                "Change +all to ~all (or -all once every sender is listed).",
                record=record,
            )
        )
    else:
        out.append(ok(AREA, "spf", f"one SPF record at {domain}", record=record))
    return out


def check_dkim(resolver: dns.resolver.Resolver, domain: str, selectors: Sequence[str]) -> list[Finding]:
    if not selectors:
        return [
            warn(
                AREA,
                "dkim",
                "no DKIM selector configured, so DKIM cannot be checked",
                "Set [sender] dkim_selectors to the selector your sending service signs with "
                '(Google Workspace: "google"; Microsoft 365: "selector1").',
            )
        ]
    out = []
    for sel in selectors:
        name = f"{sel}._domainkey.{domain}"
        keys = [r for r in txt_records(resolver, name) if "p=" in r.replace(" ", "")]
        usable = [r for r in keys if not r.replace(" ", "").rstrip(";").endswith("p=")]
        if usable:
            out.append(ok(AREA, "dkim", f"DKIM key published at {name}", selector=sel))
        elif keys:
            out.append(
                fail(
                    AREA,
                    "dkim",
                    f"the DKIM key at {name} is empty (revoked)",
                    "Publish the current public key from your sending service at that name.",
                    selector=sel,
                )
            )
        else:
            out.append(
                fail(
                    AREA,
                    "dkim",
                    f"no DKIM key at {name}",
                    "Turn on DKIM signing in your sending service and publish the TXT record it gives you "
                    f"at {name} (or fix [sender] dkim_selectors).",
                    selector=sel,
                )
            )
    return out


def dmarc_tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        if "=" in part:
            k, _, v = part.partition("=")
            tags[k.strip().lower()] = v.strip()
    return tags


def check_dmarc(resolver: dns.resolver.Resolver, domain: str, from_domain: str) -> list[Finding]:
    where = f"_dmarc.{domain}"
    records = [r for r in txt_records(resolver, where) if r.lower().startswith("v=dmarc1")]
    org = org_domain(domain)
    if not records and org != domain:
        where = f"_dmarc.{org}"
        records = [r for r in txt_records(resolver, where) if r.lower().startswith("v=dmarc1")]
    if not records:
        return [
            fail(
                AREA,
                "dmarc",
                f"no DMARC record at _dmarc.{domain}",
                f'Publish a TXT record at _dmarc.{domain}: "v=DMARC1; p=none; rua=mailto:dmarc@{domain}" '
                "(Gmail, Yahoo and Microsoft require DMARC of bulk senders).",
            )
        ]
    tags = dmarc_tags(records[0])
    policy = tags.get("p", "").lower()
    if policy not in ("none", "quarantine", "reject"):
        return [
            fail(
                AREA,
                "dmarc",
                f"the DMARC record at {where} has no valid policy (p=)",
                "Add p=none (monitoring), p=quarantine or p=reject to the record.",
                record=records[0],
            )
        ]
    out = [ok(AREA, "dmarc", f"DMARC policy p={policy} at {where}", record=records[0])]
    from_domain = from_domain.lower()
    strict = [k for k in ("adkim", "aspf") if tags.get(k, "r").lower() == "s"]
    aligned_relaxed = org_domain(from_domain) == org
    if not aligned_relaxed or (strict and from_domain != domain):
        mode = "strict" if strict and aligned_relaxed else "relaxed"
        out.append(
            fail(
                AREA,
                "dmarc_alignment",
                f"the From domain {from_domain} is not aligned ({mode}) with the sending domain {domain}",
                f"Send from an address at {domain} (or set [sender] sending_domain to the From domain"
                + (", or relax adkim/aspf to r" if strict else "")
                + ").",
                record=records[0],
            )
        )
    else:
        out.append(ok(AREA, "dmarc_alignment", f"From domain {from_domain} aligned with {domain}"))
    return out


def check_domain(
    resolver: dns.resolver.Resolver,
    domain: str,
    *,
    from_domain: str,
    spf_includes: Sequence[str],
    dkim_selectors: Sequence[str],
) -> list[Finding]:
    """Every DNS finding for ``domain``; a resolver that cannot be reached is one warning."""
    try:
        return (
            check_spf(resolver, domain, spf_includes)
            + check_dkim(resolver, domain, dkim_selectors)
            + check_dmarc(resolver, domain, from_domain)
        )
    except DnsUnavailable as exc:
        return [
            warn(
                AREA,
                "resolver",
                f"DNS could not be queried ({exc})",
                "Run doctor where DNS works, or pass --dns-server HOST[:PORT].",
            )
        ]
