"""The one place where domain errors become HTTP status codes."""

from __future__ import annotations

from chalicelib import errors
from chalicelib.accounts.store import StaleAccount
from chalicelib.messaging.encryption import IntegrityError

_STATUS: dict[type[errors.SealpostError], int] = {
    errors.InvalidRequest: 400,
    errors.PasswordRejected: 400,
    errors.AuthenticationRequired: 401,
    errors.InvalidCredentials: 401,
    # Same status as a wrong password: a lock must not tell an attacker the account exists.
    errors.AccountLocked: 401,
    errors.FederatedSignInRefused: 403,
    errors.AccountClosed: 403,
    errors.AccessDenied: 403,
    errors.CrossSiteRequestRejected: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.AccountAlreadyExists: 409,
    StaleAccount: 409,
    # The stored ciphertext conflicts with its record: nothing the user can fix, nothing shown.
    IntegrityError: 409,
    errors.LinkNotValid: 410,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.TooManyAttempts: 429,
    errors.ServiceUnavailable: 503,
}


def status_for(error: errors.SealpostError) -> int:
    for cls in type(error).__mro__:
        status = _STATUS.get(cls)
        if status is not None:
            return status
    return 400


def retry_after(error: errors.SealpostError) -> int | None:
    if isinstance(error, errors.ServiceUnavailable | errors.TooManyAttempts):
        return error.retry_after_seconds
    return None
