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
