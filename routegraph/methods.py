"""The registry of training strategies ("methods"), torch-free: :class:`Method`, :func:`register_method`.

A strategy is declared once, as a :class:`Method`. Everything else reads that declaration: the
CLI's ``--strategy`` choices and help, ``TrainConfig``'s check of ``method`` and of the settings
that apply to one method only, the short id in run ids, a sweep's ``method`` field, and the names
and colours in pictures. Built-in methods are declared below; plugin packages declare theirs in
the ``routegraph.strategies`` entry-point group (a :class:`Method`, or a list of them); user code
calls :func:`register_method`. ``build`` may be a ``"package.module:attr"`` string, resolved on
first use, so declaring a method imports no torch.

>>> [m.name for m in methods()]
['static', 'actor', 'pragmatic_critic', 'optimistic_critic']
>>> get_method("actor").short, get_method("actor").label
('ac', 'Actor nets')
>>> get_method("acter")
Traceback (most recent call last):
routegraph.errors.UnknownNameError: unknown strategy 'acter'; did you mean 'actor'? (known: actor, optimistic_critic, pragmatic_critic, static)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Union

from .errors import ConfigError, unknown_name
from .imports import import_attribute

#: The entry-point group plugin packages declare their strategies in.
GROUP = "routegraph.strategies"
#: Training settings every strategy's constructor takes (the base class ``Strategy``'s own).
COMMON_SETTINGS = ("k_l2", "talr", "eps", "regularized_policy", "error")
#: k_cpt settings: the trainer draws k_cpt (routegraph.k_cpt.KCptSchedule) and hands it to the strategy.
K_CPT_SETTINGS = ("k_cpt", "dynamic_k_cpt", "k_cpt_set", "k_cpt_input_scale")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SHORT = re.compile(r"^[a-z][a-z0-9]*$")

Target = Union[Callable, str]


@dataclass(frozen=True)
class Method:
    """One training strategy, declared in one place.

    - ``name``: ``--strategy NAME``, ``method`` in ``config.json`` and experiment files.
    - ``short``: its id in run ids (``ac-4e-09-1a2b3c``); letters and digits.
    - ``label``: how pictures and tables name its networks ("Actor nets").
    - ``help``: one line for ``--help`` and the docs.
    - ``build``: the :class:`routegraph.train.Strategy` subclass, or ``"package.module:attr"``.
    - ``settings``: the training settings (``TrainConfig`` fields) its constructor takes besides
      :data:`COMMON_SETTINGS`; ``strategy_from_config`` passes exactly these.
    - ``tau``: the training policy's initial temperature when ``TrainConfig.tau`` is None.
    - ``zero_one_error``: whether ``error: zero_one`` applies (critic targets; it has no gradient).
    - ``fixed_path``: it trains one fixed path to one exit (``static_classifier`` applies; no routing).
    - ``colour``: its colour in every figure (None: one from the spare colours).
    - ``sampling``: its routers learn from evaluated costs, not through the policy's probabilities, so
      it trains under any ``policy`` and path-only (``sampled``); the class implements ``sampled_loss``.
    """

    name: str
    short: str
    label: str
    help: str
    build: Target
    settings: tuple[str, ...] = ()
    tau: float = 1.0
    zero_one_error: bool = False
    fixed_path: bool = False
    colour: str | None = None
    sampling: bool = False

    def strategy_class(self) -> type:
        """The implementing class, importing a string target on first use."""
        if callable(self.build):
            return self.build
        try:
            return import_attribute(self.build)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"strategy {self.name!r}: its class {self.build!r} cannot be imported "
                              f"({type(exc).__name__}: {exc})") from None

    @property
    def takes(self) -> tuple[str, ...]:
        """Every training setting the strategy's constructor takes."""
        return COMMON_SETTINGS + tuple(self.settings)


_BUILTIN = (
    Method("static", "sr", "Statically-routed nets", "no routers: one fixed path to one exit (--static-exit)",
           "routegraph.train.strategies:Static", fixed_path=True, colour="#444444"),
    Method("actor", "ac", "Actor nets", "routers minimise the expected cost through the routing probabilities",
           "routegraph.train.strategies:Actor", settings=("k_dec",), colour="#1f77b4"),
    Method("pragmatic_critic", "pc", "Pragmatic critic nets",
           "routers regress the cost of the path the inference policy takes after them",
           "routegraph.train.strategies:PragmaticCritic", settings=("k_ure", "policy", "critic_targets", "sampled_talr"), tau=0.1, zero_one_error=True,
           colour="#2ca02c", sampling=True),
    Method("optimistic_critic", "oc", "Optimistic critic nets",
           "routers regress the cost of the best path after them",
           "routegraph.train.strategies:OptimisticCritic", settings=("k_ure", "policy", "critic_targets", "sampled_talr"), tau=0.1, zero_one_error=True,
           colour="#ff7f0e", sampling=True),
)
_METHODS: dict[str, Method] = {}
_STATE = {"loaded": False}


