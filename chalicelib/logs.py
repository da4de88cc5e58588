"""Logging that cannot leak content.

Library loggers stay at WARNING whatever the root level is: botocore, boto3 and urllib3
print whole request bodies at DEBUG (mail content, items), and the Encryption SDK logs
tracebacks. Our own log lines carry event names, error types and ids only.
"""

from __future__ import annotations

import logging

QUIET_LIBRARIES = ("botocore", "boto3", "urllib3", "s3transfer", "aws_encryption_sdk")


def configure() -> None:
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("aws_encryption_sdk").setLevel(logging.CRITICAL)
