"""Routing: policies, region probabilities, costs, utility targets and TALR.

Everything works on a :class:`RegionTables` (index tensors built once from a
compiled graph's region tree) and is vectorised over the batch::

    plan = RegionTables(graph)
    pi = training_policy(plan, scores, tau=1.0)       # {junction: [B, n_j]}
    p = region_probabilities(plan, pi)                # [B, R]
    err = leaf_errors(plan, logits, labels)           # [B, n_classifiers]
    actor_loss = (expected_cost(plan, p, err, k_cpt)
                  + k_dec * decisiveness_penalty(scores, p, plan)).mean()
    u = utility_targets(plan, err, k_cpt, "pragmatic", inference_policy(scores))
    scales = talr_scales(p)                           # [R] gradient multipliers
"""
from .costs import decisiveness_penalty, expected_cost, inference_cost, path_ops
from .error_functions import ERROR_FUNCTIONS, cross_entropy, error_function, leaf_errors, zero_one
from .tables import RegionTables
from .policy import (
    FLOORS,
    inference_policy,
    leaf_region_below,
    one_hot_probs,
    region_probabilities,
    routed_leaf,
    training_policy,
)
from .talr import talr_scales
from .targets import TARGET_KINDS, subtree_costs, utility_targets

__all__ = [
    "ERROR_FUNCTIONS", "FLOORS", "TARGET_KINDS", "RegionTables",
    "cross_entropy", "decisiveness_penalty", "error_function", "expected_cost", "inference_cost",
    "inference_policy", "leaf_errors", "leaf_region_below", "one_hot_probs", "path_ops",
    "region_probabilities", "routed_leaf", "subtree_costs", "talr_scales", "training_policy",
    "utility_targets", "zero_one",
]
