"""envs/*.yaml (one conda environment per rule family) agree with requirements.lock and cover their rules' imports.

No conda is reachable here to build them, so this checks what can be checked without one: every pin equals the
lock's, and every package that a rule's script imports (directly or through dlbio) is installed by the rule's env.
"""

import ast
import re
import sys
from importlib import metadata

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from helpers import REPO

ENVS = sorted((REPO / "envs").glob("*.yaml"))
DISTRIBUTIONS = metadata.packages_distributions()


def lock():
    lines = (REPO / "requirements.lock").read_text().splitlines()
    return dict(
        (canonicalize_name(name), version) for name, version in (line.split("==") for line in lines if "==" in line)
    )


def pip_lines(env):
    deps = yaml.safe_load(env.read_text())["dependencies"]
    return next(d["pip"] for d in deps if isinstance(d, dict))


def closure(requirements):
    """Distributions installed by ``requirements`` and everything they require (as installed here)."""
    todo, seen = list(requirements), set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        extras = req.extras or {""}
        for dep in map(Requirement, metadata.requires(req.name) or []):
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in extras):
                todo.append(dep)
    return seen


def env_distributions(env):
    reqs = [Requirement(line) for line in pip_lines(env) if not line.startswith("-e")]
    editable = next(line for line in pip_lines(env) if line.startswith("-e"))
    return closure(reqs + [Requirement(editable.replace("-e ..", "dlbio"))])


def module_imports(path):
    """Top-level names imported by a Python file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


def third_party_imports(script):
    """Third-party top-level packages a script needs, following its imports through dlbio's modules."""
    todo, seen, found = [script], set(), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in module_imports(path):
            top = name.split(".")[0]
            if top == "dlbio":
                module = REPO / "src" / name.replace(".", "/")
                todo += [p for p in (module.with_suffix(".py"), module / "__init__.py") if p.exists()]
                todo += [p.parent / "__init__.py" for p in [module] if (p.parent / "__init__.py").exists()]
            elif top not in sys.stdlib_module_names:
                found.add(top)
    return found


def rule_envs_and_scripts():
    """(rule, env file, script) for every rule of rules/*.smk that runs a script."""
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule \w+:)", smk.read_text()):
            rule = re.match(r"rule (\w+):", block)
            script = re.search(r'script:\s+"\.\./(scripts/[\w.]+)"', block)
            if rule and script:
                env = re.search(r'conda:\s+"\.\./(envs/[\w.]+)"', block)
                yield rule.group(1), env and REPO / env.group(1), REPO / script.group(1)


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_env_pins_equal_the_lock(env):
    pinned = lock()
    pins = [Requirement(line) for line in pip_lines(env) if not line.startswith("-e")]
    assert pins
    for req in pins:
        version = str(req.specifier).removeprefix("==")
        assert pinned[canonicalize_name(req.name)] == version, f"{env.name}: {req} but the lock has {version}"


@pytest.mark.parametrize("rule, env, script", list(rule_envs_and_scripts()), ids=lambda x: getattr(x, "name", x))
def test_each_rule_env_installs_what_its_script_imports(rule, env, script):
    assert env is not None and env.exists(), f"rule {rule} has no conda env file"
    installed = env_distributions(env)
    for module in third_party_imports(script):
        providers = {canonicalize_name(d) for d in DISTRIBUTIONS.get(module, [module])}
        assert providers & installed, f"rule {rule}: its script needs '{module}', which {env.name} does not install"


def test_every_rule_family_has_its_own_env():
    used = {env.name for _, env, _ in rule_envs_and_scripts() if env}
    assert used == {env.name for env in ENVS}
    assert len(used) >= 3
