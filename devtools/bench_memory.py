"""Peak memory of the attachment paths, for `make bench`: encrypt a staged upload into the message
store, decrypt it back, and stream it out through the download function's server.

Each case runs in a process of its own (``python -m devtools.bench_memory CASE MEGABYTES``) and
prints how far its peak resident memory rose above the baseline taken just before the work:
that rise is what a Lambda function must hold besides the runtime and the imports. The data never
sits in memory for the setup: the plaintext is generated as it is read, the ciphertext lies in a
temporary file that stands in for the S3 object, and the store's uploads are counted and dropped.
KMS is moto in-process (small).
"""

from __future__ import annotations

import hashlib
import io
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

CASES = ("encrypt", "decrypt", "download")
# Who does what: the API encrypts staged uploads (and decrypts small ones inline); the download
# function decrypts and streams.
FUNCTION_CODE = {"API, router, events, digests (app)": "app", "download function": "chalicelib.web.download_server"}
MB = 1024 * 1024


def peak_kib() -> int:
    """This process's peak resident memory. Read from /proc (``VmHWM``), not getrusage: a process
    started by a larger one inherits its ru_maxrss across fork and exec, but gets a new VmHWM."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


class Generated(io.RawIOBase):
    """``size`` bytes of a repeating pattern, made as they are read (a staged upload's stand-in)."""

    def __init__(self, size: int) -> None:
        self._left = size
        self._block = hashlib.sha256(b"bench").digest() * 2048  # 64 KiB

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._left, len(self._block))
        buffer[:n] = self._block[:n]
        self._left -= n
        return n


@dataclass
class DroppingS3:
    """The parts of the S3 API the message store uses: uploads are counted and dropped, reads come
    from a file (the stored ciphertext)."""

    stored: Path | None = None
    received: int = 0
    parts: list[int] = field(default_factory=list)

    def put_object(self, **request: Any) -> dict[str, Any]:
        self.received += len(request["Body"])
        return {}

    def create_multipart_upload(self, **_: Any) -> dict[str, Any]:
        return {"UploadId": "bench"}

    def upload_part(self, **request: Any) -> dict[str, Any]:
        self.received += len(request["Body"])
        self.parts.append(len(request["Body"]))
        return {"ETag": f'"{len(self.parts)}"'}

    def complete_multipart_upload(self, **_: Any) -> dict[str, Any]:
        return {}

    def abort_multipart_upload(self, **_: Any) -> dict[str, Any]:
        return {}

    def get_object(self, **_: Any) -> dict[str, Any]:
        assert self.stored is not None
        return {"Body": self.stored.open("rb")}


def _vault(key_arn: str, s3: DroppingS3) -> Any:
    from chalicelib.messaging.encryption import Encryptor
    from chalicelib.messaging.message_store import MessageStore
    from chalicelib.messaging.vault import MessageVault

    return MessageVault(Encryptor(key_arn, "bench"), MessageStore("bench", key_arn, lambda: s3))


def _encrypted(key_arn: str, size: int, folder: Path) -> tuple[Path, Any]:
    """The ciphertext of ``size`` bytes in a file, and its record (written by the real encryptor)."""
    from chalicelib.messaging.encryption import Binding, Encryptor
    from chalicelib.messaging.model import StoredObject

    path = folder / "ciphertext"
    digest, length = hashlib.sha256(), 0
    binding = Binding("t" * 32, "m" * 32, "attachment:" + "a" * 32)
    with path.open("wb") as out:
        for chunk in Encryptor(key_arn, "bench").encrypt_stream(binding, Generated(size), size, purpose="attachment"):
            out.write(chunk)
            digest.update(chunk)
            length += len(chunk)
    return path, StoredObject(key="threads/x", sha256=digest.hexdigest(), size=length)


def _records(stored: Any, size: int) -> tuple[Any, Any]:
    from chalicelib.messaging.model import AttachmentRecord, MessageRecord

    attachment = AttachmentRecord("a" * 32, stored)
    message = MessageRecord("t" * 32, "m" * 32, 1, "bench", "partner", "now", stored, (attachment,))
    return message, attachment


def run(case: str, size: int) -> tuple[int, int]:
    """(bytes handled, peak rise in KiB) of one case."""
    import boto3
    from moto import mock_aws

    from chalicelib.messaging.drafts import AttachmentInput, Draft
    from chalicelib.messaging.uploads import StagedFile

    with mock_aws(), tempfile.TemporaryDirectory() as folder:
        key_arn = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
        s3 = DroppingS3()
        vault = _vault(key_arn, s3)
        if case == "encrypt":
            file = StagedFile("bench", size, lambda: io.BufferedReader(Generated(size)))
            draft = Draft("subject", "text", attachments=(AttachmentInput("bench", "f.bin", "application/pdf"),))
            before = peak_kib()
            vault.seal_message("t" * 32, "m" * 32, draft, [file])
            return s3.received, peak_kib() - before
        s3.stored, stored = _encrypted(key_arn, size, Path(folder))
        message, attachment = _records(stored, size)
        before = peak_kib()
        if case == "decrypt":
            handled = sum(len(chunk) for chunk in vault.attachment(message, attachment))
        else:
            handled = _download(vault, message, attachment, size)
        return handled, peak_kib() - before


def _download(vault: Any, message: Any, attachment: Any, size: int) -> int:
    """Serve the chunks through the download function's own server and read them over a socket."""
    from chalicelib.messaging.content import Attachment
    from chalicelib.web import download_server

    streamed = Attachment("f.bin", "application/octet-stream", size, vault.attachment(message, attachment))
    services = SimpleNamespace(downloads=SimpleNamespace(stream=lambda secret, request: streamed))
    server = download_server.make("127.0.0.1", 0, lambda: services)  # type: ignore[arg-type, return-value]
    threading.Thread(target=server.handle_request, daemon=True).start()
    received = 0
    host, port = server.server_address[:2]
    with socket.create_connection((str(host), int(port))) as client:
        client.sendall(b"GET /d/" + b"A" * 43 + b" HTTP/1.0\r\nHost: bench\r\n\r\n")
        while data := client.recv(256 * 1024):
            received += len(data)
    server.server_close()
    return received


def baseline_mib(module: str) -> float:
    """Resident memory of a fresh process once a function's code is imported (what it needs at rest)."""
    code = f"import {module}; from devtools.bench_memory import peak_kib; print(peak_kib())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024


def measure(case: str, megabytes: int) -> float:
    """The peak rise of ``case`` for ``megabytes``, in MiB, measured in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "devtools.bench_memory", case, str(megabytes)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"},
    )
    handled, rise_kib = (int(n) for n in done.stdout.split())
    assert handled >= megabytes * MB, (case, handled)
    return rise_kib / 1024


def main() -> None:
    case, megabytes = sys.argv[1], int(sys.argv[2])
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    handled, rise = run(case, megabytes * MB)
    print(handled, rise)


if __name__ == "__main__":
    main()
