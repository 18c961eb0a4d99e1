"""Structure-aware fuzzing of restore (issue 12): YAML values mutated by meaning, tar header fields one at a time,
members spliced. Every case restores or raises a nemo.core exception, in bounded time, leaving no file behind."""

import collections
import copy
import gc
import gzip
import io
import os
import random
import signal
import tarfile
import tempfile

import pytest
import yaml
from omegaconf import OmegaConf

from nemo.core import NeMoBaseException
from tests.core.toy_models import Toy, Vocab, write_vocab

CASES = 2100
HOSTILE_TARGETS = ["os.system", "nemo.core.connectors.archive.Path.write_text", "torch.nn.functional.torch.hub.load",
                   "builtins.eval", "nemo.os.system", "torch.nn.modules.module.OrderedDict", "subprocess.Popen"]
VALUES = [None, -1, 0, 1, 10**30, -(10**30), 1e308, float("nan"), "", "x" * 5000, True, [], {}, [1, [2, [3]]],
          "${oc.env:HOME}", "${vocab_file}", "${no.such.key}", "\\${oc.env:HOME}", "${oc.create:[1]}", "nemo:",
          "nemo:missing_member.txt", "/etc/passwd", "../../escape.txt", "~/.bashrc", "null", "1e-5", "\0\x7f\u202e",
          {"_target_": "torch.nn.Linear", "in_features": -1, "out_features": 2},
          {"_target_": "torch.nn.Identity", "_args_": "notalist"}, {"_target_": "torch.nn.Identity", "_partial_": 3},
          list(range(2000))]
TAR_FIELDS = {  # (offset, length) in a ustar header
    "name": (0, 100), "mode": (100, 8), "uid": (108, 8), "gid": (116, 8), "size": (124, 12), "mtime": (136, 12),
    "chksum": (148, 8), "typeflag": (156, 1), "linkname": (157, 100), "magic": (257, 6), "version": (263, 2),
    "uname": (265, 32), "gname": (297, 32), "devmajor": (329, 8), "devminor": (337, 8), "prefix": (345, 155),
}
FIELD_VALUES = {
    "name": [b"./model_config.yaml", b"./model_weights.ckpt", b"../escape", b"/abs/path", b"./x/../../y", b"",
             b"./a\\..\\..\\b", b"C:/win", "./\u00e9\u202e.txt".encode(), b"./" + b"n" * 98],
    "size": [b"0", b"1", b"77777777777", b"\x80" + b"\0" * 7 + b"\xff" * 4, b"\xff" * 12, b"-1", b"zz"],
    "typeflag": list(b"0123456789gxKLSV\0A"),
    "linkname": [b"/etc/passwd", b"../../x", b"./model_config.yaml"],
    "magic": [b"ustar\0", b"ustar ", b"GNUtar", b"\0" * 6],
}


def _checksum(header: bytearray) -> None:
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header[:512])


def _walk_paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk_paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk_paths(v, path + (i,))


