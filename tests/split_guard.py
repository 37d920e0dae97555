"""A task whose test split raises on any use: for tests that the test split is never read."""
from dataclasses import replace

from routegraph.data import load_task


class SplitReadError(AssertionError):
    """Raised by :class:`Tripwire` when the test split is used."""


class Tripwire:
    """Stands in for test images or labels: any use of it (indexing, len, .float(), shape) raises."""

    def __getattr__(self, name):
        raise SplitReadError(f"the test split was read ({name})")

    def __getitem__(self, item):
        raise SplitReadError("the test split was read (indexing)")

    def __len__(self):
        raise SplitReadError("the test split was read (len)")


def guarded_task(**options):
    """The synthetic task with ``options``, its test split replaced by tripwires."""
    return replace(load_task("synthetic", **options), test_images=Tripwire(), test_labels=Tripwire())
