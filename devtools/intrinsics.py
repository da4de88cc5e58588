"""The template's intrinsic functions and Conditions, resolved for the local stand-in.

devtools/provision.py creates the resources of infra/template.yaml with what this resolves:
``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``, ``Fn::Split``, ``Fn::Select``, ``Fn::If``
(with the template's Conditions) and ``AWS::NoValue``; the tests read the template with it too.
Anything else fails loudly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"

_SUB = re.compile(r"\$\{([^}!][^}]*)\}")

# Parameters without a default get these locally (a deployment must give them).
LOCAL_PARAMETERS = {
    "KeyAdministratorRoleArn": "arn:aws:iam::{account}:role/sealpost-local-key-administrator",
}


class _NoValue:
    """``AWS::NoValue``: the property or list item is left out."""


NO_VALUE = _NoValue()


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        template: dict[str, Any] = yaml.safe_load(handle)
    return template


@dataclass
class Provisioned:
    stack_name: str
    physical: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)


class Resolver:
    def __init__(
        self,
        template: Mapping[str, Any],
        stack: Provisioned,
        region: str,
        account: str,
        parameters: Mapping[str, str],
        strict: bool = True,
    ) -> None:
        self._template = template
        # Not strict when only some resources are made (dynalite): refs to the others
        # resolve to a placeholder that the creators there never use.
        self._strict = strict
        self._stack = stack
        self._pseudo = {
            "AWS::StackName": stack.stack_name,
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        local = {name: value.format(account=account) for name, value in LOCAL_PARAMETERS.items()}
        self._parameters = {
            name: str(parameters.get(name, spec.get("Default", local.get(name, ""))))
            for name, spec in template.get("Parameters", {}).items()
        }
        self._condition_specs: Mapping[str, Any] = template.get("Conditions", {})
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        """The value of one of the template's Conditions (Fn::Equals, Not, And, Or, Condition)."""
        if name not in self._conditions:
            self._conditions[name] = self._truth(self._condition_specs[name])
        return self._conditions[name]

    def _truth(self, value: Any) -> bool:
        ((key, arg),) = value.items()
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::Equals":
            left, right = (str(self.resolve(v)) for v in arg)
            return left == right
        if key == "Fn::Not":
            return not self._truth(arg[0])
        if key == "Fn::And":
            return all(self._truth(v) for v in arg)
        if key == "Fn::Or":
            return any(self._truth(v) for v in arg)
        raise ValueError(f"{key} is not supported in a condition by the local provisioner")

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self._parameters:
            return self._parameters[name]
        if name in self._stack.physical:
            return self._stack.physical[name]
        if not self._strict:
            return f"<not created: {name}>"
        raise KeyError(f"Ref to {name}, which is not created (yet)")

    def get_att(self, name: str, attribute: str) -> str:
        found = self._stack.attributes.get((name, attribute))
        if found is not None:
            return found
        if not self._strict:
            return f"<not created: {name}.{attribute}>"
        raise KeyError(f"GetAtt {name}.{attribute} is not known locally")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::GetAtt":
                name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                # ``${!name}`` is a literal ``${name}`` (e.g. in an Athena location template).
                return _SUB.sub(lambda m: self._sub_one(m.group(1), variables), text).replace("${!", "${")
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(i) for i in self.resolve(items))
            if key.startswith("Fn::"):
                raise ValueError(f"{key} is not supported by the local provisioner")
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _sub_one(self, name: str, variables: Mapping[str, Any]) -> str:
        if name in variables:
            return str(variables[name])
        if "." in name and not name.startswith("AWS::"):
            resource, attribute = name.split(".", 1)
            return self.get_att(resource, attribute)
        return str(self.ref(name))


def _dependencies(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _dependencies(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".", 1)[0])
            elif key == "Fn::If":
                found |= _dependencies(arg[1:])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found |= {m.split(".", 1)[0] for m in _SUB.findall(text)}
                if not isinstance(arg, str):
                    found |= _dependencies(arg[1])
            else:
                found |= _dependencies(arg)
    return found


def creation_order(resources: Mapping[str, Any]) -> list[str]:
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise ValueError(f"circular reference at {name}")
        visiting.add(name)
        for dep in sorted(_dependencies(resources[name].get("Properties", {}))):
            if dep in resources:
                visit(dep)
        visiting.discard(name)
        order.append(name)

    for name in resources:
        visit(name)
    return order
