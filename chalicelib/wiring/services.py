"""Builds the services for the current settings, with lazily created AWS clients.

Nothing here touches AWS: each repository and store gets a factory that makes its boto3
client or table on first use (``chalicelib/aws_clients.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib import aws_clients
from chalicelib.accounts.admin import AccountAdmin
from chalicelib.accounts.associates import AssociateAccounts
from chalicelib.accounts.break_glass import BreakGlass
from chalicelib.accounts.credentials import CredentialService
from chalicelib.accounts.directory import AccountDirectory
from chalicelib.accounts.password_reset import AccountMailQueue, PasswordReset
from chalicelib.accounts.reset_mailer import PasswordResetMailer
from chalicelib.accounts.sessions import SessionService
from chalicelib.accounts.signin import SignInService
from chalicelib.accounts.source_budget import SourceBudget
from chalicelib.accounts.store import AccountRepository
from chalicelib.accounts.tokens import TokenStore
from chalicelib.audit.digest import DigestWriter, SigningKey
from chalicelib.audit.records import AuditLog
from chalicelib.audit.store import AuditStore
from chalicelib.gateway.delivery_events import DeliveryEvents
from chalicelib.gateway.idempotency import Idempotency
from chalicelib.gateway.mail_threads import MailThreads
from chalicelib.gateway.router import InboundRouter
from chalicelib.gateway.tls_decision import TlsDecisions, from_settings
from chalicelib.identity.federation import FederatedSignIn
from chalicelib.mail.mailer import Mailer
from chalicelib.mail.notices import Notifier
from chalicelib.mail.secure_mail import TlsDelivery
from chalicelib.messaging.access import ThreadAccess
from chalicelib.messaging.delivery import MessageDelivery
from chalicelib.messaging.domain_filter import DomainFilter
from chalicelib.messaging.downloads import DownloadService
from chalicelib.messaging.encryption import Encryptor
from chalicelib.messaging.message_store import MessageStore
from chalicelib.messaging.participants import Participants
from chalicelib.messaging.pickup import PickupService
from chalicelib.messaging.reader import MessageReader
from chalicelib.messaging.sender import MessageSender
from chalicelib.messaging.thread_store import ThreadRepository
from chalicelib.messaging.uploads import UploadService
from chalicelib.messaging.vault import MessageVault
from chalicelib.mfa.factors import FactorStore
from chalicelib.mfa.passkey_factor import PasskeyFactor
from chalicelib.mfa.sealed import SeedSealer
from chalicelib.mfa.second_factor import SecondFactorService
from chalicelib.oversight.mail_policy import Oversight
from chalicelib.settings import Settings

TableFactory = Callable[[], Any]


@dataclass(frozen=True)
class Services:
    settings: Settings
    audit: AuditLog
    accounts: AccountRepository
    tokens: TokenStore
    notifier: Notifier
    sessions: SessionService
    signin: SignInService
    federation: FederatedSignIn  # sign-in through the OpenID providers (chalicelib/identity)
    source_budget: SourceBudget  # the failure budget of a request's source address, before any check
    admin: AccountAdmin
    directory: AccountDirectory
    associates: AssociateAccounts  # administrators manage associate accounts in the portal
    break_glass: BreakGlass
    credentials: CredentialService
    password_reset: PasswordReset
    reset_mailer: PasswordResetMailer  # send_account_mail: the forgot-password queue's worker
    threads: ThreadRepository
    vault: MessageVault
    sender: MessageSender
    reader: MessageReader
    domain_filter: DomainFilter
    downloads: DownloadService
    uploads: UploadService
    pickup: PickupService
    delivery: MessageDelivery
    mail_threads: MailThreads
    gateway: InboundRouter
    delivery_events: DeliveryEvents
    tls_decisions: TlsDecisions
    audit_digests: DigestWriter
    oversight: Oversight
    second_factor: SecondFactorService
    passkeys: PasskeyFactor  # passkeys and security keys beside the TOTP app (chalicelib/mfa/passkey_factor.py)


def build(settings: Settings) -> Services:
    region = settings.region

    def table(name: str) -> TableFactory:
        return lambda: aws_clients.dynamodb_table(name, region)

    s3 = lambda: aws_clients.s3(region)  # noqa: E731 - a factory, called on first use
    audit = AuditLog(settings.audit_bucket, settings.kms_key_arn, s3)
    accounts = AccountRepository(table(settings.accounts_table))
    tokens = TokenStore(table(settings.tokens_table))
    threads = ThreadRepository(table(settings.threads_table))
    notifier = Notifier(settings, Mailer(settings.mail_from, settings.plan_name, lambda: aws_clients.sesv2(region)))
    factors = FactorStore(table(settings.accounts_table))
    sessions = SessionService(settings, table(settings.sessions_table), accounts, audit, factors=factors)
    signin = SignInService(settings, accounts, sessions, audit)
    admin = AccountAdmin(settings, accounts, tokens, notifier, audit, sessions)
    directory = AccountDirectory(settings, accounts, tokens, notifier, audit)
    credentials = CredentialService(settings, accounts, tokens, sessions, notifier, audit)
    presigner = lambda: aws_clients.s3_presigner(region)  # noqa: E731
    uploads = UploadService(settings.staging_bucket, settings.kms_key_arn, settings.max_attachment_bytes, presigner)
    vault = MessageVault(
        Encryptor(settings.kms_key_arn, settings.deployment),
        MessageStore(settings.messages_bucket, settings.kms_key_arn, s3),
    )
    access = ThreadAccess(threads, audit)
    pickup = PickupService(settings, accounts, threads, tokens, credentials, signin, notifier, audit)
    secure_mail = TlsDelivery(settings, notifier.mailer)
    delivery = MessageDelivery(threads, pickup, notifier, secure_mail, audit)
    participants = Participants(settings, accounts, admin)
    domain_filter = DomainFilter(settings, accounts, threads, notifier, audit)
    sender = MessageSender(
        settings, accounts, threads, tokens, vault, uploads, participants, domain_filter, access, delivery, audit
    )
    reader = MessageReader(accounts, threads, vault, access, audit)
    mail_threads = MailThreads(accounts, participants, sender)
    idempotency = Idempotency(table(settings.gateway_table))
    tls_decisions = from_settings(settings)
    sealer = SeedSealer(settings.kms_key_arn, settings.deployment)
    second_factor = SecondFactorService(settings, accounts, factors, sealer, sessions, signin, notifier, audit)
    return Services(
        settings=settings,
        audit=audit,
        accounts=accounts,
        tokens=tokens,
        notifier=notifier,
        sessions=sessions,
        signin=signin,
        federation=FederatedSignIn.build(
            settings,
            accounts,
            signin,
            audit,
            table(settings.sessions_table),
            lambda: aws_clients.secretsmanager(region),
        ),
        admin=admin,
        directory=directory,
        associates=AssociateAccounts(directory, audit),
        break_glass=BreakGlass(directory),
        credentials=credentials,
        password_reset=PasswordReset(
            settings,
            accounts,
            tokens,
            credentials,
            AccountMailQueue(settings.account_mail_queue, lambda: aws_clients.client("sqs", region)),
            audit,
        ),
        reset_mailer=PasswordResetMailer(accounts, tokens, notifier, idempotency, audit),
        threads=threads,
        vault=vault,
        sender=sender,
        reader=reader,
        domain_filter=domain_filter,
        downloads=DownloadService(settings, accounts, tokens, reader, audit),
        uploads=uploads,
        pickup=pickup,
        delivery=delivery,
        mail_threads=mail_threads,
        gateway=InboundRouter(
            settings,
            accounts,
            threads,
            mail_threads,
            delivery,
            tls_decisions,
            secure_mail,
            notifier,
            idempotency,
            s3,
            audit,
        ),
        delivery_events=DeliveryEvents(accounts, threads, pickup, delivery, idempotency, audit),
        tls_decisions=tls_decisions,
        audit_digests=DigestWriter(
            AuditStore(settings.audit_bucket, s3),
            SigningKey(settings.audit_signing_key_arn, lambda: aws_clients.kms(region)),
            data_key_arn=settings.kms_key_arn,
            period_minutes=settings.audit_digest_minutes,
            audit=audit,
        ),
        source_budget=SourceBudget(settings, accounts, audit),
        second_factor=second_factor,
        passkeys=PasskeyFactor(second_factor),
        oversight=Oversight(admin, threads, table(settings.gateway_table), settings.strikes_before_termination, audit),
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
