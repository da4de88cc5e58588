"""MTA-STS (RFC 8461): whether a domain requires verified TLS from senders, and for which MX hosts.

1. ``_mta-sts.<domain>`` TXT: exactly one record starting ``v=STSv1;`` with an ``id``.
2. ``https://mta-sts.<domain>/.well-known/mta-sts.txt`` over verified HTTPS: status 200,
   no redirects, ``text/plain``, at most 64 KiB, within a total deadline.
3. The policy: ``version: STSv1``, ``mode`` (enforce, testing, none), ``mx`` patterns
   (``*.example.com`` matches exactly one more label), ``max_age`` (at most a year).

Anything missing, invalid or unreachable means "no usable policy", with a status that
says why; the TLS decision then relies on its own certificate check. Where
``mta-sts.<domain>`` is reached is injectable (``connector``), so tests serve policies
from a local HTTPS server while the certificate is still checked against that name.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
from dataclasses import dataclass
from enum import StrEnum

from chalicelib.gateway.dns_lookup import DnsError, DnsErrorKind, DnsLookup
from chalicelib.gateway.tls_probe import Connector, Watchdog, direct, verifying_context

POLICY_PATH = "/.well-known/mta-sts.txt"
MAX_POLICY_BYTES = 64 * 1024
MAX_AGE_LIMIT = 31_557_600

_RECORD_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_FIELD = re.compile(r"^([A-Za-z0-9_]{1,32})[ \t]*:[ \t]*(.*?)[ \t]*$")
_MX_PATTERN = re.compile(r"^(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")


class MtaStsMode(StrEnum):
    ENFORCE = "enforce"
    TESTING = "testing"
    NONE = "none"


class PolicyStatus(StrEnum):
    FOUND = "found"
    NOT_PUBLISHED = "not_published"  # no _mta-sts TXT record
    INVALID_RECORD = "invalid_record"  # TXT present but not exactly one valid STSv1 record
    DNS_ERROR = "dns_error"  # the TXT look-up failed: unknown whether there is a policy
    FETCH_FAILED = "fetch_failed"  # record present, policy file not retrievable over verified HTTPS
    INVALID_POLICY = "invalid_policy"  # policy file retrieved but not valid


class InvalidPolicy(ValueError):
    pass


class FetchFailed(Exception):
    pass


@dataclass(frozen=True)
class MtaStsPolicy:
    mode: MtaStsMode
    mx: tuple[str, ...]
    max_age: int

    def allows(self, host: str) -> bool:
        return any(mx_matches(pattern, host) for pattern in self.mx)


@dataclass(frozen=True)
class PolicyLookup:
    status: PolicyStatus
    policy: MtaStsPolicy | None = None
    policy_id: str | None = None

    @property
    def enforced(self) -> bool:
        return self.policy is not None and self.policy.mode is MtaStsMode.ENFORCE


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 4.1: exact match, or ``*.`` standing for exactly one leftmost label."""
    pattern = pattern.strip().rstrip(".").lower()
    host = host.strip().rstrip(".").lower()
    if not pattern or not host:
        return False
    if pattern.startswith("*."):
        label, dot, rest = host.partition(".")
        return bool(label) and bool(dot) and rest == pattern[2:]
    return host == pattern


def parse_record(records: list[str]) -> str:
    """The policy id of the one ``v=STSv1`` TXT record; ``InvalidPolicy`` otherwise."""
    candidates = [r for r in records if r.startswith("v=STSv1;") or r == "v=STSv1"]
    if len(candidates) != 1:
        raise InvalidPolicy("not exactly one STSv1 record")
    fields: dict[str, str] = {}
    for part in candidates[0].split(";"):
        if not part.strip():
            continue
        key, equals, value = part.strip().partition("=")
        if not equals:
            raise InvalidPolicy("field without a value")
        fields.setdefault(key.strip(), value.strip())
    record_id = fields.get("id", "")
    if not _RECORD_ID.match(record_id):
        raise InvalidPolicy("missing or invalid id")
    return record_id


