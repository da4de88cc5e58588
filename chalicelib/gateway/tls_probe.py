"""STARTTLS probe of one mail server (MX host), with certificate verification.

The probe connects, says EHLO, and asks for STARTTLS with the given SSL context
(certificate chain verified, host name checked against the MX name). It never sends
a mail: EHLO, STARTTLS, EHLO, QUIT. If verification fails it tries once more without
verification, to tell "TLS with a certificate we cannot trust" from "no TLS at all".

Each read has a timeout and the whole conversation a deadline (a server dripping an
endless reply is cut off). Where the MX host is reached is injectable (``connector``),
so tests point ``mx.<test domain>`` at a local port while the certificate is still
checked against the MX name. Every failure becomes a result with a reason, never an
exception.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType

Connector = Callable[[str, int], tuple[str, int]]
"""Maps (host, port) to the (address, port) to connect to."""


def direct(host: str, port: int) -> tuple[str, int]:
    return host, port


class ProbeOutcome(StrEnum):
    VERIFIED = "verified"  # STARTTLS with a certificate valid for the MX host name
    UNVERIFIED = "unverified"  # STARTTLS works, but only without verifying the certificate
    NO_STARTTLS = "no_starttls"  # the server does not offer STARTTLS
    STARTTLS_FAILED = "starttls_failed"  # offered, but it was refused or no TLS session could be made
    UNREACHABLE = "unreachable"  # no connection (refused, timed out, no address)
    PROTOCOL_ERROR = "protocol_error"  # connected, but not to a working SMTP server


class CertificateProblem(StrEnum):
    NAME_MISMATCH = "name_mismatch"
    UNTRUSTED = "untrusted"
    EXPIRED = "expired"
    OTHER = "other"


_PROBLEM_TEXT = {
    CertificateProblem.NAME_MISMATCH: "its certificate does not name the mail server",
    CertificateProblem.UNTRUSTED: "its certificate is not issued by a trusted authority",
    CertificateProblem.EXPIRED: "its certificate has expired or is not yet valid",
    CertificateProblem.OTHER: "its certificate could not be verified",
}


@dataclass(frozen=True)
class ProbeResult:
    host: str
    outcome: ProbeOutcome
    detail: str
    certificate_problem: CertificateProblem | None = None
    tls_version: str | None = None

    @property
    def answered(self) -> bool:
        """Whether the server told us anything about its TLS (it was reached and spoke SMTP)."""
        return self.outcome not in (ProbeOutcome.UNREACHABLE, ProbeOutcome.PROTOCOL_ERROR)


def _problem(error: ssl.SSLCertVerificationError) -> CertificateProblem:
    code = getattr(error, "verify_code", None)
    if code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
        return CertificateProblem.NAME_MISMATCH
    if code in (2, 18, 19, 20, 21, 27):  # unable to get issuer, self-signed, untrusted chain
        return CertificateProblem.UNTRUSTED
    if code in (9, 10):  # not yet valid, expired
        return CertificateProblem.EXPIRED
    return CertificateProblem.OTHER


def verifying_context() -> ssl.SSLContext:
    """The system's trust store, host names checked, TLS 1.2 or newer."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _unverified_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only to learn whether TLS works at all; never trusted
    return context


class Watchdog:
    """Cuts a connection that outlasts ``seconds`` in total, however slowly its peer drips data.

    Socket timeouts bound each read only; a peer sending a line every few seconds forever
    would hold the caller forever without this.
    """

    def __init__(self, seconds: float, current: Callable[[], socket.socket | None]) -> None:
        self._current = current
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self.fired = False

    def _cut(self) -> None:
        self.fired = True
        sock = self._current()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._timer.cancel()


class _ProbeSMTP(smtplib.SMTP):
    """smtplib's client, connecting where the connector says while keeping the MX name for TLS."""

    def __init__(self, connector: Connector, timeout: float, local_hostname: str) -> None:
        self._connector = connector
        super().__init__(timeout=timeout, local_hostname=local_hostname)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        address, real_port = self._connector(host, port)
        return socket.create_connection((address, real_port), timeout)

    def open(self, host: str, port: int) -> tuple[int, bytes]:
        self._host = host  # the name STARTTLS verifies the certificate against
        return self.connect(host, port)


