"""`make run`: Sealpost on 127.0.0.1 against a local AWS stand-in.

1. starts a moto server on 127.0.0.1 (MOTO_PORT, default 5000);
2. creates every resource of infra/template.yaml there (devtools/provision.py);
3. seeds the demo associate, a demo partner and demo threads (devtools/seed.py) and prints how
   to sign in;
4. serves the app as `chalice local` would, plus the local-only mail page (devtools/local_server.py),
   on 127.0.0.1 (PORT, default 8000), and the streaming download function on DOWNLOAD_PORT (default
   a free port).

Ctrl-C stops every process this started.

Associates sign in with a password here (``AssociatePasswordSignIn``, off in deployments). To try the
sign-in through an OpenID provider, give it before starting (the client secret goes into the local
Secrets Manager, as the runbook puts it in a deployment)::

    LOCAL_IDP_ISSUER=http://127.0.0.1:4000 LOCAL_IDP_CLIENT_ID=sealpost LOCAL_IDP_CLIENT_SECRET=... make run

(optional: LOCAL_IDP_SCOPES, LOCAL_IDP_ASSOCIATE_GROUP, LOCAL_IDP_ADMIN_GROUP, LOCAL_IDP_MFA). The
portal still listens on 127.0.0.1; ``LOCAL_HOSTNAME=localhost`` makes its links (PortalUrl) say
``localhost``, another site than a provider on 127.0.0.1, as in a deployment.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chalicelib.wiring import services as services_module
from devtools.local_mail import captured_mail
from devtools.provision import Provisioner, load_template
from devtools.seed import DEMO_ASSOCIATE, DEMO_ASSOCIATE_PASSWORD, seed_associate, seed_demo

ROOT = Path(__file__).resolve().parent.parent
LOCAL_ENV = ROOT / ".local" / "env.json"
HOST = "127.0.0.1"
STACK = "sealpost-local"


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited early (code {process.returncode})")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not start on {HOST}:{port}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def local_environment(moto_port: int, download_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://{HOST}:{moto_port}",
        SEALPOST_LOCAL_MODE="true",
        SEALPOST_DOWNLOAD_URL=f"http://{HOST}:{download_port}",
    )
    env.pop("AWS_PROFILE", None)
    return env


IDP_PARAMETERS = {  # LOCAL_IDP_<name> -> the template parameter
    "ISSUER": "AssociateIdpIssuer",
    "CLIENT_ID": "AssociateIdpClientId",
    "SCOPES": "AssociateIdpScopes",
    "GROUPS_CLAIM": "AssociateIdpGroupsClaim",
    "ASSOCIATE_GROUP": "AssociateIdpAssociateGroup",
    "ADMIN_GROUP": "AssociateIdpAdminGroup",
    "MFA": "AssociateIdpMfa",
    "EMAIL_VERIFIED": "AssociateIdpEmailVerified",
}


# Parameters the launcher sets itself, and how to change them instead.
LAUNCHER_PARAMETERS = {
    "PortalUrl": "PORT and LOCAL_HOSTNAME",
    "AssociatePasswordSignIn": "nothing: `make run` always signs associates in by password",
}


def progress(step: str) -> None:
    print(f"make run: {step}…", flush=True)


def warn(text: str) -> None:
    print(f"make run: {text}", file=sys.stderr, flush=True)


def setting_parameters(environ: Mapping[str, str], template: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The stack parameters that ``SEALPOST_*`` settings in ``environ`` name (README, Configuration), as
    ``SEALPOST_CREDENTIAL_SCOPE=thread make run``; a value the template does not allow stops the launcher."""
    template = template or load_template()
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    declared = template["Parameters"]
    parameters: dict[str, str] = {}
    for name, value in sorted(environ.items()):
        if not name.startswith("SEALPOST_"):
            continue
        source = variables.get(name)
        parameter = str(source["Ref"]) if isinstance(source, dict) and "Ref" in source else ""
        if parameter not in declared:
            warn(f"{name} is not a setting of README's Configuration table (or names a local resource): ignored")
            continue
        if parameter in LAUNCHER_PARAMETERS:
            warn(f"{name} is set by make run itself; change it with {LAUNCHER_PARAMETERS[parameter]}")
            continue
        allowed = [str(v) for v in declared[parameter].get("AllowedValues", [])]
        if allowed and value not in allowed:
            raise SystemExit(f"make run: {name}={value!r} is not allowed; use one of: {', '.join(allowed)}")
        parameters[parameter] = value
    return parameters


