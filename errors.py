"""Bad user input: one exception type (the CLI prints its message on one line and exits non-zero), and the checks
that raise it for options objects (types, unknown keywords) and registries (a reused name)."""


class UserError(Exception):
    """Raised for input the user can fix (unknown task, bad parameter, missing weights, offline hub id...)."""


def check_option_types(options) -> None:
    """Refuse a dataclass of options whose fields have the wrong type, with a UserError naming the field (the API
    takes what a caller passes; the CLI has parsed already): `folds="3"`, `seeds=2.5` or `causal=1` are refused, an
    int stands for a float, a list for a tuple (converted in place on a frozen dataclass)."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(type(options))
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        try:
            object.__setattr__(options, f.name, _coerce(value, hints[f.name]))
        except TypeError:
            raise UserError(f"{f.name}={value!r}: expected {_type_name(hints[f.name])}") from None


def _coerce(value, hint):
    import types
    import typing

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg)
            except TypeError:
                pass
        raise TypeError
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            raise TypeError
        return tuple(_coerce(v, args[0]) for v in value)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise TypeError
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, bool, str) and isinstance(value, hint) and (hint is bool or not isinstance(value, bool)):
        return value
    raise TypeError


def _type_name(hint) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


def replace_checked(options, overrides: dict):
    """dataclasses.replace(options, **overrides), with an unknown field named in a UserError (not a TypeError)."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(options)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UserError(f"unknown option {unknown[0]!r}; the options are: {', '.join(sorted(known))}")
    return dataclasses.replace(options, **overrides)


def register(registry: dict, cls: type, kind: str) -> None:
    """Put `cls` in `registry` under `cls.name`, refusing a name another class already holds (the same class
    defined again, as when its module is re-imported, replaces itself)."""
    held = registry.get(cls.name)
    if held is not None and (held.__module__, held.__qualname__) != (cls.__module__, cls.__qualname__):
        raise UserError(f"{kind} name {cls.name!r} is taken by {held.__module__}.{held.__qualname__}; "
                        f"{cls.__module__}.{cls.__qualname__} needs another name")
    registry[cls.name] = cls


def disk_full(exc: BaseException) -> str | None:
    """If `exc` (or what caused it) is a full disk or an exhausted quota, say so in words; else None. Writers
    report it in their own ways (OSError ENOSPC; safetensors' SafetensorError carries only the message)."""
    import errno

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"no space left on the device while writing{f' {exc.filename}' if exc.filename else ''}"
        if "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc):
            return "no space left on the device while writing"
        exc = exc.__cause__ or exc.__context__
    return None
