#!/usr/bin/env python3
"""PyTorch reference on the GPU machine: the official PiSA-SR computation on exactly our random weights, timed.

Input: a folder written by `pisa export-random DIR --device cuda --size N`: unet/config.json + unet/pisa_default.safetensors
(the UNet's default-mode weights W_pisa, i.e. both LoRAs merged at scale 1: PiSA-SR's default inference is one UNet pass
on them, so the module is a plain diffusers UNet2DConditionModel), vae/config.json + vae/diffusion_pytorch_model.safetensors,
and ours.safetensors (our pipeline's intermediates on one random image: input_image, prompt_embeds, lq_latent, unet_pred,
hq_latent, decoded; NCHW float32).

What runs, per mode (eager; compile = torch.compile of the three module calls): SPEC section 3 steps 7-10 on our
input_image with our prompt_embeds (the prompt is cached in both pipelines, so the text encoder is not timed and not
compared): z_L = VAE posterior mean * scaling factor, eps = UNet(z_L, t=1, prompt), z_H = z_L - eps,
decoded = VAE.decode(z_H / scaling factor).clamp(-1, 1). Reports per mode and stage median/min/max ms over the runs (CUDA
events), peak device memory, and the relative L2 of each intermediate to ours.

diffusers 0.25's source comes from bench/reference/.vendor/src (git-ignored; bench/gpu-prep.sh puts it there);
bench/reference/stubs stands in for huggingface_hub and safetensors, which diffusers imports but this never calls.
Usage:
  PYTHONPATH=bench/reference/stubs:bench/reference/.vendor/src python3 bench/reference/pisa_torch_gpu.py \
      --data /tmp/pisa-ref --device cuda --dtype fp16 --modes eager,compile --warmup 2 --runs 5 --json out.json
On a CPU (the smoke test; torch 1.13 has no torch.compile, which is then reported as unavailable): --device cpu --dtype fp32.
"""
import argparse, json, os, struct, sys, time

DTYPES = {"F16": ("float16", 2), "F32": ("float32", 4)}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="folder written by `pisa export-random`")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--dtype", default="fp16", choices=["fp16", "fp32"])
    ap.add_argument("--modes", default="eager,compile", help="comma-separated: eager, compile")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", default=None, help="also write the results here")
    a = ap.parse_args(argv)
    a.modes = [m for m in a.modes.split(",") if m]
    bad = [m for m in a.modes if m not in ("eager", "compile")]
    if bad or not a.modes:
        ap.error(f"--modes: unknown mode(s) {bad or a.modes} (eager, compile)")
    if a.runs < 1 or a.warmup < 0:
        ap.error("--runs must be at least 1 and --warmup at least 0")
    if a.dtype == "fp16" and a.device == "cpu":
        ap.error("--dtype fp16 needs --device cuda (CPU convolutions in fp16 are not what the paper timed)")
    for rel in ("unet/config.json", "unet/pisa_default.safetensors", "vae/config.json",
                "vae/diffusion_pytorch_model.safetensors", "ours.safetensors"):
        if not os.path.isfile(os.path.join(a.data, rel)):
            ap.error(f"--data {a.data}: {rel} missing (write the folder with `pisa export-random`)")
    return a


def read_safetensors(path):
    """name -> numpy array. Our own reader (the real safetensors package is stubbed out for diffusers' imports):
    every offset is checked against the file size before it is used."""
    import numpy as np
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: shorter than a safetensors header")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, 100 << 20):
            raise ValueError(f"{path}: header length {n} exceeds the file")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        if spec["dtype"] not in DTYPES:
            raise ValueError(f"{path}: {name} has dtype {spec['dtype']} (F16 or F32 expected)")
        dt, width = DTYPES[spec["dtype"]]
        b, e = spec["data_offsets"]
        count = 1
        for d in spec["shape"]:
            count *= d
        if not (0 <= b <= e <= len(data)) or e - b != count * width:
            raise ValueError(f"{path}: {name} offsets {b}..{e} do not fit its shape {spec['shape']} or the file")
        out[name] = np.frombuffer(data, dtype=dt, count=count, offset=b).reshape(spec["shape"])
    return out


def rel_l2(got, want):
    import torch
    got, want = got.double().cpu(), want.double().cpu()
    return float(torch.linalg.norm(got - want) / torch.linalg.norm(want).clamp_min(1e-30))


def stats(v):
    v = sorted(v)
    mid = len(v) // 2
    med = v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2
    return {"median_ms": med, "min_ms": v[0], "max_ms": v[-1], "spread_ms": v[-1] - v[0], "runs_ms": v}


