"""Save/restore speed and memory against bare torch.save/torch.load; prints one JSON line.

Each measurement runs in a fresh interpreter so peak RSS (VmHWM) is its own. Usage:
    python bench/save_restore.py --params 5e7
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _build(params: float):
    import torch
    from omegaconf import OmegaConf

    sys.path.insert(0, HERE)
    from bench_model import BenchModel

    width = 4096 if params >= 2e8 else 2048
    layers = max(1, round(params / (width * width + width)))
    torch.manual_seed(0)
    return BenchModel(OmegaConf.create({"width": width, "layers": layers}))


def _warm(path: str) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def child(mode: str, params: float, folder: str) -> dict:
    import torch

    sys.path.insert(0, HERE)
    from bench_model import BenchModel

    nemo_path, pt_path = os.path.join(folder, "model.nemo"), os.path.join(folder, "model.pt")
    if mode == "save":
        model = _build(params)
        weights = sum(p.numel() * p.element_size() for p in model.state_dict().values())
        base = _rss_kb("VmRSS")
        t = time.perf_counter()
        torch.save(model.state_dict(), pt_path)
        torch_save = time.perf_counter() - t
        t = time.perf_counter()
        model.save_to(nemo_path)
        save = time.perf_counter() - t
        return {"weights_bytes": weights, "torch_save_s": torch_save, "save_s": save,
                "save_peak_extra_x": (_rss_kb("VmHWM") - base) * 1024 / weights}
    path = pt_path if mode == "load" else nemo_path
    _warm(path)
    base = _rss_kb("VmRSS")
    t = time.perf_counter()
    if mode == "load":
        state = torch.load(path, map_location="cpu", weights_only=True)
    else:
        state = BenchModel.restore_from(path, map_location="cpu")
    elapsed = time.perf_counter() - t
    return {f"{mode}_s": elapsed, f"{mode}_peak_extra_bytes": (_rss_kb("VmHWM") - base) * 1024, "_keep": state is not None}


def run_child(mode: str, params: float, folder: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--params", str(params), "--dir", folder],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", type=float, default=5e7)
    parser.add_argument("--child")
    parser.add_argument("--dir")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.params, args.dir)))
        return
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as folder:
        result = {"bench": "save_restore", "params": args.params}
        result.update(run_child("save", args.params, folder))
        result.update(run_child("load", args.params, folder))
        result.update(run_child("restore", args.params, folder))
    w = result["weights_bytes"]
    result.pop("_keep", None)
    result["restore_peak_extra_x"] = result.pop("restore_peak_extra_bytes") / w
    result["torch_load_peak_extra_x"] = result.pop("load_peak_extra_bytes") / w
    result["restore_vs_torch_load"] = result["restore_s"] / result["load_s"]
    result["save_vs_torch_save"] = result["save_s"] / result["torch_save_s"]
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
