"""`check_resume`: which checkpoint a run continues from, with NeMo's rules and error cases."""

from pathlib import Path
from typing import Any, List, Optional, Union

from nemo.utils.exceptions import NeMoBaseException
from nemo.utils import logging

__all__ = ["NotFoundError", "check_resume"]


class NotFoundError(NeMoBaseException, FileNotFoundError):
    """Resume was requested but there is no checkpoint to resume from."""


def _finished(paths: List[Path]) -> List[Path]:
    return [p for p in paths if not Path(str(p).removesuffix(".ckpt") + "-unfinished").exists()]


def _newest(paths: List[Path]) -> Path:
    return max(paths, key=lambda p: p.stat().st_mtime)


def check_resume(
    trainer: Any,
    log_dir: Union[str, Path],
    resume_if_exists: bool = False,
    resume_past_end: bool = False,
    resume_ignore_no_checkpoint: bool = False,
    dirpath: Optional[str] = None,
    resume_from_checkpoint: Optional[str] = None,
) -> Optional[Path]:
    """Pick the checkpoint to resume from and set `trainer.ckpt_path`; return it (or None to start fresh)."""
    if not log_dir:
        raise ValueError(f"Resuming requires the log_dir {log_dir} to be passed to exp_manager")
    checkpoint: Optional[Path] = Path(resume_from_checkpoint) if resume_from_checkpoint else None

    if resume_if_exists:
        checkpoint_dir = Path(dirpath) if dirpath else Path(log_dir) / "checkpoints"
        found_end = sorted(checkpoint_dir.rglob("*end.ckpt")) if checkpoint_dir.is_dir() else []
        found_last = sorted(checkpoint_dir.rglob("*last.ckpt")) if checkpoint_dir.is_dir() else []
        end, last = _finished(found_end), _finished(found_last)
        if found_end and not end:
            raise ValueError(f"End checkpoint {found_end[0]} is unfinished and cannot be used to resume the training.")
        if found_last and not last:
            raise ValueError(
                f"Last checkpoint {found_last[0]} is unfinished and cannot be used to resume the training. "
                "Please remove the checkpoint manually to avoid unexpected consequences, such as restarting "
                "from scratch."
            )
        if not end and not last:
            if not resume_ignore_no_checkpoint:
                raise NotFoundError(f"There were no checkpoints found in {checkpoint_dir}. Cannot resume.")
            start = f"from {resume_from_checkpoint}" if resume_from_checkpoint else "from scratch"
            logging.warning(
                "There were no checkpoints found in checkpoint_dir or no checkpoint folder at checkpoint_dir "
                f":{checkpoint_dir}. Training {start}."
            )
        elif end:
            if not resume_past_end:
                raise ValueError(f"Found {end[0]} indicating that the last training run has already completed.")
            if len(end) > 1 and "mp_rank" not in str(end[0]):
                raise ValueError(f"Multiple checkpoints {end} that matches *end.ckpt.")
            checkpoint = end[0]  # NeMo leaves this unset for a single end checkpoint and restarts silently
        elif len(last) > 1:
            if any(tag in str(last[0]) for tag in ("mp_rank", "tp_rank", "fsdp_shard")):
                checkpoint = last[0].parent.parent / last[0].name
            else:
                # Two `-last` files exist when a run died between writing the new one and deleting
                # the old one: the newest is the one to continue from.
                checkpoint = _newest(last)
                logging.warning(f"Multiple checkpoints {last} match *last.ckpt; resuming from the newest, {checkpoint}")
        else:
            checkpoint = last[0]

    if checkpoint is not None:
        if not Path(checkpoint).exists() and "://" not in str(checkpoint):
            raise NotFoundError(f"resume_from_checkpoint {checkpoint} does not exist. Cannot resume.")
        trainer.ckpt_path = str(checkpoint)
        logging.info(f"Resuming training from checkpoint: {checkpoint}")
    return checkpoint
