"""Batches beyond one process: Dask clusters (local, SLURM job scripts, a running scheduler), resume, shards."""

from __future__ import annotations

import argparse
import logging
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from exodeepfinder.cli import detect, detect_spots, generate_annotation, segment
from exodeepfinder.cli._common import build_parser, execute
from exodeepfinder.distributed import (batch_folders, format_summary, make_cluster, parse_cluster_options,
                                       parse_cluster_spec, parse_shard, run_batch, run_folders, select_shard,
                                       shard_from_environment)
from exodeepfinder.distributed.batch import folder_status, portable_args
from exodeepfinder.distributed.cli import requested, run_batch_command
from exodeepfinder.distributed.outputs import RECORD_SUFFIX
from exodeepfinder.distributed.clusters import available_cores, local_layout
from exodeepfinder.errors import Cancelled, InputError
from exodeepfinder.events.targets import events_to_labels
from exodeepfinder.io.events import read_events
from exodeepfinder.io.h5 import write_h5
from exodeepfinder.io.segmentation import write_segmentation
from exodeepfinder.simulation import simulate_movie

distributed = pytest.importorskip("distributed")

SHAPE = (20, 48, 48)


def simulated_batch(folder: Path, n_movies: int, shape=SHAPE, *, segmentation=True) -> list:
    """``n_movies`` movie folders, each with movie.h5 and (``segmentation``) the label map of its simulated events."""
    simulations = []
    for i in range(n_movies):
        simulation = simulate_movie(shape, n_events=3, n_spots=5, n_flashes=0, n_flickers=0, n_moving=0,
                                    seed=40 + i)
        cell = folder / f"cell{i}"
        cell.mkdir(parents=True)
        write_h5(cell / "movie.h5", simulation.movie)
        if segmentation:
            write_segmentation(events_to_labels(simulation.events, shape, label=2), cell / "movie_segmentation.h5")
        simulations.append(simulation)
    return simulations


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Six movie folders (kept pristine: tests copy them)."""
    folder = tmp_path_factory.mktemp("batch") / "movies"
    simulations = simulated_batch(folder, 6)
    return folder, simulations


@pytest.fixture
def copy_batch(batch, tmp_path):
    def copy(name, n_movies=6):
        target = tmp_path / name
        target.mkdir()
        for cell in batch_folders(batch[0])[:n_movies]:
            shutil.copytree(cell, target / cell.name)
        return target
    return copy


@pytest.fixture(scope="module")
def scheduler():
    """A running scheduler with 2 worker processes (what --cluster tcp://host:port connects to)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


def outputs_of(folder: Path, inputs=("movie.h5", "movie_segmentation.h5")) -> dict:
    """Every file written beside the inputs, by path relative to the batch folder."""
    return {p.relative_to(folder): p for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in inputs and not p.name.endswith(RECORD_SUFFIX)}


def assert_same_files(serial: Path, parallel: Path, inputs=("movie.h5", "movie_segmentation.h5")) -> None:
    """The same files; HDF5: same datasets and attributes; others: same bytes."""
    expected, got = outputs_of(serial, inputs), outputs_of(parallel, inputs)
    assert sorted(got) == sorted(expected) and expected
    for name, path in expected.items():
        if path.suffix == ".h5":
            with h5py.File(path) as a, h5py.File(got[name]) as b:
                assert sorted(a) == sorted(b) and dict(a.attrs) == dict(b.attrs)
                for key in a:
                    np.testing.assert_array_equal(a[key][()], b[key][()])
                    assert a[key].dtype == b[key].dtype and dict(a[key].attrs) == dict(b[key].attrs)
        elif path.suffix == ".json":  # provenance: the same run but for its folder, date and cluster options
            volatile = {"date", "inputs"}
            a, b = json.loads(path.read_text()), json.loads(got[name].read_text())
            assert {k: v for k, v in a.items() if k not in volatile | {"parameters"}} == \
                {k: v for k, v in b.items() if k not in volatile | {"parameters"}}, name
            for key in ("model_weights", "patch_size", "precision", "min_size", "min_score", "min_confidence"):
                assert a["parameters"][key] == b["parameters"][key], (name, key)
        else:
            assert path.read_bytes() == got[name].read_bytes(), name


def command_args(module, *argv):
    return build_parser(module).parse_args(list(argv))


def test_local_cluster_of_two_processes_writes_what_a_serial_run_writes(copy_batch, batch):
    serial, parallel = copy_batch("serial", 4), copy_batch("parallel", 4)
    options = ["--movie", "movie.h5", "--min_size", "3"]
    assert execute(generate_annotation, command_args(generate_annotation, "--batch", str(serial), *options)) == 0
    done = []
    results = run_folders(generate_annotation, command_args(generate_annotation, *options),
                          batch_folders(parallel), cluster="local:2", progress=lambda d, n: done.append((d, n)))
    assert [r.status for r in results] == ["done"] * 4
    assert_same_files(serial, parallel)
    # one aggregated count of movies, ending at 4 of 4
    assert done[0] == (0, 4) and done[-1] == (4, 4) and [d for d, _ in done] == sorted(d for d, _ in done)
    simulations = batch[1]
    assert [r.events for r in results] == [len(s.events) for s in simulations[:4]]
    # 2 workers x threads = the cores of this machine
    assert {r.threads for r in results} == {local_layout(2, available_cores())[1]}
    assert all("wrote 3 events" in r.log for r in results)  # the workers' output is kept, not printed


def test_detect_spots_on_a_running_scheduler_matches_serial(copy_batch, scheduler):
    serial, parallel = copy_batch("serial", 4), copy_batch("parallel", 4)
    assert execute(detect_spots, command_args(detect_spots, "--batch", str(serial))) == 0
    results = run_folders(detect_spots, command_args(detect_spots), batch_folders(parallel), cluster=scheduler)
    assert [r.status for r in results] == ["done"] * 4
    assert_same_files(serial, parallel)


@pytest.mark.slow
def test_detect_on_two_worker_processes_matches_serial(tmp_path, official_weights, scheduler):
    """The whole detection (network, events, measurements, pictures); the model loaded once per worker."""
    serial = tmp_path / "serial"
    simulated_batch(serial, 4, segmentation=False)
    parallel = tmp_path / "parallel"
    shutil.copytree(serial, parallel)
    options = ["-mw", str(official_weights), "-ps", "56", "--min_size", "3", "--gallery_size", "4"]
    assert execute(detect, command_args(detect, "--batch", str(serial), *options)) == 0
    results = run_folders(detect, command_args(detect, *options), batch_folders(parallel), cluster=scheduler)
    assert [r.status for r in results] == ["done"] * 4
    outputs = outputs_of(parallel, inputs=("movie.h5",))
    assert {p.suffix for p in outputs.values()} == {".h5", ".csv", ".xml", ".png", ".json"} and len(outputs) == 4 * 6
    assert_same_files(serial, parallel, inputs=("movie.h5",))
    for result, cell in zip(results, batch_folders(parallel)):
        assert result.events == len(read_events(cell / "movie_events.csv"))
        assert f"weights: {official_weights}" in result.log
    # a second run finds every output there and starts nothing
    again = run_folders(detect, command_args(detect, *options), batch_folders(parallel), cluster=scheduler)
    assert [(r.status, r.events) for r in again] == [("skipped", r.events) for r in results]
    # segment: what it writes is what the resume check expects
    cell = batch_folders(parallel)[:1]
    segment_options = ["-mw", str(official_weights), "-ps", "56", "-v", "-s", "{movie.parent}/labels.h5"]
    before = set(parallel.rglob("*"))
    assert run_folders(segment, command_args(segment, *segment_options), cell)[0].status == "done"
    expected = folder_status(segment, portable_args(command_args(segment, *segment_options)), cell[0])
    written = {p for p in set(parallel.rglob("*")) - before if not p.name.endswith(".exodeepfinder-done.json")}
    assert expected[0] == "complete" and written == set(expected[1])  # and the outputs' completion records
    with distributed.Client(scheduler) as client:
        models = client.run(lambda: [str(m.weights_path) for m in __import__(
            "exodeepfinder.model.weights", fromlist=["_LOADED"])._LOADED.values()])
    # each worker that ran a movie keeps one model for the next ones
    assert all(loaded in ([], [str(official_weights)]) for loaded in models.values())
    assert sum(len(loaded) for loaded in models.values()) >= 1


def test_an_unreadable_movie_fails_alone_with_its_error(copy_batch, scheduler, capsys):
    parallel = copy_batch("parallel", 4)
    broken = parallel / "cell1" / "movie_segmentation.h5"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))  # an HDF5 signature, then nothing
    args = command_args(generate_annotation, "--batch", str(parallel))
    args.cluster, args.cluster_options, args.shard = scheduler, None, None
    status = run_batch_command(generate_annotation, args, batch_folders(parallel))
    assert status == 2
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("cell")}
    assert sorted(rows) == ["cell0", "cell1", "cell2", "cell3"]
    assert rows["cell1"].split()[1] == "failed" and f"{broken}: not a readable HDF5 file" in rows["cell1"]
    for name in ("cell0", "cell2", "cell3"):
        assert rows[name].split()[1:3] == ["done", "3"]
        assert (parallel / name / "annotation.xml").is_file()
    assert not (parallel / "cell1" / "annotation.xml").exists()
    assert "4 movie(s): 3 done, 1 failed" in out


