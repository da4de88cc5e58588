"""Where a stack's settings come from when a command runs from a terminal.

A deployed stack: its API function's own environment. CloudFormation names the function
(``DescribeStackResource`` of Chalice's logical id ``APIHandler``), Lambda gives its
variables (``GetFunctionConfiguration``), so the command uses exactly the tables, buckets,
keys and policies the deployed code uses. The operator is the IAM caller (``GetCallerIdentity``).

The local stand-in of ``make run``: the file it writes (``.local/env.json``), with the OS user
as the operator.

Either way the result is a mapping of ``SEALPOST_*`` variables and the region, for
``Settings.from_env``.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from chalicelib.errors import ConfigurationError

API_FUNCTION = "APIHandler"  # the logical id Chalice gives the API function in its template
ClientFactory = Callable[[str, str], Any]
_REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")


@dataclass(frozen=True)
class StackEnvironment:
    variables: dict[str, str]  # for Settings.from_env
    operator: str  # who runs the command
    description: str  # which stack, for the command's messages


def default_region(environ: Mapping[str, str]) -> str:
    """The region from boto3's usual configuration (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile)."""
    region = next((environ[name] for name in _REGION_VARIABLES if environ.get(name)), None)
    region = region or boto3.session.Session().region_name
    if not region:
        raise ConfigurationError("no AWS region: pass --region, set AWS_REGION or configure a profile's region")
    return region


def caller_name(arn: str) -> str:
    """The last part of an IAM caller's ARN: the user, or the role session (often the person's name)."""
    return arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1]


def of_stack(name: str, region: str, clients: ClientFactory) -> StackEnvironment:
    """The settings of the deployed stack ``name``: its API function's environment."""
    detail = clients("cloudformation", region).describe_stack_resource(StackName=name, LogicalResourceId=API_FUNCTION)
    function = detail["StackResourceDetail"]["PhysicalResourceId"]
    configuration = clients("lambda", region).get_function_configuration(FunctionName=function)
    environment = configuration.get("Environment") or {}
    if environment.get("Error"):
        code = environment["Error"].get("ErrorCode", "unknown error")
        raise ConfigurationError(f"Lambda cannot show the environment of {function}: {code}")
    variables = {k: str(v) for k, v in (environment.get("Variables") or {}).items() if k.startswith("SEALPOST_")}
    if not variables:
        raise ConfigurationError(f"the function {function} of stack {name} has no SEALPOST_ settings")
    # Lambda sets AWS_REGION itself at run time; the stack's region is the one asked.
    variables["AWS_REGION"] = region
    caller = clients("sts", region).get_caller_identity()["Arn"]
    return StackEnvironment(variables, caller_name(str(caller)), f"stack {name} ({region})")


def of_file(path: str, environ: Mapping[str, str] = os.environ) -> StackEnvironment:
    """The settings `make run` wrote for its local stand-in (a JSON object of variables)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"{path} does not exist: start the local stack with `make run` first") from None
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path} cannot be read as JSON: {type(exc).__name__}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigurationError(f"{path} must hold one JSON object of variable names and text values")
    endpoint = data.get("AWS_ENDPOINT_URL")
    if endpoint and environ.get("AWS_ENDPOINT_URL") != endpoint:
        # Without it the command would send the stand-in's names to real AWS.
        raise ConfigurationError(f"{path} is a local stand-in at {endpoint}: set AWS_ENDPOINT_URL={endpoint}")
    variables = {k: v for k, v in data.items() if k.startswith("SEALPOST_") or k in _REGION_VARIABLES}
    return StackEnvironment(variables, local_user(), f"the local stack of {path}")


def local_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (getpass raises OSError or KeyError)
        return "unknown"
