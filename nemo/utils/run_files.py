"""Files in the log dir besides checkpoints and logger output: per-rank log files, `cmd-args.log`, `git-info.log`,
copies of `files_to_copy`, and moving an earlier run's files into `run_<N>/`."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, List, Tuple

from omegaconf import DictConfig

from nemo.utils import logging

__all__ = ["FileLogs", "setup_file_logging", "write_run_files", "move_previous_run_files"]


def move_previous_run_files(log_dir: Path, multi_node: bool = False) -> None:
    """Move files left in `log_dir` by an earlier run into `log_dir/run_<N>/` (TensorBoard events stay).

    With several nodes, other ranks' log files may belong to this run (their node started first), so they stay.
    """
    if not log_dir.is_dir():
        return

    def keep(p: Path) -> bool:
        other_rank_log = p.name.startswith("nemo_log_globalrank-") and not p.name.startswith("nemo_log_globalrank-0_")
        return p.name.startswith("events.out.tfevents") or (multi_node and other_rank_log)

    files = [p for p in log_dir.iterdir() if p.is_file() and not keep(p)]
    if not files:
        return
    target = log_dir / f"run_{len(list(log_dir.glob('run_*')))}"
    target.mkdir()
    for path in files:
        shutil.move(str(path), str(target / path.name))


class FileLogs:
    """The log files exp_manager attached in this process, so the next call can detach them."""

    handlers: List[Tuple[Any, Any]] = []

    @classmethod
    def detach(cls) -> None:
        for logger, handler in cls.handlers:
            logger.removeHandler(handler)
            handler.close()
        cls.handlers = []

    @classmethod
    def attach(cls, logger: Any, path: Path, level: int) -> None:
        import logging as std_logging

        handler = std_logging.FileHandler(path)
        handler.setLevel(level)
        formatter = logging.handlers[0].formatter if logging.handlers else None
        handler.setFormatter(formatter)
        logger.addHandler(handler)
        if logger.level == std_logging.NOTSET or logger.level > level:
            logger.setLevel(level)
        cls.handlers.append((logger, handler))


def setup_file_logging(log_dir: Path, global_rank: int, local_rank: int, cfg: DictConfig) -> None:
    """Per-rank `nemo_log_globalrank-<g>_localrank-<l>.txt`; on rank 0 also `nemo_error_log.txt` (warnings and
    errors) and `lightning_logs.txt` (Lightning's messages). `NEMO_TESTING=1` writes a file on every rank."""
    import logging as std_logging

    FileLogs.detach()
    testing = os.environ.get("NEMO_TESTING", "") not in ("", "0")
    skip = (cfg.log_local_rank_0_only and local_rank != 0) or (cfg.log_global_rank_0_only and global_rank != 0)
    if testing or not skip:
        path = log_dir / f"nemo_log_globalrank-{global_rank}_localrank-{local_rank}.txt"
        FileLogs.attach(logging, path, std_logging.INFO)
    if global_rank == 0:
        FileLogs.attach(logging, log_dir / "nemo_error_log.txt", std_logging.WARNING)
        lightning_logger = std_logging.getLogger("lightning.pytorch")
        FileLogs.attach(lightning_logger, log_dir / "lightning_logs.txt", std_logging.INFO)
        FileLogs.attach(lightning_logger, log_dir / "nemo_error_log.txt", std_logging.WARNING)


def write_run_files(log_dir: Path, cfg: DictConfig) -> None:
    """Copy `files_to_copy`, write `cmd-args.log`, and `git-info.log` (commit and diff) inside a git work tree."""
    for src in cfg.files_to_copy or []:
        shutil.copy(Path(src), log_dir / Path(src).name)
    (log_dir / "cmd-args.log").write_text(" ".join(sys.argv))
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30)
        if head.returncode == 0:
            diff = subprocess.run(["git", "diff"], capture_output=True, text=True, timeout=30)
            with open(log_dir / "git-info.log", "a") as f:
                f.write(f"commit hash: {head.stdout.strip()}\n")
                f.write(diff.stdout)
    except (OSError, subprocess.SubprocessError):
        pass