def test_an_interrupted_cluster_run_is_finished_by_running_it_again(copy_batch, scheduler):
    serial, parallel = copy_batch("serial"), copy_batch("parallel")
    options = ["--movie", "movie.h5"]
    assert execute(generate_annotation, command_args(generate_annotation, "--batch", str(serial), *options)) == 0
    args = command_args(generate_annotation, *options)
    folders = batch_folders(parallel)

    def stop_after_the_first(done, total):
        return done < 1

    # closing the local cluster stops its workers: what they were writing is not published
    with pytest.raises(Cancelled):
        run_folders(generate_annotation, args, folders, cluster="local:2", progress=stop_after_the_first)
    finished = [f.name for f in folders if (f / "annotation_measurements.csv").exists()]
    assert 1 <= len(finished) < len(folders)
    results = run_folders(generate_annotation, args, folders, cluster=scheduler)
    statuses = {r.movie: r.status for r in results}
    assert {name for name, status in statuses.items() if status == "skipped"} == set(finished)
    assert {name for name, status in statuses.items() if status == "done"} == \
        {f.name for f in folders} - set(finished)
    assert_same_files(serial, parallel)
    # a folder left with only some of its outputs is reported, not silently redone or overwritten
    (parallel / "cell0" / "annotation_measurements.csv").unlink()
    (result,) = run_folders(generate_annotation, args, folders[:1])
    assert result.status == "failed" and "incomplete (annotation.xml present, annotation_measurements.csv missing)" \
        in result.error
    # with overwrite, everything runs again
    results = run_folders(generate_annotation, command_args(generate_annotation, *options, "--overwrite"), folders)
    assert [r.status for r in results] == ["done"] * len(folders)
    assert_same_files(serial, parallel)


