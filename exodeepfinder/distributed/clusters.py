"""Dask clusters from a short spec: this machine, an HPC scheduler (SLURM, PBS, SGE) or a running scheduler.

``"local[:N]"``
    A :class:`distributed.LocalCluster` of N worker processes on this machine, each running one
    movie at a time with ``cores // N`` PyTorch threads, so that N x threads = cores. Without N:
    one worker per GPU when the command runs the network on CUDA GPUs, else one per 4 cores.
``"slurm"``, ``"pbs"``, ``"sge"``
    A dask-jobqueue cluster: each worker is a batch job (``processes`` workers per job). Its
    options (queue, cores, memory, walltime, GPUs...) come from ``options``; the workers asked
    for are as many as the movies, up to ``max_workers``, and are released as the movies run out.
``"tcp://host:port"``, ``"tls://host:port"``
    A Dask scheduler that is already running, with its own workers. A plain ``tcp://`` connection
    is neither encrypted nor authenticated (whoever reaches the scheduler runs code as the user,
    and results are unpickled from it): it is refused to a host other than this machine unless
    ``insecure`` is given (see :func:`check_scheduler_address`); ``tls://`` takes the
    certificates of a :class:`distributed.Security` (see :func:`make_security`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ClusterError, InputError

log = logging.getLogger(__name__)

JOBQUEUE = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster"}
#: Options of a batch-scheduler cluster that are numbers.
INTEGER_OPTIONS = ("cores", "processes", "gpus", "max_workers")
#: Options that may be given several times (a list in a YAML file).
LIST_OPTIONS = ("job_extra", "job_script_prologue", "worker_extra_args", "job_directives_skip")
#: Short names accepted for options of dask-jobqueue.
ALIASES = {"job_extra_directives": "job_extra", "prologue": "job_script_prologue", "env_extra": "job_script_prologue"}
#: The environment variable naming, in a local cluster's worker processes, the file their stderr goes to
#: (see :mod:`.worker_stderr`).
WORKER_LOG = "EXODEEPFINDER_WORKER_LOG"
#: Workers asked for at most, unless the options say ``max_workers``.
DEFAULT_MAX_WORKERS = 10
#: A Dask resource that every task takes one of, so that a worker runs one movie at a time
#: whatever its thread count (dask-jobqueue gives a worker as many threads as its cores).
TASK_RESOURCE = "movie"


def available_cores() -> int:
    """The CPU cores this process may use (its affinity mask, e.g. a SLURM allocation)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def local_layout(n_workers: int | None, cores: int, *, n_tasks: int | None = None, n_gpus: int = 0) -> tuple[int, int]:
    """``(workers, threads per worker)`` of a local cluster: workers x threads = cores.

    Without ``n_workers``: one worker per GPU, else one per 4 cores. Never more workers than
    tasks (the cores of an idle worker are better used by the others) or cores.
    """
    if n_workers is None:
        n_workers = n_gpus if n_gpus else max(1, cores // 4)
    n_workers = max(1, min(n_workers, cores, n_tasks or n_workers))
    return n_workers, max(1, cores // n_workers)


def parse_cluster_spec(spec: str) -> tuple[str, int | str | None]:
    """``"local:4"`` -> ``("local", 4)``, ``"slurm"`` -> ``("slurm", None)``, ``"tcp://h:8786"`` -> ``("tcp", "tcp://h:8786")``."""
    text = str(spec).strip()
    if "://" in text:
        return "tcp", text
    kind, _, value = text.partition(":")
    kind = kind.lower()
    if kind == "local":
        if not value:
            return "local", None
        if value.isdigit() and int(value) > 0:
            return "local", int(value)
        raise InputError(f"cluster {spec!r}: expected local:N with N a number of worker processes, e.g. local:2")
    if kind in JOBQUEUE and not value:
        return kind, None
    raise InputError(f"cluster {spec!r}: expected local, local:N, {', '.join(JOBQUEUE)} or a scheduler address "
                     "tcp://host:port")


#: Scheduler address schemes whose connections are encrypted and authenticated (with certificates).
SECURE_SCHEMES = ("tls", "wss")
#: Scheduler address schemes of plain connections: refused beyond this machine without ``insecure``.
PLAIN_SCHEMES = ("tcp", "ws", "ucx")


def address_host(address: str) -> str:
    """The host of a scheduler address as written: ``"tcp://[::1]:8786"`` -> ``"::1"`` (no name lookup)."""
    from urllib.parse import urlsplit

    rest = str(address).partition("://")[2].split("/", 1)[0]
    try:
        host = urlsplit(f"//{rest}").hostname
    except ValueError:
        host = None
    if not host:
        raise InputError(f"{address}: no host in this scheduler address (expected tcp://host:port or tls://host:port)")
    return host


def is_loopback(host: str) -> bool:
    """True when ``host``, as written, is this machine: ``localhost`` or a loopback IP (127.0.0.0/8, ::1).

    Decided from the text alone (no name lookup): any other name counts as another machine.
    """
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def make_security(ca_file=None, cert=None, key=None):
    """The :class:`distributed.Security` of a ``tls://`` scheduler: CA certificate, this client's certificate and key.

    Without files, the TLS settings of the Dask configuration (``distributed.comm.tls.*``) are used;
    InputError when there are none, or a file is missing.
    """
    from distributed import Security

    given = {"ca_file": ca_file, "cert": cert, "key": key}
    for name, value in given.items():
        if value is not None and not Path(value).is_file():
            raise InputError(f"{value}: TLS {name.replace('_', ' ')} not found (--tls_{name})")
    if ca_file is None and cert is None and key is None:
        security = Security()
        if not security.tls_ca_file or not security.tls_client_cert:
            raise InputError("a tls:// scheduler needs certificates: give --tls_ca_file, --tls_cert and --tls_key "
                             "(or set distributed.comm.tls in the Dask configuration; see docs/cluster.md)")
        return security
    if ca_file is None or cert is None:
        raise InputError("a tls:// scheduler needs --tls_ca_file (the certificate authority) and --tls_cert "
                         "(this client's certificate; --tls_key if its key is in another file)")
    return Security(tls_ca_file=str(ca_file), tls_client_cert=str(cert),
                    tls_client_key=None if key is None else str(key), require_encryption=True)


def check_scheduler_address(address: str, *, insecure: bool = False, tls: bool = False) -> str:
    """Refuse a scheduler address that would let others in; return its scheme.

    Decided from the address as written, before any connection or name lookup:

    - ``tls://`` (and ``wss://``): encrypted and authenticated with certificates: accepted;
    - ``tcp://`` (and ``ws://``, ``ucx://``) to ``localhost`` or a loopback IP: accepted;
    - ``tcp://`` to any other host: refused (InputError) unless ``insecure``, then a warning is logged;
    - ``tls`` (certificates given) with a plain address: refused (they would not be used).
    """
    scheme = str(address).partition("://")[0].lower()
    if scheme not in SECURE_SCHEMES + PLAIN_SCHEMES:
        raise InputError(f"{address}: unknown scheduler address scheme {scheme}:// (expected tcp:// or tls://)")
    host = address_host(address)
    if scheme in SECURE_SCHEMES:
        return scheme
    if tls:
        raise InputError(f"{address}: TLS certificates were given but the address is {scheme}://; use tls://{host}:port")
    if is_loopback(host):
        return scheme
    if not insecure:
        raise InputError(f"{address}: refused, plain {scheme}:// to another machine ({host}) lets whoever reaches "
                         "the scheduler run code as you; use tls:// with --tls_ca_file, --tls_cert, --tls_key "
                         "(docs/cluster.md), or --insecure on a network only you reach")
    log.warning("%s: plain %s:// connection without encryption or authentication (--insecure): whoever reaches "
                "this scheduler can run code as you", address, scheme)
    return scheme


def _option_value(name: str, value):
    if name in INTEGER_OPTIONS:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise InputError(f"cluster option {name}={value!r}: not a whole number") from None
        if number < (0 if name == "gpus" else 1):
            raise InputError(f"cluster option {name}={value!r}: must be positive")
        return number
    if name in LIST_OPTIONS:
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
    return value


def _read_options_file(path: Path) -> dict:
    import yaml

    try:
        options = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise InputError(f"{path}: not a readable YAML file of cluster options ({str(err).splitlines()[0]})") from None
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise InputError(f"{path}: expected 'name: value' lines of cluster options")
    return options


def parse_cluster_options(options=None) -> dict:
    """Options of a batch-scheduler cluster from a dict, a YAML file, or ``key=value`` texts.

    A key given twice in ``key=value`` texts adds to a list for ``job_extra`` (one scheduler
    directive each) and ``job_script_prologue`` (shell lines run before the worker), and
    replaces the value for the others.

    >>> parse_cluster_options(["cores=8", "memory=32GB", "job_extra=--qos=high", "job_extra=--exclusive"])
    {'cores': 8, 'memory': '32GB', 'job_extra': ['--qos=high', '--exclusive']}
    """
    if options is None:
        return {}
    if isinstance(options, (str, Path)):
        options = [options]
    if isinstance(options, dict):
        items = list(options.items())
    else:
        items = []
        for text in options:
            text = str(text)
            if "=" not in text:
                path = Path(text)
                if path.suffix.lower() not in (".yaml", ".yml") or not path.is_file():
                    raise InputError(f"cluster option {text!r}: expected key=value or a YAML file (.yaml)")
                items.extend(_read_options_file(path).items())
                continue
            key, _, value = text.partition("=")
            items.append((key.strip(), value.strip()))
    parsed = {}
    for key, value in items:
        name = ALIASES.get(str(key).strip().replace("-", "_"), str(key).strip().replace("-", "_"))
        value = _option_value(name, value)
        if name in LIST_OPTIONS and name in parsed:
            parsed[name] = parsed[name] + value
        else:
            parsed[name] = value
    return parsed


def _gpu_directives(kind: str, gpus: int, options: dict) -> None:
    """Ask the scheduler for ``gpus`` GPUs per job, in its own words."""
    if kind == "slurm":
        options["job_extra"] = options.get("job_extra", []) + [f"--gres=gpu:{gpus}"]
    elif kind == "sge":
        options["job_extra"] = options.get("job_extra", []) + [f"-l gpu={gpus}"]
    elif kind == "pbs":
        if "resource_spec" in options:
            options["resource_spec"] += f":ngpus={gpus}"
        else:
            from dask.utils import parse_bytes
            from dask_jobqueue.pbs import pbs_format_bytes_ceil

            if "cores" not in options or "memory" not in options:
                raise InputError("cluster options: gpus on PBS needs cores and memory (or a resource_spec)")
            options["resource_spec"] = (f"select=1:ncpus={options['cores']}:"
                                        f"mem={pbs_format_bytes_ceil(parse_bytes(options['memory']))}:ngpus={gpus}")


def _jobqueue_modules():
    try:
        import dask_jobqueue
    except ImportError:
        raise InputError("batch-scheduler clusters need dask-jobqueue: pip install 'exodeepfinder-torch[distributed]'") from None
    return dask_jobqueue


def make_cluster(spec: str, options=None, *, n_tasks: int | None = None, gpus: bool = False, worker_log=None):
    """Create the Dask cluster of ``spec`` (no workers asked for yet from a batch scheduler).

    Parameters
    ----------
    spec : str
        ``"local"``, ``"local:N"``, ``"slurm"``, ``"pbs"`` or ``"sge"`` (``"tcp://..."`` has no
        cluster object: see :func:`start_cluster`).
    options : dict, list of str or path, optional
        Batch-scheduler options (:func:`parse_cluster_options`): ``queue``, ``cores``, ``memory``
        (per job, e.g. ``"32GB"``), ``walltime`` (``"02:00:00"``), ``gpus`` (per job),
        ``processes`` (workers per job, default 1), ``job_extra`` (scheduler directives),
        ``job_script_prologue`` (shell lines, e.g. ``module load cuda``), ``account``,
        ``max_workers`` (default 10), and any other option of the dask-jobqueue cluster class.
    n_tasks : int, optional
        Movies to run (a local cluster has no more workers than that).
    gpus : bool
        The tasks run the network and may use CUDA GPUs (a local cluster then has one worker per GPU
        by default).
    worker_log : Path, optional
        For a local cluster: a file that takes what its worker processes (and multiprocessing's
        resource tracker) write on stderr, instead of this process's stderr.

    Returns
    -------
    cluster, threads
        The cluster and the PyTorch threads each task should use.
    """
    kind, value = parse_cluster_spec(spec)
    if kind == "tcp":
        raise InputError(f"cluster {spec!r}: an existing scheduler has no cluster to create")
    if kind == "local":
        if options:
            raise InputError("cluster options: only for slurm, pbs and sge clusters (local takes local:N)")
        from distributed import LocalCluster

        n_gpus = _cuda_gpus() if gpus and value is None else 0
        n_workers, threads = local_layout(value, available_cores(), n_tasks=n_tasks, n_gpus=n_gpus)
        env = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        if worker_log is not None:  # the worker processes' stderr (see worker_stderr)
            env[WORKER_LOG] = str(worker_log)
        # one task slot per worker: a movie uses all the threads of its worker through PyTorch
        return _start_local_cluster(LocalCluster, n_workers, env, worker_log), threads
    dask_jobqueue = _jobqueue_modules()
    import dask

    options = parse_cluster_options(options)
    options.pop("max_workers", None)
    n_gpus = options.pop("gpus", 0)
    if n_gpus:
        _gpu_directives(kind, n_gpus, options)
    if "processes" not in options and dask.config.get(f"jobqueue.{kind}.processes", None) is None:
        options["processes"] = 1  # dask-jobqueue would split a job into about sqrt(cores) workers
    job_extra = options.pop("job_extra", [])
    worker_args = options.pop("worker_extra_args", []) + ["--resources", f"{TASK_RESOURCE}=1"]
    cls = getattr(dask_jobqueue, JOBQUEUE[kind])
    try:
        cluster = cls(job_extra_directives=job_extra, worker_extra_args=worker_args, silence_logs="error", **options)
    except TypeError as err:
        raise InputError(f"cluster options: {err}") from None
    except ValueError as err:
        if "cores and memory" in str(err):  # not given, here nor in the dask-jobqueue configuration
            raise InputError("cluster options: give the cores and memory of a job, e.g. cores=8 memory=32GB") from None
        raise InputError(f"cluster options: {str(err).splitlines()[0]}") from None
    return cluster, max(1, int(cluster._dummy_job.worker_process_threads))


def _cuda_gpus() -> int:
    try:
        import torch
    except ImportError:
        return 0

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@dataclass
class ClusterSession:
    """A Dask client and what tasks need to know about its workers.

    Attributes
    ----------
    client : distributed.Client
    cluster : the cluster object, or None (existing scheduler)
    threads : int or None
        PyTorch threads per task (None: leave them as the workers have them).
    resources : dict or None
        Dask resources each task asks for.
    max_workers : int or None
        Workers asked for from a batch scheduler.
    """

    client: object
    cluster: object = None
    threads: int | None = None
    resources: dict | None = None
    max_workers: int | None = None
    _asked: int = field(default=0, repr=False)

    @property
    def dashboard_link(self) -> str:
        return self.client.dashboard_link

    def shrink(self, n_left: int) -> None:
        """Release batch-scheduler workers beyond the movies left to run."""
        if self.max_workers is not None and n_left < self._asked:
            self._asked = n_left
            self.cluster.scale(n=n_left)


def check_connection(spec: str, *, security=None, insecure: bool = False) -> None:
    """Check a cluster spec's connection options before anything starts (see :func:`check_scheduler_address`).

    ``security`` and ``insecure`` are for a scheduler address only (InputError otherwise).
    """
    kind, value = parse_cluster_spec(spec)
    if kind == "tcp":
        check_scheduler_address(value, insecure=insecure, tls=security is not None)
    elif security is not None or insecure:
        raise InputError("TLS certificates and --insecure are for a scheduler address (tls://host:port, "
                         "tcp://host:port)")


#: How many times a local cluster is started before giving up (a worker process killed while the
#: cluster starts makes distributed raise "Nanny failed to start"; a second start usually succeeds).
LOCAL_CLUSTER_STARTS = 2


@contextlib.contextmanager
def _stderr_to(path):
    """Point file descriptor 2 of this process at ``path`` for a moment (what it starts meanwhile keeps it)."""
    sys.stderr.flush()
    saved = os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.dup2(fd, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)


def _start_local_cluster(local_cluster, n_workers: int, env: dict, worker_log=None):
    """A local cluster of ``n_workers`` one-thread worker processes, started again if a worker dies while starting.

    With ``worker_log``, the worker processes write their stderr there (Dask's log and the
    tracebacks it holds, Python's "Exception ignored" reports): they are this process's children
    and would otherwise write on its stderr, beside the command's one-line errors. So does
    multiprocessing's resource tracker (started here if it does not run yet), which reports
    what killed workers leaked.
    """
    preload = {}
    if worker_log is not None:
        from multiprocessing import resource_tracker

        with _stderr_to(worker_log):
            resource_tracker.ensure_running()
        preload = {"preload": ["exodeepfinder.distributed.worker_stderr"]}
    for attempt in range(1, LOCAL_CLUSTER_STARTS + 1):
        try:
            with warnings.catch_warnings():
                # "Port 8787 is already in use ... on port N instead": the dashboard link says where it is
                warnings.filterwarnings("ignore", message="Port .* is already in use")
                return local_cluster(n_workers=n_workers, threads_per_worker=1, processes=True, env=env,
                                     silence_logs=logging.ERROR, **preload)
        except RuntimeError as err:  # distributed: "Nanny failed to start." and the like
            if attempt == LOCAL_CLUSTER_STARTS:
                raise ClusterError(f"local cluster: its {n_workers} worker process(es) did not start "
                                   f"({str(err).strip() or type(err).__name__}; tried {attempt} times): "
                                   "check free memory and run the command again") from None


@contextlib.contextmanager
def start_cluster(spec: str, options=None, *, n_tasks: int, gpus: bool = False, security=None,
                  insecure: bool = False):
    """Start (or connect to) the cluster of ``spec``, yield a :class:`ClusterSession`, close it after.

    For a batch scheduler, ``min(n_tasks, max_workers)`` workers are asked for (each a job, or
    ``processes`` per job). See :func:`make_cluster` for ``options``. A scheduler address is
    checked first (:func:`check_scheduler_address`): ``security`` (a :class:`distributed.Security`,
    see :func:`make_security`) is used for ``tls://``, ``insecure`` allows plain ``tcp://`` to
    another machine.
    """
    try:
        from distributed import Client
    except ImportError:
        raise InputError("clusters need Dask: pip install 'exodeepfinder-torch[distributed]'") from None
    kind, value = parse_cluster_spec(spec)
    check_connection(spec, security=security, insecure=insecure)
    if kind == "tcp":
        if options:
            raise InputError("cluster options: only for slurm, pbs and sge clusters")
        scheme = value.partition("://")[0].lower()
        if scheme in SECURE_SCHEMES and security is None:
            security = make_security()
        try:
            client = Client(value, timeout="20s", security=security)
        except (OSError, TimeoutError) as err:
            raise InputError(f"{value}: no Dask scheduler answers ({str(err).splitlines()[0]})") from None
        try:
            yield ClusterSession(client)
        finally:
            client.close()
        return
    parsed = parse_cluster_options(options) if kind != "local" else options
    max_workers = parsed.get("max_workers", DEFAULT_MAX_WORKERS) if kind != "local" else None
    worker_log = _new_worker_log() if kind == "local" else None
    try:
        cluster, threads = make_cluster(spec, parsed, n_tasks=n_tasks, gpus=gpus, worker_log=worker_log)
    except BaseException:
        _report_worker_log(worker_log)
        raise
    try:
        client = Client(cluster)
        try:
            session = ClusterSession(client, cluster, threads)
            if max_workers is not None:
                session.resources = {TASK_RESOURCE: 1}
                session.max_workers = max_workers
                session._asked = min(n_tasks, max_workers)
                cluster.scale(n=session._asked)
            yield session
        finally:
            client.close()
    finally:
        try:
            cluster.close()
        finally:
            _report_worker_log(worker_log)


def _new_worker_log() -> Path:
    """An empty file in the temporary folder for the stderr of a local cluster's worker processes."""
    handle, name = tempfile.mkstemp(prefix="exodeepfinder-workers-", suffix=".log")
    os.close(handle)
    return Path(name)


def _report_worker_log(path) -> None:
    """Remove an empty worker log; else keep it and say so in one line (a logged warning)."""
    if path is None:
        return
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return
    if not text.strip():
        Path(path).unlink(missing_ok=True)
        return
    lines = text.strip().splitlines()
    first = next((line.strip() for line in lines if line.strip() and not line.startswith((" ", "\t"))), lines[0])
    traceback_note = ", a Python traceback among them" if "Traceback (most recent call last)" in text else ""
    log.warning(f"local cluster: its worker processes wrote {len(lines)} line(s) on stderr{traceback_note} "
                f"(first: {' '.join(first.split())[:200]}); kept in {path}")
