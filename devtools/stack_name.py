"""Is a stack name one the template can deploy under? Checked by `make package STACK=<name>`
before anything is built, since a bad name fails only halfway through a first deploy (S3
refuses the bucket name, the stack rolls back, and the retained resources stay behind).

The template names its buckets ``<stack>-<purpose>-<account id>-<region>`` (and its tables,
topics and keys ``<stack>-...``). S3 bucket names are lowercase, at most 63 characters, and
begin and end with a letter or digit. tests/devtools/test_stack_name.py ties these figures to
the template's bucket names.

Standard library only: `make package` runs it before any virtual environment exists.
Usage: python3 -m devtools.stack_name <name>   (exit 0, or 2 with the reason)"""

from __future__ import annotations

import re
import sys

BUCKET_NAME_LIMIT = 63
LONGEST_PURPOSE = "messages"  # the longest <purpose> among the template's bucket names
ACCOUNT_ID_LENGTH = 12
LONGEST_REGION = "ap-southeast-5"  # 14 characters, the longest commercial region names
LONGEST_SUFFIX = len(f"-{LONGEST_PURPOSE}-") + ACCOUNT_ID_LENGTH + len(f"-{LONGEST_REGION}")
MAX_LENGTH = BUCKET_NAME_LIMIT - LONGEST_SUFFIX
_SHAPE = re.compile(r"[a-z](?:[a-z0-9-]*[a-z0-9])?")


class StackNameError(ValueError):
    """The stack name cannot be deployed; the message says why and what would do."""


def check(name: str) -> str:
    """``name`` if the template can deploy under it, else StackNameError."""
    if not name:
        raise StackNameError("the stack name is empty: give one, e.g. make package STACK=sealpost")
    if len(name) > MAX_LENGTH:
        raise StackNameError(
            f"the stack name {name!r} has {len(name)} characters; at most {MAX_LENGTH} fit, since bucket names "
            f"such as <stack>-{LONGEST_PURPOSE}-<account id>-<region> may have {BUCKET_NAME_LIMIT}"
        )
    if not _SHAPE.fullmatch(name):
        raise StackNameError(
            f"the stack name {name!r} must be lowercase letters, digits and hyphens, begin with a letter and "
            "end with a letter or digit (bucket names derive from it), e.g. sealpost-prod"
        )
    return name


def main(argv: list[str]) -> int:
    try:
        check(argv[0] if argv else "")
    except StackNameError as error:
        print(f"Stack name refused: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
