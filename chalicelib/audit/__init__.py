"""The audit trail (R6): records written fail-closed to the Object-Locked audit bucket
(``records``), where they live (``layout``), reading the bucket's versions (``store``), signed
and chained digests (``digest``), verifying a range against them (``verify``), searching and a
message's history (``search``) and the ``sealpost-audit`` command (``cli``).

May import: core.
"""
