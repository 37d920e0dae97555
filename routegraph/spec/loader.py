"""Loading spec files: YAML -> params -> templates/blocks/expressions -> validated :class:`Spec`.

>>> spec = loads_spec('''
... name: two
... input: {shape: [4]}
... nodes:
...   - {name: out, kind: classifier, input: image, classes: 3}
... ''')
>>> spec.nodes[0].classes, spec.where("nodes.0.classes")["line"]
(3, 5)

Every mistake found is reported at once, as one :class:`~routegraph.errors.SpecError`
whose ``problems`` each carry file, line, column and dotted path. The loader
checks the language (YAML, keys, types, expressions, templates, blocks,
params, duplicate names); graph checks (references, cycles, shapes, routing)
belong to the compiler, which locates its errors with :meth:`Spec.where`.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

from pydantic import ValidationError

from ..errors import ConfigError, Problem, SpecError, did_you_mean, known_names
from ..imports import allowed_prefixes, allowed_text, refusal
from ..kinds.registry import RESERVED, get_kind
from .expand import Expander, Frame, check_identifier, scoped, unscoped
from .expressions import POISON
from ..located.problems import Problems, add_validation_errors
from .schema import Spec, SpecFile, spec_types
from ..located.tree import Loc, LocatedValue, located, parse_located, parse_scalar, plain, read_text, record_locations

_TOP_KEYS = tuple(field.alias or name for name, field in SpecFile.model_fields.items())


def load_spec(path: str | os.PathLike, overrides: Mapping[str, Any] | None = None, *,
              allow_import: Iterable[str] | None = None) -> Spec:
    """Read, expand and validate the spec file at ``path``.

    ``overrides`` replace params before expansion (``{"width": 2}``); an
    unknown name is a :class:`SpecError`. ``allow_import``: module prefixes that
    ``module`` nodes may import besides ``torch.nn`` and ``$ROUTEGRAPH_ALLOW_IMPORT``'s
    (checked here without importing anything; see :mod:`routegraph.imports`).
    """
    file = os.fspath(path)
    return loads_spec(read_text(file), file=file, overrides=overrides, allow_import=allow_import)


def parse_overrides(items: Iterable[str] | None) -> dict[str, Any]:
    """Parse ``--set NAME=VALUE`` options; values are YAML scalars or flow lists.

    >>> parse_overrides(["width=2", "name=wide", "sizes=[8, 4]", "eps=1e-6"])
    {'width': 2, 'name': 'wide', 'sizes': [8, 4], 'eps': 1e-06}
    """
    out: dict[str, Any] = {}
    for item in items or ():
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"--set {item!r}: expected NAME=VALUE, e.g. --set width=2")
        shown = item if len(item) <= 60 else item[:57] + "..."
        try:
            value = parse_scalar(text) if text.strip() else ""
        except SpecError as exc:
            reason = exc.problems[0].message.removeprefix("invalid YAML: ")
            raise ConfigError(f"--set {shown!r}: the value is not valid YAML ({reason})") from None
        if isinstance(value, dict):
            raise ConfigError(f"--set {shown!r}: a value must be a number, string, boolean or list")
        out[name] = value
    return out


def loads_spec(text: str, file: str = "<spec>", overrides: Mapping[str, Any] | None = None, *,
               allow_import: Iterable[str] | None = None) -> Spec:
    """Expand and validate a spec given as YAML text; ``file`` names it in messages
    (``overrides``, ``allow_import``: as for :func:`load_spec`)."""
    prefixes = allowed_prefixes(allow_import)
    root = parse_located(text, file)
    problems = Problems(file)
    if not isinstance(root.v, dict):
        problems.add("the top level of a spec must be a mapping", root.loc, allowed="keys: " + ", ".join(_TOP_KEYS))
        problems.raise_if_any()
    scope, params, params_y = _params(root, dict(overrides or {}), problems)
    expander = Expander(problems, scope, {}, {}, {}, set())
    top: dict[str, LocatedValue] = dict(root.v)
    failed: set[str] = set()
    for key in ("name", "description", "input"):
        if key in top:
            top[key] = expander.evaluate(top[key], scope, failed, key, "")
    top["params"] = params_y
    top_y = LocatedValue(top, root.loc, root.keys)
    data = plain(top_y)
    spec_file = None
    try:
        spec_file = SpecFile.model_validate(data)
    except ValidationError as exc:
        before = set(problems.paths())
        add_validation_errors(problems, exc, data, top_y, SpecFile, failed=failed)
        broken = {p for p in problems.paths() if p not in before}
    else:
        broken = set()
    _setup_definitions(expander, root, broken, problems)
    if "nodes" not in root.v or any(p == "nodes" or p == "<root>" or p == "" for p in broken):
        problems.raise_if_any()
    expander.expand(root.v["nodes"], scope, Frame(), ())
    expander.resolve_references()
    nodes, locations = _validate_nodes(expander, problems, top.get("input"), prefixes)
    problems.raise_if_any()
    if spec_file is None:  # every top-level error followed from one already reported: cannot happen
        raise SpecError(Problem("invalid spec", file=file, line=1, col=1))
    for key in ("name", "description", "input"):
        if key in top:
            record_locations(top[key], key, locations)
    for key, value in params_y.v.items():
        record_locations(value, f"params.{key}", locations)
    locations["nodes"] = (root.v["nodes"].loc.line, root.v["nodes"].loc.col, "nodes")
    return Spec(
        name=spec_file.name, description=spec_file.description, file=file, params=params,
        input=spec_file.input, nodes=tuple(nodes), locations=locations, allow_import=prefixes,
    )


# ---------------------------------------------------------------- steps
def _params(root: LocatedValue, overrides: dict[str, Any], problems: Problems) -> tuple[dict, dict, LocatedValue]:
    """Evaluate params in order (each sees the earlier ones), applying overrides.

    Returns the expression scope, the plain params, and their located values.
    """
    params_y = root.get("params")
    entries = params_y.v if params_y is not None and isinstance(params_y.v, dict) else {}
    anchor = params_y if params_y is not None else root
    for name in overrides:
        if name not in entries:
            hint = did_you_mean(name, entries)
            known = known_names(entries)
            problems.add(f"unknown parameter {name!r} in an override" + (f"; {hint}" if hint else ""),
                         anchor.loc, f"params.{name}",
                         allowed=f"params: {known}" if known else "this spec declares no params")
    scope: dict[str, Any] = {}
    params: dict[str, Any] = {}
    located_values: dict[str, LocatedValue] = {}
    top = Frame()
    expander = Expander(problems, {}, {}, {}, {}, set())
    for name, value in entries.items():
        why = check_identifier(name)
        if why:
            problems.add(f"invalid parameter name {name!r}: {why}", params_y.key_loc(name), f"params.{name}")
            continue
        if name in overrides:
            value = located(overrides[name], value.loc)
        failed: set[str] = set()
        evaluated = expander.evaluate(value, scope, failed, f"params.{name}", "")
        if failed:
            scope[name] = POISON
            continue
        params[name] = unscoped(plain(evaluated))
        scope[name] = scoped(params[name], top)
        located_values[name] = evaluated
    keys = {k: params_y.key_loc(k) for k in located_values} if params_y is not None else {}
    loc = params_y.loc if params_y is not None else Loc(root.loc.line, root.loc.col, "params")
    return scope, params, LocatedValue(located_values, loc, keys)


def _setup_definitions(expander: Expander, root: LocatedValue, broken_paths: set[str], problems: Problems) -> None:
    """Register the valid templates and blocks; note the malformed ones."""
    for section in ("templates", "blocks"):
        section_y = root.get(section)
        if section_y is None or not isinstance(section_y.v, dict):
            continue
        for name, body in section_y.v.items():
            key = f"{section}.{name}"
            if any(p == key or p.startswith(key + ".") or p == section for p in broken_paths):
                expander.broken.add(key)
                continue
            if section == "blocks":
                expander.blocks[name] = body
                continue
            args_y = body.get("args")
            args = [str(a.v) for a in args_y.v] if args_y is not None else []
            seen: set[str] = set()
            for i, arg in enumerate(args):
                why = check_identifier(arg) or ("is repeated" if arg in seen else "")
                seen.add(arg)
                if why:
                    problems.add(f"invalid template argument {arg!r}: {why}", args_y.v[i].loc)
                    expander.broken.add(key)
            if key not in expander.broken:
                expander.templates[name] = body
                expander.template_args[name] = args


def _validate_nodes(expander: Expander, problems: Problems, input_y: LocatedValue | None, prefixes: tuple[str, ...]):
    nodes = []
    locations: dict[str, tuple[int, int, str]] = {}
    first_seen: dict[str, Loc] = {}
    input_name = "image"
    if input_y is not None and isinstance(input_y.v, dict) and isinstance(getattr(input_y.v.get("name"), "v", None), str):
        input_name = input_y.v["name"].v
    types = spec_types()  # the kinds registered now
    for pending in expander.pending():
        if "kind" in pending.failed:
            continue
        data = unscoped(plain(pending.y))
        if data.get("kind") == "junction":
            _check_router_kinds(pending, problems, types)
        try:
            node = types.node_adapter.validate_python(data)
        except ValidationError as exc:
            add_validation_errors(problems, exc, data, pending.y, types.node_union, instance=pending.instance,
                                  failed=pending.failed)
            continue
        if pending.failed:
            continue
        _check_imports(node, pending, problems, prefixes)
        name_y = pending.y.v["name"]
        if node.name == input_name:
            problems.add(f"node name {node.name!r} is the name of the network input", name_y.loc,
                         instance=pending.instance)
        elif node.name in first_seen:
            first = first_seen[node.name]
            problems.add(f"duplicate node name {node.name!r} (first defined at line {first.line})", name_y.loc,
                         instance=pending.instance)
        else:
            first_seen[node.name] = name_y.loc
        record_locations(pending.y, f"nodes.{len(nodes)}", locations)
        nodes.append(node)
    return nodes, locations


def _check_imports(node, pending, problems: Problems, prefixes) -> None:
    """A node's import targets (its kind's ``imports``) against the permission, without importing."""
    if node.kind in RESERVED:  # a junction: the compiler's own node, no declaration
        return
    declared = get_kind(node.kind).imports
    for field, target in (declared(node.model_dump()) if declared else {}).items():
        why = refusal(target, prefixes)
        if why:
            problems.add(why, pending.y.v[field].loc, allowed=allowed_text(prefixes), instance=pending.instance)


def _check_router_kinds(pending, problems: Problems, types) -> None:
    """Layer kinds that exist but cannot be router steps (a pyramid, a concat, ...)."""
    router = pending.y.get("router")
    layers = router.get("layers") if router is not None else None
    if layers is None or not isinstance(layers.v, list):
        return
    for layer in layers.v:
        kind = layer.get("kind")
        if kind is not None and kind.v in types.layer_kinds and kind.v not in types.router_kinds:
            problems.add(f"a router cannot contain a {kind.v!r} layer", kind.loc,
                         allowed="router layers: " + ", ".join(types.router_kinds), instance=pending.instance)
