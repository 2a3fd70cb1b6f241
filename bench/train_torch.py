#!/usr/bin/env python3
"""The PyTorch side of bench/train.ts: the same GPT-2 trained the same way, timed the same way.

A nanoGPT-style model in plain PyTorch (float32, CPU): token + learned position embeddings, pre-LN blocks
(LayerNorm -> causal self-attention -> residual, LayerNorm -> GELU-tanh MLP -> residual), a final
LayerNorm and an LM head tied to the token embedding; no dropout. AdamW as glasslm's trainer sets it up:
decoupled weight decay on the blocks' matrices only (not embeddings, norms or biases), global gradient-norm
clipping, linear warm-up then cosine decay. Random tokens, fixed seed. One untimed warm-up step, then
--steps timed steps (each: batch sampling, forward, backward, clip, AdamW update), as bench/train.ts does.

Per-step lines go to stderr; the last line on stdout is a JSON object (tokensPerSecond etc.).
Exits with status 3 and prints {"torch": null} when torch cannot be imported.

    python3 bench/train_torch.py --layers 6 --heads 6 --dim 384 --context 256 --vocab 2048 --batch 8 \
        --steps 5 --threads 1
"""

import argparse
import json
import math
import os
import platform
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print(json.dumps({"torch": None}))
    sys.exit(3)


class Block(nn.Module):
    def __init__(self, dim, heads, context):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(dim, eps=1e-5)
        self.c_attn = nn.Linear(dim, 3 * dim)
        self.c_proj = nn.Linear(dim, dim)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-5)
        self.c_fc = nn.Linear(dim, 4 * dim)
        self.mlp_proj = nn.Linear(4 * dim, dim)
        self.register_buffer(
            "mask", torch.tril(torch.ones(context, context, dtype=torch.bool)), persistent=False
        )

    def attention(self, x):
        B, T, C = x.shape
        hd = C // self.heads
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.heads, hd).transpose(1, 2)
        k = k.view(B, T, self.heads, hd).transpose(1, 2)
        v = v.view(B, T, self.heads, hd).transpose(1, 2)
        if SDPA:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # torch < 2.0 (Debian bookworm ships 1.13): nanoGPT's explicit path
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
            att = att.masked_fill(~self.mask[:T, :T], float("-inf"))
            y = F.softmax(att, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, layers, heads, dim, context, vocab):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(context, dim)
        self.h = nn.ModuleList(Block(dim, heads, context) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim, eps=1e-5)
        # GPT-2's initialisation, as glasslm's createGpt2 draws it.
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight") or name.endswith("mlp_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * layers))
            elif p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
                nn.init.ones_(p)
            else:
                nn.init.zeros_(p)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for block in self.h:
            x = block(x)
        return F.linear(self.ln_f(x), self.wte.weight)  # the head tied to the token embedding


def learning_rate(s, lr, min_lr, warmup, total):
    """glasslm's learningRate (src/train/optim.ts): linear warm-up, then cosine from lr to min_lr."""
    if s < warmup:
        return lr * (s + 1) / warmup
    progress = min(1.0, (s - warmup) / max(1, total - warmup))
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))


def blas_libraries():
    """The BLAS/LAPACK libraries this process has mapped (Debian's torch uses the system libblas.so.3)."""
    found = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                base = os.path.basename(path).lower()
                if any(k in base for k in ("blas", "mkl", "blis", "lapack")):
                    found.add(os.path.realpath(path))
    except OSError:
        pass
    return sorted(found)


SDPA = hasattr(F, "scaled_dot_product_attention")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--min-lr", type=float, default=3e-5)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--total-steps", type=int, default=1000)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.95)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    torch.set_num_threads(max(1, a.threads))
    torch.manual_seed(a.seed)
    model = Gpt(a.layers, a.heads, a.dim, a.context, a.vocab)
    model.train()
    params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if n.startswith("h.") and p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if not (n.startswith("h.") and p.dim() == 2)]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": a.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=a.lr,
        betas=(a.beta1, a.beta2),
        eps=a.eps,
    )

    g = torch.Generator().manual_seed(a.seed + 1)
    data = torch.randint(0, a.vocab, (200_000,), generator=g)
    offsets = torch.arange(a.context)

    def train_step(s):
        t0 = time.perf_counter()
        starts = torch.randint(0, data.numel() - a.context - 1, (a.batch, 1), generator=g)
        x = data[starts + offsets]
        y = data[starts + offsets + 1]
        lr = learning_rate(s, a.lr, a.min_lr, a.warmup, a.total_steps)
        for group in opt.param_groups:
            group["lr"] = lr
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, a.vocab), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
        opt.step()
        return loss.item(), time.perf_counter() - t0

    train_step(0)  # warm-up (allocator, thread pool), untimed as in bench/train.ts
    tokens = 0
    seconds = 0.0
    cpu_seconds = 0.0
    for s in range(1, a.steps + 1):
        c0 = time.process_time()
        loss, dt = train_step(s)
        cpu_seconds += time.process_time() - c0
        seconds += dt
        tokens += a.batch * a.context
        print(
            f"torch step {s + 1}: loss {loss:.4f}, {dt:.2f} s, {a.batch * a.context / dt:.0f} tokens/s",
            file=sys.stderr,
        )

    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "python": platform.python_version(),
                "threads": torch.get_num_threads(),
                "attention": "scaled_dot_product_attention" if SDPA else "explicit (matmul, mask, softmax)",
                "blas": blas_libraries(),
                "params": params,
                "steps": a.steps,
                "tokensPerSecond": round(tokens / seconds),
                "secondsPerStep": seconds / a.steps,
                "tokensPerCpuSecond": round(tokens / cpu_seconds) if cpu_seconds > 0 else None,
            }
        )
    )


if __name__ == "__main__":
    main()