def main(argv=None):
    a = parse_args(argv)
    import torch
    from diffusers.models import AutoencoderKL
    from diffusers.models.unet_2d_condition import UNet2DConditionModel

    dev = torch.device(a.device)
    dtype = torch.float16 if a.dtype == "fp16" else torch.float32

    def load(sub, cls, weights):
        with open(os.path.join(a.data, sub, "config.json")) as f:
            cfg = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
        m = cls.from_config(cfg)
        sd = {k: torch.from_numpy(v.copy()) for k, v in read_safetensors(os.path.join(a.data, sub, weights)).items()}
        missing, unexpected = m.load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise SystemExit(f"pisa_torch_gpu: {sub} weights do not match diffusers' module: missing {missing[:5]}, unexpected {unexpected[:5]}")
        return m.eval().to(dev, dtype)

    t0 = time.perf_counter()
    unet = load("unet", UNet2DConditionModel, "pisa_default.safetensors")
    vae = load("vae", AutoencoderKL, "diffusion_pytorch_model.safetensors")
    ours = {k: torch.from_numpy(v.copy()) for k, v in read_safetensors(os.path.join(a.data, "ours.safetensors")).items()}
    load_s = time.perf_counter() - t0
    sf = vae.config.scaling_factor
    x = ours["input_image"].to(dev, dtype)
    emb = ours["prompt_embeds"].to(dev, dtype)

    def encode(img):
        return vae.encode(img).latent_dist.mean * sf

    def predict(lq):
        return unet(lq, 1, encoder_hidden_states=emb).sample

    def decode(hq):
        return vae.decode(hq / sf).sample.clamp(-1, 1)

    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    stages = ["vae encode", "unet", "vae decode"]
    results = {"tool": "bench/reference/pisa_torch_gpu.py", "torch": torch.__version__, "device": a.device,
               "gpu": torch.cuda.get_device_name(0) if a.device == "cuda" else None, "dtype": a.dtype,
               "size": list(x.shape[2:]), "warmup": a.warmup, "runs": a.runs, "load_s": load_s,
               "ours_metadata_device": None, "modes": {}}
    for mode in a.modes:
        fns = (encode, predict, decode)
        if mode == "compile":
            if not hasattr(torch, "compile"):
                results["modes"][mode] = {"unavailable": f"torch {torch.__version__} has no torch.compile"}
                print(f"  {mode}: unavailable (torch {torch.__version__} has no torch.compile)")
                continue
            fns = tuple(torch.compile(f) for f in fns)
        if a.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times = {s: [] for s in stages}
        total = []
        warm_s = time.perf_counter()
        with torch.inference_mode():
            for r in range(-a.warmup, a.runs):
                marks = []
                t_run = time.perf_counter()
                if a.device == "cuda":
                    ev = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
                    ev[0].record()
                lq = fns[0](x)
                if a.device == "cuda": ev[1].record()
                eps = fns[1](lq)
                hq = lq - eps
                if a.device == "cuda": ev[2].record()
                out = fns[2](hq)
                if a.device == "cuda": ev[3].record()
                sync()
                wall = (time.perf_counter() - t_run) * 1000
                if r == -a.warmup:
                    print(f"  {mode}: first run {wall / 1000:.1f} s (compiles when compiling)", file=sys.stderr, flush=True)
                if r < 0:
                    continue
                if a.device == "cuda":
                    marks = [ev[i].elapsed_time(ev[i + 1]) for i in range(3)]
                    total.append(ev[0].elapsed_time(ev[3]))
                else:
                    marks = [float("nan")] * 3
                    total.append(wall)
                for s, m in zip(stages, marks):
                    times[s].append(m)
        got = {"lq_latent": lq, "unet_pred": eps, "hq_latent": hq, "decoded": out}
        results["modes"][mode] = {
            "warmup_and_runs_s": time.perf_counter() - warm_s,
            "end_to_end": stats(total),
            "stages": {s: stats(times[s]) for s in stages} if a.device == "cuda" else None,
            "peak_device_bytes": torch.cuda.max_memory_allocated() if a.device == "cuda" else None,
            "rel_l2_to_ours": {k: rel_l2(v.float(), ours[k]) for k, v in got.items()},
        }

    print(f"torch {torch.__version__} on {results['gpu'] or 'cpu'}, {a.dtype}, output {x.shape[3]}x{x.shape[2]}, "
          f"{a.warmup} warm-up + {a.runs} runs per mode (steps 7-10, prompt cached)")
    for mode, r in results["modes"].items():
        if "unavailable" in r:
            continue
        e = r["end_to_end"]
        print(f"  {mode:<8} end to end median {e['median_ms']:9.2f} ms  min {e['min_ms']:9.2f}  max {e['max_ms']:9.2f}"
              + (f"  peak device memory {r['peak_device_bytes'] / 2**20:.0f} MiB" if r["peak_device_bytes"] else ""))
        for s, st in (r["stages"] or {}).items():
            print(f"    {s:<11} median {st['median_ms']:9.2f} ms  min {st['min_ms']:9.2f}  max {st['max_ms']:9.2f}")
        print("    relative L2 to ours: " + ", ".join(f"{k} {v:.2e}" for k, v in r["rel_l2_to_ours"].items()))
    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1)
        os.replace(tmp, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
