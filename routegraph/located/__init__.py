"""Located YAML: files read with their line and column, and mistakes reported there.

Spec files (:mod:`routegraph.spec`) and experiment and budgets files
(:mod:`routegraph.sweep`) share this machinery, so a typo reads the same in each:
``file:line:col: dotted.path: what is wrong (what is allowed)``.

- ``tree``: :func:`~routegraph.located.tree.parse_located`, the safe YAML reader that
  keeps every value's position (:class:`~routegraph.located.tree.LocatedValue`).
- ``problems``: :class:`~routegraph.located.problems.Problems`, the collector, and
  pydantic's errors turned into located problems.
- ``files``: reading and validating a whole file against a pydantic model, raising
  :class:`~routegraph.errors.ExperimentError`.

No torch here; it imports only :mod:`routegraph.errors` and the field types of
:mod:`routegraph.kinds.fields`.

>>> from routegraph.located.tree import parse_located
>>> tree = parse_located("a:\\n  b: 3\\n", file="x.yaml")
>>> tree.v["a"].v["b"].loc.line
2
"""