def stack_parameters(portal_url: str, environ: dict[str, str]) -> dict[str, str]:
    """The local stack's parameters: the SEALPOST_* settings given, password sign-in for associates, and
    the OpenID provider if given."""
    parameters = {**setting_parameters(environ), "PortalUrl": portal_url, "AssociatePasswordSignIn": "true"}
    if environ.get("LOCAL_IDP_ISSUER"):
        for name, parameter in IDP_PARAMETERS.items():
            if environ.get("LOCAL_IDP_" + name):
                parameters[parameter] = environ["LOCAL_IDP_" + name]
    return parameters


def put_idp_secret(provisioner: Provisioner, environment: dict[str, str], environ: dict[str, str]) -> None:
    arn = environment.get("SEALPOST_ASSOCIATE_IDP_SECRET_ARN")
    if arn and environ.get("LOCAL_IDP_CLIENT_SECRET"):
        provisioner.client("secretsmanager").put_secret_value(
            SecretId=arn, SecretString=json.dumps({"client_secret": environ["LOCAL_IDP_CLIENT_SECRET"]})
        )


def main() -> int:
    moto_port = int(os.environ.get("MOTO_PORT", "5000"))
    app_port = int(os.environ.get("PORT", "8000"))
    download_port = int(os.environ.get("DOWNLOAD_PORT") or free_port())
    env = local_environment(moto_port, download_port)
    bin_dir = Path(sys.executable).parent
    children: list[subprocess.Popen[bytes]] = []

    def stop(*_: object) -> None:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()

    def on_terminate(*_: object) -> None:
        stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_terminate)
    try:
        progress(f"starting moto (the local AWS stand-in) on port {moto_port}")
        moto = subprocess.Popen(
            [str(bin_dir / "moto_server"), "-H", HOST, "-p", str(moto_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        children.append(moto)
        wait_for_port(moto_port, moto, "moto server")

        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
        progress("creating the stack's resources (infra/template.yaml)")
        provisioner = Provisioner()
        portal_url = f"http://{os.environ.get('LOCAL_HOSTNAME') or HOST}:{app_port}"
        stack = provisioner.provision(STACK, parameters=stack_parameters(portal_url, dict(os.environ)))
        put_idp_secret(provisioner, stack.environment, dict(os.environ))
        env.update(stack.environment)
        os.environ.update(stack.environment)
        # `make send-mail` and `make audit` run in other processes against this stack.
        LOCAL_ENV.parent.mkdir(exist_ok=True)
        LOCAL_ENV.write_text(
            json.dumps({k: v for k, v in env.items() if k.startswith(("AWS_", "SEALPOST_"))}, indent=2)
        )
        os.environ["SEALPOST_LOCAL_MODE"] = "true"
        progress("seeding demo data (an associate, a partner, threads)")
        services = services_module.current()
        seed_associate(services, DEMO_ASSOCIATE, DEMO_ASSOCIATE_PASSWORD, "Demo Associate")
        endpoint = env["AWS_ENDPOINT_URL"]
        demo = seed_demo(services, lambda: [(m.recipients, m.text) for m in captured_mail(endpoint)])

        progress(f"starting the portal on port {app_port}")
        app = subprocess.Popen(
            [
                *(sys.executable, "-m", "devtools.local_server", "--host", HOST, "--port", str(app_port)),
                *("--download-port", str(download_port), "--stage", "dev"),
            ],
            cwd=ROOT,
            env=env,
        )
        children.append(app)
        wait_for_port(app_port, app, "the local server")
        print(
            "\n"
            f"  Sealpost is running at {portal_url}/  (AWS stand-in: moto on port {moto_port})\n"
            f"  Sign in as the demo associate:  {DEMO_ASSOCIATE}  /  {DEMO_ASSOCIATE_PASSWORD}\n"
            f"  Sign in as the demo partner:    {demo.partner_username}  /  {demo.partner_password}\n"
            f"  Mail the app sends:  {portal_url}/local/mail   or   make mail\n"
            "  Send a mail through the gateway:  make send-mail TO=someone@clinic.example\n"
            "  Ctrl-C stops everything.\n",
            flush=True,
        )
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
