"""Fault soak test: `exodeepfinder detect --batch --cluster local:2` (or a `tls://` scheduler) while faults are injected, then a plain rerun.

Each round copies the pristine movie folders into a fresh batch folder and runs the detection on a
local Dask cluster of 2 worker processes (``--cluster local``, the default) or on a running Dask
scheduler reached through TLS (``--cluster tls``: a ``dask scheduler --protocol tls`` on 127.0.0.1
and a ``dask worker`` of 2 processes under nannies, started by this driver with a throw-away
certificate authority; all traffic on the loopback interface) while this driver injects faults at
random moments:

- ``worker``: SIGKILL of a worker process (Dask restarts it and runs its movie again);
- ``client``: SIGKILL of the command and its whole process group (with ``local``, its workers too;
  the workers of a running scheduler finish the movies they had started, as they would for a user);
- ``enospc``: the disk is full: each fsync of an output fails with ENOSPC with some probability
  (patched in every process: a loop-mounted file system needs privileges the soak does not ask for);
- ``corrupt``: a movie is overwritten with garbage while the batch runs (restored before the rerun);
- ``readonly``: a movie folder is read-only (patched EROFS: the soak may run as root).

After each faulty run, a plain rerun of the same command completes the batch. Invariants checked
after every run: no input changed (sha256; the movie the driver corrupted excepted until it is
restored), no empty output and every published output identical to a clean serial run's, each
folder's outputs all there or none (a group published in part), no Python traceback and the documented exit statuses (0 or 2; -9 for a killed client); after the
rerun: exit status 0, every folder's outputs there and identical to the serial run's, no temporary
left (partial, claim or scratch folders).

    python bench/soak.py --movies 50 --rounds 30 --out /tmp/soak       # every movie detected in every round
    python bench/soak.py --movies 50 --reset 10 --shape 8 24 24 --until_faults 200 --rounds 100 --out /tmp/soak
    python bench/soak.py --cluster tls --movies 50 --reset 10 --shape 8 24 24 --until_faults 50 --out /tmp/soak-tls

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


def command(batch: Path, cluster=("--cluster", "local:2")) -> list:
    """The command of a run: ``cluster`` the options that say where (empty: the serial ``--batch`` loop)."""
    return [sys.executable, "-m", "exodeepfinder", "detect", "--batch", str(batch), *OPTIONS, *cluster]


def environment(threads: int, **faults) -> dict:
    paths = [str(REPO / "bench" / "_soak_faults"), str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(
        os.pathsep) if p and p not in (str(REPO), ".")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths),
               OMP_NUM_THREADS=str(threads), EXODEEPFINDER_PROGRESS="0")
    env.pop("EXODEEPFINDER_DEBUG", None)
    env.update({key: str(value) for key, value in faults.items() if value})
    return env


def set_faults(control: Path, *, enospc: float = 0, readonly=(), log=None) -> None:
    """The faults of the processes started with ``EDF_SOAK_CONTROL=control`` from now on (none by default)."""
    partial = control.with_name(control.name + ".new")
    partial.write_text(json.dumps({"enospc": enospc, "readonly": [str(folder) for folder in readonly],
                                   "log": str(log) if log else None}))
    os.replace(partial, control)


class LocalCluster:
    """``--cluster local:2``: the command starts its own cluster; its workers are its child processes."""

    name = "local:2"

    def __init__(self, folder: Path, threads: int):
        self.control = folder / "faults.json"
        set_faults(self.control)

    def options(self) -> list:
        return ["--cluster", "local:2"]

    def worker_root(self, client: int) -> int:
        return client

    def wait_idle(self, timeout: float) -> bool:
        return True

    def close(self) -> None:
        pass


class TlsScheduler:
    """A ``dask scheduler --protocol tls`` on 127.0.0.1 and a ``dask worker`` of 2 processes (nannies), as subprocesses.

    The certificates (one throw-away authority, one key and certificate for the scheduler, the
    workers and the clients: distributed's ``Security.temporary``) are written in ``folder/tls``.
    The workers outlive the runs: their faults are set through the control file
    (:func:`set_faults`), and a worker killed by the driver is restarted by its nanny.
    """

    name = "tls"

    def __init__(self, folder: Path, threads: int, n_workers: int = 2, timeout: float = 180):
        from distributed import Client, Security

        self.folder = folder / "tls"
        self.folder.mkdir(parents=True, exist_ok=True)
        security = Security.temporary()
        self.files = {}
        for name, text in (("ca", security.tls_ca_file), ("cert", security.tls_client_cert),
                           ("key", security.tls_client_key)):
            self.files[name] = self.folder / f"{name}.pem"
            self.files[name].write_text(text)
            self.files[name].chmod(0o600)
        tls = ["--tls-ca-file", str(self.files["ca"]), "--tls-cert", str(self.files["cert"]),
               "--tls-key", str(self.files["key"])]
        self.control = folder / "faults.json"
        set_faults(self.control)
        env = environment(threads, EDF_SOAK_CONTROL=self.control)
        scheduler_file = self.folder / "scheduler.json"
        scheduler_file.unlink(missing_ok=True)
        self.processes = []
        self.logs = [open(self.folder / "scheduler.log", "w"), open(self.folder / "workers.log", "w")]
        self.processes.append(subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(scheduler_file), *tls],
            env=env, stdout=self.logs[0], stderr=subprocess.STDOUT, start_new_session=True))
        try:
            deadline = time.monotonic() + timeout
            while not scheduler_file.exists():
                if time.monotonic() > deadline or self.processes[0].poll() is not None:
                    raise RuntimeError(f"the tls scheduler did not start: see {self.logs[0].name}")
                time.sleep(0.2)
            self.address = json.loads(scheduler_file.read_text())["address"]
            if not self.address.startswith("tls://127.0.0.1:"):
                raise RuntimeError(f"the scheduler listens on {self.address}, not tls://127.0.0.1")
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", self.address, "--nworkers", str(n_workers), "--nthreads", "1",
                 "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(self.folder / "workers"), *tls],
                env=env, stdout=self.logs[1], stderr=subprocess.STDOUT, start_new_session=True))
            self.security = Security(tls_ca_file=str(self.files["ca"]), tls_client_cert=str(self.files["cert"]),
                                     tls_client_key=str(self.files["key"]), require_encryption=True)
            self.client = Client(self.address, security=self.security, timeout=timeout)
            self.client.wait_for_workers(n_workers, timeout=timeout)
        except BaseException:
            self.close()
            raise

    def options(self) -> list:
        return ["--cluster", self.address, "--tls_ca_file", str(self.files["ca"]), "--tls_cert",
                str(self.files["cert"]), "--tls_key", str(self.files["key"])]

    def worker_root(self, client: int) -> int:
        return self.processes[1].pid

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no worker runs a movie (those of a killed client end on their own); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                busy = self.client.run(_movie_running, nanny=False, on_error="ignore", wait=True)
            except Exception:  # a worker being restarted
                busy = {None: True}
            if not any(value is True for value in busy.values()):
                return True
            time.sleep(0.5)
        return False

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            with __import__("contextlib").suppress(Exception):
                client.close(timeout=10)
        for process in reversed(self.processes):
            with __import__("contextlib").suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for handle in getattr(self, "logs", []):
            handle.close()


#: On a worker: True while it runs a movie (the batch runner's one-movie-at-a-time lock is held).
#: A lambda, so that it travels by value (workers cannot import this script).
_movie_running = lambda: __import__("exodeepfinder.distributed.batch", fromlist=["x"])._ONE_MOVIE_AT_A_TIME.locked()  # noqa: E731


CLUSTERS = {"local": LocalCluster, "tls": TlsScheduler}


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
    published = {}
    for relative in outputs_of(batch):
        published.setdefault(relative.split("/")[0], set()).add(relative)
    expected = {}
    for relative in reference:
        expected.setdefault(relative.split("/")[0], set()).add(relative)
    for folder, names in sorted(published.items()):  # a folder's outputs appear together or not at all
        if folder in expected and names != expected[folder] and not _being_written(batch / folder):
            broken.append(f"part of a folder's outputs published: {folder} ({len(names)} of {len(expected[folder])}, "
                          f"missing {sorted(n.split('/')[-1] for n in expected[folder] - names)[:3]})")
    if "Traceback" in stderr:
        broken.append("a traceback on stderr")
    if not killed and code not in (0, 2):
        broken.append(f"exit status {code}")
    if killed and code not in (0, 2, -signal.SIGKILL):
        broken.append(f"exit status {code} after the client was killed")
    return broken


def _being_written(folder: Path) -> bool:
    """True while a live process has a partial folder in ``folder`` (a killed client's movie still running on a
    scheduler's worker, publishing its outputs one by one)."""
    import psutil

    for path in folder.glob(".*.exodeepfinder-partial"):
        pid = path.name.rsplit(".", 2)[-2].split("-")[0]
        if pid.isdigit() and psutil.pid_exists(int(pid)):
            return True
    return False


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
              spans=None, cluster=None) -> dict:
    """One round: a faulty run, the invariants, a plain rerun, the invariants again.

    ``reset`` None: the round runs on a fresh copy of the pristine folders (every movie is
    detected). ``reset`` k: the round runs on the batch of the earlier rounds (``work/batch``,
    every folder complete) in which k random folders are put back to their movie alone: the
    command goes through every folder (the complete ones are checked and skipped) and detects
    k movies, and the faults are aimed at those k. ``spans``: the seconds that earlier faulty
    runs spent working (from the first worker to the end), to spread this round's faults over.
    ``cluster``: where the runs go (:class:`LocalCluster`, the default, or :class:`TlsScheduler`).
    """
    cluster = cluster or LocalCluster(work, threads)
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
    env = environment(threads, EDF_SOAK_CONTROL=cluster.control)
    set_faults(cluster.control, enospc=plan["enospc"], readonly=readonly, log=log)
    start = time.monotonic()
    process = subprocess.Popen(command(batch, cluster.options()), env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    injected = {kind: 0 for kind in FAULTS}
    corrupted = []
    # (kind, counted from: the start or the first worker, delay in seconds)
    # a worker killed while the cluster starts fails the whole run ("Nanny failed to start", exit
    # status 2): kills come once the workers had some time to start their movies
    events = [("worker", "workers", rng.uniform(0.3 * span, span)) for _ in range(plan["worker"])] \
        + [("corrupt", "start", rng.uniform(0, span)) for _ in range(plan["corrupt"])] \
        + ([("client", "workers", rng.uniform(0.2 * span, span))] if plan["client"] else [])
    import psutil

    workers_up = None
    while (events or workers_up is None) and process.poll() is None:
        now = time.monotonic()
        if workers_up is None and worker_processes(cluster.worker_root(process.pid)):
            workers_up = now
        due = [e for e in events if (start if e[1] == "start" else workers_up) is not None
               and now >= (start if e[1] == "start" else workers_up) + e[2]]
        for event in sorted(due, key=lambda e: e[0] == "client"):  # a client kill last
            kind = event[0]
            if kind == "worker":
                workers = worker_processes(cluster.worker_root(process.pid))
                if not workers:
                    continue  # between a kill and the restart: wait for the next worker
                try:
                    rng.choice(workers).kill()
                except psutil.NoSuchProcess:  # it ended meanwhile: try again at the next poll
                    continue
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
    set_faults(cluster.control)  # the rerun (and movies a killed client left running on a scheduler's workers)
    raised = log.read_text().split() if log.exists() else []
    injected["enospc"] = raised[0::2].count("enospc")
    injected["readonly"] = raised[0::2].count("readonly")
    broken = check_run(batch, reference, inputs, process.returncode, err,
                       excepted=tuple(corrupted), killed=injected["client"] > 0)
    for movie in corrupted:
        shutil.copyfile(pristine / movie, batch / movie)
        # outputs made from the garbage cannot exist (it is not HDF5); the folder failed and reruns
    rerun = subprocess.run(command(batch, cluster.options()), env=environment(threads), capture_output=True,
                           text=True, timeout=timeout)
    after = check_run(batch, reference, inputs, rerun.returncode, rerun.stderr)
    if not cluster.wait_idle(timeout):  # a killed client's movies still running on the scheduler's workers
        after.append("the workers still run movies after the rerun")
    if rerun.returncode != 0:
        after.append(f"rerun exit status {rerun.returncode}: {rerun.stderr.strip().splitlines()[-3:]} "
                     f"{_failed_rows(rerun.stdout)[:3]}")
    missing = sorted(set(reference) - set(outputs_of(batch)))
    if missing:
        after.append(f"missing after the rerun: {missing[:3]}")
    left = leftovers(batch)
    if left:
        after.append(f"temporaries left after the rerun: {left[:3]}")
    result = {"round": index, "cluster": cluster.name, "plan": plan, "injected": injected, "targets": len(targets),
              "exit": process.returncode, "rerun_exit": rerun.returncode, "broken": broken + after,
              "faulty_seconds": round(faulty_seconds, 1), "seconds": round(time.monotonic() - start, 1),
              "errors": [line for line in err.splitlines() if line.startswith(("error:", "  skipped"))][:5],
              "failed": _failed_rows(out), "rerun_failed": _failed_rows(rerun.stdout)}
    result["worker_logs"] = _keep_worker_logs(err + "\n" + rerun.stderr, work, index)
    if broken or after:  # what the user saw, to explain it
        (work / f"round{index:03d}.stderr.txt").write_text(f"faulty run:\n{err}\nrerun:\n{rerun.stderr}")
        (work / f"round{index:03d}.stdout.txt").write_text(f"faulty run:\n{out}\nrerun:\n{rerun.stdout}")
    result["plan"]["readonly"] = [path.name for path in readonly]
    result["plan"]["corrupt"] = corrupted
    if reset is None:
        shutil.rmtree(batch, ignore_errors=True)
    log.unlink(missing_ok=True)
    return result


def _failed_rows(stdout: str) -> list:
    """The rows of the summary table (``movie  failed  -  -  <error>``) of the folders that failed."""
    return [" ".join(line.split()) for line in (stdout or "").splitlines() if " failed " in f" {line} "][:12]


def _keep_worker_logs(stderr: str, work: Path, index: int) -> list:
    """Move the worker logs a run named (``warning: local cluster: its worker processes wrote ...; kept in <log>``)
    from the temporary folder to ``work/roundNNN.workersK.log``; their new names."""
    kept = []
    for line in stderr.splitlines():
        if "worker processes wrote" in line and "; kept in " in line:
            source = Path(line.rsplit("; kept in ", 1)[1].strip())
            target = work / f"round{index:03d}.workers{len(kept)}.log"
            if source.is_file():
                shutil.move(source, target)
                kept.append(target.name)
    return kept


def invariant_count(movies: int) -> int:
    """Invariants checked per run: inputs, outputs (empty, expected, identical), each folder's outputs all or
    none, stderr, exit status."""
    return movies + 3 * movies + movies + 2


def summarize(results: list, movies: int, serial_seconds: float, reset, shape, cluster: str = "local:2") -> dict:
    rounds = len(results)
    summary = {"cluster": cluster, "movies": movies, "shape": list(shape), "reset": reset, "rounds": rounds,
               "serial_seconds": round(serial_seconds, 1),
               "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "faults": {kind: sum(r["injected"][kind] for r in results) for kind in FAULTS},
               "runs": 2 * rounds, "invariants_checked": 2 * rounds * invariant_count(movies) + 3 * rounds,
               "broken": [(r["round"], b) for r in results for b in r["broken"]], "results": results}
    summary["faults_total"] = sum(summary["faults"].values())
    return summary


def soak(out: Path, *, movies: int = 50, rounds: int = 30, seed: int = 0, timeout: float = 900,
         threads: int | None = None, plans=None, max_minutes: float | None = None, reset: int | None = None,
         shape=(12, 40, 40), until_faults: int | None = None, cluster: str = "local") -> dict:
    """Run the soak; return (and write to ``out``, after every round) its summary.

    ``plans``: the faults of each round (see :func:`random_plan`) instead of random ones.
    ``max_minutes``: start no round after this time (the summary counts the rounds run).
    ``reset``: rounds on one batch of which only ``reset`` folders are detected again (see
    :func:`run_round`); it starts as a copy of the clean serial run's folders.
    ``until_faults``: start no round once this many faults were injected.
    ``cluster``: ``"local"`` (``--cluster local:2``) or ``"tls"`` (a scheduler on tls://127.0.0.1
    with 2 worker processes, started for the soak: see :class:`TlsScheduler`).
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
    done = subprocess.run(command(serial, ()), env=environment(threads), capture_output=True, text=True)
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
    where = CLUSTERS[cluster](work, threads)
    try:
        for index in range(rounds):
            if max_minutes is not None and time.monotonic() - start > 60 * max_minutes:
                break
            if until_faults is not None and sum(sum(r["injected"].values()) for r in results) >= until_faults:
                break
            plan = plans[index] if plans is not None else None
            result = run_round(index, pristine, work, reference, inputs, rng, threads, timeout, plan, reset=reset,
                               spans=spans, cluster=where)
            results.append(result)
            print(json.dumps(result), flush=True)
            summary = summarize(results, movies, serial_seconds, reset, shape, where.name)
            (out / "soak.json").write_text(json.dumps(summary, indent=1))
            (out / "soak.md").write_text(report(summary))
    finally:
        where.close()
    summary = summarize(results, movies, serial_seconds, reset, shape, where.name)
    (out / "soak.json").write_text(json.dumps(summary, indent=1))
    (out / "soak.md").write_text(report(summary))
    return summary


def report(summary: dict) -> str:
    faults = ", ".join(f"{n} {kind}" for kind, n in summary["faults"].items())
    lines = [f"{summary['rounds']} rounds on {summary['movies']} movies ({summary.get('cluster', 'local:2')}): "
             f"{summary['faults_total']} faults injected "
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
    parser.add_argument("--cluster", choices=sorted(CLUSTERS), default="local",
                        help="local: --cluster local:2; tls: a scheduler on tls://127.0.0.1 started for the soak")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    summary = soak(args.out, movies=args.movies, rounds=args.rounds, seed=args.seed, timeout=args.timeout,
                   max_minutes=args.max_minutes, reset=args.reset, shape=args.shape, until_faults=args.until_faults,
                   cluster=args.cluster)
    print(report(summary), end="")
    return 1 if summary["broken"] else 0


if __name__ == "__main__":
    sys.exit(main())
