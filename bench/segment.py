"""Benchmark of the segmentation: each precision against the machine's float32 limit and PyTorch eager.

Writes a simulated uint16 movie (the package simulator) to a temporary HDF5 file and segments it,
streaming from that file as ``edf_segment`` does, once per mode. Each mode runs in a fresh process,
so that its peak RSS is its own. Modes:

- ``default``: what ``segment_movie`` does by default (backend "auto": OpenVINO on a CPU,
  PyTorch on a GPU; precision "auto": int8 on a CPU, see ``resolve_precision``; the fast tiling;
  the default memory budget);
- ``fast``: precision "fast" (bfloat16 where the CPU computes it natively, float32 otherwise),
  the fast tiling: the default before int8;
- ``int8``: precision "int8" (OpenVINO, the network quantized with NNCF), the fast tiling;
- ``int8-blocks``, ``fast-blocks``: int8 or fast in blocks of frames with margins only: the plan
  before streaming (where the default streams the movie through the network,
  :mod:`exodeepfinder.inference.streaming`);
- ``int8-old-plan``: the same with the memory plan of before int8's memory was measured (550 bytes
  per window voxel instead of 220: two windows of 252 x 352 and blocks of 34 frames on 400 x 300);
- ``torch-reference``: PyTorch eager with the reference tiling (precision "fast": bfloat16
  autocast where the CPU has it, float32 here otherwise);
- ``fp32``: precision "fp32" (reference tiling, float32; OpenVINO on a CPU);
- ``torch-fp32``: PyTorch eager, float32, reference tiling.

The limit line: in the same run, before the modes, the machine's float32 matrix-multiply peak
(numpy and PyTorch sgemm of 4096 x 4096, the best of 3) and, where OpenVINO runs, the throughput
of one 3x3x3 convolution (32 -> 32 channels on 16 x 128 x 128) in float32 and in int8. Beside
time and peak RSS, every mode prints the operations it computed (the network's FLOPs per computed
voxel, :func:`~exodeepfinder.model.arrays.flops_per_voxel`, times the voxels its tiling
computes), its effective GFLOP/s, their share of the float32 peak, and the *ideal float32 run*:
1 computed voxel per movie voxel at the float32 peak. int8 modes count the same operations (as
integer ones), so their share of the float32 peak can pass 100%.

Ratios measured in one run are the figures that hold across machines; absolute times depend on
the CPU and on what else runs on it.

    .venv/bin/python bench/segment.py                                # 100 x 400 x 300
    .venv/bin/python bench/segment.py --frames 250                   # the issue's movie
    .venv/bin/python bench/segment.py --modes default --max_memory 2GB
    .venv/bin/python bench/segment.py --modes fast int8 fp32 --markdown table.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_name  # noqa: E402  (bench/machine.py)

REPOSITORY = Path(__file__).resolve().parents[1]
#: Where the official weights are looked for (``--weights official``): a ``shared/data`` folder beside the
#: repository or above it, then the user cache of ``exodeepfinder download-weights``.
OFFICIAL_CANDIDATES = [folder / "shared/data/net_weights_FINAL.h5" for folder in REPOSITORY.parents]
#: Bytes per window voxel of the memory plan before it measured int8 (``--memory_probe``): the previous plan
#: is what the ``*-old-plan`` modes run.
PREVIOUS_BYTES_PER_VOXEL = {("openvino", "int8"): 550}
#: Movie sizes of ``--plans`` (t, y, x).
PLAN_SHAPES = [(100, 400, 300), (250, 400, 300), (1000, 512, 512), (100, 128, 128)]
MODES = {
    "default": dict(),
    "fast": dict(precision="fast"),
    "int8": dict(precision="int8"),
    "int8-blocks": dict(precision="int8"),
    "fast-blocks": dict(precision="fast"),
    "int8-old-plan": dict(precision="int8"),
    "torch-reference": dict(backend="torch", tiling="reference"),
    "fp32": dict(precision="fp32"),
    "torch-fp32": dict(backend="torch", precision="fp32"),
}


def make_movie(path, frames, height, width):
    from exodeepfinder.io.h5 import write_h5
    from exodeepfinder.simulation import simulate_movie

    density = frames * height * width / (200 * 128 * 128)
    simulation = simulate_movie((frames, height, width), n_events=int(20 * density),
                                n_spots=int(min(40 * height * width / 128 ** 2, 2000)), seed=0)
    write_h5(path, simulation.movie)


def official_weights():
    """The official weights file (see :data:`OFFICIAL_CANDIDATES`), or None where there is none."""
    from exodeepfinder.model.weights import official_weights_path

    for path in OFFICIAL_CANDIDATES + [official_weights_path()]:
        if path.is_file():
            return path
    return None


def weights_path(weights):
    """``--weights``: None for the bundled model, the official file, or a file given by path."""
    if weights == "bundled":
        return None
    if weights == "official":
        return official_weights()
    return Path(weights)


def use_previous_plan():
    """Make the memory plan that of before int8's memory was measured (the ``*-old-plan`` modes)."""
    from exodeepfinder.inference.memory import BYTES_PER_VOXEL

    BYTES_PER_VOXEL.update(PREVIOUS_BYTES_PER_VOXEL)


