"""Real network peers for the gateway tests, all on 127.0.0.1, started and stopped by the tests.

- ``LocalDns``: a UDP DNS server (dnspython messages) answering from a table; a
  ``dns.resolver.Resolver`` pointed at it is what the code under test is given.
- SMTP servers (aiosmtpd): STARTTLS with a certificate from the test CA, no STARTTLS,
  a certificate for another name, a certificate from a CA nobody trusts, STARTTLS
  offered but refused, and a server that is not SMTP at all.
- ``PolicyServer``: HTTPS (certificate from the test CA) serving MTA-STS policy files
  by Host header, with status and content type per host.
- ``MailPeers.connector``: maps ``mx.<test domain>`` and ``mta-sts.<test domain>`` to
  the local ports. Unknown names are refused: nothing leaves this machine.

``WORLD`` describes the test domains: their MX records, which server each MX host is,
and their MTA-STS records and policies.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import SMTP as SMTPServer

from tests.conftest import free_port

LOCALHOST = "127.0.0.1"


def _in_zone(name: str, zones: set[str]) -> bool:
    return any(name == zone or name.endswith("." + zone) for zone in zones)


# --- DNS --------------------------------------------------------------------------------------


@dataclass
class LocalDns:
    """Answers from ``records[(name, type)]``; known names without that type get an empty answer,
    names in (or under) ``servfail`` SERVFAIL, in (or under) ``silent`` nothing at all, others NXDOMAIN."""

    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    servfail: set[str] = field(default_factory=set)
    silent: set[str] = field(default_factory=set)
    port: int = 0
    _server: socketserver.UDPServer | None = None

    def add(self, name: str, rdtype: str, *values: str) -> None:
        self.records.setdefault((name.lower(), rdtype), []).extend(values)

    def answer(self, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        if _in_zone(name, self.silent):
            return None
        if _in_zone(name, self.servfail):
            response.set_rcode(dns.rcode.SERVFAIL)
        elif (name, rdtype) in self.records:
            response.answer.append(
                dns.rrset.from_text_list(question.name, 300, "IN", rdtype, self.records[(name, rdtype)])
            )
        elif not any(known == name for known, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()

    def start(self) -> None:
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                reply = owner.answer(data)
                if reply is not None:
                    sock.sendto(reply, self.client_address)

        self._server = socketserver.ThreadingUDPServer((LOCALHOST, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def resolver(self) -> dns.resolver.Resolver:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [LOCALHOST]
        resolver.port = self.port
        return resolver


# --- SMTP -------------------------------------------------------------------------------------


class _RefusingSMTP(SMTPServer):
    async def smtp_STARTTLS(self, arg: str) -> None:
        await self.push("454 4.7.0 TLS not available due to temporary reason")


class _RefusingController(Controller):
    def factory(self) -> SMTPServer:
        return _RefusingSMTP(self.handler, **self.SMTP_kwargs)


class _BannerHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"554 5.3.2 No SMTP service here\r\n")


DRIP_SECONDS = 30  # how long a dripping peer keeps going before it gives up by itself
DRIP_OUTCOMES: list[str] = []  # "client_hung_up" or "peer_gave_up", one per dripping connection


def drip(send: Any, piece: bytes) -> None:
    """Send ``piece`` every 50 ms until the client hangs up or DRIP_SECONDS pass."""
    for _ in range(DRIP_SECONDS * 20):
        try:
            send(piece)
        except OSError:
            DRIP_OUTCOMES.append("client_hung_up")
            return
        time.sleep(0.05)
    DRIP_OUTCOMES.append("peer_gave_up")


class _DripHandler(socketserver.StreamRequestHandler):
    """Greets, reads EHLO, then answers with an endless multi-line reply, a line at a time."""

    def handle(self) -> None:
        self.wfile.write(b"220 drip.peer ESMTP\r\n")
        self.rfile.readline()
        drip(self.request.sendall, b"250-still going\r\n")


@dataclass
class PolicyResponse:
    body: bytes
    status: int = 200
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    drip: bool = False  # send the body a byte at a time, forever


class PolicyServer:
    """HTTPS on 127.0.0.1 answering ``GET /.well-known/mta-sts.txt`` from ``policies[host]``."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.policies: dict[str, PolicyResponse] = {}
        self.requests: list[tuple[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
                owner.requests.append((host, self.path))
                found = owner.policies.get(host) if self.path == "/.well-known/mta-sts.txt" else None
                if found is None:
                    found = PolicyResponse(b"not found", status=404)
                self.send_response(found.status)
                self.send_header("Content-Type", found.content_type)
                self.send_header("Content-Length", str(len(found.body)))
                for name, value in found.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if found.drip:
                    self.wfile.flush()
                    drip(self.connection.sendall, b"#")
                else:
                    self.wfile.write(found.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((LOCALHOST, 0), Handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- the world of test domains -------------------------------------------------------------------


@dataclass(frozen=True)
class Domain:
    mx: tuple[tuple[int, str, str], ...] = ()  # (preference, MX host, server name)
    sts_txt: tuple[str, ...] = ()
    policy: PolicyResponse | None = None
    a_record_server: str | None = None  # no MX: the domain itself is the mail server


def enforce(*mx: str, mode: str = "enforce", max_age: int = 604800) -> PolicyResponse:
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {m}" for m in mx), f"max_age: {max_age}"]
    return PolicyResponse(("\r\n".join(lines) + "\r\n").encode())


STS = ("v=STSv1; id=20240611T000000;",)

WORLD: dict[str, Domain] = {
    "good.test": Domain(mx=((10, "mx.good.test", "good"),)),
    "plain.test": Domain(mx=((10, "mx.plain.test", "plain"),)),
    "mismatch.test": Domain(mx=((10, "mx.mismatch.test", "mismatch"),)),
    "untrusted.test": Domain(mx=((10, "mx.untrusted.test", "untrusted"),)),
    "refuses.test": Domain(mx=((10, "mx.refuses.test", "refusing"),)),
    "notsmtp.test": Domain(mx=((10, "mx.notsmtp.test", "banner"),)),
    "down.test": Domain(mx=((10, "mx.down.test", "closed"),)),
    "drip.test": Domain(mx=((10, "mx.drip.test", "drip"),)),
    "implicit.test": Domain(a_record_server="good"),
    "fallback.test": Domain(mx=((10, "mx1.fallback.test", "closed"), (20, "mx2.fallback.test", "good"))),
    "backup-plain.test": Domain(mx=((10, "mx1.backup-plain.test", "good"), (20, "mx2.backup-plain.test", "plain"))),
    "mixed.test": Domain(mx=((10, "a.mixed.test", "good"), (10, "b.mixed.test", "plain"))),
    "half-down.test": Domain(mx=((10, "a.half-down.test", "good"), (10, "b.half-down.test", "closed"))),
    "half-mismatch.test": Domain(mx=((10, "a.half-mismatch.test", "good"), (10, "b.half-mismatch.test", "mismatch"))),
    # MTA-STS
    "enforce.test": Domain(mx=((10, "mx.enforce.test", "good"),), sts_txt=STS, policy=enforce("mx.enforce.test")),
    "wild.test": Domain(mx=((10, "mail.wild.test", "good"),), sts_txt=STS, policy=enforce("*.wild.test")),
    "unlisted.test": Domain(mx=((10, "mx.unlisted.test", "good"),), sts_txt=STS, policy=enforce("mx.other.test")),
    "enforce-partly.test": Domain(
        mx=((10, "mx.unlisted-first.test", "plain"), (20, "mx.enforce-partly.test", "good")),
        sts_txt=STS,
        policy=enforce("mx.enforce-partly.test"),
    ),
    "enforce-badcert.test": Domain(
        mx=((10, "mx.enforce-badcert.test", "mismatch"),), sts_txt=STS, policy=enforce("mx.enforce-badcert.test")
    ),
    "enforce-plain.test": Domain(
        mx=((10, "mx.enforce-plain.test", "plain"),), sts_txt=STS, policy=enforce("mx.enforce-plain.test")
    ),
    "testing.test": Domain(
        mx=((10, "mx.testing.test", "mismatch"),), sts_txt=STS, policy=enforce("mx.testing.test", mode="testing")
    ),
    "shortage.test": Domain(
        mx=((10, "mx.shortage.test", "good"),), sts_txt=STS, policy=enforce("mx.shortage.test", max_age=600)
    ),
    "sts-missing.test": Domain(mx=((10, "mx.sts-missing.test", "good"),), sts_txt=STS),
    "sts-redirect.test": Domain(
        mx=((10, "mx.sts-redirect.test", "good"),),
        sts_txt=STS,
        policy=PolicyResponse(b"", status=302, headers={"Location": "https://mta-sts.enforce.test/"}),
    ),
    "sts-html.test": Domain(
        mx=((10, "mx.sts-html.test", "good"),),
        sts_txt=STS,
        policy=PolicyResponse(enforce("mx.sts-html.test").body, content_type="text/html"),
    ),
    "sts-huge.test": Domain(
        mx=((10, "mx.sts-huge.test", "good"),),
        sts_txt=STS,
        policy=PolicyResponse(enforce("mx.sts-huge.test").body + b"# " + b"x" * 70_000 + b"\r\n"),
    ),
    "sts-badcert.test": Domain(
        mx=((10, "mx.sts-badcert.test", "plain"),), sts_txt=STS, policy=enforce("mx.sts-badcert.test")
    ),
    "sts-invalid.test": Domain(
        mx=((10, "mx.sts-invalid.test", "good"),),
        sts_txt=STS,
        policy=PolicyResponse(b"version: STSv2\r\nmode: enforce\r\nmx: mx.sts-invalid.test\r\nmax_age: 86400\r\n"),
    ),
    "sts-drip.test": Domain(
        mx=((10, "mx.sts-drip.test", "good"),),
        sts_txt=STS,
        policy=PolicyResponse(b"version: STSv1\r\n" * 5000, drip=True),
    ),
    "sts-two-records.test": Domain(
        mx=((10, "mx.sts-two-records.test", "plain"),),
        sts_txt=("v=STSv1; id=1;", "v=STSv1; id=2;"),
        policy=enforce("mx.sts-two-records.test"),
    ),
}
SPECIAL_DNS = {"nullmx.test": "null", "servfail.test": "servfail", "silent.test": "silent"}
# Names the HTTPS certificate does not cover: the policy host of sts-badcert.test.
NOT_IN_HTTPS_CERTIFICATE = {"mta-sts.sts-badcert.test"}


@dataclass
class MailPeers:
    ca: trustme.CA
    dns: LocalDns
    https: PolicyServer
    ports: dict[str, int]  # server name -> port
    hosts: dict[str, str]  # host name -> server name

    def client_context(self) -> ssl.SSLContext:
        """What the probe and the fetcher trust: the test CA only, host names checked."""
        context = ssl.create_default_context(cadata=self.ca.cert_pem.bytes().decode("ascii"))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def connector(self, host: str, port: int) -> tuple[str, int]:
        server = self.hosts.get(host.lower())
        if server is None:
            raise ConnectionRefusedError(f"no test peer for {host}")
        return LOCALHOST, self.ports[server]

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[MailPeers]:
        # aiosmtpd logs a traceback for every handshake a probe abandons on purpose.
        logging.getLogger("mail.log").setLevel(logging.CRITICAL)
        ca, stranger = trustme.CA(), trustme.CA()
        mx_hosts = [host for domain in WORLD.values() for _, host, _ in domain.mx]
        implicit = [name for name, domain in WORLD.items() if domain.a_record_server]
        policy_hosts = [f"mta-sts.{name}" for name, domain in WORLD.items() if domain.sts_txt]

        def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(context)
            return context

        good = server_context(ca.issue_cert(*mx_hosts, *implicit))
        wrong_name = server_context(ca.issue_cert("elsewhere.test"))
        untrusted = server_context(stranger.issue_cert("mx.untrusted.test"))
        https_context = server_context(ca.issue_cert(*(h for h in policy_hosts if h not in NOT_IN_HTTPS_CERTIFICATE)))

        controllers: list[Controller] = []
        ports: dict[str, int] = {}
        for name, tls in (("good", good), ("plain", None), ("mismatch", wrong_name), ("untrusted", untrusted)):
            port = free_port()
            kwargs: dict[str, Any] = {"tls_context": tls, "require_starttls": False} if tls else {}
            controller = Controller(Sink(), hostname=LOCALHOST, port=port, server_hostname=f"{name}.peer", **kwargs)
            controllers.append(controller)
            ports[name] = port
        refusing_port = free_port()
        controllers.append(
            _RefusingController(
                Sink(), hostname=LOCALHOST, port=refusing_port, tls_context=good, require_starttls=False
            )
        )
        ports["refusing"] = refusing_port
        plain_servers: list[socketserver.ThreadingTCPServer] = []
        for name, handler in (("banner", _BannerHandler), ("drip", _DripHandler)):
            server = socketserver.ThreadingTCPServer((LOCALHOST, 0), handler)
            server.daemon_threads = True
            ports[name] = server.server_address[1]
            plain_servers.append(server)
        with socket.socket() as closed:  # a port where nothing listens
            closed.bind((LOCALHOST, 0))
            ports["closed"] = closed.getsockname()[1]

        dns_server = LocalDns()
        https = PolicyServer(https_context)
        hosts: dict[str, str] = {}
        for name, domain in WORLD.items():
            for preference, host, server in domain.mx:
                dns_server.add(name, "MX", f"{preference} {host}.")
                dns_server.add(host, "A", LOCALHOST)
                hosts[host] = server
            if domain.a_record_server:
                dns_server.add(name, "A", LOCALHOST)
                hosts[name] = domain.a_record_server
            for record in domain.sts_txt:
                dns_server.add(f"_mta-sts.{name}", "TXT", f'"{record}"')
            if domain.sts_txt:
                hosts[f"mta-sts.{name}"] = "https"
                if domain.policy is not None:
                    https.policies[f"mta-sts.{name}"] = domain.policy
        dns_server.add("nullmx.test", "MX", "0 .")
        dns_server.servfail.add("servfail.test")
        dns_server.silent.add("silent.test")
        ports["https"] = https.port

        with ExitStack() as running:
            for controller in controllers:
                controller.start()
                running.callback(controller.stop)
            for server in plain_servers:
                threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
                running.callback(server.server_close)
                running.callback(server.shutdown)
            dns_server.start()
            running.callback(dns_server.stop)
            https.start()
            running.callback(https.stop)
            yield cls(ca=ca, dns=dns_server, https=https, ports=ports, hosts=hosts)


def outcome_of_last_drip(count_before: int) -> str:
    for _ in range(200):  # the peer notices the hang-up on its next write
        if len(DRIP_OUTCOMES) > count_before:
            return DRIP_OUTCOMES[-1]
        time.sleep(0.05)
    return "peer still dripping"
