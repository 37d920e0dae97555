"""Template and block expansion, expression evaluation, reference rewriting.

Input: the located node list of a spec file (see :mod:`routegraph.located.tree`). Output: a
flat list of :class:`Pending` nodes - located trees with every ``${...}``
evaluated, every ``use:`` replaced by the template's nodes (names prefixed
``<as>.``), every router ``block:`` inlined as ``router.layers`` - ready for
validation against the node models.

References (``input``, ``router.reads``, ``sinks``) are resolved *where the
string was written*: a name written in a template body that a node of the same
template instance defines (directly or through a nested instance) gets the
instance's prefix; any other name is global. A string passed as a template
argument (``with: {src: l1.conv}``) is resolved in the caller's instance, so
nested templates can pass their own nodes down.
"""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..errors import did_you_mean, known_names
from .expressions import POISON, ExprError, Poisoned, substitute
from ..located.problems import Problems, add_validation_errors
from .schema import UseSpec
from ..located.tree import Loc, LocatedValue, located, plain

_PASSTHROUGH = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
#: Expression name bound, in a junction's router, to the junction's number of sinks.
N_SINKS = "n_sinks"
#: Limits against runaway expansion (templates that use other templates many times).
MAX_NODES = 100_000
MAX_DEPTH = 64
REF_FIELDS = ("input", "sinks")


@dataclass(eq=False)
class Frame:
    """One template instance (or the top level): its name prefix and the names it defines."""

    prefix: str = ""
    instance: str = ""
    names: set[str] = field(default_factory=set)
    args: dict[str, LocatedValue] = field(default_factory=dict)  # the instance's arguments, located at the caller
    name_locs: dict[str, Loc] = field(default_factory=dict)
    instances: dict[str, Loc] = field(default_factory=dict)

    def resolve(self, name: str) -> str:
        return self.prefix + name if name in self.names else name


class ScopedStr(str):
    """A string remembering the instance it was written in (template arguments)."""

    frame: Frame

    def __new__(cls, value: str, frame: Frame):
        obj = super().__new__(cls, value)
        obj.frame = frame
        return obj


def scoped(value: Any, frame: Frame) -> Any:
    """Tag the strings of a value with the frame they were written in."""
    if isinstance(value, ScopedStr):
        return value
    if isinstance(value, str):
        return ScopedStr(value, frame)
    if isinstance(value, list):
        return [scoped(v, frame) for v in value]
    return value


