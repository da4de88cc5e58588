"""`make mail`: print the mail the locally running Sealpost has sent (read from the moto server)."""

from __future__ import annotations

import os
import sys

from devtools.local_mail import captured_mail


def main() -> int:
    endpoint = f"http://127.0.0.1:{os.environ.get('MOTO_PORT', '5000')}"
    try:
        mails = captured_mail(endpoint)
    except OSError:
        print(f"No moto server at {endpoint}: start Sealpost with `make run` first.", file=sys.stderr)
        return 1
    if not mails:
        print("No mail has been sent yet.")
    for mail in mails[: int(os.environ.get("LIMIT", "10"))]:
        print("=" * 72)
        print(f"From:    {mail.sender}\nTo:      {', '.join(mail.recipients)}\nSubject: {mail.subject}\n")
        print(mail.text.rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
