#!/usr/bin/env python3
"""PyTorch reference for `pisa bench --random-weights`: the official pipeline's modules on the same random SD 2.1 shapes.

What runs: diffusers 0.25's UNet2DConditionModel and AutoencoderKL built from the configs in
tests/fixtures/sd21-base (random weights: torch's default initialisation), fp32, eager, torch.inference_mode,
on torch's CPU kernels (oneDNN convolutions, BLAS linears). One run = SPEC section 3 steps 6-10 as in pisa bench:
prompt embedding (computed once before the runs and cached, as the paper's protocol and pisa bench do),
VAE encode (posterior mean * scaling factor), UNet at t=1 on the merged weights (PiSA-SR's default mode is one
pass on W_pisa: with LoRAs merged the UNet is a plain UNet2DConditionModel), z_H = z_L - eps, VAE decode, clamp.
VAEHook tiling is off at these sizes in the official code (encoder tile 1024 px, decoder 224 latent px), so the
plain module forwards are the official computation.

--dtype bf16 converts the three modules and the input to torch.bfloat16 (weights held in bf16, oneDNN's bf16
convolutions and matmuls where the CPU has AVX512-BF16, every other op in bf16 as torch runs it): the
reference for `pisa bench --precision bf16`. The default, fp32, is the reference for the float32 backend.

The text encoder (transformers' CLIPTextModel is not installable here) is a plain pre-LN causal transformer of
the config's shapes written below; it runs once (cached prompt) and its weights stay loaded, as the official
pipeline keeps its text encoder.

Usage (one size per process, so each peak RSS belongs to one size):
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread OPENBLAS_NUM_THREADS=2 \
  PYTHONPATH=bench/reference/stubs:.ref/src python3 bench/reference/pisa_torch_reference.py --size 512 --warmup 1 --runs 3
(.ref/src = diffusers v0.25.0's src/, bench/reference/stubs = import-time stand-ins for huggingface_hub/safetensors,
see bench/reference/README.md).
"""
import argparse, json, os, resource, sys, time

import torch
import torch.nn as nn


def load_config(path):
    with open(path) as f:
        return {k: v for k, v in json.load(f).items() if not k.startswith("_")}


class ClipLayer(nn.Module):
    def __init__(self, d, heads, ff, eps):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.fc1, self.fc2 = nn.Linear(d, ff), nn.Linear(ff, d)

    def forward(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.fc2(nn.functional.gelu(self.fc1(self.ln2(x))))


class ClipText(nn.Module):
    """CLIP text tower shapes (token + position embeddings, pre-LN causal layers, final LayerNorm)."""
    def __init__(self, cfg):
        super().__init__()
        d = cfg["hidden_size"]
        self.tok = nn.Embedding(cfg["vocab_size"], d)
        self.pos = nn.Embedding(cfg["max_position_embeddings"], d)
        self.layers = nn.ModuleList(ClipLayer(d, cfg["num_attention_heads"], cfg["intermediate_size"], cfg.get("layer_norm_eps", 1e-5))
                                    for _ in range(cfg["num_hidden_layers"]))
        self.final = nn.LayerNorm(d, eps=cfg.get("layer_norm_eps", 1e-5))

    def forward(self, ids):
        n = ids.shape[1]
        x = self.tok(ids) + self.pos(torch.arange(n)[None])
        mask = torch.full((n, n), float("-inf")).triu(1)
        for layer in self.layers:
            x = layer(x, mask)
        return self.final(x)


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512, help="output size (input = size/4, upscaled x4)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--config-dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "sd21-base"))
    ap.add_argument("--json", default=None)
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="module and input dtype (bf16: the whole pipeline in torch.bfloat16)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    from diffusers.models import AutoencoderKL
    from diffusers.models.unet_2d_condition import UNet2DConditionModel

    t0 = time.perf_counter()
    unet = UNet2DConditionModel.from_config(load_config(os.path.join(a.config_dir, "unet", "config.json"))).eval()
    vae = AutoencoderKL.from_config(load_config(os.path.join(a.config_dir, "vae", "config.json"))).eval()
    tcfg = load_config(os.path.join(a.config_dir, "text_encoder", "config.json"))
    text = ClipText(tcfg).eval()
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    unet, vae, text = unet.to(dtype), vae.to(dtype), text.to(dtype)
    load_s = time.perf_counter() - t0
    sf = vae.config.scaling_factor

    g = torch.Generator().manual_seed(1234)
    x = (torch.rand(1, 3, a.size, a.size, generator=g) * 2 - 1).to(dtype)  # the model input in [-1, 1]
    ids = torch.zeros(1, tcfg["max_position_embeddings"], dtype=torch.long)
    ids[0, 0], ids[0, 1] = tcfg["vocab_size"] - 2, tcfg["vocab_size"] - 1  # empty prompt: BOS, EOS, padding

    stages = ["text encoder", "vae encode", "unet", "vae decode"]
    times = {s: [] for s in stages}
    total = []
    cache = {}
    with torch.inference_mode():
        for r in range(-a.warmup, a.runs):
            print(f"torch reference {a.size}x{a.size}: {'warm-up' if r < 0 else 'run'} {r + a.warmup + 1 if r < 0 else r + 1}", file=sys.stderr, flush=True)
            tr = time.perf_counter()
            t = time.perf_counter()
            if "" not in cache:
                cache[""] = text(ids)
            emb = cache[""]
            dt = {"text encoder": time.perf_counter() - t}
            t = time.perf_counter()
            lq = vae.encode(x).latent_dist.mean * sf
            dt["vae encode"] = time.perf_counter() - t
            t = time.perf_counter()
            eps = unet(lq, 1, encoder_hidden_states=emb).sample
            dt["unet"] = time.perf_counter() - t
            hq = lq - eps
            t = time.perf_counter()
            out = vae.decode(hq / sf).sample.clamp(-1, 1)
            dt["vae decode"] = time.perf_counter() - t
            tot = time.perf_counter() - tr
            del out, lq, eps, hq
            if r >= 0:
                for s in stages:
                    times[s].append(dt[s] * 1000)
                total.append(tot * 1000)

    def stats(v):
        v = sorted(v)
        return {"min_ms": v[0], "median_ms": v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2,
                "spread_ms": v[-1] - v[0], "runs_ms": v}
    res = {"tool": "bench/reference/pisa_torch_reference.py", "torch": torch.__version__, "dtype": a.dtype, "threads": torch.get_num_threads(),
           "blas": os.environ.get("LD_LIBRARY_PATH", "default"), "size": a.size, "warmup": a.warmup, "runs": a.runs,
           "model_build_s": load_s, "load_average_after": open("/proc/loadavg").read().split()[:3],
           "peak_rss_bytes": peak_rss_bytes(), "stages": {s: stats(times[s]) for s in stages}, "end_to_end": stats(total)}
    print(f"torch {torch.__version__}, {a.dtype}, {torch.get_num_threads()} threads, output {a.size}x{a.size}")
    for s in stages + ["end to end"]:
        st = res["end_to_end"] if s == "end to end" else res["stages"][s]
        print(f"  {s:<13} min {st['min_ms']:10.1f} ms  median {st['median_ms']:10.1f} ms  spread {st['spread_ms']:8.1f} ms")
    print(f"peak RSS {res['peak_rss_bytes'] / 2**20:.0f} MiB; load average {' '.join(res['load_average_after'])}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
