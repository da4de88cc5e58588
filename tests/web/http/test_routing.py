"""Areas declare routes next to their handlers; the blueprint calls each handler with the request
and the services passed in, and every exception reaches the edge, which answers it clearly."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from chalice.app import Chalice, Response
from chalice.test import Client

from chalicelib.errors import InvalidRequest, ServiceUnavailable
from chalicelib.web.http.incoming import Incoming
from chalicelib.web.http.middleware import Edge
from chalicelib.web.http.responses import json_response
from chalicelib.web.http.routing import Routes

SERVICES = SimpleNamespace(name="the services of this test")
routes = Routes("tests.example", area="example")
seen: list[tuple[Incoming, Any, dict[str, str]]] = []


@routes.route("/api/things/{thing_id}/parts/{part}", "GET", "POST")
def show_part(incoming: Incoming, services: Any, thing_id: str, part: str) -> Response:
    seen.append((incoming, services, {"thing_id": thing_id, "part": part}))
    return json_response({"method": incoming.method, "thing": thing_id, "part": part})


@routes.route("/api/refused", "GET")
def refused(incoming: Incoming, services: Any) -> Response:
    raise InvalidRequest("That is not a thing.", field="thing")


@routes.route("/api/broken", "GET")
def broken(incoming: Incoming, services: Any) -> Response:
    raise RuntimeError("patient Maria Gonzalez")  # text that must never leave the server


@pytest.fixture
def client() -> Iterator[Client]:
    app = Chalice(app_name="routing-test")
    app.register_middleware(Edge(lambda: SERVICES), "http")
    app.register_blueprint(routes.blueprint(lambda: SERVICES))
    seen.clear()
    with Client(app) as test_client:
        yield test_client


def test_a_handler_gets_the_request_the_services_and_the_path_parameters_by_name(client: Client) -> None:
    reply = client.http.post("/api/things/t1/parts/p2")
    assert reply.status_code == 200
    assert reply.json_body == {"method": "POST", "thing": "t1", "part": "p2"}
    ((incoming, services, parameters),) = seen
    assert services is SERVICES and parameters == {"thing_id": "t1", "part": "p2"}
    assert incoming.method == "POST" and incoming.path == "/api/things/t1/parts/p2"


def test_each_declared_route_gets_a_view_named_after_its_area() -> None:
    blueprint_app = Chalice(app_name="names")
    blueprint_app.register_blueprint(routes.blueprint(lambda: SERVICES))
    entry = blueprint_app.routes["/api/things/{thing_id}/parts/{part}"]
    assert set(entry) == {"GET", "POST"} and entry["GET"].view_name == "example_show_part"


def test_a_domain_error_is_answered_by_the_edge_with_its_status_and_message(client: Client) -> None:
    reply = client.http.get("/api/refused")
    assert reply.status_code == 400
    assert reply.json_body["error"] == "invalid_request" and reply.json_body["field"] == "thing"
    assert reply.json_body["message"] == "That is not a thing."


def test_an_unexpected_error_is_a_plain_500_without_its_text(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    reply = client.http.get("/api/broken")
    assert reply.status_code == 500
    assert b"Maria" not in reply.body and b"Traceback" not in reply.body
    assert "Maria" not in caplog.text
    assert reply.headers["Content-Security-Policy"].startswith("default-src 'none'")


def _gateway_event(path_parameters: dict[str, str], query: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway proxy event as Lambda delivers it (parameters already percent-decoded)."""
    path = "/api/things/{thing_id}/parts/{part}"
    return {
        "resource": path,
        "path": path.format(**path_parameters),
        "httpMethod": "GET",
        "headers": {"accept": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {"resourcePath": path, "httpMethod": "GET", "requestId": "r-1", "path": "/api" + path},
        "body": None,
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize(
    ("path_parameters", "query", "where"),
    [
        ({"thing_id": "\ud800", "part": "p2"}, None, "address"),  # %ED%A0%80 decoded one way
        ({"thing_id": "t1", "part": "p\udfff"}, None, "address"),
        ({"thing_id": "t1", "part": "p2"}, {"next": "/threads\udc80"}, "query string"),
    ],
)
def test_a_path_or_query_parameter_that_is_not_valid_text_is_a_400_before_the_handler(
    path_parameters: dict[str, str], query: dict[str, str] | None, where: str
) -> None:
    app = Chalice(app_name="routing-test")
    app.register_middleware(Edge(lambda: SERVICES), "http")
    app.register_blueprint(routes.blueprint(lambda: SERVICES))
    seen.clear()
    answer = app(_gateway_event(path_parameters, query), None)
    assert answer["statusCode"] == 400, answer
    body = json.loads(answer["body"])
    assert (
        body["error"] == "invalid_request"
        and f"The {where} holds a character that is not valid text" in body["message"]
    )
    assert seen == []  # the handler never ran


def test_parameters_in_any_script_reach_the_handler() -> None:
    app = Chalice(app_name="routing-test")
    app.register_middleware(Edge(lambda: SERVICES), "http")
    app.register_blueprint(routes.blueprint(lambda: SERVICES))
    seen.clear()
    answer = app(_gateway_event({"thing_id": "t\u00fc1", "part": "\u65e5\u672c"}, {"q": "caf\u00e9"}), None)
    assert answer["statusCode"] == 200, answer
    assert seen[0][2] == {"thing_id": "t\u00fc1", "part": "\u65e5\u672c"}


@routes.route("/api/unavailable", "GET")
def unavailable(incoming: Incoming, services: Any) -> Response:
    raise ServiceUnavailable()


def test_the_edge_warnings_reach_the_log_although_chalice_mutes_its_own_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Chalice(app_name="sealpost")  # Chalice's logger "sealpost": ERROR, not propagating
    app.register_middleware(Edge(lambda: SERVICES), "http")
    app.register_blueprint(routes.blueprint(lambda: SERVICES))
    with caplog.at_level(logging.WARNING), Client(app) as client:
        assert client.http.get("/api/unavailable").status_code == 503
    (record,) = [r for r in caplog.records if r.getMessage() == "unavailable"]
    assert record.levelno == logging.WARNING and record.code == "service_unavailable"  # type: ignore[attr-defined]
