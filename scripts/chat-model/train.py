"""Trains the chat model's weights on the tokenized corpus (CPU, PyTorch from Debian's python3-torch).

The network is exactly the one gpu-agent/models/decoder.ts builds as ONNX: learned token and
position embeddings; pre-norm layers of RMS norm, causal multi-head attention (no biases) and a
ReLU MLP; a final RMS norm and an output projection. Matrices are stored [in, out] (x @ W), as the
ONNX graph multiplies them, so the weights file is read without transposes.

  python3 scripts/chat-model/train.py BUILD_DIR

reads BUILD_DIR/config.json and BUILD_DIR/tokens.bin (uint16, written by prepare.ts) and writes
BUILD_DIR/weights.bin (float32, little-endian, in the order of BUILD_DIR/weights.json) and
BUILD_DIR/probe.json (the logits of a fixed sequence, which build.ts checks the ONNX model against).
Seeded and single-process: the same inputs give the same weights on the same machine.
"""
import json
import math
import sys
import time

import numpy as np
import torch

build = sys.argv[1]
cfg = json.load(open(f"{build}/config.json"))
train_cfg = cfg["training"]
torch.manual_seed(train_cfg["seed"])
torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

V, E, H, L, F, P = cfg["vocab"], cfg["embed"], cfg["heads"], cfg["layers"], cfg["ffn"], cfg["maxPositions"]
D = E // H
tokens = torch.from_numpy(np.fromfile(f"{build}/tokens.bin", dtype=np.uint16).astype(np.int64))
split = int(len(tokens) * 0.98)
train_tokens, held_out = tokens[:split], tokens[split:]


def matrix(rows, cols):
    return torch.nn.Parameter(torch.empty(rows, cols).uniform_(-1, 1) / math.sqrt(rows))


params = {"tok_emb": torch.nn.Parameter(torch.randn(V, E) * 0.02), "pos_emb": torch.nn.Parameter(torch.randn(P, E) * 0.02)}
for l in range(L):
    params[f"l{l}.norm1"] = torch.nn.Parameter(torch.ones(E))
    params[f"l{l}.wq"] = matrix(E, E)
    params[f"l{l}.wk"] = matrix(E, E)
    params[f"l{l}.wv"] = matrix(E, E)
    params[f"l{l}.wo"] = torch.nn.Parameter(matrix(E, E).detach() / math.sqrt(2 * L))
    params[f"l{l}.norm2"] = torch.nn.Parameter(torch.ones(E))
    params[f"l{l}.w1"] = matrix(E, F)
    params[f"l{l}.w2"] = torch.nn.Parameter(matrix(F, E).detach() / math.sqrt(2 * L))
params["norm_out"] = torch.nn.Parameter(torch.ones(E))
params["lm_head"] = matrix(E, V)
EPS = 1e-5


def rms(x, gain):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + EPS) * gain


def forward(ids):
    b, s = ids.shape
    p = params
    x = p["tok_emb"][ids] + p["pos_emb"][torch.arange(s)]
    mask = torch.ones(s, s, dtype=torch.bool).tril()
    for l in range(L):
        n1 = rms(x, p[f"l{l}.norm1"])
        q, k, v = ((n1 @ p[f"l{l}.{w}"]).view(b, s, H, D).transpose(1, 2) for w in ("wq", "wk", "wv"))
        scores = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(D))
        probs = torch.softmax(scores.masked_fill(~mask, -1e9), dim=-1)
        x = x + (probs @ v).transpose(1, 2).reshape(b, s, E) @ p[f"l{l}.wo"]
        n2 = rms(x, p[f"l{l}.norm2"])
        x = x + torch.relu(n2 @ p[f"l{l}.w1"]) @ p[f"l{l}.w2"]
    return rms(x, p["norm_out"]) @ p["lm_head"]


def batch(source, size, seq, gen):
    starts = torch.randint(0, len(source) - seq - 1, (size,), generator=gen)
    x = torch.stack([source[i : i + seq] for i in starts])
    y = torch.stack([source[i + 1 : i + seq + 1] for i in starts])
    return x, y


steps, size, seq, lr = train_cfg["steps"], train_cfg["batch"], train_cfg["sequence"], train_cfg["learningRate"]
decay = [v for k, v in params.items() if k.endswith(("wq", "wk", "wv", "wo", "w1", "w2", "lm_head"))]
rest = [v for k, v in params.items() if not k.endswith(("wq", "wk", "wv", "wo", "w1", "w2", "lm_head"))]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))
gen = torch.Generator().manual_seed(train_cfg["seed"])
eval_gen = torch.Generator().manual_seed(1)
warmup = max(1, steps // 20)
started = time.time()
for step in range(steps + 1):
    if step % 250 == 0 or step == steps:
        with torch.no_grad():
            ex, ey = batch(held_out, 16, seq, eval_gen)
            loss = torch.nn.functional.cross_entropy(forward(ex).reshape(-1, V), ey.reshape(-1))
        print(f"step {step} held-out loss {loss.item():.3f} ({time.time() - started:.0f} s)", flush=True)
    if step == steps:
        break
    scale = (step + 1) / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))
    for group in opt.param_groups:
        group["lr"] = lr * max(scale, 0.05)
    x, y = batch(train_tokens, size, seq, gen)
    loss = torch.nn.functional.cross_entropy(forward(x).reshape(-1, V), y.reshape(-1))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
    opt.step()

index, offset = [], 0
with open(f"{build}/weights.bin", "wb") as out:
    for name, value in params.items():
        data = value.detach().contiguous().numpy().astype("<f4")
        out.write(data.tobytes())
        index.append({"name": name, "shape": list(data.shape), "offset": offset})
        offset += data.nbytes
json.dump(index, open(f"{build}/weights.json", "w"))

probe = held_out[:32].unsqueeze(0)
with torch.no_grad():
    logits = forward(probe)[0, -1]
json.dump({"tokens": probe[0].tolist(), "logits": logits.tolist(), "heldOutLoss": loss.item()}, open(f"{build}/probe.json", "w"))