def _check(method: Any) -> Method:
    if not isinstance(method, Method):
        raise ConfigError(f"a strategy must be declared as a routegraph.methods.Method, got {type(method).__name__}")
    if not isinstance(method.name, str) or not _NAME.match(method.name):
        raise ConfigError(f"strategy name {method.name!r} is invalid (lower-case letters, digits and '_', "
                          "starting with a letter)")
    if not isinstance(method.short, str) or not _SHORT.match(method.short):
        raise ConfigError(f"strategy {method.name!r}: short id {method.short!r} must be lower-case letters and "
                          "digits (it is written in run ids)")
    misplaced = sorted(set(method.settings) & set(K_CPT_SETTINGS + COMMON_SETTINGS))
    if misplaced:
        raise ConfigError(f"strategy {method.name!r}: {', '.join(misplaced)} cannot be its own setting(s) "
                          "(k_cpt is the trainer's; the common settings every strategy takes already)")
    if not (callable(method.build) or (isinstance(method.build, str) and ":" in method.build)):
        raise ConfigError(f"strategy {method.name!r}: build must be a class or 'package.module:attr'")
    return method


def _add(method: Method, replace: bool) -> None:
    _check(method)
    old = _METHODS.get(method.name)
    if old is not None and not replace and old != method:
        raise ConfigError(f"strategy {method.name!r} is already registered (pass replace=True to replace it)")
    clash = next((m for m in _METHODS.values() if m.short == method.short and m.name != method.name), None)
    if clash is not None:
        raise ConfigError(f"strategy {method.name!r}: short id {method.short!r} is taken by {clash.name!r}")
    _METHODS[method.name] = method


def _ensure_loaded() -> None:
    if _STATE["loaded"]:
        return
    _STATE["loaded"] = True
    for method in _BUILTIN:
        _add(method, replace=False)
    from importlib.metadata import entry_points

    for ep in entry_points(group=GROUP):
        where = f"plugin entry point {ep.name!r} = {ep.value!r} (group {GROUP!r})"
        try:
            declared = ep.load()
        except Exception as exc:  # a plugin's own failure: one line naming it
            raise ConfigError(f"{where} failed to load: {type(exc).__name__}: {exc}") from None
        for method in declared if isinstance(declared, (list, tuple)) else [declared]:
            try:
                _add(method, replace=False)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None


def register_method(method: Method, *, replace: bool = False) -> Method:
    """Add ``method`` (from user code); returns it. ``--strategy``, sweeps, run ids and pictures see it.

    >>> register_method(Method("x", "sr", "X nets", "...", "pkg:X"))
    Traceback (most recent call last):
    routegraph.errors.ConfigError: strategy 'x': short id 'sr' is taken by 'static'
    """
    _ensure_loaded()
    _add(method, replace)
    return method


def unregister_method(name: str) -> None:
    """Remove a method registered by user code (tests; a built-in cannot be removed)."""
    if any(m.name == name for m in _BUILTIN):
        raise ConfigError(f"strategy {name!r} is built in")
    _METHODS.pop(name, None)


def methods() -> list[Method]:
    """Every declared method: the built-in ones first, then plugins and user code, in order."""
    _ensure_loaded()
    return list(_METHODS.values())


def method_names() -> tuple[str, ...]:
    """The names ``--strategy`` and ``method`` accept."""
    return tuple(m.name for m in methods())


def find_method(name: str) -> Method | None:
    """The method called ``name``, or None if none is registered here (a run of a strategy whose
    plugin is not installed: pictures and sweeps still read it).

    >>> find_method("actor").label, find_method("someone_elses")
    ('Actor nets', None)
    """
    _ensure_loaded()
    return _METHODS.get(name) if isinstance(name, str) else None


def is_fixed_path(name: str) -> bool:
    """Whether the method called ``name`` trains one fixed path (a static baseline); False for a name
    not registered here.

    >>> is_fixed_path("static"), is_fixed_path("actor"), is_fixed_path("someone_elses")
    (True, False, False)
    """
    method = find_method(name)
    return bool(method and method.fixed_path)


def get_method(name: str) -> Method:
    """The method called ``name``, or an :class:`~routegraph.errors.UnknownNameError` with a suggestion."""
    method = find_method(name)
    if method is None:
        raise unknown_name("strategy", name, list(_METHODS))
    return method