cli_has_cluster_options = pytest.mark.skipif(
    "--cluster_options" not in build_parser(generate_annotation).format_help(),
    reason="exodeepfinder/cli/_common.py does not add --cluster yet")


@cli_has_cluster_options
def test_command_line_with_cluster_and_shard(copy_batch, scheduler, capsys):
    folder = copy_batch("movies", 4)
    assert generate_annotation.main(["--batch", str(folder), "--cluster", scheduler, "--shard", "1/2"]) == 0
    out = capsys.readouterr().out
    assert "Dask dashboard: http" in out and "2 movie(s): 2 done" in out
    assert sorted(p.parent.name for p in folder.glob("*/annotation.xml")) == ["cell1", "cell3"]
    assert generate_annotation.main(["--batch", str(folder), "--cluster", scheduler]) == 0
    assert "4 movie(s): 2 done, 2 skipped" in capsys.readouterr().out
    assert generate_annotation.main(["-s", "x.h5", "--cluster", "local:2"]) == 2
    assert "--cluster: only with --batch" in capsys.readouterr().err


def test_the_outputs_of_every_cheap_batch_command_are_known(copy_batch, batch):
    """What a serial run writes is what the resume check expects: a second run skips every folder."""
    import tifffile

    from exodeepfinder.cli import convert_tiff_to_h5, detect_spots_with_atlas, generate_segmentation, \
        merge_detector_expert
    from exodeepfinder.io.events import write_events

    folder = copy_batch("movies", 2)
    for cell, simulation in zip(batch_folders(folder), batch[1]):
        write_events(simulation.events[["t", "y", "x", "class_label"]], cell / "expert_annotation.xml")
        (cell / "frames").mkdir()
        for t, frame in enumerate(simulation.movie):
            tifffile.imwrite(cell / "frames" / f"frame_{t + 1:03d}.tif", frame)
    steps = [(detect_spots, []), (detect_spots_with_atlas, ["--builtin", "-o", "{movie.parent}/atlas.h5"]),
             (generate_segmentation, []), (merge_detector_expert, []),
             (convert_tiff_to_h5, ["-t", "frames", "-o", "{movie.parent}/converted.h5"]),
             (generate_annotation, ["-a", "{segmentation.parent}/events.csv", "--movie", "movie.h5"]),
             (generate_annotation, ["--movie", "movie.h5"])]
    for module, options in steps:
        before = {p for p in folder.rglob("*") if p.is_file()}
        results = run_folders(module, command_args(module, *options), batch_folders(folder))
        assert [r.status for r in results] == ["done", "done"], (module.NAME, results)
        written = {p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(RECORD_SUFFIX)} - before
        args = portable_args(command_args(module, *options))
        expected = {path for cell in batch_folders(folder) for path in folder_status(module, args, cell)[1]}
        assert written == expected and written, module.NAME
        results = run_folders(module, command_args(module, *options), batch_folders(folder))
        assert [r.status for r in results] == ["skipped", "skipped"], (module.NAME, results)
    events = [r.events for r in run_folders(generate_annotation, command_args(generate_annotation, "--movie",
                                                                               "movie.h5"), batch_folders(folder))]
    assert events == [len(s.events) for s in batch[1][:2]]


