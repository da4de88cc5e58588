"""Sealpost: domain and adapter code. Nothing in this package imports Chalice except ``web``."""
