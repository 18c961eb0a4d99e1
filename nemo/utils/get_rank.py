"""Which process am I? Answers from the launcher's environment, before any process group exists."""

import os

__all__ = ["global_rank", "local_rank", "is_global_rank_zero"]


def _env_int(*names: str) -> int | None:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            return int(value)
    return None


def local_rank() -> int:
    """Rank of this process on its node (`LOCAL_RANK`, `SLURM_LOCALID`), 0 when unset."""
    return _env_int("LOCAL_RANK", "SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK") or 0


def global_rank() -> int:
    """Rank among all processes (`RANK`, `SLURM_PROCID`, ...), else from `NODE_RANK`/`LOCAL_RANK`."""
    rank = _env_int("RANK", "PMIX_RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK")
    if rank is not None:
        return rank
    node = _env_int("NODE_RANK", "GROUP_RANK") or 0
    per_node = _env_int("LOCAL_WORLD_SIZE") or 1
    return node * per_node + local_rank()


def is_global_rank_zero() -> bool:
    """True in the process that should write shared files (logs, `.nemo`)."""
    return global_rank() == 0
