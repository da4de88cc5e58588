"""Single-use link tokens (invitations now; pickup and password reset use the same store).

A token is 256 random bits, handed out once in a link and stored only as its
SHA-256. Each is bound to a purpose, an account and optionally a thread, expires,
and is consumed by one conditional update so that it works exactly once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chalicelib import clock
from chalicelib.dynamo import TableStore, as_int, is_conditional_failure, unavailable_on_outage
from chalicelib.errors import LinkNotValid

# token_urlsafe(32) gives 43 characters; anything else is not one of ours.
_TOKEN_LENGTH = 43
_TOKEN_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class TokenPurpose(StrEnum):
    INVITATION = "invitation"
    PICKUP = "pickup"
    RESET = "reset"
    DOWNLOAD = "download"  # a grant to stream one attachment, minted after the membership check


class TokenState(StrEnum):
    VALID = "valid"
    USED = "used"
    EXPIRED = "expired"


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_token(candidate: object) -> bool:
    return isinstance(candidate, str) and len(candidate) == _TOKEN_LENGTH and set(candidate) <= _TOKEN_ALPHABET


@dataclass(frozen=True)
class LinkToken:
    purpose: TokenPurpose
    username: str
    expires_at: int
    thread_id: str | None = None
    created_by: str | None = None
    target: str | None = None  # what in the thread it is for (a download: message and attachment ids)

    def to_item(self, secret: str) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": token_hash(secret),
            "purpose": str(self.purpose),
            "username": self.username,
            "expires_at": self.expires_at,
            "created_at": clock.epoch_seconds(),
        }
        if self.thread_id:
            item["thread_id"] = self.thread_id
        if self.created_by:
            item["created_by"] = self.created_by
        if self.target:
            item["target"] = self.target
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> LinkToken:
        return cls(
            purpose=TokenPurpose(item["purpose"]),
            username=item["username"],
            expires_at=as_int(item["expires_at"]),
            thread_id=item.get("thread_id"),
            created_by=item.get("created_by"),
            target=item.get("target"),
        )


@dataclass(frozen=True)
class IssuedToken:
    """A token not yet stored: the secret goes into the link, the item into DynamoDB."""

    secret: str
    token: LinkToken

    def item(self) -> dict[str, Any]:
        return self.token.to_item(self.secret)


@dataclass(frozen=True)
class TokenStore(TableStore):
    @staticmethod
    def issue(
        purpose: TokenPurpose,
        username: str,
        ttl_seconds: int,
        *,
        thread_id: str | None = None,
        created_by: str | None = None,
        target: str | None = None,
    ) -> IssuedToken:
        token = LinkToken(
            purpose=purpose,
            username=username,
            expires_at=clock.epoch_seconds() + ttl_seconds,
            thread_id=thread_id,
            created_by=created_by,
            target=target,
        )
        return IssuedToken(secret=secrets.token_urlsafe(32), token=token)

    def save(self, issued: IssuedToken) -> None:
        with unavailable_on_outage("tokens"):
            self.table.put_item(Item=issued.item(), ConditionExpression="attribute_not_exists(pk)")

    def find(self, secret: str, purpose: TokenPurpose) -> tuple[LinkToken, TokenState] | None:
        """The token and its state, also when used or expired (to offer a new link); None if unknown."""
        if not looks_like_token(secret):
            return None
        with unavailable_on_outage("tokens"):
            item = self.table.get_item(Key={"pk": token_hash(secret)}, ConsistentRead=True).get("Item")
        if not item or item.get("purpose") != str(purpose):
            return None
        if "used_at" in item:
            state = TokenState.USED
        elif as_int(item.get("expires_at")) <= clock.epoch_seconds():
            state = TokenState.EXPIRED
        else:
            state = TokenState.VALID
        return LinkToken.from_item(item), state

    def peek(self, secret: str, purpose: TokenPurpose) -> LinkToken:
        """The token if it is still usable, without using it up (GET must not consume: mail scanners prefetch links)."""
        found = self.find(secret, purpose)
        if found is None or found[1] is not TokenState.VALID:
            raise LinkNotValid()
        return found[0]

    def consume(self, secret: str, purpose: TokenPurpose) -> LinkToken:
        """Use the token up; exactly one caller succeeds, every other gets ``LinkNotValid``."""
        if not looks_like_token(secret):
            raise LinkNotValid()
        with unavailable_on_outage("tokens"):
            try:
                result = self.table.update_item(
                    Key={"pk": token_hash(secret)},
                    UpdateExpression="SET used_at = :now",
                    ConditionExpression=(
                        "attribute_exists(pk) AND purpose = :purpose AND attribute_not_exists(used_at) "
                        "AND expires_at > :now"
                    ),
                    ExpressionAttributeValues={":now": clock.epoch_seconds(), ":purpose": str(purpose)},
                    ReturnValues="ALL_NEW",
                )
            except Exception as exc:
                if is_conditional_failure(exc):
                    raise LinkNotValid() from None
                raise
        return LinkToken.from_item(result["Attributes"])
