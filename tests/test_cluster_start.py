"""A local cluster whose worker dies while it starts: started again once, then a one-line error."""

from __future__ import annotations

import pytest

from exodeepfinder.commands import describe_failure
from exodeepfinder.distributed import clusters
from exodeepfinder.errors import ClusterError


class FlakyLocalCluster:
    """Stands in for distributed.LocalCluster: fails its first ``failures`` starts like a killed nanny."""

    def __init__(self, failures):
        self.failures, self.calls = failures, []

    def __call__(self, **options):
        self.calls.append(options)
        if len(self.calls) <= self.failures:
            raise RuntimeError("Nanny failed to start.")
        return "cluster"


def test_a_cluster_whose_worker_died_while_starting_is_started_again():
    flaky = FlakyLocalCluster(failures=1)
    assert clusters._start_local_cluster(flaky, 2, {"OMP_NUM_THREADS": "1"}) == "cluster"
    assert len(flaky.calls) == 2
    assert flaky.calls[1]["n_workers"] == 2 and flaky.calls[1]["threads_per_worker"] == 1


def test_a_cluster_that_never_starts_is_a_one_line_error_not_an_internal_error():
    flaky = FlakyLocalCluster(failures=clusters.LOCAL_CLUSTER_STARTS)
    with pytest.raises(ClusterError) as caught:
        clusters._start_local_cluster(flaky, 2, {})
    assert len(flaky.calls) == clusters.LOCAL_CLUSTER_STARTS
    message = describe_failure(caught.value)
    assert message.startswith("local cluster: its 2 worker process(es) did not start (Nanny failed to start.")
    assert "internal error" not in message and "\n" not in message


def test_other_errors_are_not_retried():
    calls = []

    def broken(**options):
        calls.append(options)
        raise TypeError("unexpected option")

    with pytest.raises(TypeError):
        clusters._start_local_cluster(broken, 1, {})
    assert len(calls) == 1


NOISY_COMMAND = '''
"""A command whose task writes on its worker process's stderr as Dask does when a worker dies at a bad moment."""
import logging
import os

NAME = "noisy"
BATCH_PATHS = []


def run(args):
    os.write(2, b"Traceback (most recent call last):\\n  File \\"worker\\", line 1\\nRuntimeError: written on fd 2\\n")
    logging.getLogger("distributed.worker").error("a Dask error record of the worker")
'''


def test_what_local_workers_write_on_stderr_goes_to_a_log_and_one_line(tmp_path, capfd, caplog, monkeypatch):
    """A local cluster's worker processes are the command's children: before, their stderr was the
    command's (the traceback of round 13 of the 206-fault soak); now a log file, named in one warning."""
    pytest.importorskip("distributed")
    import argparse
    import importlib
    import logging
    from pathlib import Path

    from exodeepfinder.distributed.batch import run_folders

    (tmp_path / "noisy").mkdir()
    (tmp_path / "noisy" / "__init__.py").write_text("")
    (tmp_path / "noisy" / "command.py").write_text(NOISY_COMMAND)
    monkeypatch.syspath_prepend(str(tmp_path))  # the worker processes get this process's sys.path
    module = importlib.import_module("noisy.command")
    (tmp_path / "cell0").mkdir()
    capfd.readouterr()
    with caplog.at_level(logging.WARNING, logger="exodeepfinder"):
        results = run_folders(module, argparse.Namespace(overwrite=False), [tmp_path / "cell0"], cluster="local:1")
    assert [result.status for result in results] == ["done"]
    err = capfd.readouterr().err
    assert "Traceback" not in err and "a Dask error record" not in err, err
    said = [record.getMessage() for record in caplog.records if "worker processes wrote" in record.getMessage()]
    assert len(said) == 1 and "\n" not in said[0], said
    assert said[0].startswith("local cluster: its worker processes wrote ")
    assert "a Python traceback among them" in said[0]
    log = Path(said[0].rsplit("kept in ", 1)[1])
    text = log.read_text()
    assert "RuntimeError: written on fd 2" in text and "a Dask error record of the worker" in text
    log.unlink()


def test_a_quiet_local_cluster_leaves_no_worker_log(tmp_path, monkeypatch):
    log = tmp_path / "workers.log"
    log.write_text("")
    clusters._report_worker_log(log)
    assert not log.exists()