def _set(node, path, value):
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def _members(data: bytes):
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [(m.name, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]


def _pack(members) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
            else:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


class Fuzzer:
    """Mutations of one good archive (and a second, different one for splicing)."""

    def __init__(self, good: bytes, other: bytes, rng: random.Random):
        self.good, self.other, self.rng = good, other, rng
        self.members = _members(good)
        self.other_members = _members(other)
        self.config = yaml.safe_load(dict(self.members)["./model_config.yaml"])
        with tarfile.open(fileobj=io.BytesIO(good)) as tar:
            self.headers = [m.offset for m in tar.getmembers()]

    def yaml_value(self) -> bytes:
        cfg = yaml.safe_load(yaml.safe_dump(self.config))
        for _ in range(self.rng.randint(1, 3)):
            paths = [p for p in _walk_paths(cfg) if p]
            path = self.rng.choice(paths)
            op = self.rng.random()
            if op < 0.7:
                value = copy.deepcopy(self.rng.choice(VALUES))
                if self.rng.random() < 0.15:
                    value = {"_target_": self.rng.choice(HOSTILE_TARGETS), "_args_": ["pwned.txt", "x"]}
                _set(cfg, path, value)
            elif op < 0.85 and isinstance(cfg, dict) and len(path) == 1:
                cfg.pop(path[0], None)
            else:
                _set(cfg, path, {"nested": {"deep": [{"k": i} for i in range(3)]}})
        text = yaml.safe_dump(cfg, allow_unicode=True).encode()
        return self._with_config(text)

    def yaml_text(self) -> bytes:
        text = dict(self.members)["./model_config.yaml"]
        extras = [b"a: &a [x, x]\nb: [*a, *a, *a]\n", b"x: !!python/object/apply:os.system ['touch pwned']\n",
                  b"dim: 4\ndim: 5\n", b"\t- bad indent\n", b"\xff\xfe not utf8\n", b"key: [unclosed\n",
                  b"n: 1\n" * 50, b"%YAML 9.9\n---\n", b"--- \n...\n---\n", b"r: *undefined_alias\n",
                  b"deep: " + b"[" * 500 + b"]" * 500 + b"\n"]
        extra = self.rng.choice(extras)
        pos = self.rng.choice([0, len(text)])
        return self._with_config(text[:pos] + extra + text[pos:])

    def _with_config(self, text: bytes) -> bytes:
        return _pack([(n, text if n == "./model_config.yaml" else d) for n, d in self.members])

    def tar_field(self) -> bytes:
        buf = bytearray(self.good)
        start = self.rng.choice(self.headers)
        field = self.rng.choice(list(TAR_FIELDS))
        off, length = TAR_FIELDS[field]
        if field in FIELD_VALUES:
            value = self.rng.choice(FIELD_VALUES[field])
            value = bytes([value]) if isinstance(value, int) else value
        else:
            value = bytes(self.rng.randrange(256) for _ in range(self.rng.randint(0, length)))
        buf[start + off : start + off + length] = value[:length].ljust(length, b"\0")
        if field != "chksum" and self.rng.random() < 0.85:
            header = bytearray(buf[start : start + 512])
            _checksum(header)
            buf[start : start + 512] = header
        return bytes(buf)

    def splice(self) -> bytes:
        members = list(self.members)
        files = [i for i, (_, d) in enumerate(members) if d is not None]
        op = self.rng.randrange(8)
        if op == 0:
            del members[self.rng.choice(files)]
        elif op == 1:
            members.append(members[self.rng.choice(files)])
        elif op == 2:
            self.rng.shuffle(members)
        elif op == 3:
            a, b = self.rng.sample(files, 2)
            (na, da), (nb, db) = members[a], members[b]
            members[a], members[b] = (na, db), (nb, da)
        elif op == 4:
            name, data = self.rng.choice([m for m in self.other_members if m[1] is not None])
            members = [(n, data if n == name else d) for n, d in members] + \
                ([] if any(n == name for n, _ in members) else [(name, data)])
        elif op == 5:
            i = self.rng.choice(files)
            name, data = members[i]
            members[i] = (name, data[: self.rng.randrange(max(len(data), 1))])
        elif op == 6:
            i = self.rng.choice(files)
            name, data = members[i]
            members[i] = ("./sub/" + name[2:], data)
        else:
            return self.good + bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 2048)))
        data = _pack(members)
        return gzip.compress(data) if self.rng.random() < 0.1 else data

    def case(self, i: int):
        kind = ("yaml-value", "yaml-text", "tar-field", "splice")[i % 4]
        make = {"yaml-value": self.yaml_value, "yaml-text": self.yaml_text, "tar-field": self.tar_field,
                "splice": self.splice}[kind]
        return kind, make()


def _timeout(signum, frame):
    raise TimeoutError("restore hung")


@pytest.mark.slow
def test_structure_aware_fuzz_restores_or_raises_ours(tmp_path, monkeypatch):
    work, scratch, src = tmp_path / "work", tmp_path / "scratch", tmp_path / "src"
    for d in (work, scratch, src):
        d.mkdir()
    vocab = write_vocab(src / "vocab.txt")
    Vocab(OmegaConf.create({"vocab_file": vocab, "dim": 4})).save_to(str(src / "good.nemo"))
    Toy(OmegaConf.create({"dim": 3})).save_to(str(src / "other.nemo"))
    os.remove(vocab)  # a restore may use only what is in the archive
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    fuzzer = Fuzzer((src / "good.nemo").read_bytes(), (src / "other.nemo").read_bytes(), random.Random(20261203))
    outcomes = collections.Counter()
    by_kind = collections.defaultdict(collections.Counter)
    old = signal.signal(signal.SIGALRM, _timeout)
    path = tmp_path / "case.nemo"
    try:
        for i in range(CASES):
            kind, data = fuzzer.case(i)
            path.write_bytes(data)
            signal.alarm(10)
            try:
                restored = Vocab.restore_from(str(path), map_location="cpu")
                outcome = "restored"
                del restored
            except NeMoBaseException as e:
                outcome = type(e).__name__
            except Exception as e:  # the assertion is the point
                pytest.fail(f"case {i} ({kind}) raised {type(e).__name__}: {e}")
            finally:
                signal.alarm(0)
            outcomes[outcome] += 1
            by_kind[kind][outcome] += 1
            assert os.listdir(work) == [], f"case {i} ({kind}) left {os.listdir(work)} in the working directory"
            if i % 100 == 99:
                gc.collect()
                assert os.listdir(scratch) == [], f"cases up to {i} left temp files: {os.listdir(scratch)}"
    finally:
        signal.signal(signal.SIGALRM, old)
    assert sorted(os.listdir(tmp_path)) == ["case.nemo", "scratch", "src", "work"]
    assert sorted(os.listdir(src)) == ["good.nemo", "other.nemo"]
    print(f"\nfuzz: {CASES} cases, outcomes {dict(outcomes.most_common())}")
    for kind, counts in sorted(by_kind.items()):
        print(f"  {kind}: {dict(counts.most_common())}")
    assert sum(outcomes.values()) == CASES
    assert outcomes["restored"] > 0 and len(outcomes) >= 5
