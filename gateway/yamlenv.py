"""YAML with `${VAR}` / `${VAR:-default}` expanded per scalar, problems named by key path."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def parse_yaml(
    text: str, environ: Mapping[str, str]
) -> tuple[Any, list[str], dict[tuple[str, ...], str]]:
    """Parse YAML, expanding `${VAR}` in scalars before their type is resolved.

    Expanding per scalar (not in the raw text) keeps the "replaced before
    parsing" semantics — `port: ${PORT}` is still an int — while a password
    holding `#`, `: ` or quotes cannot break the YAML around it. Also returns
    the expanded text of every plain scalar that was expanded, by key path.
    """
    loader = yaml.SafeLoader(text)
    problems: list[str] = []
    expanded: dict[tuple[str, ...], str] = {}
    try:
        node = loader.get_single_node()
        if node is None:
            return None, problems, expanded
        problems += _duplicate_keys(node, ())
        for path, scalar in _scalars(node, ()):
            if "${" in scalar.value:
                key_path = ".".join(path) or "config"
                scalar.value = _expand(scalar.value, key_path, environ, problems)
                if scalar.style is None:  # plain scalar: resolve its type as if typed in
                    expanded[path] = scalar.value
                    scalar.tag = loader.resolve(  # type: ignore[no-untyped-call]
                        yaml.ScalarNode, scalar.value, (True, False)
                    )
        return loader.construct_document(node), problems, expanded
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, [f"config: YAML syntax error{where}: {exc.problem or exc.context}"], {}
    except yaml.YAMLError as exc:
        return None, [f"config: YAML error: {exc}"], {}
    finally:
        loader.dispose()


def _duplicate_keys(node: yaml.Node, path: tuple[str, ...]) -> list[str]:
    """A key given twice in one mapping: YAML would silently keep the last one."""
    problems: list[str] = []
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += _duplicate_keys(item, (*path, str(index)))
    elif isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            key_path = (*path, str(key.value))
            if key.value in seen:
                line = key.start_mark.line + 1
                problems.append(f"{'.'.join(key_path)}: duplicate key (line {line})")
            seen.add(key.value)
            problems += _duplicate_keys(value, key_path)
    return problems


def _scalars(
    node: yaml.Node, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], yaml.ScalarNode]]:
    if isinstance(node, yaml.ScalarNode):
        yield path, node
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _scalars(item, (*path, str(index)))
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _scalars(value, (*path, str(key.value)))


def _expand(value: str, key_path: str, environ: Mapping[str, str], problems: list[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        problems.append(f"{key_path}: environment variable {name} is not set and has no default")
        return ""

    return _ENV_REF.sub(replace, value)
