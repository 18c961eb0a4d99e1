"""Seeded fuzzing of `.nemo` restore: every mutation restores or raises one of our exceptions,
within a time limit, without leaving files behind (issue 2 tests)."""

import gc
import os
import random
import signal
import tarfile
import tempfile

import pytest
from omegaconf import OmegaConf

from nemo.core import NeMoBaseException
from tests.core.toy_models import Vocab, write_vocab

CASES = 600


def _checksum(header: bytearray) -> None:
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header[:512])


def _mutations(data: bytes, offsets, rng: random.Random):
    """Yield (label, mutated bytes): truncations, header/member byte flips, renamed members."""
    header_offsets = [o for o, _, _ in offsets]
    for i in range(CASES):
        kind = i % 4
        buf = bytearray(data)
        if kind == 0:
            yield "truncate", bytes(buf[: rng.randrange(0, len(buf))])
        elif kind == 1:
            start = rng.choice(header_offsets)
            for _ in range(rng.randint(1, 4)):
                pos = start + rng.randrange(0, 512)
                buf[pos] ^= 1 << rng.randrange(8)
            if rng.random() < 0.5:
                _checksum(_HeaderView(buf, start))
            yield "header-flip", bytes(buf)
        elif kind == 2:
            _, data_off, size = rng.choice(offsets)
            if size:
                for _ in range(rng.randint(1, 8)):
                    buf[data_off + rng.randrange(size)] ^= 1 << rng.randrange(8)
            yield "member-flip", bytes(buf)
        else:
            start = rng.choice(header_offsets)
            name = rng.choice([b"./model_config.yaml", b"./model_weights.ckpt", b"../escape", b"/abs/x", b"./x/../../y", b"./renamed.bin"])
            buf[start : start + 100] = name.ljust(100, b"\0")
            _checksum(_HeaderView(buf, start))
            yield "rename", bytes(buf)


class _HeaderView(bytearray):
    """A 512-byte header slice that writes back into the archive buffer on assignment."""

    def __init__(self, buf: bytearray, start: int):
        super().__init__(buf[start : start + 512])
        self._buf, self._start = buf, start

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self._buf[self._start : self._start + 512] = bytes(self)


def _timeout(signum, frame):
    raise TimeoutError("restore hung")


@pytest.mark.slow
def test_fuzzed_archives_restore_or_raise_ours(tmp_path, monkeypatch):
    work = tmp_path / "work"
    scratch = tmp_path / "scratch"
    work.mkdir()
    scratch.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    model = Vocab(OmegaConf.create({"vocab_file": write_vocab(tmp_path / "vocab.txt"), "dim": 8}))
    model.save_to(str(tmp_path / "good.nemo"))
    data = (tmp_path / "good.nemo").read_bytes()
    with tarfile.open(tmp_path / "good.nemo") as tar:
        offsets = [(m.offset, m.offset_data, m.size) for m in tar.getmembers()]
    rng = random.Random(1234)
    outcomes = {"ok": 0, "error": 0}
    old = signal.signal(signal.SIGALRM, _timeout)
    try:
        for i, (label, mutated) in enumerate(_mutations(data, offsets, rng)):
            path = tmp_path / "case.nemo"
            path.write_bytes(mutated)
            signal.alarm(10)
            try:
                restored = Vocab.restore_from(str(path))
                outcomes["ok"] += 1
                del restored
            except NeMoBaseException:
                outcomes["error"] += 1
            except Exception as e:  # pragma: no cover - the assertion is the point
                pytest.fail(f"case {i} ({label}) raised {type(e).__name__}: {e}")
            finally:
                signal.alarm(0)
            assert os.listdir(work) == [], f"case {i} ({label}) left files in the working directory"
            if i % 50 == 49:  # artifact folders go with their models, which the collector frees
                gc.collect()
                assert os.listdir(scratch) == [], f"cases up to {i} left temp files: {os.listdir(scratch)}"
    finally:
        signal.signal(signal.SIGALRM, old)
    assert outcomes["ok"] + outcomes["error"] == CASES
    assert outcomes["error"] > CASES // 4 and outcomes["ok"] > 0
