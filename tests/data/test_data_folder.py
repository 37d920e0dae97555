"""``folder:PATH`` tasks: decoding, the memory-mapped cache and its fingerprint, and the errors naming the file."""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from copy_spy import copy_spy
from folder_images import CLASSES, COUNTS, write_folder, write_image
from PIL import Image

from routegraph.cli.main import main
from routegraph.data import BatchStream, load_task
from routegraph.data.decode import decode_image
from routegraph.errors import DataError


def _load(root: Path, data_dir: Path, **options):
    return load_task(f"folder:{root}", data_dir, size=options.pop("size", "20x28"), **options)


def _cache_entries(data_dir: Path) -> list[str]:
    tasks = data_dir / "tasks"
    return sorted(p.name for p in tasks.iterdir()) if tasks.is_dir() else []


def test_layout_labels_and_shapes(tmp_path, isolated_cache):
    root = write_folder(tmp_path / "photos")
    task = _load(root, tmp_path / "data")
    assert task.class_names == CLASSES  # sorted folder names
    assert task.counts("train") == list(COUNTS["train"]) and task.counts("test") == list(COUNTS["test"])
    assert tuple(task.train_images.shape) == (sum(COUNTS["train"]), 3, 20, 28)
    assert task.train_images.dtype == torch.float16
    # Labels follow the files: every 'dog' image (label 1) is green-dominant.
    means = task.train_images.float().mean(dim=(2, 3))
    assert (means.argmax(dim=1) == task.train_labels).all()
    assert (np.load(task.cache_path / "val_labels.npy") == np.repeat([0, 1, 2], COUNTS["val"])).all()


def test_decoding_matches_an_independent_gamma_decode(tmp_path):
    # A flat colour survives any resize, so the oracle is (v / 255) ** 2.2 per channel.
    path = tmp_path / "flat.png"
    Image.new("RGB", (28, 20), (200, 100, 30)).save(path)
    decoded = decode_image(path, size=(10, 12))
    expected = (np.array([200, 100, 30]) / 255.0) ** 2.2
    assert decoded.shape == (3, 10, 12)
    np.testing.assert_allclose(decoded.mean(dim=(1, 2)).numpy(), expected, rtol=1e-5)
    gray = decode_image(path, size=(10, 12), channels=1)
    luma = (200 * 299 + 100 * 587 + 30 * 114) / 1000  # Pillow's L conversion (ITU-R 601-2)
    assert gray.shape == (1, 10, 12) and abs(gray.mean().item() - (round(luma) / 255) ** 2.2) < 1e-5


def test_crop_keeps_the_centre_and_stretch_keeps_everything(tmp_path):
    # 20x40 (HxW): black quarter, white half, black quarter. Cropping to 20x20 keeps only the white centre.
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, 10:30] = 255
    path = tmp_path / "bars.png"
    Image.fromarray(pixels).save(path)
    assert decode_image(path, size=(20, 20), resize="crop").min().item() == 1.0
    stretched = decode_image(path, size=(20, 20), resize="stretch")
    assert stretched[:, :, 0].max().item() == 0.0 and stretched[:, :, 10].min().item() == 1.0


def test_cache_is_memory_mapped_and_batches_gather_from_it(tmp_path, isolated_cache):
    root = write_folder(tmp_path / "photos")
    task = _load(root, tmp_path / "data")
    mapped = _mapped_file(task.train_images.data_ptr())
    assert mapped == str(task.cache_path / "train_images.npy")  # not a copy in memory
    # the train map is advised random (no read-ahead: batches are shuffled rows); the test map is not
    assert "rr" in _vm_flags(task.cache_path / "train_images.npy")
    assert "rr" not in _vm_flags(task.cache_path / "test_images.npy")
    images, labels = BatchStream(task, batch_size=4, seed=0, augment=False).batch(0)
    indices = BatchStream(task, batch_size=4, seed=0).global_indices(0)
    assert torch.equal(images, task.train_images[indices].float()) and images.shape == (4, 3, 20, 28)


