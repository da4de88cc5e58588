"""Sealpost's code, in feature packages whose names say the flows, over a small shared core.

The shared core (the modules at this level): ``settings`` (every setting, declared once),
``clock``, ``errors`` (domain errors, given their HTTP statuses at the web edge), ``aws_clients``
(lazily built boto3 clients), ``dynamo`` (DynamoDB helpers and the repositories' base),
``logs``, ``metrics`` (CloudWatch metrics as EMF log lines), ``invocation`` (a Lambda
invocation's deadline, SQS batches record by record), ``branding``, ``templating``, ``text``
(one safe line of outside text), ``limits`` (what a message may hold, the file-name rule) and
``addresses`` (the mail-address rule).

Packages, from the bottom up (each ``__init__`` says what lives there):
``mail`` → ``audit`` → ``accounts`` → ``mfa`` → ``identity`` → ``messaging`` → ``gateway`` → ``oversight`` →
``wiring`` (builds the services) → ``web`` (the HTTP edge, the only code that knows Chalice).
Beside ``web``, ``commands`` holds what operators run from a terminal over ``wiring`` (``sealpost-admin``).
``app.py`` composes ``web`` and the functions AWS invokes; ``devtools`` (local only) is never
imported from here. ``tests/test_code_quality.py`` enforces every "May import" line.

Core modules may import: core.
"""
