"""Per-rank log files and the rank-0-only switches."""

from omegaconf import OmegaConf

from nemo.utils import logging
from nemo.utils.exp_manager import ExpManagerConfig
from nemo.utils.run_files import FileLogs, move_previous_run_files, setup_file_logging


def _cfg(**kwargs):
    return OmegaConf.merge(OmegaConf.structured(ExpManagerConfig), kwargs)


def test_each_rank_logs_to_its_own_file(tmp_path, monkeypatch):
    monkeypatch.delenv("NEMO_TESTING", raising=False)
    try:
        setup_file_logging(tmp_path, global_rank=3, local_rank=1, cfg=_cfg())
        logging.info("hello from rank 3")
        FileLogs.detach()
        assert "hello from rank 3" in (tmp_path / "nemo_log_globalrank-3_localrank-1.txt").read_text()
        assert not (tmp_path / "nemo_error_log.txt").exists()  # rank 0 only

        setup_file_logging(tmp_path, global_rank=2, local_rank=1, cfg=_cfg(log_local_rank_0_only=True))
        setup_file_logging(tmp_path, global_rank=1, local_rank=0, cfg=_cfg(log_global_rank_0_only=True))
        assert not (tmp_path / "nemo_log_globalrank-2_localrank-1.txt").exists()
        assert not (tmp_path / "nemo_log_globalrank-1_localrank-0.txt").exists()

        monkeypatch.setenv("NEMO_TESTING", "1")  # forces a file on every rank
        setup_file_logging(tmp_path, global_rank=1, local_rank=0, cfg=_cfg(log_global_rank_0_only=True))
        assert (tmp_path / "nemo_log_globalrank-1_localrank-0.txt").exists()

        setup_file_logging(tmp_path, global_rank=0, local_rank=0, cfg=_cfg())
        logging.warning("something odd")
        FileLogs.detach()
        assert "something odd" in (tmp_path / "nemo_error_log.txt").read_text()
    finally:
        FileLogs.detach()


def test_multi_node_keeps_other_ranks_live_logs(tmp_path):
    for name in ("cmd-args.log", "nemo_log_globalrank-0_localrank-0.txt", "nemo_log_globalrank-1_localrank-0.txt",
                 "events.out.tfevents.1.host.2.0"):
        (tmp_path / name).write_text("x")
    move_previous_run_files(tmp_path, multi_node=True)
    assert sorted(p.name for p in (tmp_path / "run_0").iterdir()) == [
        "cmd-args.log", "nemo_log_globalrank-0_localrank-0.txt"]
    assert (tmp_path / "nemo_log_globalrank-1_localrank-0.txt").exists()
    assert (tmp_path / "events.out.tfevents.1.host.2.0").exists()