class _CertificateRejected(Exception):
    def __init__(self, problem: CertificateProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class StartTlsProbe:
    def __init__(
        self,
        *,
        context: ssl.SSLContext | None = None,
        connector: Connector = direct,
        port: int = 25,
        timeout: float = 10.0,
        deadline: float = 30.0,
        local_hostname: str = "localhost",
    ) -> None:
        self._context = context if context is not None else verifying_context()
        self._connector = connector
        self._port = port
        self._timeout = timeout
        self._deadline = deadline
        self._local_hostname = local_hostname

    def probe(self, host: str) -> ProbeResult:
        """Probe ``host`` (an MX host name). Never raises."""
        try:
            return self._session(host, self._context, verified=True)
        except _CertificateRejected as rejected:
            problem = rejected.problem
        except Exception:  # fail closed: anything unforeseen says nothing good about TLS
            return ProbeResult(host, ProbeOutcome.PROTOCOL_ERROR, f"{host} could not be probed")
        try:
            retry = self._session(host, _unverified_context(), verified=False)
        except Exception:
            return ProbeResult(host, ProbeOutcome.PROTOCOL_ERROR, f"{host} could not be probed", problem)
        if retry.outcome is not ProbeOutcome.UNVERIFIED:
            return ProbeResult(host, retry.outcome, retry.detail, problem)
        return ProbeResult(
            host,
            ProbeOutcome.UNVERIFIED,
            f"{host} offers encryption (STARTTLS), but {_PROBLEM_TEXT[problem]}",
            problem,
            retry.tls_version,
        )

    def _session(self, host: str, context: ssl.SSLContext, *, verified: bool) -> ProbeResult:
        client = _ProbeSMTP(self._connector, self._timeout, self._local_hostname)
        watchdog = Watchdog(self._deadline, lambda: client.sock)
        try:
            with watchdog:
                result = self._converse(client, host, context, verified=verified)
            if watchdog.fired:
                return ProbeResult(host, ProbeOutcome.PROTOCOL_ERROR, f"{host} took too long to answer")
            return result
        finally:
            _close(client)

    def _converse(self, client: _ProbeSMTP, host: str, context: ssl.SSLContext, *, verified: bool) -> ProbeResult:
        try:
            code, _ = client.open(host, self._port)
        except (OSError, smtplib.SMTPException):
            return ProbeResult(host, ProbeOutcome.UNREACHABLE, f"{host} could not be reached")
        if code != 220:
            return ProbeResult(host, ProbeOutcome.PROTOCOL_ERROR, f"{host} does not accept mail now ({code})")
        try:
            code, _ = client.ehlo()
        except (OSError, smtplib.SMTPException):
            return ProbeResult(host, ProbeOutcome.PROTOCOL_ERROR, f"{host} broke off the conversation")
        if code != 250:
            return ProbeResult(host, ProbeOutcome.PROTOCOL_ERROR, f"{host} did not accept EHLO ({code})")
        if not client.has_extn("starttls"):
            return ProbeResult(host, ProbeOutcome.NO_STARTTLS, f"{host} does not offer encryption (STARTTLS)")
        try:
            client.starttls(context=context)
        except ssl.SSLCertVerificationError as error:
            raise _CertificateRejected(_problem(error)) from None
        except smtplib.SMTPResponseException as error:
            return ProbeResult(host, ProbeOutcome.STARTTLS_FAILED, f"{host} refused STARTTLS ({error.smtp_code})")
        except (OSError, smtplib.SMTPException):  # ssl.SSLError is an OSError
            return ProbeResult(
                host, ProbeOutcome.STARTTLS_FAILED, f"{host} offers STARTTLS, but no TLS session could be made"
            )
        try:
            code, _ = client.ehlo()
        except (OSError, smtplib.SMTPException):
            code = 0
        if code != 250:
            return ProbeResult(host, ProbeOutcome.STARTTLS_FAILED, f"{host} did not continue after STARTTLS")
        version = client.sock.version() if isinstance(client.sock, ssl.SSLSocket) else None
        if verified:
            return ProbeResult(
                host,
                ProbeOutcome.VERIFIED,
                f"{host} offers encryption (STARTTLS, {version}) with a valid certificate",
                tls_version=version,
            )
        return ProbeResult(host, ProbeOutcome.UNVERIFIED, f"{host} offers STARTTLS", tls_version=version)


def _close(client: smtplib.SMTP) -> None:
    try:
        if client.sock is not None:
            client.quit()
    except (OSError, smtplib.SMTPException):
        pass
    finally:
        client.close()
