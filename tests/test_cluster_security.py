"""Who may run code through --cluster: plain tcp:// only on this machine (or --insecure), tls:// with certificates."""

from __future__ import annotations

import logging
import shutil
import socket

import pytest

from exodeepfinder.cli import detect_spots
from exodeepfinder.cli._common import build_parser, execute
from exodeepfinder.distributed import batch_folders
from exodeepfinder.distributed.clusters import check_scheduler_address, is_loopback
from exodeepfinder.errors import InputError
from exodeepfinder.io.h5 import write_h5
from exodeepfinder.simulation import simulate_movie

distributed = pytest.importorskip("distributed")


def small_batch(folder, n_movies=2):
    for i in range(n_movies):
        simulation = simulate_movie((12, 32, 32), n_events=2, n_spots=3, n_flashes=0, n_flickers=0, n_moving=0,
                                    seed=70 + i)
        (folder / f"cell{i}").mkdir(parents=True)
        write_h5(folder / f"cell{i}" / "movie.h5", simulation.movie)
    return folder


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "tcp://127.4.5.6:1", "tcp://localhost:8786",
                                     "tcp://[::1]:8786", "tcp://LOCALHOST", "tls://node7:8786",
                                     "tls://203.0.113.5:8786"])
def test_loopback_and_tls_addresses_are_accepted(address):
    assert check_scheduler_address(address) in ("tcp", "tls")


@pytest.mark.parametrize("address", ["tcp://node1:8786", "tcp://10.0.0.5:8786", "tcp://[2001:db8::1]:8786",
                                     "tcp://0.0.0.0:8786", "tcp://127.0.0.1.evil.example:8786", "ws://node1:80"])
def test_plain_connections_to_other_machines_are_refused_unless_insecure(address, caplog):
    with pytest.raises(InputError, match="--insecure"):
        check_scheduler_address(address)
    with caplog.at_level(logging.WARNING):
        assert check_scheduler_address(address, insecure=True) in ("tcp", "ws")
    assert "without encryption or authentication" in caplog.text
    assert not is_loopback(address.partition("://")[2].rsplit(":", 1)[0].strip("[]"))


def test_unknown_schemes_and_certificates_with_plain_tcp_are_refused():
    with pytest.raises(InputError, match="unknown scheduler address scheme"):
        check_scheduler_address("http://127.0.0.1:8786")
    with pytest.raises(InputError, match="use tls://127.0.0.1:port"):
        check_scheduler_address("tcp://127.0.0.1:8786", tls=True)


def test_the_refusal_comes_before_any_connection_or_name_lookup(tmp_path, monkeypatch, capsys):
    folder = small_batch(tmp_path / "movies", 1)

    def no_network(*args, **kwargs):
        raise AssertionError("the network was used")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(distributed, "Client", no_network)
    args = build_parser(detect_spots).parse_args(["--batch", str(folder), "--cluster", "tcp://scheduler.lab:8786"])
    assert execute(detect_spots, args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: tcp://scheduler.lab:8786: refused, plain tcp:// to another machine (scheduler.lab)")
    assert "--insecure" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in (folder / "cell0").iterdir()) == ["movie.h5"]


def test_connection_options_need_batch_and_cluster(tmp_path, capsys):
    folder = small_batch(tmp_path / "movies", 1)
    assert detect_spots.main(["--batch", str(folder), "--insecure"]) == 2
    assert "--insecure: give --cluster tls://host:port" in capsys.readouterr().err
    assert detect_spots.main(["-m", "x.h5", "--insecure"]) == 2
    assert "--insecure: only with --batch" in capsys.readouterr().err
    assert detect_spots.main(["--batch", str(folder), "--cluster", "local:1", "--insecure"]) == 2
    assert "are for a scheduler address" in capsys.readouterr().err
    assert detect_spots.main(["--batch", str(folder), "--cluster", "tls://127.0.0.1:1"]) == 2
    assert "needs certificates: give --tls_ca_file" in capsys.readouterr().err
    missing = tmp_path / "ca.pem"
    assert detect_spots.main(["--batch", str(folder), "--cluster", "tls://127.0.0.1:1", "--tls_ca_file", str(missing),
                              "--tls_cert", str(missing)]) == 2
    assert f"{missing}: TLS ca file not found" in capsys.readouterr().err


def write_certificates(folder, security):
    """The PEM texts of a Security object as the files the command line takes."""
    folder.mkdir()
    paths = {}
    for name, text in (("ca", security.tls_ca_file), ("cert", security.tls_client_cert),
                       ("key", security.tls_client_key)):
        paths[name] = folder / f"{name}.pem"
        paths[name].write_text(text)
    return paths


def test_a_tls_scheduler_on_loopback_runs_the_batch_as_a_serial_run(tmp_path, capsys):
    pytest.importorskip("cryptography")
    from distributed import LocalCluster, Security

    security = Security.temporary()
    pem = write_certificates(tmp_path / "certs", security)
    serial = small_batch(tmp_path / "serial")
    parallel = tmp_path / "parallel"
    shutil.copytree(serial, parallel)
    assert detect_spots.main(["--batch", str(serial)]) == 0
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tls://", host="127.0.0.1",
                      security=security, dashboard_address=":0", silence_logs=logging.ERROR) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        capsys.readouterr()
        # a client without the authority's certificates is not let in
        other = write_certificates(tmp_path / "other", Security.temporary())
        assert detect_spots.main(["--batch", str(parallel), "--cluster", address, "--tls_ca_file", str(other["ca"]),
                                  "--tls_cert", str(other["cert"]), "--tls_key", str(other["key"])]) == 2
        err = capsys.readouterr().err
        assert "no Dask scheduler answers" in err and len(err.strip().splitlines()) == 1
        assert not list(parallel.glob("*/*.csv"))
        assert detect_spots.main(["--batch", str(parallel), "--cluster", address, "--tls_ca_file", str(pem["ca"]),
                                  "--tls_cert", str(pem["cert"]), "--tls_key", str(pem["key"])]) == 0
    assert "2 movie(s): 2 done" in capsys.readouterr().out
    for cell in batch_folders(serial):
        for path in cell.iterdir():
            assert (parallel / cell.name / path.name).read_bytes() == path.read_bytes(), path
