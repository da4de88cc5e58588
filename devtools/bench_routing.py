"""`make bench`, mail routing: what one inbound mail costs the router, by its number of new
outside recipients, and what that means for the function's timeout.

The router runs against moto in-process (a stack provisioned from infra/template.yaml), every
recipient on a domain whose TLS decision is cached as "no STARTTLS" (so each gets a pickup
notice; nothing is looked up on the network). The AWS calls are counted exactly, by service;
moto's time is not AWS's, so the table also gives an estimate from the counts at latencies
typical inside a region (DynamoDB 10 ms, S3 25 ms, SES 60 ms, KMS 10 ms a call), to compare with
RouteInboundMail's 300 s timeout and with SES's sending rate.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, cast

from botocore.client import BaseClient
from moto import mock_aws

from chalicelib import clock
from chalicelib.gateway.tls_decision import DecisionReason, TlsDecision, TlsVerdict
from chalicelib.wiring import services as services_module
from devtools.provision import Provisioner
from devtools.seed import seed_associate

RECIPIENTS = (1, 10, 100, 500)
# Milliseconds a call, inside one region: an estimate to read the counts by, not a measurement.
LATENCY_MS = {"dynamodb": 10, "s3": 25, "sesv2": 60, "kms": 10}
FUNCTION_TIMEOUT_S = 300
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass(frozen=True)
class RoutingRow:
    recipients: int
    calls: Counter[str]
    moto_seconds: float

    @property
    def estimated_seconds(self) -> float:
        return sum(LATENCY_MS.get(service, 20) * n for service, n in self.calls.items()) / 1000


@contextmanager
def counted_calls() -> Iterator[Counter[str]]:
    """Every AWS API call made inside the block, by service."""
    calls: Counter[str] = Counter()
    client_class = cast(Any, BaseClient)  # _make_api_call is botocore's one door for every call
    original = client_class._make_api_call

    def counting(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls[client.meta.service_model.service_name] += 1
        return original(client, operation, params)

    client_class._make_api_call = counting
    try:
        yield calls
    finally:
        client_class._make_api_call = original


def _mail(recipients: int) -> bytes:
    message = EmailMessage()
    message["From"] = "Alice Associate <alice@plan.example>"
    message["To"] = ", ".join(f"patient.{n:03d}@plain.test" for n in range(recipients))
    message["Subject"] = "Benchmark"
    message["Message-ID"] = f"<bench-{recipients}@plan.example>"
    message.set_content("The meeting moved to Thursday at ten.")
    return message.as_bytes()


def _notification(settings: Any, ses_id: str, key: str) -> str:
    verdict = {"status": "PASS"}
    return json.dumps(
        {
            "notificationType": "Received",
            "mail": {"messageId": ses_id, "source": "alice@plan.example", "destination": [settings.gateway_address]},
            "receipt": {
                "recipients": [settings.gateway_address],
                **{f"{name}Verdict": verdict for name in ("spf", "dkim", "dmarc", "spam", "virus")},
                "action": {"type": "S3", "bucketName": settings.inbound_bucket, "objectKey": key},
            },
        }
    )


def routing_table(sizes: tuple[int, ...] = RECIPIENTS) -> list[RoutingRow]:
    saved = dict(os.environ)
    os.environ.update(FAKE_AWS)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    rows = []
    try:
        with mock_aws():
            provisioned = Provisioner().provision("sealpost-bench", parameters={"PortalUrl": "http://127.0.0.1:8000"})
            os.environ.update(provisioned.environment)
            services_module.reset()
            services = services_module.current()
            seed_associate(services, "alice@plan.example", "a long benchmark passphrase", "Alice Associate")
            now = clock.epoch_seconds()
            services.tls_decisions.cache.put(
                TlsDecision(
                    "plain.test",
                    TlsVerdict.NO_TLS,
                    DecisionReason.NO_STARTTLS,
                    "bench",
                    checked_at=now,
                    expires_at=now + 86400,
                )
            )
            s3 = services.gateway.s3_factory()
            for size in sizes:
                key = f"inbound/bench-{size}"
                s3.put_object(Bucket=services.settings.inbound_bucket, Key=key, Body=_mail(size))
                notification = _notification(services.settings, f"bench-{size}", key)
                start = time.perf_counter()
                with counted_calls() as calls:
                    report = services.gateway.handle(notification)
                if report.outcome != "routed":
                    raise RuntimeError(f"the benchmark mail to {size} was not routed: {report.reason}")
                rows.append(RoutingRow(size, calls, time.perf_counter() - start))
    finally:
        services_module.reset()
        os.environ.clear()
        os.environ.update(saved)
    return rows


def print_routing_table() -> None:
    print("\nOne inbound mail through the router, by new outside recipients (pickup notices; moto in-process)\n")
    services = ("dynamodb", "s3", "sesv2", "kms")
    header = " | ".join(f"{s:>8}" for s in services)
    print(f"| {'recipients':>10} | {header} | {'calls/rcpt':>10} | {'moto':>8} | {'estimate':>8} | {'of 300 s':>8} |")
    print(f"|{'-' * 12}|" + "|".join("-" * 10 for _ in services) + f"|{'-' * 12}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    for row in routing_table():
        counts = " | ".join(f"{row.calls.get(s, 0):>8}" for s in services)
        per = sum(row.calls.values()) / row.recipients
        share = 100 * row.estimated_seconds / FUNCTION_TIMEOUT_S
        print(
            f"| {row.recipients:>10} | {counts} | {per:>10.1f} | {row.moto_seconds:>6.1f} s | "
            f"{row.estimated_seconds:>6.1f} s | {share:>7.0f}% |"
        )
    print(f"\nEstimate: {', '.join(f'{s} {ms} ms' for s, ms in LATENCY_MS.items())} a call (calls are exact).")
