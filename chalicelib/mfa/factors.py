"""What a mail address has enrolled as its second factor: one item per address in the accounts table.

``FACTORS#<email>`` holds:

- ``totp_seed`` (binary): the TOTP seed, sealed (``mfa.sealed``), never in plaintext; ``totp_last_step``,
  the last time step a code was accepted for (a code is usable once, ASVS 6.5.1); ``totp_enrolled_at``.
- ``pending_seed`` (binary): a sealed seed being set up, not yet confirmed by a code.
- ``recovery``: a string set of the SHA-256 hashes of the unused recovery codes (``mfa.recovery``).
- ``recovery_due``: the recovery codes of a new enrolment are still to be shown (once).
- ``passkeys``: a list of registered passkeys and security keys (``mfa.passkeys.Passkey.to_item``:
  credential id, public key, sign count, transports, created and last used). A use updates its entry
  by index under a condition on its credential id and old sign count, so a cloned key or a
  concurrent use cannot both succeed.

Keyed by mail address, not account: in the ``thread`` credential scope one enrolment covers every
thread account of that address. The item has no ``email`` attribute, so the accounts' address index
never lists it. Every change that must happen once is a conditional update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib import clock
from chalicelib.dynamo import TableStore, as_int, is_conditional_failure, unavailable_on_outage

PREFIX = "FACTORS#"
MAX_PASSKEYS = 10
# The condition that some factor which signs in on its own is enrolled (recovery codes need one).
_HAS_FACTOR = "(attribute_exists(totp_seed) OR size(passkeys) > :none)"


def _bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    return bytes(getattr(value, "value", value))  # boto3 gives a Binary


@dataclass(frozen=True)
class FactorSet:
    email: str
    totp_seed: bytes | None = field(default=None, repr=False)
    totp_last_step: int = 0
    totp_enrolled_at: str = ""
    pending_seed: bytes | None = field(default=None, repr=False)
    recovery: frozenset[str] = field(default=frozenset(), repr=False)
    recovery_due: bool = False
    passkeys: tuple[dict[str, Any], ...] = ()

    @property
    def has_totp(self) -> bool:
        return self.totp_seed is not None

    @property
    def has_factor(self) -> bool:
        """A factor that signs in on its own: a TOTP app or a passkey (recovery codes back them up)."""
        return self.has_totp or bool(self.passkeys)

    @property
    def recovery_left(self) -> int:
        return len(self.recovery)

    def passkey_index(self, credential_id: str) -> int | None:
        """Where the passkey ``credential_id`` is in the stored list (its updates name the index)."""
        return next((i for i, item in enumerate(self.passkeys) if item.get("credential_id") == credential_id), None)

    @classmethod
    def from_item(cls, email: str, item: dict[str, Any] | None) -> FactorSet:
        if not item:
            return cls(email)
        return cls(
            email=email,
            totp_seed=_bytes(item.get("totp_seed")),
            totp_last_step=as_int(item.get("totp_last_step")),
            totp_enrolled_at=item.get("totp_enrolled_at", ""),
            pending_seed=_bytes(item.get("pending_seed")),
            recovery=frozenset(item.get("recovery") or ()),
            recovery_due=item.get("recovery_due") is True,
            passkeys=tuple(item.get("passkeys") or ()),
        )


@dataclass(frozen=True)
class FactorStore(TableStore):
    """The ``FACTORS#`` items of the accounts table."""

    @staticmethod
    def key(email: str) -> dict[str, str]:
        return {"pk": PREFIX + email.lower()}

    def get(self, email: str) -> FactorSet:
        with unavailable_on_outage("accounts"):
            item = self.table.get_item(Key=self.key(email), ConsistentRead=True).get("Item")
        return FactorSet.from_item(email.lower(), item)

    def has_factor(self, email: str) -> bool:
        return self.get(email).has_factor

    def _update(self, email: str, expression: str, values: dict[str, Any] | None = None, condition: str = "") -> bool:
        kwargs: dict[str, Any] = {"Key": self.key(email), "UpdateExpression": expression}
        if values:
            kwargs["ExpressionAttributeValues"] = values
        if condition:
            kwargs["ConditionExpression"] = condition
        with unavailable_on_outage("accounts"):
            try:
                self.table.update_item(**kwargs)
            except Exception as exc:
                if is_conditional_failure(exc):
                    return False
                raise
        return True

    def offer_totp(self, email: str, sealed_seed: bytes) -> None:
        """Keep a new sealed seed until a code from it confirms it (a newer offer replaces it)."""
        self._update(email, "SET kind = :kind, pending_seed = :seed", {":kind": "factors", ":seed": sealed_seed})

    def confirm_totp(self, email: str, pending: bytes, step: int) -> bool:
        """Make the offered seed the TOTP factor, its confirming code's step used up; older recovery codes
        stop working and new ones are due. False when another confirmation or offer came first."""
        return self._update(
            email,
            "SET totp_seed = :seed, totp_last_step = :step, totp_enrolled_at = :now, recovery_due = :due "
            "REMOVE pending_seed, recovery",
            {":seed": pending, ":step": step, ":now": clock.iso(clock.now()), ":due": True},
            "pending_seed = :seed",
        )

    def use_step(self, email: str, step: int) -> bool:
        """Use up TOTP step ``step``: True only for a step later than the last one used (no replay)."""
        return self._update(
            email,
            "SET totp_last_step = :step",
            {":step": step},
            "attribute_exists(totp_seed) AND totp_last_step < :step",
        )

    def use_recovery(self, email: str, code_hash: str) -> bool:
        """Use up one recovery code: a conditional DELETE from the set, so each code works once."""
        return self._update(
            email, "DELETE recovery :one", {":one": {code_hash}, ":h": code_hash}, "contains(recovery, :h)"
        )

    def replace_recovery(self, email: str, recovery_hashes: set[str]) -> bool:
        """New recovery codes (the old ones stop working); only where a factor is enrolled."""
        return self._update(email, "SET recovery = :codes", {":codes": recovery_hashes, ":none": 0}, _HAS_FACTOR)

    def add_passkey(self, email: str, passkey: dict[str, Any], *, first_factor: bool) -> bool:
        """Register a passkey; with ``first_factor`` the recovery codes become due. False when the
        address already has ``MAX_PASSKEYS``."""
        expression = "SET kind = :kind, passkeys = list_append(if_not_exists(passkeys, :empty), :new)"
        values: dict[str, Any] = {":kind": "factors", ":empty": [], ":new": [passkey], ":max": MAX_PASSKEYS}
        if first_factor:
            expression += ", recovery_due = :due"
            values[":due"] = True
        return self._update(email, expression, values, "attribute_not_exists(passkeys) OR size(passkeys) < :max")

    def record_passkey_use(self, email: str, index: int, credential_id: str, old_count: int, new_count: int) -> bool:
        """Store a passkey's new sign count and use time, if its entry is still the one that was checked
        (same credential, same old count): of two uses with one count, only one succeeds."""
        return self._update(
            email,
            f"SET passkeys[{index}].sign_count = :count, passkeys[{index}].last_used_at = :now",
            {":count": new_count, ":now": clock.epoch_seconds(), ":id": credential_id, ":old": old_count},
            f"passkeys[{index}].credential_id = :id AND passkeys[{index}].sign_count = :old",
        )

    def remove_passkey(self, email: str, index: int, credential_id: str) -> bool:
        """Forget one passkey (the entry at ``index``, if it is still ``credential_id``)."""
        return self._update(
            email, f"REMOVE passkeys[{index}]", {":id": credential_id}, f"passkeys[{index}].credential_id = :id"
        )

    def take_recovery_due(self, email: str) -> bool:
        """True once after an enrolment: the recovery codes are to be shown now (and never again)."""
        return self._update(email, "REMOVE recovery_due", {":due": True}, "recovery_due = :due")

    def remove(self, email: str) -> bool:
        """Forget every factor of the address (its next sign-in enrols again); False if there was none.
        An update, not a delete: the API function's role may not delete accounts-table items."""
        return self._update(
            email,
            "REMOVE totp_seed, totp_last_step, totp_enrolled_at, pending_seed, recovery, recovery_due, passkeys",
            condition="attribute_exists(pk)",
        )
