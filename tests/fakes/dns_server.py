"""A real DNS server on 127.0.0.1 (dnslib, UDP, a free port) serving a small test zone
of TXT records, so the doctor's SPF/DKIM/DMARC checks run dnspython against the wire
protocol instead of a mock:

    with FakeDns({"acme.example": ["v=spf1 include:_spf.google.com ~all"]}) as dns:
        resolver = make_resolver(dns.address)

A name in the zone without TXT answers NOERROR with no records; any other name NXDOMAIN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dnslib import QTYPE, RCODE, RR, TXT, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer


def _chunks(text: str) -> list[bytes]:
    data = text.encode()
    return [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]


class _ZoneResolver(BaseResolver):
    def __init__(self, zone: Mapping[str, Sequence[str]]) -> None:
        self.zone = {k.lower().rstrip("."): list(v) for k, v in zone.items()}
        self.queries: list[str] = []

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip(".")
        self.queries.append(name)
        if name not in self.zone:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if request.q.qtype == QTYPE.TXT:
            for text in self.zone[name]:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(_chunks(text)), ttl=60))
        return reply


class FakeDns:
    def __init__(self, zone: Mapping[str, Sequence[str]]) -> None:
        self.resolver = _ZoneResolver(zone)
        self._server = DNSServer(
            self.resolver, address="127.0.0.1", port=0, logger=DNSLogger(logf=lambda _msg: None)
        )

    @property
    def address(self) -> str:
        host, port = self._server.server.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> FakeDns:
        self._server.start_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
        self._server.server.server_close()


def good_zone(
    domain: str, *, selector: str = "google", include: str = "_spf.google.com"
) -> dict[str, list[str]]:
    """A domain set up the way bulk-sender rules want it."""
    return {
        domain: [f"v=spf1 include:{include} ~all", "google-site-verification=abc"],
        f"{selector}._domainkey.{domain}": ["v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC7"],
        f"_dmarc.{domain}": [f"v=DMARC1; p=none; rua=mailto:dmarc@{domain}"],
    }
