"""Fault soak test: `exodeepfinder detect --batch --cluster local:2` while faults are injected, then a plain rerun.

Each round copies the pristine movie folders into a fresh batch folder and runs the detection on a
local Dask cluster of 2 worker processes while this driver injects faults at random moments:

- ``worker``: SIGKILL of a worker process (Dask restarts it and runs its movie again);
- ``client``: SIGKILL of the command and its whole process group (workers included);
- ``enospc``: the disk is full: each fsync of an output fails with ENOSPC with some probability
  (patched in every process: a loop-mounted file system needs privileges the soak does not ask for);
- ``corrupt``: a movie is overwritten with garbage while the batch runs (restored before the rerun);
- ``readonly``: a movie folder is read-only (patched EROFS: the soak may run as root).

After each faulty run, a plain rerun of the same command completes the batch. Invariants checked
after every run: no input changed (sha256; the movie the driver corrupted excepted until it is
restored), no empty output and every published output identical to a clean serial run's, no
Python traceback and the documented exit statuses (0 or 2; -9 for a killed client); after the
rerun: exit status 0, every folder's outputs there and identical to the serial run's, no temporary
left (partial, claim or scratch folders).

    python bench/soak.py --movies 50 --rounds 30 --out /tmp/soak       # every movie detected in every round
    python bench/soak.py --movies 50 --reset 10 --shape 8 24 24 --until_faults 200 --rounds 100 --out /tmp/soak

The second form (the figures of docs/errors.md) keeps one batch of 50 movies whose folders are
complete and puts 10 of them back to their movie alone in each round: every run goes through the 50
folders and every invariant is checked on the 50, but only 10 movies are detected, and the round's
faults (more per round: see :func:`dense_plan`) are aimed at those 10.

Writes ``soak.json`` (every round: faults, exit statuses, invariants) and ``soak.md`` in ``--out``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAULTS = ("worker", "client", "enospc", "corrupt", "readonly")
OPTIONS = ["-mw", "bundled", "-ps", "56", "--gallery_size", "0", "--device", "cpu", "--backend", "torch"]
INPUTS = ("movie.h5",)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_movies(folder: Path, n_movies: int, seed: int = 0, shape=(12, 40, 40)) -> None:
    """``n_movies`` small simulated movie folders (``cellNNN/movie.h5``) of ``shape`` (frames, y, x)."""
    from exodeepfinder.io.h5 import write_h5
    from exodeepfinder.simulation import simulate_movie

    for i in range(n_movies):
        simulation = simulate_movie(tuple(shape), n_events=2, n_spots=3, seed=seed + i)
        (folder / f"cell{i:03d}").mkdir(parents=True)
        write_h5(folder / f"cell{i:03d}" / "movie.h5", simulation.movie, overwrite=True)


def command(batch: Path, cluster: bool = True) -> list:
    return [sys.executable, "-m", "exodeepfinder", "detect", "--batch", str(batch), *OPTIONS,
            *(["--cluster", "local:2"] if cluster else [])]


def environment(threads: int, **faults) -> dict:
    paths = [str(REPO / "bench" / "_soak_faults"), str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(
        os.pathsep) if p and p not in (str(REPO), ".")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths),
               OMP_NUM_THREADS=str(threads), EXODEEPFINDER_PROGRESS="0")
    env.pop("EXODEEPFINDER_DEBUG", None)
    env.update({key: str(value) for key, value in faults.items() if value})
    return env


def outputs_of(batch: Path) -> dict:
    """Published outputs by path relative to the batch (inputs, records and hidden folders left out)."""
    found = {}
    for path in batch.rglob("*"):
        relative = path.relative_to(batch)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file() or path.name in INPUTS:
            continue
        found[str(relative)] = path
    return found


def same_output(path: Path, reference: Path) -> bool:
    """Same content; a provenance record (``.json``: date, machine, paths of the run) need only be one."""
    if path.suffix == ".json":
        try:
            return isinstance(json.loads(path.read_text()), dict)
        except ValueError:
            return False
    if path.suffix == ".h5":
        import h5py
        import numpy as np

        with h5py.File(path) as a, h5py.File(reference) as b:
            return sorted(a) == sorted(b) and all(np.array_equal(a[k][()], b[k][()]) for k in a) \
                and dict(a.attrs) == dict(b.attrs)
    return path.read_bytes() == reference.read_bytes()


def leftovers(batch: Path) -> list:
    return sorted(str(p.relative_to(batch)) for p in batch.rglob("*")
                  if p.name.endswith((".exodeepfinder-partial", ".exodeepfinder-claim")) or ".edf_" in p.name)


def worker_processes(client: int) -> list:
    import psutil

    try:
        children = psutil.Process(client).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    workers = []
    for child in children:
        try:
            line = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "multiprocessing" in line and "resource_tracker" not in line:
            workers.append(child)
    return workers


def check_run(batch, reference, inputs, code, stderr, *, excepted=(), killed=False) -> list:
    """The invariants broken by a run (an empty list when all hold)."""
    broken = []
    for relative, digest in inputs.items():
        if relative not in excepted and sha256(batch / relative) != digest:
            broken.append(f"input changed: {relative}")
    for relative, path in outputs_of(batch).items():
        if path.stat().st_size == 0:
            broken.append(f"empty output published: {relative}")
        elif relative not in reference:
            broken.append(f"unexpected output: {relative}")
        elif relative.split("/")[0] not in {e.split("/")[0] for e in excepted} and \
                not same_output(path, reference[relative]):
            broken.append(f"output differs from the serial run's: {relative}")
    if "Traceback" in stderr:
        broken.append("a traceback on stderr")
    if not killed and code not in (0, 2):
        broken.append(f"exit status {code}")
    if killed and code not in (0, 2, -signal.SIGKILL):
        broken.append(f"exit status {code} after the client was killed")
    return broken


def random_plan(rng) -> dict:
    """The faults of one round: worker kills, a client kill, ENOSPC probability, corrupted movies, read-only folders."""
    return {"worker": rng.choice([0, 1, 2]), "client": rng.random() < 0.25,
            "enospc": rng.choice([0, 0.05, 0.15]), "corrupt": int(rng.random() < 0.5),
            "readonly": int(rng.random() < 0.5)}


def dense_plan(rng) -> dict:
    """More faults per round, for rounds that detect only a few folders again (``--reset``)."""
    return {"worker": rng.choice([0, 1, 2]), "client": rng.random() < 0.2,
            "enospc": rng.choice([0.1, 0.2, 0.3]), "corrupt": rng.choice([0, 1, 2, 3]),
            "readonly": rng.choice([0, 1, 2, 3])}


def _normal(plan: dict) -> dict:
    """A plan with counts (``corrupt`` and ``readonly`` may be given as booleans: one or none)."""
    plan = dict(plan)
    for kind in ("worker", "corrupt", "readonly"):
        plan[kind] = int(plan.get(kind) or 0)
    plan["client"] = bool(plan.get("client"))
    plan["enospc"] = float(plan.get("enospc") or 0)
    return plan


def _reset_folders(batch: Path, pristine: Path, rng, count: int) -> list:
    """Put ``count`` random folders of the batch back as the pristine movie alone; their names."""
    names = sorted(p.name for p in pristine.iterdir())
    chosen = sorted(rng.sample(names, min(count, len(names))))
    for name in chosen:
        shutil.rmtree(batch / name)
        shutil.copytree(pristine / name, batch / name)
    return chosen


def run_round(index, pristine, work, reference, inputs, rng, threads, timeout, plan=None, *, reset=None,
              spans=None) -> dict:
    """One round: a faulty run, the invariants, a plain rerun, the invariants again.

    ``reset`` None: the round runs on a fresh copy of the pristine folders (every movie is
    detected). ``reset`` k: the round runs on the batch of the earlier rounds (``work/batch``,
    every folder complete) in which k random folders are put back to their movie alone: the
    command goes through every folder (the complete ones are checked and skipped) and detects
    k movies, and the faults are aimed at those k. ``spans``: the seconds that earlier faulty
    runs spent working (from the first worker to the end), to spread this round's faults over.
    """
    plan = _normal(plan if plan is not None else (random_plan(rng) if reset is None else dense_plan(rng)))
    if reset is None:
        batch = work / f"round{index:03d}"
        shutil.copytree(pristine, batch)
        targets = sorted(p.name for p in batch.iterdir())
    else:
        batch = work / "batch"
        targets = _reset_folders(batch, pristine, rng, reset)
    log = work / f"faults{index:03d}.log"
    readonly = [batch / name for name in rng.sample(targets, min(plan["readonly"], len(targets)))]
    span = sorted(spans)[len(spans) // 2] if spans else 5.0 + 2.0 * len(targets)
    env = environment(threads, EDF_SOAK_ENOSPC=plan["enospc"], EDF_SOAK_LOG=log,
                      EDF_SOAK_READONLY=os.pathsep.join(map(str, readonly)))
    start = time.monotonic()
    process = subprocess.Popen(command(batch), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    injected = {kind: 0 for kind in FAULTS}
    corrupted = []
    # (kind, counted from: the start or the first worker, delay in seconds)
    # a worker killed while the cluster starts fails the whole run ("Nanny failed to start", exit
    # status 2): kills come once the workers had some time to start their movies
    events = [("worker", "workers", rng.uniform(0.3 * span, span)) for _ in range(plan["worker"])] \
        + [("corrupt", "start", rng.uniform(0, span)) for _ in range(plan["corrupt"])] \
        + ([("client", "workers", rng.uniform(0.2 * span, span))] if plan["client"] else [])
    workers_up = None
    while (events or workers_up is None) and process.poll() is None:
        now = time.monotonic()
        if workers_up is None and worker_processes(process.pid):
            workers_up = now
        due = [e for e in events if (start if e[1] == "start" else workers_up) is not None
               and now >= (start if e[1] == "start" else workers_up) + e[2]]
        for event in sorted(due, key=lambda e: e[0] == "client"):  # a client kill last
            kind = event[0]
            if kind == "worker":
                workers = worker_processes(process.pid)
                if not workers:
                    continue  # between a kill and the restart: wait for the next worker
                rng.choice(workers).kill()
            elif kind == "corrupt":
                choices = [name for name in targets if f"{name}/movie.h5" not in corrupted] or targets
                corrupted.append(rng.choice(choices) + "/movie.h5")
                (batch / corrupted[-1]).write_bytes(os.urandom(4096))
            else:
                os.killpg(process.pid, signal.SIGKILL)
            injected[kind] += 1
            events.remove(event)
        time.sleep(0.25)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        err += "\n(timed out)"
    faulty_seconds = time.monotonic() - start
    if spans is not None and workers_up is not None and not injected["client"]:
        spans.append(time.monotonic() - workers_up)
    with __import__("contextlib").suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # nothing of a killed client may go on writing
    raised = log.read_text().split() if log.exists() else []
    injected["enospc"] = raised[0::2].count("enospc")
    injected["readonly"] = raised[0::2].count("readonly")
    broken = check_run(batch, reference, inputs, process.returncode, err,
                       excepted=tuple(corrupted), killed=injected["client"] > 0)
    for movie in corrupted:
        shutil.copyfile(pristine / movie, batch / movie)
        # outputs made from the garbage cannot exist (it is not HDF5); the folder failed and reruns
    rerun = subprocess.run(command(batch), env=environment(threads), capture_output=True, text=True,
                           timeout=timeout)
    after = check_run(batch, reference, inputs, rerun.returncode, rerun.stderr)
    if rerun.returncode != 0:
        after.append(f"rerun exit status {rerun.returncode}: {rerun.stderr.strip().splitlines()[-3:]}")
    missing = sorted(set(reference) - set(outputs_of(batch)))
    if missing:
        after.append(f"missing after the rerun: {missing[:3]}")
    left = leftovers(batch)
    if left:
        after.append(f"temporaries left after the rerun: {left[:3]}")
    result = {"round": index, "plan": plan, "injected": injected, "targets": len(targets),
              "exit": process.returncode, "rerun_exit": rerun.returncode, "broken": broken + after,
              "faulty_seconds": round(faulty_seconds, 1), "seconds": round(time.monotonic() - start, 1),
              "errors": [line for line in err.splitlines() if line.startswith(("error:", "  skipped"))][:5]}
    if broken or after:  # what the user saw, to explain it
        (work / f"round{index:03d}.stderr.txt").write_text(f"faulty run:\n{err}\nrerun:\n{rerun.stderr}")
    result["plan"]["readonly"] = [path.name for path in readonly]
    result["plan"]["corrupt"] = corrupted
    if reset is None:
        shutil.rmtree(batch, ignore_errors=True)
    log.unlink(missing_ok=True)
    return result


def invariant_count(movies: int) -> int:
    """Invariants checked per run: inputs, outputs (empty, expected, identical), stderr, exit status."""
    return movies + 3 * movies + 2


def summarize(results: list, movies: int, serial_seconds: float, reset, shape) -> dict:
    rounds = len(results)
    summary = {"movies": movies, "shape": list(shape), "reset": reset, "rounds": rounds,
               "serial_seconds": round(serial_seconds, 1),
               "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "faults": {kind: sum(r["injected"][kind] for r in results) for kind in FAULTS},
               "runs": 2 * rounds, "invariants_checked": 2 * rounds * invariant_count(movies) + 3 * rounds,
               "broken": [(r["round"], b) for r in results for b in r["broken"]], "results": results}
    summary["faults_total"] = sum(summary["faults"].values())
    return summary


def soak(out: Path, *, movies: int = 50, rounds: int = 30, seed: int = 0, timeout: float = 900,
         threads: int | None = None, plans=None, max_minutes: float | None = None, reset: int | None = None,
         shape=(12, 40, 40), until_faults: int | None = None) -> dict:
    """Run the soak; return (and write to ``out``, after every round) its summary.

    ``plans``: the faults of each round (see :func:`random_plan`) instead of random ones.
    ``max_minutes``: start no round after this time (the summary counts the rounds run).
    ``reset``: rounds on one batch of which only ``reset`` folders are detected again (see
    :func:`run_round`); it starts as a copy of the clean serial run's folders.
    ``until_faults``: start no round once this many faults were injected.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    threads = threads or max(1, (os.cpu_count() or 2) // 2)
    pristine = out / "pristine"
    if pristine.exists():
        shutil.rmtree(pristine)
    make_movies(pristine, movies, seed, shape)
    inputs = {str(p.relative_to(pristine)): sha256(p) for p in sorted(pristine.rglob("movie.h5"))}
    serial = out / "serial"
    shutil.rmtree(serial, ignore_errors=True)
    shutil.copytree(pristine, serial)
    start = time.monotonic()
    done = subprocess.run(command(serial, cluster=False), env=environment(threads), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the clean serial run failed: {done.stderr[-500:]}")
    serial_seconds = time.monotonic() - start
    print(json.dumps({"serial_seconds": round(serial_seconds, 1)}), flush=True)
    reference = outputs_of(serial)
    rng = random.Random(seed)
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    if reset is not None:
        shutil.copytree(serial, work / "batch")
    results, spans = [], []
    for index in range(rounds):
        if max_minutes is not None and time.monotonic() - start > 60 * max_minutes:
            break
        if until_faults is not None and sum(sum(r["injected"].values()) for r in results) >= until_faults:
            break
        plan = plans[index] if plans is not None else None
        result = run_round(index, pristine, work, reference, inputs, rng, threads, timeout, plan, reset=reset,
                           spans=spans)
        results.append(result)
        print(json.dumps(result), flush=True)
        summary = summarize(results, movies, serial_seconds, reset, shape)
        (out / "soak.json").write_text(json.dumps(summary, indent=1))
        (out / "soak.md").write_text(report(summary))
    summary = summarize(results, movies, serial_seconds, reset, shape)
    (out / "soak.json").write_text(json.dumps(summary, indent=1))
    (out / "soak.md").write_text(report(summary))
    return summary


def report(summary: dict) -> str:
    faults = ", ".join(f"{n} {kind}" for kind, n in summary["faults"].items())
    lines = [f"{summary['rounds']} rounds on {summary['movies']} movies: {summary['faults_total']} faults injected "
             f"({faults}); {summary['runs']} runs, {summary['invariants_checked']} invariant checks, "
             f"{len(summary['broken'])} broken"]
    lines += [f"- round {index}: {text}" for index, text in summary["broken"]]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=900, help="seconds a run may take")
    parser.add_argument("--max_minutes", type=float, default=None, help="start no round after this")
    parser.add_argument("--reset", type=int, default=None,
                        help="rounds on one batch, detecting again only this many folders per round")
    parser.add_argument("--shape", type=int, nargs=3, default=(12, 40, 40), metavar=("T", "Y", "X"),
                        help="size of the simulated movies")
    parser.add_argument("--until_faults", type=int, default=None, help="start no round after this many faults")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    summary = soak(args.out, movies=args.movies, rounds=args.rounds, seed=args.seed, timeout=args.timeout,
                   max_minutes=args.max_minutes, reset=args.reset, shape=args.shape, until_faults=args.until_faults)
    print(report(summary), end="")
    return 1 if summary["broken"] else 0


if __name__ == "__main__":
    sys.exit(main())
