"""Routes next to their handlers.

Each area of the portal and the API (``web/sessions.py``, ``web/thread_pages.py`` …) declares its
routes on a ``Routes(__name__)`` object beside the handlers; ``app.py`` turns each into a Chalice
Blueprint and passes the services in. A handler is a plain function::

    @routes.route("/api/session", "POST")
    def sign_in(incoming: Incoming, services: Services) -> Response: ...

called with the request being handled, the services for the current settings and the path's
parameters by name, so it can be called in a test with any services.

Chalice turns any exception raised in a view into its own 500 answer (and logs the exception's
text) unless it is a ``ChaliceUnhandledError``. Every view therefore hands its exceptions to the
edge (``middleware.handle``) inside ``Escalated``, and they are answered there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from chalice.app import Blueprint, ChaliceUnhandledError, Response

from chalicelib.web.http.incoming import Incoming, current_request, require_valid_parameters
from chalicelib.wiring.services import Services

Handler = Callable[..., Response]
ServicesProvider = Callable[[], Services]

# Bodies are checked by our own parser (clear 415/413/400), so Chalice accepts any type.
ANY_CONTENT_TYPE = ["*/*"]


class Escalated(ChaliceUnhandledError):
    def __init__(self, original: Exception) -> None:
        super().__init__(type(original).__name__)
        self.original = original


@dataclass(frozen=True)
class Route:
    path: str
    methods: tuple[str, ...]
    handler: Handler
    name: str


@dataclass
class Routes:
    """The routes of one area (``Routes(__name__)``), in the order they were declared. View names
    are ``<area>_<handler>``, the area being the module's last name unless given."""

    module: str
    area: str = ""
    declared: list[Route] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.area = self.area or self.module.rpartition(".")[2]

    def route(self, path: str, *methods: str, name: str | None = None) -> Callable[[Handler], Handler]:
        def declare(handler: Handler) -> Handler:
            self.declared.append(Route(path, methods, handler, f"{self.area}_{name or handler.__name__}"))
            return handler

        return declare

    def blueprint(self, services: ServicesProvider) -> Blueprint:
        """A Chalice Blueprint whose views call the handlers with the request and ``services()``."""
        blueprint = Blueprint(self.module)
        for declared in self.declared:
            blueprint.route(
                declared.path, methods=list(declared.methods), content_types=ANY_CONTENT_TYPE, name=declared.name
            )(_view(declared.handler, services))
        return blueprint


def _view(handler: Handler, services: ServicesProvider) -> Callable[..., Response]:
    @functools.wraps(handler)
    def view(**parameters: str) -> Response:
        try:
            incoming: Incoming = current_request()
            require_valid_parameters(parameters, "address")
            require_valid_parameters(dict(incoming.request.query_params or {}), "query string")
            return handler(incoming, services(), **parameters)
        except Exception as exc:
            raise Escalated(exc) from exc

    return view
