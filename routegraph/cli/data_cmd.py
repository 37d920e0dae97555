"""``routegraph data``: download, prepare, inspect and preview datasets.

Examples::

    routegraph data download mnist cifar10 --data-dir ~/data
    routegraph data prepare hybrid --data-dir ~/data
    routegraph data info
    routegraph data info hybrid
    routegraph data sheet synthetic --out synthetic.png
    routegraph data prepare folder:photos --data-option size=64x64
    routegraph data show folder:photos -o sheet.png      # 'show' is 'sheet'
    routegraph data info npz:features.npz                 # classes and counts of your arrays
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..checks import NON_NEGATIVE_INT, POSITIVE_INT
from .options import number, output_file, parse_key_values

SEED = number(NON_NEGATIVE_INT)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=None, metavar="DIR",
                        help="data directory (default: $ROUTEGRAPH_DATA, else ~/.cache/routegraph)")
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                         help="task option; for folder:PATH size=HxW (default 32x32; train uses the spec's), "
                              "channels=1|3, resize=crop|stretch|none; for folder:PATH and npz:PATH images "
                              "flip=CLASS,...|all")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    download = actions.add_parser("download", parents=[common], help="fetch the official MNIST / CIFAR-10 archives")
    download.add_argument("datasets", nargs="+", choices=["mnist", "cifar10"], metavar="DATASET",
                          help="mnist and/or cifar10")
    download.add_argument("--mirror", action="append", default=None, metavar="URL",
                          help="base URL to fetch from instead of the official hosts (repeatable; "
                               "default: $ROUTEGRAPH_MIRROR)")
    download.add_argument("--force", action="store_true", help="download even if the files are present")
    download.add_argument("--no-progress", action="store_true", help="no progress bar")

    prepare = actions.add_parser("prepare", parents=[common, options], help="build and cache a task from the raw files")
    prepare.add_argument("tasks", nargs="+", metavar="TASK", help="hybrid, cifar2, cifar5, cifar10, mnist, folder:PATH, npz:PATH")
    prepare.add_argument("--seed", type=SEED, default=0, help="seed of the recipe's random choices (default 0)")
    prepare.add_argument("--force", action="store_true", help="rebuild even if a cache exists")

    info = actions.add_parser("info", parents=[common, options], help="list tasks, where files are looked for, what is present")
    info.add_argument("task", nargs="?", default=None, help="show one task's classes and counts")
    info.add_argument("--seed", type=SEED, default=0, help="seed of the recipe whose cache is looked for (default 0)")

    sheet = actions.add_parser("sheet", aliases=["show"], parents=[common, options],
                               help="draw a contact sheet (one row per class) as a PNG")
    sheet.add_argument("task", help="task name, e.g. synthetic, hybrid or folder:PATH (images only)")
    sheet.add_argument("-o", "--out", default=None, metavar="PNG", type=output_file, help="output file (default contact-TASK.png)")
    sheet.add_argument("--per-class", type=number(POSITIVE_INT), default=12, help="images per class (default 12)")
    sheet.add_argument("--split", choices=["train", "test"], default="train", help="split to draw from (default train)")
    sheet.add_argument("--seed", type=SEED, default=0, help="seed of the recipe and of the images drawn (default 0)")


def run(args: argparse.Namespace) -> int:
    return {"download": _download, "prepare": _prepare, "info": _info, "sheet": _sheet, "show": _sheet}[args.action](args)


def _download(args) -> int:
    from routegraph.data.download import download

    download(args.datasets, args.data_dir, mirrors=args.mirror, force=args.force, progress=not args.no_progress)
    return 0


def _prepare(args) -> int:
    from routegraph.data import load_task
    from routegraph.data.paths import resolve_data_dir
    from routegraph.data.schemes import scheme_path
    from routegraph.data.tasks import get_recipe

    data_dir = resolve_data_dir(args.data_dir)
    options = parse_key_values(args.data_option, "--data-option")
    for name in args.tasks:
        if scheme_path(name) is None:
            get_recipe(name)  # unknown names fail before any work
    for name in args.tasks:
        start = time.perf_counter()
        task = load_task(name, data_dir, seed=args.seed, rebuild=args.force, **options)
        seconds = time.perf_counter() - start
        where = task.cache_path or "(not cached: no files for this task)"  # npz:PATH: the file itself
        print(f"task {name} (data dir {data_dir})")
        print(task.summary())
        print(f"cache: {where}\ntime: {seconds:.1f} s\n")
    return 0


def _info(args) -> int:
    from routegraph.data import TASKS, find_cached_task, load_task
    from routegraph.data.cifar import CIFAR_ARCHIVE, CIFAR_DIR, find_cifar
    from routegraph.data.mnist import MNIST_SUBDIRS, mnist_present
    from routegraph.data.paths import cache_dirs, data_dir_source, resolve_data_dir, writable_cache_dir

    data_dir = resolve_data_dir(args.data_dir)
    if args.task is not None:
        task = load_task(args.task, data_dir, seed=args.seed, **parse_key_values(args.data_option, "--data-option"))
        from routegraph.data.schemes import SCHEMES, scheme_path

        source = scheme_path(task.name)
        described = SCHEMES[source[0]] if source else TASKS.get(task.name).description
        print(f"task {task.name}: {described}")
        print(task.summary())
        if task.cache_path:
            print(f"cache: {task.cache_path}")
        return 0
    print(f"data directory: {data_dir}  (from {data_dir_source(args.data_dir)})")
    print("MNIST: looked for in " + ", ".join(str(data_dir / s) for s in MNIST_SUBDIRS) + " (.gz or not)")
    for file_name, path in mnist_present(data_dir).items():
        print(f"  {file_name:<26} {path or 'missing'}")
    print(f"CIFAR-10: looked for as {data_dir / CIFAR_DIR}/ or {data_dir / CIFAR_ARCHIVE}")
    print(f"  {find_cifar(data_dir) or 'missing'}")
    print("task caches: " + ", ".join(map(str, cache_dirs(data_dir)))
          + f"  (new caches go to {writable_cache_dir(data_dir) or 'nowhere: none writable'})")
    print("tasks:")
    for name in TASKS:
        recipe = TASKS.get(name)
        cached = find_cached_task(name, data_dir, args.seed)
        state = "no files needed" if recipe.build is None else (f"cached: {cached}" if cached else "not built")
        print(f"  {name:<10} {len(recipe.class_names):>2} classes  {recipe.description}\n  {'':<10} {state}")
    return 0


def _sheet(args) -> int:
    from routegraph.data import load_task
    from routegraph.data.contact import save_contact_sheet
    task = load_task(args.task, args.data_dir, seed=args.seed, **parse_key_values(args.data_option, "--data-option"))
    default = f"contact-{Path(args.task.removeprefix('folder:')).name or 'folder'}.png"
    out = save_contact_sheet(task, args.out or default, args.per_class, args.split, args.seed)
    print(f"wrote {out}")
    return 0
