"""EventBridge-style content filtering, as Lambda event source mappings apply FilterCriteria."""

from __future__ import annotations

from typing import Any

_MISSING = object()


def matches(pattern: dict[str, Any], event: Any) -> bool:
    for key, rule in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(rule, dict):
            if value is _MISSING or not matches(rule, value):
                return False
        elif isinstance(rule, list):
            if not any(_match_value(r, value) for r in rule):
                return False
        else:
            raise ValueError(f"invalid filter rule for {key!r}: {rule!r}")
    return True


def _match_value(rule: Any, value: Any) -> bool:
    if isinstance(rule, dict):
        ((op, arg),) = rule.items()
        if op == "exists":
            return (value is not _MISSING) == bool(arg)
        if value is _MISSING:
            return False
        if op == "prefix":
            return isinstance(value, str) and value.startswith(arg)
        if op == "suffix":
            return isinstance(value, str) and value.endswith(arg)
        if op == "anything-but":
            excluded = arg if isinstance(arg, list) else [arg]
            return value not in excluded
        if op == "numeric":
            return _numeric(arg, value)
        raise ValueError(f"filter operator {op!r} is not supported locally")
    if value is _MISSING:
        return False
    if isinstance(value, list):
        return rule in value
    return rule == value


def _numeric(conditions: list[Any], value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    ops = {"<": number.__lt__, "<=": number.__le__, "=": number.__eq__, ">": number.__gt__, ">=": number.__ge__}
    return all(ops[conditions[i]](float(conditions[i + 1])) for i in range(0, len(conditions), 2))
