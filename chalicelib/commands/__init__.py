"""Commands operators run from a terminal, through the same services the functions use: where a
stack's settings come from (``stacks``: a deployed stack's API function, or the file `make run`
writes for its local stand-in) and the ``sealpost-admin`` command (``admin_cli``: the plan's own
accounts, the first administrator and break-glass access; ``restore``: a table from a restored copy;
``redrive``: a mail function's dead letters back to its queue). Nothing imports this package.

May import: core, audit, accounts, wiring.
"""
