"""`make bench`: what encryption costs, measured in one run so the ratios are the figures.

1. Encrypt + decrypt time per message through Sealpost's encryptor (ESDK, signed committing
   suite, data-key cache) next to raw AES-256-GCM (``cryptography``) on the same machine in
   the same run. The ratio is the figure to watch; absolute times vary with the machine.
2. KMS calls per 1,000 messages sent and read: with our per-thread encryption context
   (50 threads) and, for comparison, with a per-message context (which defeats the cache).
3. Peak memory of the attachment paths (``devtools/bench_memory.py``): encrypting a staged upload
   into the store, decrypting, and streaming through the download function, at 25 and 100 MB,
   as the rise above the baseline, each in a fresh process; and each function's baseline.
4. One inbound mail through the router by its number of new outside recipients
   (``devtools/bench_routing.py``): AWS calls by service, and the time they would take, against
   the router's timeout.
5. The forgot-password answer time for a known account (by user name, by mail address) and unknown
   ones, alternating, with the known/unknown ratio (``devtools/bench_forgot.py``; issue 12).

KMS is moto in-process, so KMS latency is not part of the timings; call counts are exact.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import boto3
import botocore.session
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from moto import mock_aws

from chalicelib.messaging.encryption import Binding, Encryptor
from devtools import bench_forgot, bench_memory, bench_routing

SIZES = ((1024, "1 KB", 300), (100 * 1024, "100 KB", 100), (10 * 1024 * 1024, "10 MB", 4))


def per_message_seconds(run: Callable[[], None], repeats: int) -> float:
    run()  # warm up (first data key, imports)
    samples = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            run()
        samples.append((time.perf_counter() - start) / repeats)
    return statistics.median(samples)


def speed_table(key_arn: str) -> list[tuple[str, float, float, float]]:
    encryptor = Encryptor(key_arn, "bench")
    aes = AESGCM(AESGCM.generate_key(bit_length=256))
    rows = []
    for size, label, repeats in SIZES:
        payload = os.urandom(size)
        binding = Binding("bench-thread", "bench-message", "content")

        def ours(payload: bytes = payload, binding: Binding = binding) -> None:
            encryptor.decrypt(binding, encryptor.encrypt(binding, payload, purpose="content"), purpose="content")

        def raw(payload: bytes = payload) -> None:
            nonce = os.urandom(12)
            aes.decrypt(nonce, aes.encrypt(nonce, payload, None), None)

        ours_s = per_message_seconds(ours, repeats)
        raw_s = per_message_seconds(raw, repeats)
        rows.append((label, ours_s * 1000, raw_s * 1000, ours_s / raw_s))
    return rows


def kms_calls(key_arn: str, context_per: str) -> dict[str, int]:
    calls: dict[str, int] = {}
    session = botocore.session.get_session()

    def count(**event: Any) -> None:
        name = event["model"].name
        calls[name] = calls.get(name, 0) + 1

    session.register("before-call.kms", count)
    encryptor = Encryptor(key_arn, "bench", lambda: session)
    sent = []
    for n in range(1000):
        thread = f"thread-{n % 50}" if context_per == "thread" else f"message-{n}"
        binding = Binding(thread, f"m{n}", "content")
        sent.append((binding, encryptor.encrypt(binding, b"x" * 1024, purpose="content")))
    for binding, ciphertext in sent:
        encryptor.decrypt(binding, ciphertext, purpose="content")
    return calls


def main() -> None:
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        key_arn = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
        speed = speed_table(key_arn)
        ours = kms_calls(key_arn, "thread")
        naive = kms_calls(key_arn, "message")

    print("\nEncrypt + decrypt, per message (median of 3 runs, same process)\n")
    print(f"| {'size':<7} | {'Sealpost (ESDK)':>16} | {'raw AES-256-GCM':>16} | {'ratio':>8} |")
    print(f"|{'-' * 9}|{'-' * 18}|{'-' * 18}|{'-' * 10}|")
    for label, ours_ms, raw_ms, ratio in speed:
        print(f"| {label:<7} | {ours_ms:>13.3f} ms | {raw_ms:>13.3f} ms | {ratio:>7.1f}x |")
    print("\nKMS calls for 1,000 messages sent and then read (data-key cache: 300 s, 100 messages)\n")
    print(f"| {'encryption context':<34} | {'GenerateDataKey':>15} | {'Decrypt':>7} |")
    print(f"|{'-' * 36}|{'-' * 17}|{'-' * 9}|")
    for label, calls in (("per thread, 50 threads (Sealpost)", ours), ("per message (cache defeated)", naive)):
        print(f"| {label:<34} | {calls.get('GenerateDataKey', 0):>15} | {calls.get('Decrypt', 0):>7} |")
    memory_tables()
    bench_routing.print_routing_table()
    bench_forgot.print_forgot_table()
    print()


MEMORY_SIZES = (25, 100)


def memory_tables() -> None:
    print("\nPeak memory of an attachment's paths, rise above the baseline (fresh process each)\n")
    print(f"| {'path':<9} | " + " | ".join(f"{f'{size} MB':>8}" for size in MEMORY_SIZES) + " |")
    print(f"|{'-' * 11}|" + "|".join("-" * 10 for _ in MEMORY_SIZES) + "|")
    for case in bench_memory.CASES:
        rises = [bench_memory.measure(case, size) for size in MEMORY_SIZES]
        print(f"| {case:<9} | " + " | ".join(f"{rise:>5.1f} MB" for rise in rises) + " |")
    print("\nResident memory of a function at rest (its code imported)\n")
    for label, module in bench_memory.FUNCTION_CODE.items():
        print(f"| {label:<36} | {bench_memory.baseline_mib(module):>6.1f} MB |")


if __name__ == "__main__":
    main()
