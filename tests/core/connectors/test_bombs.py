"""Resource bombs and malformed weights (issue 12 items 3-4): refused in bounded time and memory with a nemo.core error."""

import gzip
import io
import pickle
import tarfile
import time
import tracemalloc
import zipfile
import zlib

import pytest
import torch
from omegaconf import OmegaConf

from nemo.core import ArchiveError, NeMoBaseException
from tests.core.toy_models import Toy


def members_of(path):
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def write_tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


@pytest.fixture
def toy(tmp_path):
    path = tmp_path / "toy.nemo"
    Toy(OmegaConf.create({"dim": 2})).save_to(str(path))
    return members_of(path)


def bounded(fn, seconds=20.0, megabytes=16):
    """Run `fn`; assert it finished in `seconds` with Python allocations peaking under `megabytes`."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        fn()
    finally:
        elapsed, peak = time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(f"\n{fn.__qualname__}: {elapsed:.2f}s, peak {peak / 2**20:.1f} MiB")
    assert elapsed < seconds and peak < megabytes * 2**20, (elapsed, peak)


def test_gzip_bomb_is_refused_while_streaming(toy, tmp_path):
    """A 40 MB zero member compresses to ~40 kB: far beyond the 20x inflation bound."""
    size = 40 << 20
    header = tarfile.TarInfo("./artifact.bin")
    header.size = size
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in toy.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    body = raw.getvalue().rstrip(b"\0")  # drop tarfile's end blocks: the huge member follows
    body += b"\0" * (-len(body) % 512)
    out = comp.compress(body + header.tobuf(tarfile.PAX_FORMAT))
    zeros = b"\0" * (1 << 20)
    for _ in range(size >> 20):
        out += comp.compress(zeros)
    out += comp.compress(b"\0" * 1024) + comp.flush()
    path = tmp_path / "bomb.nemo"
    path.write_bytes(out)
    assert path.stat().st_size < 200_000

    def restore():
        with pytest.raises(ArchiveError, match="decompression bomb"):
            Toy.restore_from(str(path))

    bounded(restore)


def test_small_gzip_archive_still_restores(tmp_path):
    model = Toy(OmegaConf.create({"dim": 3}))
    model.save_to(str(tmp_path / "m.nemo"))
    (tmp_path / "m.gz.nemo").write_bytes(gzip.compress((tmp_path / "m.nemo").read_bytes()))
    restored = Toy.restore_from(str(tmp_path / "m.gz.nemo"))
    assert torch.equal(restored.layer.weight, model.layer.weight)


def _zip_weights(entries, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_deflated_weights_bomb_is_refused(toy, tmp_path):
    state = io.BytesIO()
    torch.save({"layer.weight": torch.zeros(1, 2), "layer.bias": torch.zeros(1)}, state)
    with zipfile.ZipFile(state) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    entries["model_weights/data/huge"] = b"\0" * (48 << 20)
    toy["./model_weights.ckpt"] = _zip_weights(entries, zipfile.ZIP_DEFLATED)
    assert len(toy["./model_weights.ckpt"]) < 200_000
    path = write_tar(tmp_path / "bomb.nemo", toy)

    def restore():
        with pytest.raises(ArchiveError, match="decompression bomb"):
            Toy.restore_from(path)

    bounded(restore)


def test_weights_entry_declaring_a_huge_size_is_refused(toy, tmp_path):
    data = bytearray(toy["./model_weights.ckpt"])
    cd = data.rfind(b"PK\x01\x02")  # last central-directory entry: claim 2 GB compressed size
    data[cd + 20 : cd + 24] = (0x7FFFFFF0).to_bytes(4, "little")
    toy["./model_weights.ckpt"] = bytes(data)
    path = write_tar(tmp_path / "big.nemo", toy)
    bounded(lambda: pytest.raises(NeMoBaseException, Toy.restore_from, path))
    with pytest.raises(ArchiveError):
        Toy.restore_from(path)


def test_tar_member_declaring_a_huge_size_is_refused(toy, tmp_path):
    ok = write_tar(tmp_path / "ok.nemo", toy)
    with tarfile.open(ok) as tar:
        offset = tar.getmember("./model_weights.ckpt").offset
    raw = bytearray(open(ok, "rb").read())
    info = tarfile.TarInfo.frombuf(bytes(raw[offset : offset + 512]), "utf-8", "surrogateescape")
    info.size = 8 << 30
    raw[offset : offset + 512] = info.tobuf(tarfile.GNU_FORMAT)[:512]
    path = tmp_path / "huge.nemo"
    path.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError, match="truncated|end of data"):
        Toy.restore_from(str(path))


def _memo_bomb() -> bytes:
    """Protocol-4 pickle: one string stored at memo index 2**32 - 16 (a C unpickler sizes its memo array to it)."""
    return b"\x80\x04" + b"\x8c\x01a" + b"r" + (0xFFFFFFF0).to_bytes(4, "little") + b"."


def test_pickle_memo_bomb_in_weights_is_refused(toy, tmp_path):
    toy["./model_weights.ckpt"] = _zip_weights({"model_weights/data.pkl": _memo_bomb(),
                                                 "model_weights/version": b"3\n"})
    path = write_tar(tmp_path / "memo.nemo", toy)

    def restore():
        with pytest.raises(ArchiveError, match="memo index"):
            Toy.restore_from(path)

    bounded(restore)


@pytest.mark.parametrize("payload", [
    [torch.zeros(2)],
    {1: torch.zeros(2)},
    {"layer.weight": 3},
    {"layer.weight": {"nested": torch.zeros(1, 2)}},
    torch.zeros(3),
    None,
], ids=["list", "int-key", "int-value", "nested-dict", "tensor", "none"])
def test_weights_that_are_not_a_name_tensor_mapping_raise_ours(toy, tmp_path, payload):
    buf = io.BytesIO()
    torch.save(payload, buf)
    assert torch.load(io.BytesIO(buf.getvalue()), weights_only=True) is not None or payload is None
    toy["./model_weights.ckpt"] = buf.getvalue()
    path = write_tar(tmp_path / "odd.nemo", toy)
    with pytest.raises(ArchiveError, match="model_weights.ckpt"):
        Toy.restore_from(path)


def test_legacy_format_weights_that_are_not_a_mapping_raise_ours(toy, tmp_path):
    buf = io.BytesIO()
    torch.save(["x", torch.zeros(1)], buf, _use_new_zipfile_serialization=False)
    toy["./model_weights.ckpt"] = buf.getvalue()
    with pytest.raises(ArchiveError, match="not a"):
        Toy.restore_from(write_tar(tmp_path / "legacy.nemo", toy))


def test_pickle_in_weights_cannot_name_code(toy, tmp_path):
    class Boom:
        def __reduce__(self):
            return (eval, ("1",))

    toy["./model_weights.ckpt"] = _zip_weights({"model_weights/data.pkl": pickle.dumps({"w": Boom()}, protocol=4),
                                                 "model_weights/version": b"3\n"})
    with pytest.raises(ArchiveError):
        Toy.restore_from(write_tar(tmp_path / "code.nemo", toy))