def use_blocks_only():
    """Plan blocks of frames with margins, never a stream (the ``*-blocks`` modes: the plan before streaming)."""
    from exodeepfinder.inference import segment

    plan_tiling = segment.plan_tiling
    segment.plan_tiling = lambda *args, **kwargs: plan_tiling(*args, **{**kwargs, "stream": None})


def run_mode(movie_path, mode, device, threads, max_memory, weights="bundled"):
    """Segment in this process; print one JSON line with the timings."""
    import torch

    from exodeepfinder.inference import iter_segment
    from exodeepfinder.inference.segment import prepare
    from exodeepfinder.io.h5 import open_h5
    from exodeepfinder.model.arrays import flops_per_voxel, model_widths
    from exodeepfinder.model.weights import load_model

    if threads:
        torch.set_num_threads(threads)
    if mode.endswith("-old-plan"):
        use_previous_plan()
    if mode.endswith("-blocks"):
        use_blocks_only()
    model = load_model(weights_path(weights), device)
    device = model.device
    movie = open_h5(movie_path)
    options = dict(MODES[mode], max_memory=max_memory)
    runner, plan = prepare(movie.shape, model, **options)
    quantized_s = None
    if getattr(runner, "int8", False):  # the int8 graph: from the disk cache, or quantized once (not timed)
        from exodeepfinder.inference.openvino_backend import network_graph

        start = time.perf_counter()
        network_graph(model, runner.digest, True)
        quantized_s = time.perf_counter() - start
    first = []
    start = time.perf_counter()
    for _ in iter_segment(movie, model, progress=lambda done, total: first.append(time.perf_counter())
                          if done == 1 else None, **options):
        pass
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    voxels = movie.shape[0] * movie.shape[1] * movie.shape[2]
    print(json.dumps(dict(mode=mode, engine=runner.description, threads=torch.get_num_threads(),
                          window=list(plan.window_shape), windows_per_block=plan.windows_per_block,
                          frames_per_block=plan.frames_per_block, t_margin=plan.t_margin, stream=plan.stream,
                          computed_per_voxel=plan.computed_voxels(movie.shape[0]) / voxels,
                          first_window_s=(first[0] - start) if first else None, int8_graph_s=quantized_s,
                          shape=list(movie.shape), seconds=seconds, voxels_per_s=voxels / seconds,
                          peak_rss_mb=peak_mb, load_average=os.getloadavg()[0],
                          widths=list(model_widths(model)), flops_per_voxel=flops_per_voxel(model_widths(model)))))