def test_shards_cover_every_movie_once():
    folders = [Path(f"cell{i:02d}") for i in range(11)]
    for count in range(1, 6):
        shards = [select_shard(reversed(folders), index, count) for index in range(count)]
        assert sorted(f for shard in shards for f in shard) == folders
        for index, shard in enumerate(shards):
            assert shard == [f for i, f in enumerate(folders) if i % count == index]
    assert parse_shard("3/4") == (3, 4)
    for text in ("4/4", "-1/4", "1", "a/b", "0/0"):
        with pytest.raises(InputError, match="shard"):
            parse_shard(text)


def test_shard_defaults_from_a_slurm_job_array(copy_batch, monkeypatch, capsys):
    assert shard_from_environment({}) is None
    # --array=1-3 numbers the tasks 1, 2, 3: task 2 is shard 1 of 3
    assert shard_from_environment({"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3",
                                   "SLURM_ARRAY_TASK_MIN": "1"}) == (1, 3)
    with pytest.raises(InputError, match="SLURM_ARRAY_TASK_ID=7"):
        shard_from_environment({"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_COUNT": "3"})
    folder = copy_batch("movies", 5)
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    args = command_args(detect_spots, "--batch", str(folder))
    for name in ("cluster", "cluster_options", "shard"):
        setattr(args, name, getattr(args, name, None))
    assert requested(args)
    assert run_batch_command(detect_spots, args, batch_folders(folder)) == 0
    written = sorted(p.parent.name for p in folder.glob("*/detector_segmentation.h5"))
    assert written == ["cell1", "cell3"]
    out = capsys.readouterr().out
    assert "shard 1/2: 2 movie folder(s)" in out and "[cell1]" in out and "2 movie(s): 2 done" in out
    # the other shard, from Python
    table = run_batch("detect_spots", folder, shard=(0, 2))
    assert list(table.movie) == ["cell0", "cell2", "cell4"] and (table.status == "done").all()
    assert sorted(p.parent.name for p in folder.glob("*/detector_segmentation.h5")) == [f"cell{i}" for i in range(5)]


def test_options_need_batch_and_a_cluster():
    args = argparse.Namespace(batch=None, cluster="local:2", cluster_options=None, shard=None)
    with pytest.raises(InputError, match="--cluster: only with --batch"):
        requested(args)
    args = argparse.Namespace(batch=Path("."), cluster=None, cluster_options=["cores=4"], shard=None)
    with pytest.raises(InputError, match="--cluster_options: give --cluster"):
        requested(args)
    assert not requested(argparse.Namespace(batch=None))


def test_cluster_specs_and_local_layout():
    assert parse_cluster_spec("local") == ("local", None)
    assert parse_cluster_spec("local:3") == ("local", 3)
    assert parse_cluster_spec("SLURM") == ("slurm", None)
    assert parse_cluster_spec("tcp://node1:8786") == ("tcp", "tcp://node1:8786")
    for spec in ("local:0", "local:x", "kubernetes", "slurm:4"):
        with pytest.raises(InputError, match="cluster"):
            parse_cluster_spec(spec)
    assert local_layout(2, 16) == (2, 8)
    assert local_layout(3, 16) == (3, 5)
    assert local_layout(8, 4) == (4, 1)  # never more workers than cores
    assert local_layout(4, 16, n_tasks=2) == (2, 8)  # nor than movies
    assert local_layout(None, 16) == (4, 4)
    assert local_layout(None, 16, n_gpus=2) == (2, 8)
    assert local_layout(None, 2) == (1, 2)


