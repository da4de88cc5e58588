"""The app as `make run` serves it: Chalice's local server (what `chalice local` runs) for `app.py`,
plus the pages that exist only locally (``devtools/local_mail.py``), which never ship, and the
streaming download function's own code (``chalicelib/web/download_server.py``) on a port of its own.

    python -m devtools.local_server --host 127.0.0.1 --port 8000 --download-port 8001 --stage dev
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path

from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_routes

from chalicelib.web import download_server
from chalicelib.wiring import services
from devtools import local_mail

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--download-port", type=int, default=8001)
    parser.add_argument("--stage", default="dev")
    args = parser.parse_args(argv)
    factory = CLIFactory(project_dir=str(ROOT))
    config = factory.create_config_obj(chalice_stage_name=args.stage)
    app = config.chalice_app
    app.register_blueprint(local_mail.routes.blueprint(services.current))
    validate_routes(app.routes)
    # As `chalice local` does: the function's log lines on stdout.
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    downloads = download_server.make(args.host, args.download_port, services.current)
    threading.Thread(target=downloads.serve_forever, name="downloads", daemon=True).start()
    factory.create_local_server(app, config, args.host, args.port).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
