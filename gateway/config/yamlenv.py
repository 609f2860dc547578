"""YAML with `${VAR}` / `${VAR:-default}` expanded per scalar, problems named by key path.

A config is small: a document whose aliases expand it beyond `MAX_NODES` nodes
(a "billion laughs"), an alias that contains itself, or nesting deeper than
`MAX_DEPTH` is refused with one line before anything walks it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
MAX_NODES = 100_000
MAX_DEPTH = 64


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
        shape = _shape_problem(node)
        if shape is not None:
            return None, [shape], {}
        problems += _duplicate_keys(node, ())
        seen: set[int] = set()
        for path, scalar in _scalars(node, ()):
            if "${" in scalar.value and id(scalar) not in seen:
                seen.add(id(scalar))  # an aliased scalar is expanded once
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
    except RecursionError:  # PyYAML composes nested collections recursively
        return None, [f"config: YAML nested deeper than {MAX_DEPTH} levels"], {}
    finally:
        loader.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _shape_problem(root: yaml.Node) -> str | None:
    """A recursive alias, more than MAX_NODES nodes once aliases expand, or deep nesting.

    Walks the node graph once, without recursion: each node's expanded size is
    computed from its children's, so a billion laughs costs its few real nodes.
    """
    sizes: dict[int, int] = {}
    on_path = {id(root)}
    stack = [(root, iter(_children(root)))]
    while stack:
        node, pending = stack[-1]
        child = next(pending, None)
        if child is None:
            stack.pop()
            on_path.discard(id(node))
            size = sizes[id(node)] = 1 + sum(sizes[id(c)] for c in _children(node))
            if size > MAX_NODES:
                return f"config: YAML aliases expand the file beyond {MAX_NODES} nodes"
        elif id(child) in on_path:
            line = child.start_mark.line + 1
            return f"config: YAML alias refers to a collection that contains it (line {line})"
        elif id(child) not in sizes:
            if len(stack) >= MAX_DEPTH:
                return f"config: YAML nested deeper than {MAX_DEPTH} levels"
            on_path.add(id(child))
            stack.append((child, iter(_children(child))))
    return None


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
    if "${" in _ENV_REF.sub("", value):
        # `${OLCONNECT_PASSWORD` would otherwise become a literal password.
        problems.append(f"{key_path}: unbalanced '${{': write ${{NAME}} or ${{NAME:-default}}")
        return ""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        problems.append(f"{key_path}: environment variable {name} is not set and has no default")
        return ""

    return _ENV_REF.sub(replace, value)
