"""Real processes racing to `save_to` (and `AtomicCheckpointIO`) the same path: each race publishes one
whole file of one writer, and no temporary files are left behind."""

import multiprocessing as mp
import os

import pytest
import torch

from nemo.core.connectors.archive import NemoArchive
from tests.core.toy_models import Toy

WRITERS = 3
RACES = 20
DIM = 1 << 18  # 1 MiB of weights per archive: long enough for the writes to overlap


def _writer(index: int, folder: str, barrier, errors) -> None:
    from nemo.utils.checkpoint_io import AtomicCheckpointIO

    torch.set_num_threads(1)
    model = Toy({"dim": DIM, "writer": index})
    with torch.no_grad():
        model.layer.weight.fill_(float(index + 1))
        model.layer.bias.fill_(float(index + 1))
    io = AtomicCheckpointIO()
    try:
        for race in range(RACES):
            barrier.wait(timeout=120)
            model.save_to(os.path.join(folder, f"race{race}.nemo"))
            io.save_checkpoint({"writer": index, "w": model.layer.weight.detach()}, os.path.join(folder, f"race{race}.ckpt"))
    except BaseException as e:  # reported to the parent, which fails the test with it
        errors.put(f"writer {index}: {type(e).__name__}: {e}")
        barrier.abort()


@pytest.mark.slow
def test_twenty_concurrent_save_races_each_publish_one_whole_archive(tmp_path):
    ctx = mp.get_context("spawn")
    barrier, errors = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(i, str(tmp_path), barrier, errors)) for i in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert errors.empty(), errors.get()
    assert [p.exitcode for p in procs] == [0] * WRITERS
    winners = set()
    for race in range(RACES):
        path = str(tmp_path / f"race{race}.nemo")
        NemoArchive(path)  # a whole, well-formed tar
        restored = Toy.restore_from(path, map_location="cpu")
        writer = restored.cfg.writer
        assert writer in range(WRITERS)
        expected = torch.full((1, DIM), float(writer + 1))
        assert torch.equal(restored.layer.weight, expected), f"race {race}: weights mix writers"
        assert restored.layer.bias.item() == writer + 1
        ckpt = torch.load(str(tmp_path / f"race{race}.ckpt"), weights_only=True)
        assert torch.equal(ckpt["w"], torch.full((1, DIM), float(ckpt["writer"] + 1)))
        winners.add(writer)
    leftovers = sorted(n for n in os.listdir(tmp_path) if n.startswith("."))
    assert leftovers == []
    assert len(os.listdir(tmp_path)) == 2 * RACES