def unscoped(value: Any) -> Any:
    """Plain value with ScopedStr turned back into str."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list):
        return [unscoped(v) for v in value]
    if isinstance(value, dict):
        return {k: unscoped(v) for k, v in value.items()}
    return value


@dataclass
class Pending:
    """An expanded node awaiting validation."""

    y: LocatedValue  # located, evaluated node mapping
    frame: Frame  # the instance it belongs to
    failed: set[str]  # relative dotted paths whose expression failed (already reported)
    instance: str  # "a.l4" for messages; "" at top level


class Expander:
    def __init__(self, problems: Problems, params: dict[str, Any], templates: dict[str, LocatedValue],
                 template_args: dict[str, list[str]], blocks: dict[str, LocatedValue], broken: set[str]):
        self.problems = problems
        self.params = params  # expression scope of the top level
        self.templates = templates  # name -> located template mapping (valid ones)
        self.template_args = template_args
        self.blocks = blocks  # name -> located list of layers
        self.broken = broken  # "templates.X" / "blocks.X" already reported as malformed
        self.out: list[Pending] = []
        self.uses: list[tuple[Loc, str, str]] = []  # the template uses being expanded: (where, template, as)

    # ------------------------------------------------------------ evaluation
    def evaluate(self, y: LocatedValue, scope: dict[str, Any], failed: set[str], rel: str, instance: str,
                 args: dict[str, LocatedValue] | None = None) -> LocatedValue:
        """A copy of ``y`` with every string's ``${...}`` evaluated.

        ``"${arg}"`` alone, for a template argument in ``args``, is the argument's
        value *as written by the caller* (its location points at the ``with``).
        """
        v = y.v
        if isinstance(v, str) and "${" in v:
            if args:
                match = _PASSTHROUGH.fullmatch(v)
                if match and match.group(1) in args:
                    return args[match.group(1)]
            try:
                return located(substitute(v, scope), y.loc)
            except ExprError as exc:
                self.problems.extend(exc, y.loc, instance)
            except Poisoned:
                pass
            failed.add(rel)
            return LocatedValue(None, y.loc)
        if isinstance(v, dict):
            return LocatedValue({k: self.evaluate(sub, scope, failed, f"{rel}.{k}" if rel else k, instance, args)
                      for k, sub in v.items()}, y.loc, y.keys)
        if isinstance(v, list):
            return LocatedValue([self.evaluate(sub, scope, failed, f"{rel}.{i}" if rel else str(i), instance, args)
                      for i, sub in enumerate(v)], y.loc)
        return y

    # ------------------------------------------------------------ node lists
    def expand(self, entries: LocatedValue, scope: dict[str, Any], frame: Frame, stack: tuple[str, ...]) -> None:
        for entry in entries.v if isinstance(entries.v, list) else ():
            if not isinstance(entry.v, dict):
                continue  # reported by the SpecFile/TemplateSpec validation
            if "use" in entry.v:
                self.expand_use(entry, scope, frame, stack)
            else:
                self.expand_node(entry, scope, frame, stack)

    def expand_node(self, entry: LocatedValue, scope: dict[str, Any], frame: Frame, stack: tuple[str, ...]) -> None:
        if len(self.out) >= MAX_NODES:
            if len(self.out) == MAX_NODES:
                self.report_too_many_nodes(entry, frame)
                self.out.append(None)  # type: ignore[arg-type]  # report once
            return
        failed: set[str] = set()
        instance = frame.instance
        values: dict[str, LocatedValue] = {}
        for key, sub in entry.v.items():
            if key != "router":
                values[key] = self.evaluate(sub, scope, failed, key, instance, frame.args)
        if "router" in entry.v:
            kind = values.get("kind")
            if kind is not None and kind.v == "junction":
                sinks = values.get("sinks")
                n = len(sinks.v) if sinks is not None and isinstance(sinks.v, list) else POISON
                values["router"] = self.expand_router(entry.v["router"], {**scope, N_SINKS: n}, failed, frame)
            else:
                values["router"] = self.evaluate(entry.v["router"], scope, failed, "router", instance, frame.args)
        name = values.get("name")
        if name is not None and isinstance(name.v, str):
            relative = str(name.v)
            if relative in frame.name_locs:
                first = frame.name_locs[relative]
                self.problems.add(f"duplicate node name {relative!r} (first defined at line {first.line})",
                                  name.loc, instance=instance)
                failed.add("name")
            else:
                frame.names.add(relative)
                frame.name_locs[relative] = name.loc
            values["name"] = LocatedValue(frame.prefix + relative, name.loc)
        self.out.append(Pending(LocatedValue(values, entry.loc, entry.keys), frame, failed, instance))

    def report_too_many_nodes(self, entry: LocatedValue, frame: Frame) -> None:
        """The node limit, reported at the top-level entry whose expansion passes it (the
        mistake is there: a template used too often), naming the chain of template uses."""
        message = f"the spec expands to more than {MAX_NODES:,} nodes (the limit)"
        if self.uses:
            use_loc, _, _ = self.uses[0]
            chain = " -> ".join(f"{template!r} as {alias!r}" for _, template, alias in self.uses)
            name = entry.get("name")
            shown = f" {frame.prefix}{name.v}" if name is not None and isinstance(name.v, str) else ""
            message += f"; node{shown} passes it, made by template uses {chain}"
        else:
            use_loc = entry.loc
        self.problems.add(message, use_loc, allowed=f"at most {MAX_NODES:,} nodes after expanding templates")

    def expand_router(self, router: LocatedValue, scope: dict[str, Any], failed: set[str], frame: Frame) -> LocatedValue:
        instance = frame.instance
        router = self.evaluate(router, scope, failed, "router", instance, frame.args)
        if not isinstance(router.v, dict):
            return router
        values = dict(router.v)
        block = values.get("block")
        if block is None:
            if "layers" not in values:
                self.problems.add("a router needs 'layers' (a list of layers) or 'block' (a block's name)",
                                  router.loc, instance=instance)
                failed.add("router")
        elif "router.block" in failed or not isinstance(block.v, str):
            pass  # reported already, or pydantic will say it must be a string
        elif "layers" in values:
            self.problems.add("give either 'layers' or 'block', not both", router.key_loc("block"),
                              router.loc.child("block"), instance=instance)
            failed.add("router.layers")
        elif f"blocks.{block.v}" in self.broken:
            failed.add("router.layers")
        elif block.v not in self.blocks:
            hint = did_you_mean(block.v, self.blocks)
            known = known_names(sorted(self.blocks))
            self.problems.add(f"unknown block {block.v!r}" + (f"; {hint}" if hint else ""), block.loc,
                              allowed=f"known: {known}" if known else "no blocks are defined", instance=instance)
            failed.add("router.block")
        else:
            # Blocks see the params and n_sinks only (they are written at the top level).
            block_scope = {**self.params, N_SINKS: scope.get(N_SINKS, POISON)}
            layers = self.blocks[block.v]
            values["layers"] = self.evaluate(layers, block_scope, failed, "router.layers", "")
        return LocatedValue(values, router.loc, router.keys)

    # ------------------------------------------------------------ templates
    def expand_use(self, entry: LocatedValue, scope: dict[str, Any], frame: Frame, stack: tuple[str, ...]) -> None:
        instance_of_caller = frame.instance
        failed: set[str] = set()
        head = {k: self.evaluate(v, scope, failed, k, instance_of_caller, frame.args)
                for k, v in entry.v.items() if k != "with"}
        if failed:
            return
        data = {k: plain(v) for k, v in head.items()}
        with_y = entry.v.get("with")
        if with_y is not None:
            data["with"] = plain(with_y)
        try:
            UseSpec.model_validate(data)
        except ValidationError as exc:
            located_entry = LocatedValue({**head, **({"with": with_y} if with_y is not None else {})}, entry.loc, entry.keys)
            add_validation_errors(self.problems, exc, data, located_entry, UseSpec, instance=instance_of_caller)
            return
        name, alias = str(head["use"].v), str(head["as"].v)
        if f"templates.{name}" in self.broken:
            return
        if name not in self.templates:
            hint = did_you_mean(name, self.templates)
            known = known_names(sorted(self.templates))
            self.problems.add(f"unknown template {name!r}" + (f"; {hint}" if hint else ""), head["use"].loc,
                              allowed=f"known: {known}" if known else "no templates are defined",
                              instance=instance_of_caller)
            return
        if name in stack:
            chain = " -> ".join(stack + (name,))
            self.problems.add(f"template recursion: {chain}", head["use"].loc, instance=instance_of_caller)
            return
        if len(stack) >= MAX_DEPTH:
            chain = " -> ".join(stack[:2] + ("...",) + stack[-2:] + (name,))
            self.problems.add(f"templates nested deeper than {MAX_DEPTH} levels: {chain}", head["use"].loc,
                              allowed=f"at most {MAX_DEPTH} levels of templates using templates",
                              instance=instance_of_caller)
            return
        if alias in frame.instances:
            first = frame.instances[alias]
            self.problems.add(f"duplicate instance name {alias!r} (first used at line {first.line})",
                              head["as"].loc, instance=instance_of_caller)
            return
        frame.instances[alias] = head["as"].loc
        args = self.template_args[name]
        given = with_y.v if with_y is not None and isinstance(with_y.v, dict) else {}
        allowed = f"{name} takes: " + (", ".join(args) if args else "no arguments")
        for key in given:
            if key not in args:
                hint = did_you_mean(key, args)
                self.problems.add(f"unknown argument {key!r} for template {name!r}" + (f"; {hint}" if hint else ""),
                                  with_y.key_loc(key), with_y.loc.child(key), allowed=allowed,
                                  instance=instance_of_caller)
        missing = [a for a in args if a not in given]
        if missing:
            names = ", ".join(repr(a) for a in missing)
            where = with_y if with_y is not None else entry
            self.problems.add(f"missing argument{'s' if len(missing) > 1 else ''} {names} for template {name!r}",
                              where.loc, entry.loc.child("with"), allowed=allowed, instance=instance_of_caller)
        bound: dict[str, Any] = {}
        child = Frame(prefix=f"{frame.prefix}{alias}.", instance=f"{frame.instance}.{alias}".lstrip("."))
        for arg in args:
            if arg not in given:
                bound[arg] = POISON
                continue
            arg_failed: set[str] = set()
            value = self.evaluate(given[arg], scope, arg_failed, f"with.{arg}", instance_of_caller, frame.args)
            if arg_failed:
                bound[arg] = POISON
            else:
                child.args[arg] = _scope_y(value, frame)
                bound[arg] = plain(child.args[arg])
        template = self.templates[name]
        self.uses.append((entry.loc, name, alias))
        self.expand(template.v["nodes"], {**self.params, **bound}, child, stack + (name,))
        self.uses.pop()
        frame.names.update(f"{alias}.{n}" for n in child.names)

    # ------------------------------------------------------------ references
    def resolve_references(self) -> None:
        """Rewrite template-local references to their prefixed names (in place)."""
        for pending in self.out:
            if pending is None:
                continue
            values = pending.y.v
            for key in REF_FIELDS:
                if key in values:
                    values[key] = _resolve(values[key], pending.frame)
            router = values.get("router")
            if router is not None and isinstance(router.v, dict) and "reads" in router.v:
                reads = _resolve(router.v["reads"], pending.frame)
                values["router"] = LocatedValue({**router.v, "reads": reads}, router.loc, router.keys)

    def pending(self) -> list[Pending]:
        return [p for p in self.out if p is not None]


def _scope_y(y: LocatedValue, frame: Frame) -> LocatedValue:
    """A copy of ``y`` whose strings remember ``frame`` (where they were written)."""
    if isinstance(y.v, dict):
        return LocatedValue({k: _scope_y(v, frame) for k, v in y.v.items()}, y.loc, y.keys)
    if isinstance(y.v, list):
        return LocatedValue([_scope_y(v, frame) for v in y.v], y.loc)
    if isinstance(y.v, str):
        return LocatedValue(scoped(y.v, frame), y.loc)
    return y


def _resolve(y: LocatedValue, frame: Frame) -> LocatedValue:
    if isinstance(y.v, list):
        return LocatedValue([_resolve(item, frame) for item in y.v], y.loc)
    if isinstance(y.v, str):
        owner = y.v.frame if isinstance(y.v, ScopedStr) else frame
        return LocatedValue(owner.resolve(str(y.v)), y.loc)
    return y


def check_identifier(name: Any) -> str:
    """'' if ``name`` can be used in expressions, else why not."""
    if not isinstance(name, str) or not name.isidentifier():
        return "must be an identifier (letters, digits and '_', not starting with a digit)"
    if keyword.iskeyword(name) or name in ("True", "False", "None"):
        return "must not be a Python keyword"
    return ""