def parse_policy(text: str) -> MtaStsPolicy:
    """Parse a policy file; ``InvalidPolicy`` names what is wrong (never quoting the file)."""
    fields: dict[str, str] = {}
    mx: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        match = _FIELD.match(line)
        if match is None:
            raise InvalidPolicy("a line is not a field")
        key, value = match.group(1), match.group(2)
        if key == "mx":
            mx.append(value.lower().rstrip("."))
        else:
            fields.setdefault(key, value)  # the first occurrence counts
    if fields.get("version") != "STSv1":
        raise InvalidPolicy("version is not STSv1")
    try:
        mode = MtaStsMode(fields.get("mode", ""))
    except ValueError:
        raise InvalidPolicy("mode is not enforce, testing or none") from None
    max_age_text = fields.get("max_age", "")
    if not max_age_text.isascii() or not max_age_text.isdigit() or len(max_age_text) > 10:
        raise InvalidPolicy("max_age is missing or not a number")
    max_age = int(max_age_text)
    if max_age > MAX_AGE_LIMIT:
        raise InvalidPolicy("max_age is longer than a year")
    if any(not _MX_PATTERN.match(pattern) for pattern in mx):
        raise InvalidPolicy("an mx pattern is not a host name")
    if mode is not MtaStsMode.NONE and not mx:
        raise InvalidPolicy("no mx pattern")
    return MtaStsPolicy(mode=mode, mx=tuple(mx), max_age=max_age)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the address the connector gives, verifying the certificate against the real host name."""

    def __init__(self, host: str, port: int, *, connector: Connector, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._connector = connector
        self._tls_context = context
        # http.client hands the socket to a response that closes the connection and forgets it
        # itself; the watchdog still needs it.
        self.opened: socket.socket | None = None

    def connect(self) -> None:
        address, port = self._connector(self.host, self.port)
        sock = socket.create_connection((address, port), self.timeout)
        self.sock = self.opened = self._tls_context.wrap_socket(sock, server_hostname=self.host)


class HttpsPolicyFetcher:
    def __init__(
        self,
        *,
        context: ssl.SSLContext | None = None,
        connector: Connector = direct,
        port: int = 443,
        timeout: float = 10.0,
        deadline: float = 20.0,
        max_bytes: int = MAX_POLICY_BYTES,
    ) -> None:
        self._context = context if context is not None else verifying_context()
        self._connector = connector
        self._port = port
        self._timeout = timeout
        self._deadline = deadline
        self._max_bytes = max_bytes

    def fetch(self, domain: str) -> str:
        """The policy text of ``domain``, or ``FetchFailed`` (never follows redirects)."""
        connection = _PinnedHTTPSConnection(
            f"mta-sts.{domain}", self._port, connector=self._connector, context=self._context, timeout=self._timeout
        )
        watchdog = Watchdog(self._deadline, lambda: connection.opened)
        try:
            with watchdog:
                body = self._get(connection)
            if watchdog.fired:
                raise FetchFailed("took too long")
            return body.decode("utf-8")
        except (OSError, http.client.HTTPException, UnicodeDecodeError, ValueError) as error:
            raise FetchFailed("took too long" if watchdog.fired else type(error).__name__) from None
        finally:
            connection.close()
            if connection.opened is not None:
                connection.opened.close()

    def _get(self, connection: _PinnedHTTPSConnection) -> bytes:
        connection.request("GET", POLICY_PATH, headers={"Accept": "text/plain", "User-Agent": "Sealpost"})
        with connection.getresponse() as response:
            if response.status != 200:
                raise FetchFailed(f"status {response.status}")
            media_type = (response.getheader("Content-Type") or "").split(";", 1)[0].strip().lower()
            if media_type != "text/plain":
                raise FetchFailed("not text/plain")
            body = response.read(self._max_bytes + 1)
        if len(body) > self._max_bytes:
            raise FetchFailed("policy too large")
        return body


@dataclass(frozen=True)
class MtaStsLookup:
    dns: DnsLookup
    fetcher: HttpsPolicyFetcher

    def lookup(self, domain: str) -> PolicyLookup:
        """The MTA-STS policy of ``domain`` (already normalised). Never raises."""
        try:
            records = self.dns.txt(f"_mta-sts.{domain}")
        except DnsError as error:
            if error.kind is DnsErrorKind.TEMPORARY:
                return PolicyLookup(PolicyStatus.DNS_ERROR)
            records = []
        except Exception:
            return PolicyLookup(PolicyStatus.DNS_ERROR)
        if not any(r.startswith("v=STSv1") for r in records):
            return PolicyLookup(PolicyStatus.NOT_PUBLISHED)
        try:
            policy_id = parse_record(records)
        except InvalidPolicy:
            return PolicyLookup(PolicyStatus.INVALID_RECORD)
        try:
            text = self.fetcher.fetch(domain)
        except Exception:  # FetchFailed, or anything unforeseen: no usable policy
            return PolicyLookup(PolicyStatus.FETCH_FAILED, policy_id=policy_id)
        try:
            return PolicyLookup(PolicyStatus.FOUND, parse_policy(text), policy_id)
        except InvalidPolicy:
            return PolicyLookup(PolicyStatus.INVALID_POLICY, policy_id=policy_id)
