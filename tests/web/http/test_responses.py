"""Every response, errors included, carries the security headers."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app import app
from tests.support import Reply, WebClient


def route_samples() -> list[tuple[str, str]]:
    """Every registered route and method, with path parameters filled in."""
    samples = []
    for path, methods in app.routes.items():
        concrete = re.sub(r"\{[^}]+\}", "sample", path)
        for method in methods:
            samples.append((method, concrete))
    return sorted(samples)


def check_headers(reply: Reply) -> None:
    csp = reply.header("content-security-policy")
    assert csp, "no CSP"
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert re.fullmatch(r"'nonce-[A-Za-z0-9_\-]{20,}' 'strict-dynamic'", directives["script-src"])
    assert "unsafe-inline" not in csp
    hsts = reply.header("strict-transport-security")
    assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 31_536_000
    assert reply.header("x-content-type-options") == "nosniff"
    assert reply.header("referrer-policy") == "no-referrer"
    content_type = reply.header("content-type")
    assert content_type and "charset=utf-8" in content_type
    if not reply.header("content-type").startswith("text/css"):
        assert reply.header("cache-control") == "no-store"


@pytest.mark.parametrize(("method", "path"), route_samples())
def test_every_route_answers_with_security_headers(web: WebClient, stack: Any, method: str, path: str) -> None:
    reply = web.request(method, path, headers={"content-type": "application/json"}, body=b"{}")
    assert reply.status < 500, (method, path, reply.status, reply.text[:200])
    check_headers(reply)


def test_authenticated_pages_carry_headers_and_no_store(associate_web: WebClient) -> None:
    for path in ("/home", "/account", "/api/session", "/api/accounts"):
        reply = associate_web.get(path)
        assert reply.status == 200
        check_headers(reply)


def test_each_response_gets_a_fresh_nonce(web: WebClient, stack: Any) -> None:
    first = web.get("/signin").header("content-security-policy")
    second = web.get("/signin").header("content-security-policy")
    assert first != second


def test_the_stylesheet_is_served_and_cacheable(web: WebClient, stack: Any) -> None:
    reply = web.get("/static/sealpost.css")
    assert reply.status == 200 and "text/css" in reply.header("content-type")
    assert "max-age" in reply.header("cache-control")
    assert web.get("/static/..%2Fapp.py").status == 404
    assert web.get("/static/nothing.css").status == 404
    for odd in ("a" * 300 + ".css", ".hidden.css", "sealpost.css%00.js", "%2e%2e%2fapp.py"):
        assert web.get("/static/" + odd).status == 404, odd


def test_a_page_may_widen_only_some_directives_and_only_to_an_origin() -> None:
    from chalicelib.web.http.responses import allow_source, content_security_policy, new_nonce

    nonce = new_nonce()
    allow_source("form-action", "https://staging.s3.amazonaws.com")
    for directive, value in (
        ("script-src", "https://cdn.example"),
        ("form-action", "https://x.example/path"),
        ("form-action", "https://x.example; script-src *"),
        ("img-src", "javascript:"),
    ):
        with pytest.raises(ValueError):
            allow_source(directive, value)
    from chalicelib.web.http import responses

    policy = content_security_policy(nonce, responses._extra_sources.get())
    assert "form-action 'self' https://staging.s3.amazonaws.com;" in policy
    assert "connect-src 'self';" in policy
    new_nonce()
    assert responses._extra_sources.get() == ()
