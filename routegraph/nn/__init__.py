"""Module builders: torch modules from compiled graphs."""
from .layers import MODULE_BUILDERS  # noqa: F401
from .model import DenseOutput, RoutedNetwork, build_model, module_key  # noqa: F401