def test_the_stream_and_the_validation_carve_out_read_the_map_a_batch_at_a_time(tmp_path, isolated_cache):
    root = write_folder(tmp_path / "photos", splits=("train", "test"))  # no val/: a carve-out of train
    task = _load(root, tmp_path / "data").with_validation(0.4)
    images, copies = copy_spy(task.train_images)
    assert _mapped_file(images.data_ptr()) == str(task.cache_path / "train_images.npy")
    task = replace(task, train_images=images)
    view = task.view("val")
    assert view.stored is images and torch.equal(view.rows, task.holdout) and len(view) == 6 and not copies
    stream = BatchStream(task, batch_size=4, seed=0)
    for t in range(2 * len(task.rows("train")) // 4):  # two epochs
        stream.batch(t)
    assert copies and max(copies) <= 4  # each batch gathered from the map, nothing more
    copies.clear()
    read = torch.cat([view[i:i + 2] for i in range(0, len(view), 2)])
    assert copies == [2, 2, 2]
    on_disk = np.load(task.cache_path / "train_images.npy")[task.holdout.numpy()]  # an independent read
    assert np.array_equal(read.numpy(), on_disk)


def _vm_flags(path: Path) -> list[str]:
    """The VmFlags of the mapping of ``path`` in this process (Linux /proc/self/smaps)."""
    current = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if line.split(maxsplit=5)[-1].strip() == str(path):
            current = path
        elif line.startswith("VmFlags:") and current is not None:
            return line.split()[1:]
    raise AssertionError(f"{path} is not mapped")


def _mapped_file(address: int) -> str | None:
    """The file mapped at ``address`` in this process (Linux), or None."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        low, high = (int(x, 16) for x in parts[0].split("-"))
        if low <= address < high:
            return parts[5].strip() if len(parts) == 6 else None
    return None


def test_cache_is_reused_and_rebuilt_when_files_change(tmp_path, isolated_cache):
    root = write_folder(tmp_path / "photos")
    data = tmp_path / "data"
    first = _load(root, data).cache_path
    assert _load(root, data).cache_path == first  # reused
    assert _load(root, data, size="16x16").cache_path != first  # another size: another cache, both kept
    assert len(_cache_entries(data)) == 2
    touched = root / "train" / "cat" / "000.png"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    second = _load(root, data).cache_path
    assert second != first and not first.exists()  # the stale cache of these settings is gone
    write_image(root / "train" / "cat" / "new.png", 20, 28, [180, 0, 0])
    task = _load(root, data)
    assert task.counts("train")[0] == COUNTS["train"][0] + 1


def test_resize_none_uses_the_images_own_size(tmp_path, isolated_cache):
    root = write_folder(tmp_path / "photos", splits=("train", "test"))
    task = load_task(f"folder:{root}", tmp_path / "data", resize="none")
    assert tuple(task.test_images.shape[1:]) == (3, 20, 28)
    with pytest.raises(DataError, match=r"is 20x28 \(HxW\) but the input is 24x24"):
        load_task(f"folder:{root}", tmp_path / "data", resize="none", size="24x24")


# ----------------------------------------------------------------------------- errors, through the CLI


def _corrupt(root: Path) -> Path:
    bad = root / "train" / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
    return bad


def _truncated(root: Path) -> Path:
    bad = write_image(root / "test" / "emu" / "cut.jpg", 40, 48, [0, 0, 180])
    bad.write_bytes(bad.read_bytes()[:200])
    return bad


def _empty_class(root: Path) -> Path:
    (root / "train" / "fox").mkdir()
    return root / "train" / "fox"


def _unknown_test_class(root: Path) -> Path:
    write_image(root / "test" / "yak" / "0.png", 20, 28)
    return root / "test" / "yak"


def _unknown_val_class(root: Path) -> Path:
    write_image(root / "val" / "yak" / "0.png", 20, 28)
    return root / "val" / "yak"


def _mixed_sizes(root: Path) -> Path:
    return write_image(root / "train" / "dog" / "999.png", 30, 28)  # sorted last of all train images


def _no_images(root: Path) -> Path:
    for path in sorted(root.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (root / "train" / "cat").mkdir(parents=True)
    return root


def _no_test(root: Path) -> Path:
    for path in sorted((root / "test").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (root / "test").rmdir()
    return root / "test"


@pytest.mark.parametrize("damage, options, message", [
    (_corrupt, [], "unreadable image"),
    (_truncated, [], "unreadable image"),
    (_empty_class, [], "empty class folder"),
    (_unknown_test_class, [], "class 'yak' is not in"),
    (_unknown_val_class, [], "class 'yak' is not in"),
    (_mixed_sizes, ["--data-option", "resize=none"], "all images must have one size"),
    (_no_images, [], "a folder with no images"),
    (_no_test, [], "no such folder"),
])
def test_errors_name_the_file_exit_2_and_leave_no_cache(tmp_path, isolated_cache, capsys, damage, options, message):
    root = write_folder(tmp_path / "photos")
    named = damage(root)
    data = tmp_path / "data"
    code = main(["data", "prepare", f"folder:{root}", "--data-dir", str(data), "--data-option", "size=20x28", *options])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"{named}:") and message in err, err
    assert "Traceback" not in err
    assert _cache_entries(data) == []  # nothing half-written, no temporary folder left


def test_prepare_prints_counts_and_show_draws_every_class(tmp_path, isolated_cache, capsys):
    root = write_folder(tmp_path / "photos", height=21, width=27)
    data = tmp_path / "data"
    assert main(["data", "prepare", f"folder:{root}", "--data-dir", str(data), "--data-option", "size=21x27"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[1]: line.split()[2:5] for line in out.splitlines() if line[:2].strip().isdigit()}
    assert rows == {name: [str(COUNTS[split][c]) for split in ("train", "val", "test")]  # the val/ folder is a split
                    for c, name in enumerate(CLASSES)}
    sheet = tmp_path / "sheet.png"
    assert main(["data", "show", f"folder:{root}", "--data-dir", str(data), "--data-option", "size=21x27",
                 "-o", str(sheet), "--per-class", "2"]) == 0
    assert Image.open(sheet).size[0] > 2 * 27
    from routegraph.data.contact import contact_grid

    grid = contact_grid(load_task(f"folder:{root}", data, size="21x27"), per_class=2)
    assert grid.shape == (3 * 23 + 2, 2 * 29 + 2, 3)  # tiles at the task's size, 2 px apart


def test_flip_names_the_flip_symmetric_classes(tmp_path, isolated_cache):
    """Which classes training may flip is the user's to say (a '6' flipped is not a '6'); a typo is an error."""
    from routegraph.data import load_task
    from routegraph.errors import ConfigError

    root = write_folder(tmp_path / "photos", height=20, width=28)
    options = {"size": "20x28"}
    assert load_task(f"folder:{root}", tmp_path / "d", **options).flip_symmetric == (False,) * len(CLASSES)
    flagged = load_task(f"folder:{root}", tmp_path / "d", flip=CLASSES[1], **options).flip_symmetric
    assert flagged == tuple(name == CLASSES[1] for name in CLASSES)
    assert load_task(f"folder:{root}", tmp_path / "d", flip="all", **options).flip_symmetric == (True,) * len(CLASSES)
    with pytest.raises(ConfigError, match=f"no class 'dgo'; did you mean 'dog'"):
        load_task(f"folder:{root}", tmp_path / "d", flip="dgo", **options)


def test_a_spec_input_that_is_not_an_image_is_refused_for_a_folder(tmp_path, isolated_cache, capsys):
    """train on a folder with an [F] spec: one line saying a folder needs [C, H, W] (not a size the
    folder never had), exit 2, no run written."""
    root = write_folder(tmp_path / "photos")
    spec = tmp_path / "mlp.yaml"
    spec.write_text("name: mlp\ninput: {shape: [10]}\n"
                    "nodes:\n  - {name: out, kind: classifier, input: image, classes: 2}\n", encoding="utf-8")
    code = main(["train", str(spec), "--data", f"folder:{root}", "--data-dir", str(tmp_path / "data"),
                 "--iterations", "1", "--no-progress", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "needs a network input of shape [C, H, W]" in err and "[10]" in err, err
    assert not (tmp_path / "run").exists()
