"""Process-wide set-up shared by commands: device choice, quiet third-party progress bars, phase timings."""
from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager


def process_state():
    """accelerate's state of this process: one of several when launched by `accelerate launch` / torchrun (gloo
    between CPU processes when no GPU is here), else the only one."""
    import torch
    from accelerate import PartialState

    global _group_ends_at_exit
    state = PartialState(cpu=not torch.cuda.is_available())
    if state.num_processes > 1 and state.backend == "gloo" and not _group_ends_at_exit:
        # a gloo group still alive when the interpreter tears down can abort the process (SIGABRT, "terminate called
        # without an active exception"; pytorch/pytorch#190489): two launches at once under `pytest -n 2` did, ~2 in
        # 5. The training loops drop their DDP wrappers (accelerator.free_memory), which hold it, before this runs
        import atexit

        atexit.register(state.destroy_process_group)
        _group_ends_at_exit = True
    return state


_group_ends_at_exit = False  # process_state registered the group's end at exit


def process_share(n: int, rank: int, processes: int) -> int:
    """Process `rank`'s share of `n` items split among `processes` (the first `n % processes` take one more)."""
    return n // processes + (rank < n % processes)


def device() -> str:
    """The accelerate device: cuda when present (each launched process its own), else cpu."""
    where = process_state().device
    return "cpu" if where.type == "cpu" else str(where)  # launched CPU processes get "cpu:0"; it is the same CPU


def resolve_device(name: str = "auto") -> str:
    """`auto`: the accelerate device (cuda when present, else cpu); `cpu`, `cuda` or `cuda:N` as asked, refused
    with one line when that device is not here."""
    import torch

    from mesaprobe.errors import UserError

    if name == "auto":
        return device()
    if name == "cpu":
        return name
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        index = int(name[5:]) if ":" in name else 0
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise UserError(f"--device {name}: no such CUDA device here (torch sees "
                            f"{torch.cuda.device_count() if torch.cuda.is_available() else 0})")
        return name
    raise UserError(f"--device {name!r}: use auto, cpu, cuda or cuda:N")


def free_cores(window_s: float = 0.25) -> int:
    """Cores not busy with other work over the next `window_s` seconds (at least 1); this process's own use (its
    start-up) is not counted. The same measurement as the training loops' `CoreWatch`, over one short window."""
    watch = CoreWatch(every_s=window_s)
    while (free := watch.free()) is None:
        time.sleep(window_s)
    return free


MAX_THREADS = 1024  # more threads than any machine here has cores: each one costs memory, none helps


def set_threads(threads: int = 0, follow_free: bool = False, keep_following: bool = True) -> int:
    """Use `threads` CPU threads in this process: torch's intra-op pool and the probes' worker processes. 0: one per
    core, or with `follow_free` one per core that other work leaves free (OpenMP threads that spin for a busy core
    made a run ~2x slower beside one busy process here, and up to ~11x in an audit; benchmarks/busy_idle.py), looked
    at again as the training loops go unless `keep_following` is off (`follow_free_cores`). An OMP_NUM_THREADS
    the user set wins over `follow_free`. Returns the count set (0: left as it was)."""
    from mesaprobe.errors import UserError

    if not 0 <= threads <= MAX_THREADS:
        raise UserError(f"--threads {threads}: give a number in 1..{MAX_THREADS}, or 0 for one per free core")
    explicit = bool(threads)
    if not threads and follow_free and "OMP_NUM_THREADS" not in os.environ:
        free = free_cores()
        threads = free if free < (os.cpu_count() or 1) else 0
        _FOLLOW["watch"] = CoreWatch() if keep_following else None
    if threads:
        use_threads(threads)
    if explicit:  # the linear probes' process pool (probes/linear_suite.py): its one-thread workers share a busy core well
        os.environ["MESAPROBE_JOBS"] = str(threads)
    return threads


def use_threads(threads: int) -> None:
    """torch's intra-op threads and the BLAS and OpenMP pools of numpy, scipy and scikit-learn (the probes' fits) at
    `threads`. torch's count alone left numpy at one spinning thread per core: four `--threads 1` probes on two cores
    ran 6x slower (experiments/results/blas-threads). The pools are loaded first, since threadpoolctl limits only
    those loaded; BLAS environment variables are left alone, so that joblib can still give each of the probes'
    worker processes its share of the cores."""
    import sklearn  # noqa: F401  (loads scipy's OpenBLAS and scikit-learn's OpenMP pool)
    import torch
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    torch.set_num_threads(threads)
    threadpool_limits(threads)  # applied now, kept: only a `with` block would restore the previous limits


