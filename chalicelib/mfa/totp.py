"""TOTP (RFC 6238, 30-second steps, 6 digits) with pyotp: new seeds, the enrolment QR code, and
which time step a code matches. A code is accepted for the current step and one either side
(clock drift); the caller then uses that step up with a conditional update, so that no code
works twice (ASVS 6.5.1, ``FactorStore.use_step``)."""

from __future__ import annotations

import re

import pyotp
import segno

from chalicelib import clock

DIGITS = 6
STEP_SECONDS = 30
VALID_WINDOW = 1  # steps either side of now
_CODE = re.compile(r"^[0-9]{6}$")


def new_seed() -> str:
    """A new base32 seed of 160 bits (pyotp's ``random_base32``, from ``secrets``)."""
    return pyotp.random_base32()


def grouped(seed: str) -> str:
    """The seed for typing by hand, in groups of four."""
    return " ".join(seed[i : i + 4] for i in range(0, len(seed), 4))


def provisioning_uri(seed: str, account_name: str, issuer: str) -> str:
    return pyotp.TOTP(seed, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account_name, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The QR code as an inline ``<svg>`` (presentation attributes only: no script, no style element)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4))


def clean_code(raw: str) -> str | None:
    """Six digits (spaces and hyphens dropped), or None when it is not shaped like a TOTP code."""
    code = re.sub(r"[\s-]", "", raw)
    return code if _CODE.match(code) else None


def matched_step(seed: str, code: str) -> int | None:
    """The time step ``code`` is right for (now, or one step either side), or None."""
    try:
        return int(
            pyotp.TOTP(seed, digits=DIGITS, interval=STEP_SECONDS).verify_and_get_timecode(
                code, for_time=clock.epoch_seconds(), valid_window=VALID_WINDOW
            )
        )
    except pyotp.exceptions.OTPVerificationError:
        return None
