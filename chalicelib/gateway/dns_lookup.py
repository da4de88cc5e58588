"""DNS look-ups the TLS decision needs (MX, TXT), behind a small port with a dnspython adapter.

The adapter takes its ``dns.resolver.Resolver`` in the constructor, so tests point it at
a local DNS server and deployments use the system's. Failures are reported as
``DnsError`` with a kind: the domain does not exist, it has no such records, or the
answer could not be had (timeout, SERVFAIL), which callers treat as uncertain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver


class DnsErrorKind(StrEnum):
    NO_SUCH_DOMAIN = "no_such_domain"
    NO_RECORDS = "no_records"
    TEMPORARY = "temporary"


class DnsError(Exception):
    def __init__(self, kind: DnsErrorKind) -> None:
        super().__init__(str(kind))
        self.kind = kind


@dataclass(frozen=True, order=True)
class MxRecord:
    preference: int
    host: str  # lower case, no final dot; "" for a null MX (RFC 7505: the domain takes no mail)


class DnsLookup(Protocol):
    def mx(self, domain: str) -> list[MxRecord]: ...

    def txt(self, name: str) -> list[str]: ...


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_domain(domain: str) -> str:
    """``domain`` in lower-case ASCII (IDNA) without a final dot; ``ValueError`` if it is not a host name."""
    if not isinstance(domain, str):
        raise ValueError("not a domain")
    candidate = domain.strip().rstrip(".").lower()
    try:
        candidate = candidate.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("not a domain") from None
    labels = candidate.split(".")
    if (
        len(candidate) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValueError("not a domain")
    return candidate


class DnsPythonLookup:
    """``DnsLookup`` with dnspython. ``timeout`` bounds each look-up in total (all servers, retries)."""

    def __init__(self, resolver: dns.resolver.Resolver | None = None, *, timeout: float = 5.0) -> None:
        self._resolver = resolver if resolver is not None else dns.resolver.Resolver()
        self._timeout = timeout

    def _resolve(self, name: str, rdtype: dns.rdatatype.RdataType) -> dns.resolver.Answer:
        try:
            return self._resolver.resolve(name, rdtype, lifetime=self._timeout, search=False)
        except dns.resolver.NXDOMAIN:
            raise DnsError(DnsErrorKind.NO_SUCH_DOMAIN) from None
        except dns.resolver.NoAnswer:
            raise DnsError(DnsErrorKind.NO_RECORDS) from None
        except (dns.exception.DNSException, OSError, ValueError):
            raise DnsError(DnsErrorKind.TEMPORARY) from None

    def mx(self, domain: str) -> list[MxRecord]:
        records: list[MxRecord] = []
        for rdata in self._resolve(domain, dns.rdatatype.MX):
            exchange: dns.name.Name = rdata.exchange
            host = "" if exchange == dns.name.root else exchange.to_text(omit_final_dot=True).lower()
            records.append(MxRecord(int(rdata.preference), host))
        return sorted(records)

    def txt(self, name: str) -> list[str]:
        """TXT records of ``name``, each one's strings joined; [] when there are none."""
        try:
            answer = self._resolve(name, dns.rdatatype.TXT)
        except DnsError as error:
            if error.kind is DnsErrorKind.TEMPORARY:
                raise
            return []
        return [b"".join(rdata.strings).decode("utf-8", errors="replace") for rdata in answer]
