"""Domain errors.

Every message here is shown to people as it is, so it never holds a password,
token, message text or any other PHI. HTTP status codes are assigned in one place:
``chalicelib/web/http/status.py``.
"""

from __future__ import annotations


class SealpostError(Exception):
    """Base of every error whose message is safe to show to the person asking."""

    code = "error"
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.public_message = message or self.default_message
        self.field = field
        super().__init__(self.public_message)

    @property
    def problems(self) -> tuple[SealpostError, ...]:
        """Each problem to show at its field: this error alone, except for ``ManyProblems``."""
        return (self,)


# --- the request itself -------------------------------------------------------


class InvalidRequest(SealpostError):
    code = "invalid_request"
    default_message = "The request is not valid."


class ManyProblems(InvalidRequest):
    """Several mistakes in one form or request, all shown at once (each at its own field)."""

    def __init__(self, problems: list[SealpostError]) -> None:
        super().__init__(
            problems[0].public_message if len(problems) == 1 else "Please correct the problems below.",
            field=problems[0].field,
        )
        self._problems = tuple(problems)

    @property
    def problems(self) -> tuple[SealpostError, ...]:
        return self._problems


class UnsupportedMediaType(SealpostError):
    code = "unsupported_media_type"
    default_message = "This content type is not accepted here."


class PayloadTooLarge(SealpostError):
    code = "payload_too_large"
    default_message = "The request is too large."


class NotFound(SealpostError):
    code = "not_found"
    default_message = "There is nothing here."


# --- who is asking ------------------------------------------------------------


class AuthenticationRequired(SealpostError):
    code = "authentication_required"
    default_message = "Please sign in."


class SessionExpired(AuthenticationRequired):
    code = "session_expired"
    default_message = "Your session has ended. Please sign in again."


class InvalidCredentials(SealpostError):
    """Wrong user name or password. Deliberately says nothing about which."""

    code = "invalid_credentials"
    default_message = "The user name or password is not correct."

    def __init__(self, warning: str | None = None, message: str | None = None, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.warning = warning


class AccountLocked(SealpostError):
    code = "account_locked"
    default_message = (
        "This account is locked after too many failed sign-in attempts. "
        "Please contact the associate with whom you regularly conduct business to unlock it."
    )


class TooManyAttempts(SealpostError):
    """Too many failed attempts from one network address (``accounts.source_budget``): refused before
    any password or link is checked, so the accounts it guessed at are not locked by it."""

    code = "too_many_attempts"
    default_message = "There have been too many failed attempts from your network."

    def __init__(self, retry_after_seconds: int) -> None:
        minutes = max(1, -(-retry_after_seconds // 60))
        wait = "a minute" if minutes == 1 else f"{minutes} minutes"
        super().__init__(f"{self.default_message} Please wait {wait} and try again.")
        self.retry_after_seconds = retry_after_seconds


class AccountClosed(SealpostError):
    code = "account_closed"
    default_message = (
        "This account has been closed. Please contact the associate with whom you regularly conduct business."
    )


class AccessDenied(SealpostError):
    code = "access_denied"
    default_message = "You do not have access to this."


class CrossSiteRequestRejected(SealpostError):
    code = "csrf_rejected"
    default_message = "This form has expired or did not come from this site. Please reload the page and try again."


class FederatedSignInRefused(SealpostError):
    """A sign-in through an OpenID provider was refused (chalicelib/identity). The reason is in the
    audit record only; the person sees one answer for every reason."""

    code = "federated_signin_refused"
    default_message = (
        "The sign-in through your organization's sign-in service did not succeed. Please start again, or "
        "contact your administrator if it keeps happening."
    )

    def __init__(self, reason: str, provider_error: str | None = None) -> None:
        super().__init__()
        self.reason = reason
        self.provider_error = provider_error  # an OAuth error code the provider answered, for the audit


class IdTokenRefused(FederatedSignInRefused):
    """An ID token failed one check (``check``: the name of the check, never the token's text)."""

    def __init__(self, check: str) -> None:
        super().__init__(f"id_token_refused:{check}")
        self.check = check


# --- what is asked ------------------------------------------------------------


class Conflict(SealpostError):
    code = "conflict"
    default_message = "This conflicts with the current state."


class AccountAlreadyExists(Conflict):
    code = "account_exists"
    default_message = "An account for this mail address already exists."


class PasswordRejected(SealpostError):
    code = "password_rejected"
    default_message = "This password cannot be used."

    def __init__(self, message: str) -> None:
        super().__init__(message, field="password")


class LinkNotValid(SealpostError):
    code = "link_not_valid"
    default_message = "This link has expired or has already been used. Ask for a new one below."


# --- our side -----------------------------------------------------------------


class ServiceUnavailable(SealpostError):
    code = "service_unavailable"
    default_message = "The service is busy or unavailable. Please try again in a moment."
    retry_after_seconds = 5


class AuditUnavailable(ServiceUnavailable):
    """The audit record could not be written, so the operation was not done (fail closed)."""

    code = "audit_unavailable"
    default_message = "The action was not carried out because it could not be recorded. Please try again shortly."


class IdentityProviderUnavailable(ServiceUnavailable):
    """The OpenID provider could not be reached or answered out of turn (nothing of it is shown)."""

    code = "identity_provider_unavailable"
    default_message = "The sign-in service of your organization cannot be reached. Please try again in a moment."


class ConfigurationError(ServiceUnavailable):
    """The deployment's settings are missing or wrong. The message names the setting only."""

    code = "configuration_error"
    default_message = "The service is not configured correctly."
