"""`make bench`, forgot password: does the answer's time tell whether an account exists (issue 12)?

``POST /api/password/forgot`` through the app (Chalice's test client, moto in-process, a stack
provisioned from infra/template.yaml: the same setup as ``test_forgot_answer_time_does_not_tell`` in
tests/accounts/test_password_reset.py), for a real partner named by its user name and by its mail
address, and for unknown ones of both kinds, in alternating order so that drift in the machine falls
on every kind alike. Median and 90th percentile per kind, and the ratio of known to unknown medians
measured in the same run: the figure to watch (before the request was only queued it was about
128 / 82 ms = 1.56x); absolute times are moto's and this machine's.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from moto import mock_aws

from chalicelib import clock
from chalicelib.accounts.model import Account, Role, Status
from chalicelib.accounts.passwords import hash_password
from chalicelib.wiring import services as services_module
from devtools.provision import Provisioner

ROOT = Path(__file__).resolve().parent.parent
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
REQUESTS_PER_KIND = 60
WARM_UP = 8
PARTNER = Account(
    username="bench.partner-000001",
    email="bench.partner@clinic.example",
    role=Role.PARTNER,
    status=Status.ACTIVE,
    display_name="Bench Partner",
)
# Each kind makes its identifier for the n-th request: an unknown one is new every time.
KINDS: dict[str, tuple[bool, Callable[[int], str]]] = {
    "known user name": (True, lambda n: PARTNER.username),
    "known mail address": (True, lambda n: PARTNER.email),
    "unknown user name": (False, lambda n: f"nobody-{n:06d}"),
    "unknown mail address": (False, lambda n: f"nobody{n}@nowhere.example"),
}


@dataclass(frozen=True)
class ForgotRow:
    kind: str
    known: bool
    seconds: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def p90_ms(self) -> float:
        return statistics.quantiles(self.seconds, n=10, method="inclusive")[-1] * 1000


def _post(client: Any, identifier: str) -> int:
    reply = client.http.request(
        "POST",
        "/api/password/forgot",
        headers={"content-type": "application/json", "user-agent": "sealpost-bench/1.0"},
        body=json.dumps({"identifier": identifier}).encode(),
    )
    return int(reply.status_code)


def forgot_rows(requests_per_kind: int = REQUESTS_PER_KIND) -> list[ForgotRow]:
    """Time the forgot-password answer for each kind, alternating kinds request by request."""
    from chalice.test import Client

    saved = dict(os.environ)
    os.environ.update(FAKE_AWS)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    took: dict[str, list[float]] = {kind: [] for kind in KINDS}
    try:
        with mock_aws():
            provisioned = Provisioner().provision("sealpost-bench", parameters={"PortalUrl": "http://127.0.0.1:8000"})
            os.environ.update(provisioned.environment)
            # Every request counts against the source's failure budget; the bench must not run out of it.
            os.environ["SEALPOST_SOURCE_FAILURE_BUDGET"] = str(10 * requests_per_kind * len(KINDS) + WARM_UP)
            services_module.reset()
            partner = replace(
                PARTNER, password_hash=hash_password("a long bench passphrase"), created_at=clock.iso(clock.now())
            )
            services_module.current().accounts.create(partner, claim_email=True)
            from app import app

            with Client(app, project_dir=str(ROOT)) as client:
                for n in range(WARM_UP):
                    _post(client, f"warm-up-{n}")
                gc.disable()  # a collection inside one request is noise, not a signal
                try:
                    for n in range(requests_per_kind):
                        for kind, (_known, identifier) in KINDS.items():
                            started = time.perf_counter()
                            status = _post(client, identifier(n))
                            took[kind].append(time.perf_counter() - started)
                            if status != 202:
                                raise RuntimeError(f"forgot password answered {status} for a {kind}")
                finally:
                    gc.enable()
    finally:
        services_module.reset()
        os.environ.clear()
        os.environ.update(saved)
    return [ForgotRow(kind, known, tuple(took[kind])) for kind, (known, _) in KINDS.items()]


def known_to_unknown(rows: list[ForgotRow]) -> float:
    """The median of every known-account answer over the median of every unknown one."""
    known = [s for row in rows if row.known for s in row.seconds]
    unknown = [s for row in rows if not row.known for s in row.seconds]
    return statistics.median(known) / statistics.median(unknown)


def print_forgot_table(requests_per_kind: int = REQUESTS_PER_KIND) -> None:
    rows = forgot_rows(requests_per_kind)
    print(
        f"\nForgot password: answer time by identifier, {requests_per_kind} requests each, alternating "
        "(moto in-process, same process)\n"
    )
    print(f"| {'identifier':<20} | {'requests':>8} | {'median':>9} | {'p90':>9} |")
    print(f"|{'-' * 22}|{'-' * 10}|{'-' * 11}|{'-' * 11}|")
    for row in rows:
        print(f"| {row.kind:<20} | {len(row.seconds):>8} | {row.median_ms:>6.2f} ms | {row.p90_ms:>6.2f} ms |")
    print(f"\nKnown / unknown median: {known_to_unknown(rows):.2f}x (1.00x tells nothing; 1.56x before the queue)")


if __name__ == "__main__":  # this table alone: python -m devtools.bench_forgot
    print_forgot_table()
