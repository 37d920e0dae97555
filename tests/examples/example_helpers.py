"""Shared helpers of the example tests: the documented commands, run as written.

A doc's ```sh blocks hold one command a line: ``python SCRIPT ARGS`` (run in this process
with ``runpy``), ``routegraph ARGS`` (the CLI's ``main``) or ``pip install ...`` (left to the
test, which registers the plugin itself). Option values in ``faster`` replace the documented
ones (fewer iterations and rows: the same commands, a test's size); ``extra`` adds options to
the commands of one subcommand (``{"train": ["--set", "width=4"]}``).

:func:`spread_decisions` makes a briefly trained network's routers split a batch, so that a
path-only vs. dense comparison on it covers every junction.
"""
from __future__ import annotations

import glob
import re
import runpy
import shlex
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def sh_blocks(text: str) -> list[str]:
    """The command lines of every ```sh block in ``text``."""
    return [line.strip() for block in re.findall(r"```sh\n(.*?)```", text, re.S)
            for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]


def section(text: str, heading: str) -> str:
    """The part of a markdown ``text`` under ``heading`` (up to the next heading of that level or above)."""
    level = heading.split(" ", 1)[0]
    start = text.index(heading + "\n")
    rest = text[start + len(heading) + 1:]
    end = re.search(rf"^#{{1,{len(level)}}} ", rest, re.M)
    return rest[:end.start()] if end else rest


def with_options(argv: list[str], faster: dict[str, str], extra: dict[str, list[str]]) -> list[str]:
    """``argv`` with the values of the options in ``faster`` replaced and ``extra`` added.

    >>> with_options(["train", "s.yaml", "--iterations", "3000"], {"--iterations": "2"}, {"train": ["--x"]})
    ['train', 's.yaml', '--iterations', '2', '--x']
    """
    out = list(argv)
    for i, arg in enumerate(out[:-1]):
        if arg in faster:
            out[i + 1] = faster[arg]
    return out + list(extra.get(out[0], [])) if out else out


def run_commands(lines: list[str], faster: dict[str, str], extra: dict[str, list[str]] | None = None) -> list[str]:
    """Run the documented ``lines`` in the current directory; returns those run (``pip`` lines are not)."""
    from routegraph.cli.main import main

    ran = []
    for line in lines:
        words = shlex.split(line)
        words = [w for word in words for w in (sorted(glob.glob(word)) if "*" in word else [word])]
        if words[0] == "pip":
            continue
        if words[0] == "python":
            argv = with_options(words[2:], faster, {})
            old = sys.argv
            sys.argv = [words[1], *argv]
            try:
                runpy.run_path(words[1], run_name="__main__")
            finally:
                sys.argv = old
        else:
            assert words[0] == "routegraph", line
            assert main(with_options(words[1:], faster, extra or {})) == 0, line
        ran.append(line)
    return ran


def link_examples(where: Path) -> None:
    """``where/examples`` -> the repository's examples, so documented relative paths hold in a temporary directory."""
    (where / "examples").symlink_to(EXAMPLES, target_is_directory=True)


def spread_decisions(model, x: torch.Tensor) -> None:
    """Set each router's last layer so that its decisions on ``x`` split at quantiles of one random
    direction of its hidden units (thresholds midway between examples): so that a comparison on ``x``
    covers the junctions, whatever a few training steps left the routers deciding."""
    hidden = {}
    hooks = [router.layers[-1].register_forward_pre_hook(lambda m, a, name=name: hidden.__setitem__(name, a[0]))
             for name, router in model.routers.items()]
    with torch.no_grad():
        model.eval()(x)  # dense: every router sees every example
        for hook in hooks:
            hook.remove()
        gen = torch.Generator().manual_seed(0)
        for name, router in model.routers.items():
            last, h = router.layers[-1], hidden[name].double()
            sinks = last.weight.shape[0]
            u = torch.randn(h.shape[1], generator=gen, dtype=h.dtype)
            z = (h @ u).sort().values
            cuts = [(z[i - 1] + z[i]) / 2 for i in (len(z) * k // sinks for k in range(1, sinks))]
            # score k - score (k-1) = z - cut k: the argmax is the number of cuts below z
            last.weight.copy_(torch.arange(sinks, dtype=h.dtype)[:, None] * u)
            last.bias.copy_(-torch.cumsum(torch.tensor([0.0, *cuts], dtype=h.dtype), 0))