def _proc_status_kb(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def probe_window_memory(precision, frames, height, width):
    """Peak RSS added by one network window ``(1, 1, frames, height, width)`` (engine working memory, its
    input copy and its output), in this process; print one JSON line.

    The model, the engine and (int8) the quantized graph are loaded first; then the peak-RSS counter is
    reset (``/proc/self/clear_refs``), the window is compiled and run, and the new peak read.
    """
    import numpy as np

    from exodeepfinder.inference.backends import make_runner
    from exodeepfinder.model.weights import load_model

    model = load_model(None, "cpu")  # the bundled model (the memory does not depend on the weights)
    runner = make_runner(model, "auto", model.device, precision)
    if getattr(runner, "int8", False):
        from exodeepfinder.inference.openvino_backend import network_graph

        network_graph(model, runner.digest, True)
    before = _proc_status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset VmHWM to the current RSS
    shape = (1, 1, frames, height, width)
    start = time.perf_counter()
    window = np.full(shape, 0.3, np.float32)
    window[..., ::7, ::5] = 0.9  # some contrast (the memory does not depend on the values)
    output = runner(window, (slice(None),) * 3)
    seconds = time.perf_counter() - start
    peak = _proc_status_kb("VmHWM")
    print(json.dumps(dict(precision=precision, engine=runner.description, shape=list(shape),
                          voxels=int(np.prod(shape)), rss_before_mb=before / 1024, peak_mb=peak / 1024,
                          added_mb=(peak - before) / 1024, output_shape=list(output.shape), seconds=seconds)))


def memory_probe(precisions, sizes, height, width, threads):
    """Bytes per window voxel of each engine, measured: the peak RSS added by windows of two lengths
    (fresh processes), its slope per voxel and its intercept (compilation and fixed buffers)."""
    rows = []
    for precision in precisions:
        measured = []
        for frames in sizes:
            command = [sys.executable, __file__, "--_probe", precision, str(frames), str(height), str(width),
                       "--threads", str(threads)]
            run = subprocess.run(command, capture_output=True, text=True)
            if run.returncode:
                print(f"{precision} {frames} frames: failed\n{run.stderr[-3000:]}")
                break
            measured.append(json.loads(run.stdout.splitlines()[-1]))
            m = measured[-1]
            print(f"{precision:>5} window {frames} x {height} x {width} ({m['voxels'] / 1e6:.2f} M voxels, "
                  f"{m['engine']}): +{m['added_mb']:.0f} MB over {m['rss_before_mb']:.0f} MB "
                  f"({m['added_mb'] * 2 ** 20 / m['voxels']:.0f} B per voxel), {m['seconds']:.1f} s", flush=True)
        if len(measured) >= 2:
            (a, b) = measured[0], measured[-1]
            slope = (b["added_mb"] - a["added_mb"]) * 2 ** 20 / (b["voxels"] - a["voxels"])
            intercept = a["added_mb"] - slope * a["voxels"] / 2 ** 20
            rows.append(dict(precision=precision, engine=a["engine"], bytes_per_voxel=slope, fixed_mb=intercept,
                             process_mb=a["rss_before_mb"]))
            print(f"{precision:>5}: {slope:.0f} B per window voxel (slope), {intercept:.0f} MB fixed; process "
                  f"before the window {a['rss_before_mb']:.0f} MB", flush=True)
    return rows


def plan_rows(shapes, max_memory=None):
    """The computed voxels per movie voxel of the fast tiling's plans (no inference): per movie size and
    engine, the previous memory plan, blocks of frames and the default (which may stream the movie), and the
    factors they come from
    (:meth:`~exodeepfinder.inference.tiling.TilePlan.overlap_factors`)."""
    from exodeepfinder.inference.memory import BYTES_PER_VOXEL, PROCESS_MEMORY, STREAM_BYTES, working_memory
    from exodeepfinder.inference.tiling import FAST_PAD, PAD, plan_memory, plan_tiling

    memory = working_memory(max_memory or "3.5GB")
    rows = ["| movie (t x y x x) | engine | plan | windows (y x x, size) | frames per block (+ margins) | padding | "
            "pooling grid | window overlap | t margins | equal blocks | **computed voxels per voxel** | "
            "planned peak (GB) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for shape in shapes:
        for engine, key in (("int8", ("openvino", "int8")), ("float32", ("openvino", "f32"))):
            border = FAST_PAD if engine == "int8" else PAD
            plans = {"blocks": (BYTES_PER_VOXEL[key], None), "default (may stream)": (BYTES_PER_VOXEL[key],
                                                                                    STREAM_BYTES[key])}
            if key in PREVIOUS_BYTES_PER_VOXEL:
                plans = {"previous": (PREVIOUS_BYTES_PER_VOXEL[key], None), **plans}
            for name, (bytes_per_voxel, stream) in plans.items():
                plan = plan_tiling(shape, "fast", memory=memory, bytes_per_voxel=bytes_per_voxel, input_itemsize=2,
                                   border_pad=border, stream=stream)
                name = f"{name}: {'stream' if plan.stream else 'blocks'}"
                f = plan.overlap_factors(shape)
                peak = (plan_memory(plan, bytes_per_voxel, 40.0) + PROCESS_MEMORY) / 1024 ** 3
                rows.append(f"| {' x '.join(map(str, shape))} | {engine} ({bytes_per_voxel} B per window voxel) | "
                            f"{name} | {len(plan.y.starts)} x {len(plan.x.starts)} of {plan.y.size} x {plan.x.size} | "
                            f"{plan.frames_per_block} (+2 x {plan.t_margin}) | {f['padding']:.3f} | "
                            f"{f['pooling_grid']:.3f} | {f['window_overlap']:.3f} | {f['t_margins']:.3f} | "
                            f"{f['equal_blocks']:.3f} | **{f['computed_per_voxel']:.2f}** | {peak:.2f} |")
    return rows


def best_seconds(function, repeats=3):
    """The shortest of ``repeats`` timed calls of ``function`` (after one untimed call)."""
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def measure_peaks(threads=0, n=4096):
    """The machine's arithmetic limits, in G operations per second (None where not measurable).

    ``numpy_sgemm``, ``torch_sgemm``: float32 matrix multiply ``n x n``; ``float32``: the best of
    them. ``openvino_conv_f32`` and ``openvino_conv_int8``: one 3x3x3 convolution, 32 -> 32 channels
    on 16 x 128 x 128 voxels, in float32 and quantized to int8 with NNCF (the network's arithmetic).
    """
    import numpy as np

    peaks = {}
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), np.float32), rng.random((n, n), np.float32)
    peaks["numpy_sgemm"] = 2 * n ** 3 / best_seconds(lambda: a @ b) / 1e9
    try:
        import torch

        if threads:
            torch.set_num_threads(threads)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        peaks["torch_sgemm"] = 2 * n ** 3 / best_seconds(lambda: torch.mm(ta, tb)) / 1e9
    except ImportError:
        peaks["torch_sgemm"] = None
    peaks["float32"] = max(v for v in (peaks["numpy_sgemm"], peaks["torch_sgemm"]) if v)
    try:
        peaks.update(convolution_peaks())
    except ImportError:  # no OpenVINO or no NNCF
        peaks.update(openvino_conv_f32=None, openvino_conv_int8=None)
    return peaks


