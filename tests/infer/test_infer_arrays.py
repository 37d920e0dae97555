"""``predict``'s arrays read as they are: inputs that are not images, and runs on ``npz:PATH`` data."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from routegraph.errors import DataError
from routegraph.infer.images import load_images, takes_as_is, to_network_input


@pytest.mark.parametrize("shape", [(12,), (5, 4), (2, 6, 7)], ids=["features", "sequences", "2-channel images"])
def test_arrays_of_the_input_shape_are_taken_as_they_are(shape):
    x = (np.arange(3 * int(np.prod(shape))) - 20).reshape(3, *shape)  # integers, outside [0, 1]
    out = to_network_input(x, shape, where="x.npy", as_is=True)
    assert out.dtype == torch.float32 and torch.equal(out, torch.from_numpy(x).float())
    assert to_network_input(x[0], shape, as_is=True).shape == (1, *shape)  # one example, no batch axis


def test_another_shape_or_a_nan_names_the_file():
    with pytest.raises(DataError, match=r"^x.npy: array of shape \[3, 4, 5\]; expected \[N, 5, 4\]"):
        to_network_input(np.zeros((3, 4, 5)), (5, 4), where="x.npy", as_is=True)
    with pytest.raises(DataError, match=r"^x.npy: inputs contain NaN"):
        to_network_input(np.full((3, 12), np.nan), (12,), where="x.npy", as_is=True)
    with pytest.raises(DataError, match=r"^x.npy: dtype <U1"):
        to_network_input(np.array([["a"] * 12]), (12,), where="x.npy", as_is=True)


def test_a_npz_is_read_from_its_key_x(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.ones((4, 5, 4), np.float32), other=np.zeros(1))
    assert torch.equal(load_images(tmp_path / "a.npz", (5, 4), as_is=True), torch.ones(4, 5, 4))
    np.savez(tmp_path / "b.npz", inputs=np.ones((4, 12)))
    with pytest.raises(DataError, match=rf"^{tmp_path / 'b.npz'}: no key 'x' \(keys: inputs\)"):
        load_images(tmp_path / "b.npz", (12,), as_is=True)
    (tmp_path / "c.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match=rf"^{tmp_path / 'c.npz'}: not a .npz of arrays"):
        load_images(tmp_path / "c.npz", (12,), as_is=True)


def test_images_of_the_paper_s_tasks_are_still_decoded():
    assert not takes_as_is("hybrid", (3, 32, 32)) and not takes_as_is("folder:photos", (3, 40, 48))
    assert takes_as_is("npz:a.npz", (3, 32, 32)) and takes_as_is("synthetic", (5, 4))