def test_cluster_options_from_key_values_and_yaml(tmp_path):
    options = parse_cluster_options(["queue=gpu", "cores=8", "memory=32GiB", "gpus=1", "job_extra=--qos=high",
                                     "job-extra=--exclusive", "prologue=module load cuda", "max_workers=20"])
    assert options == {"queue": "gpu", "cores": 8, "memory": "32GiB", "gpus": 1,
                       "job_extra": ["--qos=high", "--exclusive"], "job_script_prologue": ["module load cuda"],
                       "max_workers": 20}
    path = tmp_path / "cluster.yaml"
    path.write_text("queue: gpu\ncores: 8\nmemory: 32GiB\njob_extra:\n  - --qos=high\n  - --exclusive\n"
                    "job_script_prologue: module load cuda\nmax_workers: 20\ngpus: 1\n")
    assert parse_cluster_options([str(path)]) == options
    assert parse_cluster_options(path) == options
    for bad, message in ((["cores=eight"], "cores='eight': not a whole number"), (["cores=0"], "must be positive"),
                         (["gpu"], "expected key=value or a YAML file")):
        with pytest.raises(InputError, match=message):
            parse_cluster_options(bad)
    path.write_text("- a list\n")
    with pytest.raises(InputError, match="cluster.yaml: expected 'name: value' lines"):
        parse_cluster_options(path)


def test_slurm_job_script_asks_for_the_cores_memory_walltime_and_gpus():
    pytest.importorskip("dask_jobqueue")
    cluster, threads = make_cluster("slurm", ["queue=gpu", "cores=8", "memory=32GiB", "walltime=02:00:00",
                                              "gpus=2", "job_extra=--qos=high", "prologue=module load cuda"])
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    lines = script.splitlines()
    for directive in ("#SBATCH -p gpu", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=32G", "#SBATCH -t 02:00:00",
                      "#SBATCH --gres=gpu:2", "#SBATCH --qos=high"):
        assert directive in lines
    assert "module load cuda" in lines
    worker = next(line for line in lines if "distributed.cli.dask_worker" in line)
    # one worker of 8 threads per job, running one movie at a time, with 8 PyTorch threads
    assert "--nthreads 8" in worker and "--resources movie=1" in worker and threads == 8


def test_pbs_and_sge_job_scripts_ask_for_gpus():
    pytest.importorskip("dask_jobqueue")
    for kind, directive in (("pbs", "#PBS -l select=1:ncpus=4:mem=16GB:ngpus=1"), ("sge", "#$ -l gpu=1")):
        cluster, threads = make_cluster(kind, {"cores": 4, "memory": "16GiB", "gpus": 1, "processes": 2})
        try:
            script = cluster.job_script()
        finally:
            cluster.close()
        assert directive in script.splitlines() and threads == 2
        assert "--nworkers 2" in script


def test_bad_scheduler_options_are_one_line_errors():
    pytest.importorskip("dask_jobqueue")
    with pytest.raises(InputError, match="cluster options: .*colour"):
        make_cluster("slurm", {"cores": 2, "memory": "1GiB", "colour": "blue"})
    with pytest.raises(InputError, match="give the cores and memory of a job, e.g. cores=8 memory=32GB"):
        make_cluster("pbs", ["cores=2"])
    with pytest.raises(InputError, match="only for slurm, pbs and sge"):
        make_cluster("local:2", ["cores=2"])


def test_summary_table_and_portable_args():
    from exodeepfinder.distributed import FolderResult

    text = format_summary([FolderResult("cell0", "done", 12, 3.14), FolderResult("cell1", "skipped", 4),
                           FolderResult("cell2", "failed", seconds=0.2, error="cell2/movie.h5: not found")])
    lines = text.splitlines()
    assert lines[0].split() == ["movie", "status", "events", "seconds", "error"]
    assert lines[1].split() == ["cell0", "done", "12", "3.1"]
    assert lines[2].split() == ["cell1", "skipped", "4", "-"]
    assert lines[3].split()[:4] == ["cell2", "failed", "-", "0.2"] and lines[3].endswith("cell2/movie.h5: not found")
    assert lines[-1] == "3 movie(s): 1 done, 1 skipped, 1 failed"
    args = command_args(detect_spots, "--batch", "x")
    assert not hasattr(portable_args(args), "_module") and portable_args(args).batch == Path("x")
