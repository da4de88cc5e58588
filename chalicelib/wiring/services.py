"""Wiring: builds the services for the current settings, with lazily created AWS clients."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from chalicelib import aws_clients
from chalicelib.accounts.admin import AccountAdmin
from chalicelib.accounts.credentials import CredentialService
from chalicelib.accounts.password_reset import PasswordReset
from chalicelib.accounts.sessions import SessionService
from chalicelib.accounts.signin import SignInService
from chalicelib.accounts.store import AccountRepository
from chalicelib.accounts.tokens import TokenStore
from chalicelib.audit.digest import DigestWriter, SigningKey
from chalicelib.audit.records import AuditLog
from chalicelib.audit.store import AuditStore
from chalicelib.gateway.delivery_events import DeliveryEvents
from chalicelib.gateway.idempotency import Idempotency
from chalicelib.gateway.router import InboundRouter
from chalicelib.gateway.tls_decision import TlsDecisions, from_settings
from chalicelib.mail.mailer import Mailer
from chalicelib.mail.notices import Notifier
from chalicelib.mail.secure_mail import TlsDelivery
from chalicelib.messaging.domain_filter import DomainFilter
from chalicelib.messaging.downloads import DownloadService
from chalicelib.messaging.encryption import Encryptor
from chalicelib.messaging.message_store import MessageStore
from chalicelib.messaging.model import ThreadRepository
from chalicelib.messaging.pickup import PickupService
from chalicelib.messaging.service import MessagingService
from chalicelib.messaging.uploads import UploadService
from chalicelib.oversight.mail_policy import Oversight
from chalicelib.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    audit: AuditLog
    accounts: AccountRepository
    tokens: TokenStore
    mailer: Mailer
    sessions: SessionService
    signin: SignInService
    admin: AccountAdmin
    credentials: CredentialService
    threads: ThreadRepository
    messaging: MessagingService
    downloads: DownloadService
    uploads: UploadService
    pickup: PickupService
    password_reset: PasswordReset
    gateway: InboundRouter
    delivery_events: DeliveryEvents
    tls_decisions: TlsDecisions
    audit_digests: DigestWriter
    oversight: Oversight


def build(settings: Settings) -> Services:
    region = settings.region
    audit = AuditLog(settings.audit_bucket, settings.kms_key_arn, lambda: aws_clients.s3(region))
    accounts = AccountRepository(lambda: aws_clients.dynamodb_table(settings.accounts_table, region))
    tokens = TokenStore(lambda: aws_clients.dynamodb_table(settings.tokens_table, region))
    mailer = Mailer(settings.mail_from, settings.plan_name, lambda: aws_clients.sesv2(region))
    sessions = SessionService(
        settings, lambda: aws_clients.dynamodb_table(settings.sessions_table, region), accounts, audit
    )
    notifier = Notifier(settings, mailer)
    admin = AccountAdmin(settings, accounts, tokens, notifier, audit)
    threads = ThreadRepository(lambda: aws_clients.dynamodb_table(settings.threads_table, region))
    uploads = UploadService(
        settings.staging_bucket,
        settings.kms_key_arn,
        settings.max_attachment_bytes,
        lambda: aws_clients.s3_presigner(region),
    )
    credentials = CredentialService(settings, accounts, tokens, sessions, notifier, audit)
    signin = SignInService(settings, accounts, sessions, audit)
    pickup = PickupService(settings, accounts, threads, tokens, credentials, signin, notifier, audit)
    tls_delivery = TlsDelivery(settings, mailer)
    messaging = MessagingService(
        settings,
        accounts,
        threads,
        MessageStore(settings.messages_bucket, settings.kms_key_arn, lambda: aws_clients.s3(region)),
        Encryptor(settings.kms_key_arn, settings.deployment),
        uploads,
        admin,
        DomainFilter(settings, accounts, threads, notifier, audit),
        notifier,
        pickup,
        audit,
        tls_delivery,
    )
    idempotency = Idempotency(lambda: aws_clients.dynamodb_table(settings.gateway_table, region))
    tls_decisions = from_settings(settings)
    return Services(
        settings=settings,
        audit=audit,
        accounts=accounts,
        tokens=tokens,
        mailer=mailer,
        sessions=sessions,
        signin=signin,
        admin=admin,
        credentials=credentials,
        threads=threads,
        messaging=messaging,
        downloads=DownloadService(settings, messaging, lambda: aws_clients.s3_presigner(region)),
        uploads=uploads,
        pickup=pickup,
        password_reset=PasswordReset(settings, accounts, tokens, credentials, notifier, audit),
        gateway=InboundRouter(
            settings,
            accounts,
            threads,
            messaging,
            pickup,
            tls_decisions,
            tls_delivery,
            mailer,
            idempotency,
            lambda: aws_clients.s3(region),
            audit,
        ),
        delivery_events=DeliveryEvents(accounts, threads, pickup, idempotency, audit),
        tls_decisions=tls_decisions,
        audit_digests=DigestWriter(
            AuditStore(settings.audit_bucket, lambda: aws_clients.s3(region)),
            SigningKey(settings.audit_signing_key_arn, lambda: aws_clients.kms(region)),
            data_key_arn=settings.kms_key_arn,
            period_minutes=settings.audit_digest_minutes,
            audit=audit,
        ),
        oversight=Oversight(
            admin,
            threads,
            lambda: aws_clients.dynamodb_table(settings.gateway_table, region),
            settings.strikes_before_termination,
            audit,
        ),
    )


_lock = threading.Lock()
_built: dict[Settings, Services] = {}


def current() -> Services:
    """The services for the settings in the environment right now (built once per distinct settings)."""
    settings = Settings.from_env()
    with _lock:
        services = _built.get(settings)
        if services is None:
            services = build(settings)
            _built[settings] = services
        return services


def reset() -> None:
    with _lock:
        _built.clear()
    aws_clients.reset()
