"""Graph compilation: validation (networkx), shapes, operation counts, regions, paths."""
from .compiled import (  # noqa: F401
    CompiledGraph, CompiledJunction, CompiledLayer, CompiledNode, PathInfo, PyramidShape, Region,
    Shape, SourceLoc, TensorShape,
)
from .compiler import compile_spec  # noqa: F401
from .static import static_baseline, static_baselines  # noqa: F401
