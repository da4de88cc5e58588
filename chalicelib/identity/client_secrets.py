"""A provider's client secret, read from Secrets Manager (never from the environment, which holds the
secret's ARN only) as ``{"client_secret": "..."}``.

Kept 5 minutes in memory (the default of AWS's Lambda extension for Secrets Manager), and read again
at once when the provider refuses it (``invalid_client``: the operator has just put a rotated one).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib import clock
from chalicelib.errors import ConfigurationError, IdentityProviderUnavailable

CACHE_SECONDS = 300


@dataclass
class ClientSecret:
    arn: str
    client_factory: Callable[[], Any]  # a Secrets Manager client, made on first use
    seconds: int = CACHE_SECONDS
    _value: str | None = field(default=None, repr=False)
    _read_at: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def value(self, *, fresh: bool = False) -> str:
        with self._lock:
            if fresh or self._value is None or clock.epoch_seconds() - self._read_at >= self.seconds:
                self._value = self._read()
                self._read_at = clock.epoch_seconds()
            return self._value

    def _read(self) -> str:
        try:
            answer = self.client_factory().get_secret_value(SecretId=self.arn)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure"):
                raise ConfigurationError("the OpenID client secret cannot be read") from None
            raise IdentityProviderUnavailable() from None
        try:
            secret = json.loads(answer["SecretString"])["client_secret"]
        except (KeyError, TypeError, ValueError):
            secret = None
        if not isinstance(secret, str) or not secret:
            raise ConfigurationError('the OpenID client secret must be {"client_secret": "..."}')
        return secret
