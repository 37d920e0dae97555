"""Index-based views of a split's images: rows of a stored tensor, read a slice at a time.

A folder task's images are a memory-mapped cache, and a validation carve-out is
a list of rows of the train arrays (:meth:`routegraph.data.Task.with_validation`).
Gathering such a split into one tensor costs memory in proportion to the split;
an :class:`ImageRows` holds only the row numbers and reads the images when a
slice is asked for, so evaluation and calibration, which go through the images
a batch at a time (``images[start:start + batch]``), hold one batch in memory.
"""
from __future__ import annotations

import torch


class ImageRows:
    """The images at ``rows`` (all rows, in order, when None) of ``stored`` ``[N, C, H, W]``.

    Behaves as far as evaluation needs like the gathered tensor: ``len``,
    ``shape``, ``dtype``, ``dim()``; ``view[a:b]`` and ``view[i]`` read those
    images (a slice of an unindexed view is a view of ``stored``: nothing is
    copied); ``view[index]`` with a tensor or list of positions is another
    view (nothing read); ``read()``, ``to(...)`` and ``float()`` read them all.

    >>> stored = torch.arange(10.).reshape(10, 1, 1, 1)
    >>> view = ImageRows(stored, torch.tensor([1, 3, 5, 7]))
    >>> len(view), tuple(view.shape), view[1:3].flatten().tolist()
    (4, (4, 1, 1, 1), [3.0, 5.0])
    >>> picked = view[torch.tensor([3, 0])]            # positions within the view
    >>> picked.rows.tolist(), picked.read().flatten().tolist()
    ([7, 1], [7.0, 1.0])
    >>> ImageRows(stored)[2:4].data_ptr() == stored[2].data_ptr()   # a slice of the stored tensor itself
    True
    """

    def __init__(self, stored: torch.Tensor, rows: torch.Tensor | None = None):
        self.stored = stored
        self.rows = None if rows is None else torch.as_tensor(rows, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.stored) if self.rows is None else len(self.rows)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *self.stored.shape[1:]))

    @property
    def dtype(self) -> torch.dtype:
        return self.stored.dtype

    def dim(self) -> int:
        return self.stored.dim()

    def __getitem__(self, item):
        if isinstance(item, slice):
            return self.stored[item] if self.rows is None else self.stored[self.rows[item]]
        if isinstance(item, int):
            return self.stored[item if self.rows is None else int(self.rows[item])]
        index = torch.as_tensor(item, dtype=torch.long)
        return ImageRows(self.stored, index if self.rows is None else self.rows[index])

    def read(self) -> torch.Tensor:
        """All the images, as one tensor (the stored tensor itself for an unindexed view)."""
        return self.stored if self.rows is None else self.stored[self.rows]

    def to(self, *args, **kwargs) -> torch.Tensor:
        return self.read().to(*args, **kwargs)

    def float(self) -> torch.Tensor:
        return self.read().float()

    def __repr__(self) -> str:
        return f"ImageRows({len(self)} of {len(self.stored)} rows, {tuple(self.stored.shape[1:])}, {self.dtype})"
