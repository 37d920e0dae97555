"""Run an exported routed network with numpy and ONNX Runtime alone (``pip install routegraph[deploy]``).

``routegraph export RUN -o DIR`` writes the folder (:mod:`routegraph.export`); this package
never imports torch::

    >>> from routegraph import deploy                                  # doctest: +SKIP
    >>> net = deploy.load("deployed/ac")                               # doctest: +SKIP
    >>> out = net.predict(images, k_cpt=4e-9)                          # doctest: +SKIP
    >>> out.predictions, out.exits[:3], out.ops.mean()                 # doctest: +SKIP

``images``: float32 ``[N, *net.input_shape]``, as the network was trained on (for the built-in
image tasks: linear colour in [0, 1]). The results equal :func:`routegraph.infer.route`'s on the
trained model (decisions and predictions; logits to float rounding; ops exactly).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DeployError
from .manifest import FORMAT, read_manifest
from .runtime import K_COLUMN, DeployOutput, k_column, route_dense, run_regions

__all__ = ["Deployment", "DeployOutput", "FORMAT", "load"]

#: Largest batch run at once by default (as :data:`routegraph.infer.executor.DEFAULT_BATCH`).
DEFAULT_BATCH = 256


def load(folder: str | Path, *, threads: int | None = None) -> "Deployment":
    """Load an exported folder: the manifest and every file's checksum checked, one ONNX Runtime
    session per graph. ``threads``: intra-op threads per session (None: ONNX Runtime's choice)."""
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover (the deploy extra installs it)
        raise DeployError("routegraph.deploy needs onnxruntime: pip install 'routegraph[deploy]'") from None
    folder = Path(folder)
    manifest = read_manifest(folder)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # one session per region: spinning intra-op threads of the sessions not running would hold the cores
    # the running one needs (measured, 2 cores: 4.5x slower with 2 threads, 1.4x with 1; docs/benchmarks.md)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = int(threads)
    files = [r["file"] for r in manifest["regions"]] if manifest["kind"] == "regions" else ["dense.onnx"]
    try:
        sessions = [ort.InferenceSession(str(folder / f), options, providers=["CPUExecutionProvider"]) for f in files]
    except Exception as exc:  # noqa: BLE001 (ONNX Runtime raises its own classes)
        raise DeployError(f"{folder}: ONNX Runtime cannot load the graphs: {str(exc).splitlines()[0]}") from None
    return Deployment(folder, manifest, sessions)


class Deployment:
    """An exported network ready to run: what it takes (``input_shape``, ``k_cpt_input``), what it
    returns (``classifiers``, ``class_names``) and :meth:`predict`."""

    def __init__(self, folder: Path, manifest: dict, sessions):
        self.folder, self.manifest, self._sessions = folder, manifest, sessions
        self.input_shape = tuple(manifest["input"]["shape"])
        self.class_names = list(manifest["class_names"])
        self.classifiers = tuple(manifest["classifiers"])
        self.junctions = tuple(j["name"] for j in manifest["junctions"])
        self.k_cpt_input = bool(manifest["k_cpt"]["input"])
        self.k_cpt_scale = float(manifest["k_cpt"]["scale"])
        self.run_id = manifest.get("run_id")
        self.path_ops = np.asarray(manifest["path_ops"], dtype=np.int64)
        self.kind = manifest["kind"]
        self._uniform = len(set(manifest["classes"])) == 1

    @property
    def config(self) -> dict:
        """What the manifest kept of the run's settings: ``run_id``, ``data``, ``data_options``, ``k_cpt``,
        ``k_cpt_set`` (None unless dynamic) and ``class_names``, keyed as in the run's config.json."""
        k = self.manifest["k_cpt"]
        return {"run_id": self.run_id, "data": self.manifest.get("data"), "data_options": self.manifest.get("data_options"),
                "k_cpt": k.get("trained"), "k_cpt_set": k.get("trained_set") or [], "class_names": self.class_names,
                "dynamic_k_cpt": self.k_cpt_input}

    def __repr__(self) -> str:
        return f"Deployment({str(self.folder)!r}, run_id={self.run_id!r}, {self.kind}, {len(self.classifiers)} exits)"

    def predict(self, x, k_cpt=None, *, force=None, batch_size: int | None = DEFAULT_BATCH) -> DeployOutput:
        """Path-only inference of ``x`` (``[N, *input_shape]``, cast to float32). ``k_cpt``: a number or
        ``[N]`` values, required when the routers read it (``k_cpt_input``), refused otherwise.
        ``force``: junction name -> ``[N]`` sink indices replacing the routers' argmax.
        ``batch_size``: run in chunks of at most this many (None: all at once)."""
        x = self._check_input(x)
        n = len(x)
        k = self._check_k(k_cpt, n)
        forced = self._check_force(force, n)
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise DeployError(f"batch_size must be a positive integer, got {batch_size!r}")
        step = n if not batch_size else batch_size
        parts = []
        for start in range(0, max(n, 1), max(step, 1)):
            rows = slice(start, start + step)
            kc = None if k is None else k[rows]
            f = None if forced is None else {j: d[rows] for j, d in forced.items()}
            parts.append(self._run(x[rows], kc, f))
        return _concat(parts, self.classifiers) if len(parts) > 1 else parts[0]

    # -- checks ------------------------------------------------------------
    def _check_input(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind not in "fiub":
            raise DeployError(f"inputs must be numbers, got dtype {x.dtype}")
        if x.ndim == len(self.input_shape):
            x = x[None]
        if tuple(x.shape[1:]) != self.input_shape:
            raise DeployError(f"inputs of shape {list(x.shape)}; the network takes [N, "
                              f"{', '.join(map(str, self.input_shape))}]")
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not np.isfinite(x).all():
            raise DeployError("inputs hold NaN or infinite values")
        return x

    def _check_k(self, k_cpt, n: int):
        if not self.k_cpt_input:
            if k_cpt is not None:
                raise DeployError("this network's routers do not read k_cpt (it was trained at a fixed k_cpt): "
                                  "leave k_cpt out")
            return None
        if k_cpt is None:
            raise DeployError("this network's routers read k_cpt (dynamic k_cpt): pass k_cpt=")
        k = np.asarray(k_cpt, dtype=np.float64).reshape(-1)
        if not np.isfinite(k).all() or (k < 0).any():
            raise DeployError(f"k_cpt must be finite and >= 0, got {k_cpt!r}")
        return k_column(k, self.k_cpt_scale, n)

    def _check_force(self, force, n: int):
        if not force:
            return None
        index = {name: i for i, name in enumerate(self.junctions)}
        out = {}
        for name, d in force.items():
            if name not in index:
                raise DeployError(f"force: unknown junction {name!r} (junctions: {', '.join(index) or 'none'})")
            d = np.asarray(d).astype(np.int64).reshape(-1)
            arity = len(self.manifest["junctions"][index[name]]["sinks"])
            if len(d) != n or (n and (d.min() < 0 or d.max() >= arity)):
                raise DeployError(f"force[{name!r}]: expected {n} sink indices in 0..{arity - 1}")
            out[index[name]] = d
        return out

    # -- execution ---------------------------------------------------------
    def _run(self, x: np.ndarray, k, forced) -> DeployOutput:
        n = len(x)
        classes = self.manifest["classes"]
        if n == 0:
            empty = np.zeros(0, dtype=np.int64)
            logits = np.zeros((0, classes[0]), np.float32) if self._uniform else None
            return DeployOutput(empty, empty.copy(), empty.copy(), logits, self.classifiers)
        if self.kind == "regions":
            leaves = run_regions(self._sessions, self.manifest, x, k, forced)
        else:
            feeds = {self.manifest["input"]["name"]: x} | ({K_COLUMN: k} if k is not None and self.junctions else {})
            leaves = route_dense(self.manifest, self._sessions[0].run(None, feeds), forced)
        exit_ = np.empty(n, dtype=np.int64)
        predictions = np.empty(n, dtype=np.int64)
        logits = np.empty((n, classes[0]), np.float32) if self._uniform else None
        for leaf, idx, values in leaves:
            rows = slice(None) if idx is None else idx
            exit_[rows] = leaf
            predictions[rows] = values.argmax(1)
            if logits is not None:
                logits[rows] = values
        return DeployOutput(predictions, exit_, self.path_ops[exit_], logits, self.classifiers)


def _concat(parts: list[DeployOutput], classifiers) -> DeployOutput:
    logits = None if parts[0].logits is None else np.concatenate([p.logits for p in parts])
    return DeployOutput(np.concatenate([p.predictions for p in parts]), np.concatenate([p.exit for p in parts]),
                        np.concatenate([p.ops for p in parts]), logits, classifiers)
