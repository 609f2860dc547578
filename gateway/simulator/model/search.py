"""`PUT entity/find`: JSON Search Parameters in, JSON Identifier Lists (with Sort Key) out.

Two request forms, as OL Connect takes them (FIDELITY B3):

* 2019.2+: ``{"ruleType": "RULESET", "condition": "ALL"|"ANY"|"NOTALL"|"NOTANY", "rules": [...]}``
  with ``{"ruleType": "VALUE", "fieldName", "condition": "EQ"…, "value1"}`` and
  ``{"ruleType": "PROPERTY", "property", "condition", "value"}`` rules;
* the older form the vendor's client sends: ``{"operator": "AND"|"OR", "rules": [...]}`` with
  ``{"type": "value"|"property", "name", "condition": "EQUAL"…, "value"}`` and
  ``{"type": "IN"|"NOT IN", "identifiers": [...]}`` rules.

`sort` and `group` (``[{"type": "value"|"property", "name", "numeric"?, "order"}]``) and
`setIds` sit beside `search`. The answer is one list per group of
``{"identifier", "sortkey"}``. A body OL Connect cannot read answers 500 "Invalid JSON
structure". Rules on document properties (size, duplex, media, binding, template) have no
counterpart in the simulated entities: they answer a 500 that says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Final

from gateway.simulator.model import records
from gateway.simulator.model.entities import Entities, Family
from gateway.simulator.model.errors import SimulatorError
from gateway.simulator.model.queries import existing_ids

#: The `entity` values of a search and the family each names.
FIND_ENTITIES: Final = {
    f.value.upper(): f
    for f in (
        Family.DATARECORDS,
        Family.DATASETS,
        Family.CONTENTITEMS,
        Family.CONTENTSETS,
        Family.JOBS,
        Family.JOBSETS,
    )
}
#: Where each family's `setIds` restriction looks: the set above it.
_SET_OF: Final = {
    Family.DATARECORDS: Family.DATASETS,
    Family.CONTENTITEMS: Family.CONTENTSETS,
    Family.JOBS: Family.JOBSETS,
}
_COMBINE: Final[dict[str, Callable[[list[bool]], bool]]] = {
    "ALL": all,
    "ANY": any,
    "NOTALL": lambda results: not all(results),
    "NOTANY": lambda results: not any(results),
    "AND": all,
    "OR": any,
}
#: Older condition names and the 2019.2+ names they mean.
_LEGACY_CONDITIONS: Final = {
    "EQUAL": "EQ",
    "NOTEQUAL": "NE",
    "LESS": "LT",
    "GREAT": "GT",
    "LESSEQUAL": "LTE",
    "GREATEQUAL": "GTE",
    "STARTSWITH": "STARTS_WITH",
    "ENDSWITH": "ENDS_WITH",
    "CONTAINS": "CONTAINS",
    "LIKE": "LIKE",
    "NLIKE": "NOT_LIKE",
    "IN": "IN",
    "NOT IN": "NOT IN",
}
Match = Callable[[int], bool]


class Invalid(Exception):
    """The body is not a search OL Connect can read."""


def invalid(detail: str) -> SimulatorError:
    return SimulatorError(HTTPStatus.INTERNAL_SERVER_ERROR, "Invalid JSON structure", detail)


def find(entities: Entities, body: object) -> list[list[dict[str, Any]]]:
    """Run one search; 500 JSON Error for a body that is not one."""
    try:
        return _find(entities, body)
    except Invalid as exc:
        raise invalid(str(exc)) from None


def _find(entities: Entities, body: object) -> list[list[dict[str, Any]]]:
    if not isinstance(body, dict) or body.get("entity") not in FIND_ENTITIES:
        raise Invalid(f"entity must be one of {', '.join(FIND_ENTITIES)}")
    family = FIND_ENTITIES[body["entity"]]
    matches = _search(entities, family, body.get("search"))
    sort = _order_rules(body.get("sort", []), "sort")
    group = _order_rules(body.get("group", []), "group")
    candidates = _restricted(entities, family, body.get("setIds"))
    found = [entity_id for entity_id in candidates if matches(entity_id)]
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for entity_id in found:
        key = tuple(_value(entities, family, entity_id, rule) for rule in group)
        groups.setdefault(key, []).append(
            {
                "identifier": entity_id,
                "sortkey": "|".join(_value(entities, family, entity_id, r) for r in sort),
            }
        )
    answer = []
    for key in sorted(groups, reverse=any(r["order"] == "DESC" for r in group)):
        items = groups[key]
        for rule in reversed(sort):  # stable sorts, the first rule last

            def by(item: dict[str, Any], rule: dict[str, Any] = rule) -> tuple[float, str]:
                return _sortable(_value(entities, family, item["identifier"], rule), rule)

            items.sort(key=by, reverse=rule["order"] == "DESC")
        answer.append(items)
    return answer


def _restricted(entities: Entities, family: Family, set_ids: object) -> list[int]:
    ids = list(existing_ids(entities, family))
    if set_ids is None:
        return ids
    if not isinstance(set_ids, list) or not all(_is_id(i) for i in set_ids):
        raise Invalid("setIds must be a list of ids")
    wanted = set(set_ids)
    above = _SET_OF.get(family)
    if above is None:  # a set family: the sets themselves
        return [i for i in ids if i in wanted]
    return [i for i in ids if (entities.parent(family, i) or (above, 0))[1] in wanted]


def _order_rules(rules: object, where: str) -> list[dict[str, Any]]:
    if not isinstance(rules, list):
        raise Invalid(f"{where} must be a list")
    for rule in rules:
        if (
            not isinstance(rule, dict)
            or rule.get("type") not in ("value", "property")
            or not isinstance(rule.get("name"), str)
            or rule.get("order", "ASC") not in ("ASC", "DESC")
        ):
            raise Invalid(f"{where}: each rule is {{type: value|property, name, order}}")
        rule.setdefault("order", "ASC")
    return rules


def _sortable(value: str, rule: dict[str, Any]) -> tuple[float, str]:
    if rule.get("numeric"):
        try:
            return float(value), value
        except ValueError:
            return float("inf"), value
    return 0.0, value


def _value(entities: Entities, family: Family, entity_id: int, rule: dict[str, Any]) -> str:
    """A field (of the record, or of the record a content item renders) or a property."""
    if rule["type"] == "property":
        values = entities.properties(family, entity_id)
    elif family is Family.DATARECORDS:
        values = records.fields(entities, entity_id)
    elif family is Family.CONTENTITEMS:
        values = records.fields(entities, entities.item_record(entity_id))
    else:
        return ""
    return next((v["value"] for v in values if v["name"] == rule["name"]), "")


def _search(entities: Entities, family: Family, search: object) -> Match:
    if not isinstance(search, dict):
        raise Invalid("search must be an object")
    if "ruleType" in search:
        return _rule(entities, family, search)
    if "operator" in search:
        return _legacy_group(entities, family, search)
    raise Invalid("search needs ruleType (2019.2+) or operator")


def _rule(entities: Entities, family: Family, rule: object) -> Match:
    """One 2019.2+ rule or rule set."""
    if not isinstance(rule, dict) or not isinstance(rule.get("ruleType"), str):
        raise Invalid("each rule needs a ruleType")
    kind = rule["ruleType"]
    if kind == "RULESET":
        rules = rule.get("rules")
        combine = _COMBINE.get(str(rule.get("condition", "ALL")))
        if not isinstance(rules, list) or combine is None or rule.get("condition") in ("AND", "OR"):
            raise Invalid("a RULESET has a condition ALL|ANY|NOTALL|NOTANY and rules")
        parts = [_rule(entities, family, part) for part in rules]
        return lambda entity_id: combine([part(entity_id) for part in parts])
    if kind == "VALUE":
        name, other = rule.get("fieldName"), rule.get("value1")
        return _comparison(entities, family, "value", name, rule.get("condition"), other)
    if kind == "PROPERTY":
        name, expected = rule.get("property"), rule.get("value")
        return _comparison(entities, family, "property", name, rule.get("condition"), expected)
    raise SimulatorError(
        HTTPStatus.INTERNAL_SERVER_ERROR, f"rule type {kind} is not simulated", kind
    )


def _legacy_group(entities: Entities, family: Family, group: dict[str, Any]) -> Match:
    rules, combine = group.get("rules"), _COMBINE.get(str(group.get("operator")))
    if not isinstance(rules, list) or group.get("operator") not in ("AND", "OR"):
        raise Invalid("a search group has an operator AND|OR and rules")
    assert combine is not None  # noqa: S101 - AND and OR are both in _COMBINE
    parts = [_legacy_rule(entities, family, rule) for rule in rules]
    return lambda entity_id: combine([part(entity_id) for part in parts])


def _legacy_rule(entities: Entities, family: Family, rule: object) -> Match:
    if not isinstance(rule, dict):
        raise Invalid("each rule is an object")
    if "operator" in rule:
        return _legacy_group(entities, family, rule)
    kind = rule.get("type")
    if kind in ("IN", "NOT IN"):
        ids = rule.get("identifiers")
        if not isinstance(ids, list) or not all(_is_id(i) for i in ids):
            raise Invalid("an IN rule lists identifiers")
        wanted = set(ids)
        return lambda entity_id: (entity_id in wanted) == (kind == "IN")
    if kind in ("value", "property"):
        condition = _LEGACY_CONDITIONS.get(str(rule.get("condition", "EQUAL")))
        return _comparison(entities, family, kind, rule.get("name"), condition, rule.get("value"))
    if isinstance(kind, str) and kind:
        raise SimulatorError(
            HTTPStatus.INTERNAL_SERVER_ERROR, f"rule type {kind} is not simulated", kind
        )
    raise Invalid("each rule needs a type")


def _comparison(
    entities: Entities, family: Family, kind: str, name: object, condition: object, other: object
) -> Match:
    if not isinstance(name, str) or condition not in _TESTS:
        raise Invalid(f"a {kind} rule needs a name and a known condition")
    test = _TESTS[str(condition)]
    field_rule = {"type": kind, "name": name}
    if isinstance(other, dict):  # {"type": "FIELD", "value": <other field>}
        if other.get("type") != "FIELD" or not isinstance(other.get("value"), str):
            raise Invalid("a comparison value is a string or {type: FIELD, value}")
        other_rule = {"type": "value", "name": other["value"]}
        return lambda entity_id: test(
            _value(entities, family, entity_id, field_rule),
            _value(entities, family, entity_id, other_rule),
        )
    if isinstance(other, list):
        if not all(isinstance(item, str) for item in other):
            raise Invalid("a list of values holds strings")
        wanted = ",".join(other)
    elif isinstance(other, str | int | float) and not isinstance(other, bool):
        wanted = str(other)
    else:
        raise Invalid("a comparison value is a string")
    return lambda entity_id: test(_value(entities, family, entity_id, field_rule), wanted)


def _number_or_text(value: str) -> tuple[int, float, str]:
    try:
        return 0, float(value), ""
    except ValueError:
        return 1, 0.0, value


def _like(value: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _in(value: str, wanted: str) -> bool:
    return value in [item.strip() for item in wanted.split(",")]


_TESTS: Final[dict[str, Callable[[str, str], bool]]] = {
    "EQ": lambda a, b: a == b,
    "NE": lambda a, b: a != b,
    "LT": lambda a, b: _number_or_text(a) < _number_or_text(b),
    "GT": lambda a, b: _number_or_text(a) > _number_or_text(b),
    "LTE": lambda a, b: _number_or_text(a) <= _number_or_text(b),
    "GTE": lambda a, b: _number_or_text(a) >= _number_or_text(b),
    "CONTAINS": lambda a, b: b in a,
    "NOT_CONTAINS": lambda a, b: b not in a,
    "STARTS_WITH": lambda a, b: a.startswith(b),
    "ENDS_WITH": lambda a, b: a.endswith(b),
    "LIKE": _like,
    "NOT_LIKE": lambda a, b: not _like(a, b),
    "IN": _in,
    "NOT IN": lambda a, b: not _in(a, b),
}


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