def convolution_peaks(channels=32, shape=(16, 128, 128)):
    import contextlib
    import io

    import numpy as np
    import nncf
    import openvino as ov
    from openvino import opset13 as ops

    rng = np.random.default_rng(0)
    weight = (rng.standard_normal((channels, channels, 3, 3, 3)) / 15).astype(np.float32)
    x = ops.parameter([1, channels, *shape], ov.Type.f32)
    y = ops.relu(ops.convolution(x, ops.constant(weight), [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]))
    graph = ov.Model([y], [x])
    data = np.maximum(rng.standard_normal((1, channels, *shape)), 0).astype(np.float32)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        quantized = nncf.quantize(graph, nncf.Dataset([data]), preset=nncf.QuantizationPreset.MIXED, subset_size=1,
                                  fast_bias_correction=True)
    operations = 2 * channels * channels * 27 * int(np.prod(shape))
    peaks = {}
    for name, model in (("openvino_conv_f32", graph), ("openvino_conv_int8", quantized)):
        compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                          "PERFORMANCE_HINT": "LATENCY"})
        request = compiled.create_infer_request()
        peaks[name] = operations / best_seconds(lambda: request.infer({0: data})) / 1e9
    return peaks


def limit_rows(results, peaks, shape):
    """The table: per mode, time, RSS, operations, GFLOP/s, share of the float32 peak, against the ideal run."""
    from exodeepfinder.model.arrays import DEFAULT_WIDTHS, flops_per_voxel

    voxels = shape[0] * shape[1] * shape[2]
    ideal = voxels * flops_per_voxel() / (peaks["float32"] * 1e9)  # of the reference network (32/48/64)
    rows = ["| mode | engine | time (s) | peak RSS (GB) | computed voxels per voxel | TFLOP computed | "
            "effective GFLOP/s | % of float32 peak | x the ideal float32 run |",
            "|---|---|---|---|---|---|---|---|---|"]
    for mode, r in results.items():
        flops = r["computed_per_voxel"] * voxels * r.get("flops_per_voxel", flops_per_voxel())
        rate = flops / r["seconds"] / 1e9
        rows.append(f"| {mode} | {r['engine']} | {r['seconds']:.1f} | {r['peak_rss_mb'] / 1024:.2f} | "
                    f"{r['computed_per_voxel']:.2f} | {flops / 1e12:.2f} | {rate:.1f} | "
                    f"{100 * rate / peaks['float32']:.0f}% | {r['seconds'] / ideal:.2f} |")
    rows.append(f"| ideal float32 | 1 computed voxel per voxel at {peaks['float32']:.1f} GFLOP/s | {ideal:.1f} | | 1.00 | "
                f"{voxels * flops_per_voxel() / 1e12:.2f} | {peaks['float32']:.1f} | 100% | 1.00 |")
    for widths in sorted({tuple(r["widths"]) for r in results.values() if "widths" in r} - {DEFAULT_WIDTHS}):
        compact = voxels * flops_per_voxel(widths) / (peaks["float32"] * 1e9)
        rows.append(f"| ideal float32, widths {'/'.join(map(str, widths))} | 1 computed voxel per voxel | "
                    f"{compact:.1f} | | "
                    f"1.00 | {voxels * flops_per_voxel(widths) / 1e12:.2f} | {peaks['float32']:.1f} | 100% | "
                    f"{compact / ideal:.2f} |")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--height", type=int, default=400)
    parser.add_argument("--width", type=int, default=300)
    parser.add_argument("--modes", nargs="+", default=["default", "torch-reference"], choices=list(MODES))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument("--max_memory", default=None, help="memory budget, e.g. 2GB (default: the library's)")
    parser.add_argument("--markdown", type=Path, help="also write the table (and the limits) to this file")
    parser.add_argument("--no_peaks", action="store_true", help="skip the limit line (no peak measurement)")
    parser.add_argument("--weights", nargs="+", default=["bundled"],
                        help="bundled (default), official (shared/data/net_weights_FINAL.h5 beside the repository, "
                             "or the user cache: skipped with a message where absent), or a weights file (e.g. a "
                             "compact network's); several: every mode of each, in one run")
    parser.add_argument("--plans", action="store_true",
                        help="only print the computed voxels per voxel of the plans for several movie sizes "
                             "(no inference)")
    parser.add_argument("--memory_probe", action="store_true",
                        help="only measure the bytes per window voxel of the int8 and float32 engines (peak RSS)")
    parser.add_argument("--_run", nargs=2, metavar=("MOVIE", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--_probe", nargs=4, metavar=("PRECISION", "T", "Y", "X"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._probe:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        return probe_window_memory(args._probe[0], *map(int, args._probe[1:]))
    if args.memory_probe:
        print(f"CPU: {cpu_name()}, {os.cpu_count()} logical CPUs; load average {os.getloadavg()[0]:.1f}")
        memory_probe(["int8", "fast"], (16, 40), args.height + 52, args.width + 52, args.threads)
        return
    if args._run:
        return run_mode(args._run[0], args._run[1], args.device, args.threads, args.max_memory, args.weights[0])
    if args.plans:
        budget = args.max_memory or "3.5GB"
        print(f"fast tiling, budget {budget} (--max_memory), uint16 movies; factors multiply to the computed "
              f"voxels per voxel\n")
        print("\n".join(plan_rows(PLAN_SHAPES, budget)))
        return
    if "official" in args.weights and official_weights() is None:
        print("official weights not found (shared/data/net_weights_FINAL.h5 beside the repository, or "
              "'exodeepfinder download-weights'): skipped")
        args.weights = [w for w in args.weights if w != "official"]
        if not args.weights:
            return
    for weights in args.weights:
        if weights not in ("bundled", "official") and not Path(weights).is_file():
            parser.error(f"--weights: {weights}: no such file (or bundled, official)")
    print("weights: " + ", ".join(w + (f" ({official_weights()})" if w == "official" else "") for w in args.weights))
    with tempfile.TemporaryDirectory() as folder:
        movie_path = Path(folder) / "movie.h5"
        start = time.perf_counter()
        make_movie(movie_path, args.frames, args.height, args.width)
        machine = (f"CPU: {cpu_name()}, {os.cpu_count()} logical CPUs; load average {os.getloadavg()[0]:.1f}")
        print(f"movie {args.frames} x {args.height} x {args.width} uint16 written in {time.perf_counter() - start:.1f} s; "
              f"{machine}")
        peaks = None
        if not args.no_peaks:
            peaks = measure_peaks(args.threads)
            limits = ("limits: float32 sgemm 4096^2 " + ", ".join(
                f"{name} {peaks[key]:.1f} GFLOP/s" for name, key in (("numpy", "numpy_sgemm"), ("torch", "torch_sgemm"))
                if peaks[key]) + "; OpenVINO 3x3x3 convolution 32->32 " + ", ".join(
                f"{name} {peaks[key]:.1f} G op/s" for name, key in (("float32", "openvino_conv_f32"),
                                                                     ("int8", "openvino_conv_int8")) if peaks[key]))
            print(limits, flush=True)
        results = {}
        runs = [(mode, weights) for weights in args.weights for mode in args.modes]
        for mode, weights in runs:
            name = weights if weights in ("bundled", "official") else Path(weights).name
            label = mode if len(args.weights) == 1 else f"{mode} [{name}]"
            command = [sys.executable, __file__, "--_run", str(movie_path), mode, "--device", args.device,
                       "--threads", str(args.threads), "--weights", weights] + (
                           ["--max_memory", args.max_memory] if args.max_memory else [])
            run = subprocess.run(command, capture_output=True, text=True)
            if run.returncode:
                print(f"{label}: failed\n{run.stderr[-3000:]}")
                continue
            result = json.loads(run.stdout.splitlines()[-1])
            results[label] = result
            print(f"{label:>15}: {result['seconds']:7.1f} s  {result['voxels_per_s'] / 1e6:6.3f} M voxels/s  "
                  f"peak RSS {result['peak_rss_mb'] / 1024:5.2f} GB  | {result['engine']}, "
                  f"window {'x'.join(map(str, result['window'][2:]))} (x{result['windows_per_block']} per block, "
                  f"{result['frames_per_block']} frames kept, t margin {result['t_margin']}), "
                  f"{result['computed_per_voxel']:.2f} computed voxels per voxel; "
                  f"first window after {result['first_window_s']:.1f} s; load average {result['load_average']:.1f}"
                  + (f"; int8 graph ready in {result['int8_graph_s']:.1f} s (untimed)" if result.get("int8_graph_s")
                     is not None else ""), flush=True)
        if "default" in results and "torch-reference" in results:
            ratio = results["torch-reference"]["seconds"] / results["default"]["seconds"]
            print(f"default is {ratio:.2f}x faster than PyTorch eager with the reference tiling "
                  f"(measured in this run, same machine and load)")
        if len(args.weights) > 1:  # each mode: the first weights' time over the others'
            label = lambda mode, w: f"{mode} [{w if w in ('bundled', 'official') else Path(w).name}]"  # noqa: E731
            for mode in args.modes:
                first = results.get(label(mode, args.weights[0]))
                for other in args.weights[1:]:
                    if first and label(mode, other) in results:
                        ratio = first["seconds"] / results[label(mode, other)]["seconds"]
                        print(f"{mode}: {label(mode, other)} is {ratio:.2f}x "
                              f"faster than {label(mode, args.weights[0])} (this run)")
        if "default" in results:
            rate = results["default"]["voxels_per_s"]
            print(f"1000 x 400 x 300 at the default's rate: {1000 * 400 * 300 / rate:.0f} s")
        if peaks and results:
            table = "\n".join(limit_rows(results, peaks, (args.frames, args.height, args.width)))
            print(table)
            if args.markdown:
                args.markdown.write_text(f"movie {args.frames} x {args.height} x {args.width} (simulated); {machine}\n\n"
                                         f"{limits}\n\n{table}\n")


if __name__ == "__main__":
    main()