class CoreWatch:
    """The cores other processes kept busy since the last look, from the machine's and this process's CPU times
    (no waiting: the interval between looks is the measurement window)."""

    def __init__(self, every_s: float = 10.0):
        import psutil  # an accelerate dependency

        self.psutil, self.me, self.every_s = psutil, psutil.Process(), every_s
        self.mark = self.sample()

    def sample(self) -> tuple[float, float, float]:
        machine, mine = self.psutil.cpu_times(), self.me.cpu_times()
        # Linux counts guest time inside user time as well: leave it out of the sum once
        idle = sum(getattr(machine, f, 0.0) for f in ("idle", "iowait", "guest", "guest_nice"))
        return time.monotonic(), sum(machine) - idle, mine.user + mine.system

    def free(self) -> int | None:
        """Cores free of other work over the last `every_s` seconds or more (at least 1); None before then."""
        if time.monotonic() - self.mark[0] < self.every_s:  # the training loops ask every step: no reading till then
            return None
        now = self.sample()
        wall = now[0] - self.mark[0]
        others = ((now[1] - self.mark[1]) - (now[2] - self.mark[2])) / wall
        self.mark = now
        return max(1, (os.cpu_count() or 1) - round(max(others, 0.0)))


_FOLLOW: dict[str, CoreWatch | None] = {"watch": None}


def follow_free_cores() -> None:
    """Called by the training loops every step: where the thread count follows the free cores (`set_threads` with
    `follow_free`: the CLI's compute commands without --threads or OMP_NUM_THREADS), every ~10 s it is set to the
    cores that other work left free over those seconds, so a run started beside another takes the second core once
    the other ends (and gives it back when one starts)."""
    watch = _FOLLOW["watch"]
    if watch is not None and (free := watch.free()) is not None:
        import torch

        if free != torch.get_num_threads():
            use_threads(free)


PIPED_EVERY_S = 15  # off a terminal (a log file, a pipe), a bar writes a line at most this often


class LineWriter:
    """tqdm's output off a terminal: each refresh a line of its own (phase, done/total, rate, ETA), not a bar
    redrawn with carriage returns that a log shows as one endless line."""

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        if line:
            sys.stderr.write(line + "\n")

    def flush(self) -> None:
        sys.stderr.flush()


_HEARTBEAT: list = []  # the one thread that reprints the open piped bars (started on first use)


def _heartbeat() -> None:
    """A line from each open piped bar that has been quiet for PIPED_EVERY_S seconds, so that a log hears from a
    phase whose single step takes minutes (tqdm itself writes only when a bar moves)."""
    from tqdm.auto import tqdm

    while True:
        time.sleep(0.5)
        now = time.time()
        for bar in list(getattr(tqdm, "_instances", ())):
            piped = isinstance(getattr(bar.fp, "_wrapped", bar.fp), LineWriter)
            if piped and not bar.disable and now - bar.last_print_t >= PIPED_EVERY_S:
                bar.refresh()
                bar.last_print_t = now


def bar_options(progress: bool) -> dict:
    """tqdm's keywords for a progress bar: hidden without `progress`; on a terminal a bar that stays when done;
    elsewhere a line of its own at least every PIPED_EVERY_S seconds while it is open (_heartbeat)."""
    if not progress:
        return {"disable": True}
    if sys.stderr.isatty():
        return {"disable": False, "leave": True}
    if not _HEARTBEAT:
        _HEARTBEAT.append(threading.Thread(target=_heartbeat, daemon=True, name="mesaprobe-progress"))
        _HEARTBEAT[0].start()
    return {"disable": False, "leave": True, "file": LineWriter(), "mininterval": PIPED_EVERY_S, "ascii": True}


def quiet_libraries() -> None:
    """Our own bars say what is happening; the libraries' per-file bars and info logs only add noise."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()


PACKAGES = ("mesaprobe", "torch", "transformers", "transformer-lens", "scikit-learn", "concept-erasure", "datasets",
            "accelerate", "numpy", "plotly", "trl")


def package_versions() -> dict[str, str]:
    """Versions of the packages a result depends on (recorded in results.json for reproduction)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


class PhaseTimer:
    """Wall seconds per named phase, summed over repeats: where a run's time went (kept in results.json)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = round(self.seconds.get(phase, 0.0) + time.perf_counter() - start, 2)


LAUNCHED_BY = "MESAPROBE_LAUNCHED_BY"  # launch.py: the pid of the command that started these processes


def die_with_parent() -> None:
    """For a process started by subprocess (preexec_fn): receive SIGTERM when the process that started it dies,
    even by SIGKILL (Linux prctl PR_SET_PDEATHSIG; elsewhere nothing)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def exit_with_launcher() -> None:
    """In a process `train --processes N` launched (through accelerate's launcher): exit once the command that
    launched it is gone, so that a `kill -9` of it leaves no process training on and nothing written."""
    pid = int(os.environ.get(LAUNCHED_BY, "0") or 0)
    if pid <= 0:
        return

    def watch():
        import signal

        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:  # gone: leave the way SIGTERM leaves (partial output removed), then for sure
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(30)
                os._exit(1)
            except PermissionError:  # alive, another user's: keep watching
                pass
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="exit-with-launcher").start()


def exit_with_parent(parent_pid: int, interval_s: float = 0.5) -> None:
    """For a worker process: exit as soon as `parent_pid` is no longer its parent (the parent died, even by
    SIGKILL, and the worker was re-parented), so no worker outlives the run that started it."""

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()
