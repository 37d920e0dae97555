"""Stored images that record every copy made from them: for tests that a split is never materialised."""
from __future__ import annotations

import math

import torch


def copy_spy(images: torch.Tensor):
    """``(spied, copies)``: ``images`` (sharing its storage, e.g. a memory map) as a tensor that appends to
    ``copies`` the size, in images, of every tensor computed from it that does not share its storage
    (a gather, ``.float()``, ``.clone()``, ...). Views of it (slices, ``.to`` the same device) stay spied,
    so a copy made from a slice is seen too."""
    base = images.untyped_storage().data_ptr()
    per_image = max(math.prod(images.shape[1:]), 1)
    copies: list[int] = []

    class Spied(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            with torch._C.DisableTorchFunctionSubclass():
                out = func(*args, **(kwargs or {}))
            return track(out)

    def track(out):
        if isinstance(out, (tuple, list)):
            return type(out)(track(o) for o in out)
        if not isinstance(out, torch.Tensor):
            return out
        if out.device.type == "cpu" and out.untyped_storage().data_ptr() == base:
            return out.as_subclass(Spied)  # a view: nothing copied yet
        copies.append(math.ceil(out.numel() / per_image))
        return out

    return images.as_subclass(Spied), copies
