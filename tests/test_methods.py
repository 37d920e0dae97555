"""Strategies declare themselves (routegraph.methods): a strategy registered from user code, or from a
plugin's ``routegraph.strategies`` entry point, trains, gets its short id in run ids, its label and
colour in pictures, and is accepted by ``--strategy`` and by experiment files; bad declarations are
refused with one line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from textwrap import dedent

import pytest

import routegraph
from routegraph.errors import ConfigError
from routegraph.methods import COMMON_SETTINGS, Method, get_method, method_names, methods, register_method, \
    unregister_method
from routegraph.train.config import TrainConfig, settings

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def registered(method: Method):
    register_method(method)
    try:
        yield method
    finally:
        unregister_method(method.name)
    assert method.name not in method_names()


def _halved_actor():
    from routegraph.train.strategies import Actor

    class HalvedActor(Actor):
        """The actor's loss, halved (a user's strategy: same settings, its own objective)."""

        def objective(self, out, labels, k_cpt, tau):
            loss, region_p, decisions = super().objective(out, labels, k_cpt, tau)
            return 0.5 * loss, region_p, decisions

    return HalvedActor


def test_builtin_declarations_are_complete_and_distinct():
    declared = methods()
    assert [m.name for m in declared] == list(method_names())
    assert len({m.short for m in declared}) == len({m.label for m in declared}) == len({m.colour for m in declared}) \
        == len(declared)
    fields = set(TrainConfig.model_fields)
    for m in declared:
        assert set(m.takes) <= fields and m.help and m.label
    from routegraph.train.strategies import Strategy

    assert all(issubclass(m.strategy_class(), Strategy) for m in declared)


def test_every_setting_has_help_a_flag_and_a_check():
    from routegraph.cli.main import build_parser

    text = build_parser("train").format_help()
    for s in settings():
        assert s.help and s.flag in text, s.name
        assert s.kind != "number" or s.bound is not None
        assert s.kind != "text" or s.name in ("device", "static_classifier"), s.name  # free text only where it must be


@pytest.mark.parametrize("bad, message", [
    (Method("Bad", "bd", "B", "h", "pkg:B"), "strategy name 'Bad' is invalid"),
    (Method("bad", "b-d", "B", "h", "pkg:B"), "short id 'b-d' must be"),
    (Method("bad", "ac", "B", "h", "pkg:B"), "short id 'ac' is taken by 'actor'"),
    (Method("bad", "bd", "B", "h", "pkg:B", settings=("k_cpt",)), "k_cpt cannot be its own setting"),
    (Method("bad", "bd", "B", "h", "no colon"), "build must be a class or 'package.module:attr'"),
    (Method("actor", "zz", "B", "h", "pkg:B"), "strategy 'actor' is already registered"),
])
def test_bad_declarations_are_refused_in_one_line(bad, message):
    with pytest.raises(ConfigError, match=message):
        register_method(bad)
    assert get_method("actor").short == "ac"


def test_a_class_that_does_not_take_its_declared_settings_is_one_error():
    from routegraph.train.strategies import Actor, strategy_from_config

    with registered(Method("wrong", "wr", "Wrong nets", "h", Actor, settings=("k_ure",))):
        with pytest.raises(ConfigError, match="strategy 'wrong': Actor does not take the settings it declares"):
            strategy_from_config(TrainConfig(method="wrong"))
    with registered(Method("gone", "gn", "Gone nets", "h", "routegraph.train.strategies:Nope")):
        with pytest.raises(ConfigError, match="its class 'routegraph.train.strategies:Nope' cannot be imported"):
            strategy_from_config(TrainConfig(method="gone"))


def test_a_user_strategy_trains_and_shows_up_everywhere(tmp_path):
    from routegraph.train.run import train_run
    from routegraph.viz.style import color_cycle, method_display_name

    cls = _halved_actor()
    method = Method("halved_actor", "ha", "Halved actor nets", "the actor's loss, halved", cls,
                    settings=("k_dec",), colour="#123456")
    with pytest.raises(ConfigError, match="method must be one of"):
        TrainConfig(method=method.name)
    with registered(method):
        config = TrainConfig(method="halved_actor", k_cpt=1e-7, k_dec=0.5, iterations=3, batch_size=8,
                             checkpoint_every=0, log_every=1)
        assert config.resolved()["tau"] == 1.0
        train_run("specs/tiny_chain.yaml", tmp_path / "run", config, data="synthetic",
                  data_options={"n_train": 40, "n_test": 20}, progress=False)
        written = json.loads((tmp_path / "run" / "config.json").read_text())
        assert written["method"] == "halved_actor" and written["run_id"].startswith("ha-1e-07-")
        assert routegraph.load_run(tmp_path / "run").config["method"] == "halved_actor"
        assert method_display_name({"method": "halved_actor", "label": "halved_actor"}) == "Halved actor nets"
        assert color_cycle(["halved_actor"]) == {"halved_actor": "#123456"}
        from routegraph.train.strategies import strategy_from_config

        built = strategy_from_config(config)
        assert type(built) is cls and built.k_dec == 0.5 and built.name == "halved_actor"
    assert method_display_name({"method": "halved_actor", "label": "halved_actor"}) == "halved_actor"


def _experiment(where: Path, group: str) -> Path:
    """``where/e.yaml``: an experiment on the tiny chain with one ``group`` (and its budgets file)."""
    (where / "budgets.yaml").write_text("kind: budgets\nbudgets: {tiny: {iterations: 10, schedule: small, "
                                        "deviation: a test}}\n")
    (where / "e.yaml").write_text(dedent(f"""\
        kind: experiment
        name: e
        spec: {ROOT / 'specs' / 'tiny_chain.yaml'}
        data: synthetic
        budgets: budgets.yaml
        groups:
          - {group}
        """))
    return where / "e.yaml"


def test_experiment_files_accept_a_registered_strategy(tmp_path):
    from routegraph.sweep.schema import load_experiment

    _experiment(tmp_path, "{name: g, method: halved_actor, k_cpt: [1e-7]}")
    with pytest.raises(Exception, match="groups.0.method: must be 'static', 'actor', 'pragmatic_critic' or "
                                        "'optimistic_critic' \\(got 'halved_actor'\\)"):
        load_experiment(tmp_path / "e.yaml")
    with registered(Method("halved_actor", "ha", "Halved actor nets", "h", "pkg:HalvedActor", settings=("k_dec",))):
        experiment = load_experiment(tmp_path / "e.yaml")
        assert [g.method for g in experiment.model.groups] == ["halved_actor"]


PLUGIN = '''
from routegraph.methods import Method

STRATEGY = Method("halved_actor", "ha", "Halved actor nets", "the actor's loss, halved",
                  "halved_plugin_impl:HalvedActor", settings=("k_dec",))
'''
IMPL = '''
from routegraph.train.strategies import Actor


class HalvedActor(Actor):
    def objective(self, out, labels, k_cpt, tau):
        loss, region_p, decisions = super().objective(out, labels, k_cpt, tau)
        return 0.5 * loss, region_p, decisions
'''


def test_a_plugin_strategy_works_from_the_command_line(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "halved_plugin.py").write_text(PLUGIN)
    (site / "halved_plugin_impl.py").write_text(IMPL)
    info = site / "halved_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: halved-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[routegraph.strategies]\nhalved = halved_plugin:STRATEGY\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "routegraph", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)

    shown = cli("train", "--help")
    assert "static | actor | pragmatic_critic | optimistic_critic | halved_actor" in " ".join(shown.stdout.split())
    done = cli("train", "specs/tiny_chain.yaml", "--strategy", "halved_actor", "--k-cpt", "1e-7", "--iterations", "2",
               "--batch-size", "8", "--checkpoint-every", "0", "--no-progress", "--data", "synthetic",
               "--data-option", "n_train=40", "--data-option", "n_test=20", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["run_id"].startswith("ha-1e-07-")
    typo = cli("train", "specs/tiny_chain.yaml", "--strategy", "halved_acter", "--out", str(tmp_path / "x"))
    assert typo.returncode != 0 and "Traceback" not in typo.stderr
    assert "halved_actor" in typo.stderr and len(typo.stderr.strip().splitlines()) == 1


def test_common_settings_are_the_base_class_signature():
    import inspect

    from routegraph.train.strategies import Strategy

    assert tuple(inspect.signature(Strategy.__init__).parameters)[1:] == COMMON_SETTINGS


def test_a_fixed_path_user_strategy_is_a_static_baseline_everywhere(tmp_path):
    from routegraph.methods import is_fixed_path
    from routegraph.sweep import expand
    from routegraph.sweep.schema import load_experiment
    from routegraph.train.strategies import Static

    _experiment(tmp_path, "{name: g, method: my_static, static_exits: [1, 2]}")
    with registered(Method("my_static", "ms", "My static nets", "h", Static, fixed_path=True)):
        assert is_fixed_path("my_static") and not is_fixed_path("actor")
        runs = expand(load_experiment(tmp_path / "e.yaml"), "tiny").runs
        assert [(r.kind, r.static_exit) for r in runs] == [("static", "1"), ("static", "2")]
        assert all(r.config().static_classifier in ("1", "2") for r in runs)
    assert not is_fixed_path("my_static")
