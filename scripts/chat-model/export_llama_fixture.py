"""
A small Llama-architecture decoder exported by PyTorch's own ONNX exporter, in the layout Hugging
Face Optimum writes: inputs input_ids, attention_mask, position_ids, past_key_values.N.key|value;
outputs logits, present.N.key|value. The modules carry Hugging Face's Llama names
(model.embed_tokens, model.layers.N.self_attn.q_proj, ..., model.norm, lm_head), so the exporter
names the graph's nodes as it names an exported Llama's (/model/layers.0/self_attn/q_proj/MatMul);
the causal mask and the rotary cos/sin are computed once, before the layers, from the inputs'
shapes and the first layer's cache (as Hugging Face's model does), and shared by every layer.
Attention is grouped-query (2 cached heads for 4 query heads), as in Llama 3, Qwen or SmolLM.

This is the graph gpu-agent/models/split.ts must cut without our builder's hidden.N names: the
fixture of gpu-agent/models/split-export.test.ts. Weights are random (seeded); nothing is
downloaded. Reproduce (Debian's python3-torch):

  /usr/bin/python3 scripts/chat-model/export_llama_fixture.py test/fixtures/llama-export
"""
import json
import math
import sys

import torch

VOCAB, HIDDEN, HEADS, KV_HEADS, LAYERS, FFN, POSITIONS = 1024, 32, 4, 2, 3, 64, 256
HEAD_DIM = HIDDEN // HEADS


class RMSNorm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(HIDDEN) + 0.1 * torch.randn(HIDDEN))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))


def rotate_half(x):
    x1, x2 = x[..., : HEAD_DIM // 2], x[..., HEAD_DIM // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def repeat_kv(x):
    b, kv, s, d = x.shape
    return x[:, :, None, :, :].expand(b, kv, HEADS // KV_HEADS, s, d).reshape(b, kv * (HEADS // KV_HEADS), s, d)


class Attention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = torch.nn.Linear(HIDDEN, HIDDEN, bias=False)
        self.k_proj = torch.nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=False)
        self.v_proj = torch.nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=False)
        self.o_proj = torch.nn.Linear(HIDDEN, HIDDEN, bias=False)

    def forward(self, x, cos, sin, mask, past_key, past_value):
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, HEADS, HEAD_DIM).transpose(1, 2)
        k = self.k_proj(x).view(b, s, KV_HEADS, HEAD_DIM).transpose(1, 2)
        v = self.v_proj(x).view(b, s, KV_HEADS, HEAD_DIM).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = torch.cat([past_key, k], dim=2)
        v = torch.cat([past_value, v], dim=2)
        # Grouped-query attention: each cached head serves HEADS / KV_HEADS query heads.
        scores = torch.matmul(q, repeat_kv(k).transpose(2, 3)) / math.sqrt(HEAD_DIM) + mask
        out = torch.matmul(torch.softmax(scores, dim=-1), repeat_kv(v)).transpose(1, 2).reshape(b, s, HIDDEN)
        return self.o_proj(out), k, v


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gate_proj = torch.nn.Linear(HIDDEN, FFN, bias=False)
        self.up_proj = torch.nn.Linear(HIDDEN, FFN, bias=False)
        self.down_proj = torch.nn.Linear(FFN, HIDDEN, bias=False)

    def forward(self, x):
        return self.down_proj(torch.nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layernorm = RMSNorm()
        self.self_attn = Attention()
        self.post_attention_layernorm = RMSNorm()
        self.mlp = MLP()

    def forward(self, x, cos, sin, mask, past_key, past_value):
        attn, k, v = self.self_attn(self.input_layernorm(x), cos, sin, mask, past_key, past_value)
        x = x + attn
        return x + self.mlp(self.post_attention_layernorm(x)), k, v


class Inner(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(VOCAB, HIDDEN)
        self.layers = torch.nn.ModuleList([Layer() for _ in range(LAYERS)])
        self.norm = RMSNorm()
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, HEAD_DIM, 2).float() / HEAD_DIM)), persistent=False)

    def forward(self, input_ids, attention_mask, position_ids, past):
        x = self.embed_tokens(input_ids)
        seq = input_ids.shape[1]
        past_len = past[0].shape[2]
        # Rotary cos/sin by position, shared by every layer.
        freqs = position_ids[:, :, None].float() * self.inv_freq[None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[:, None, :, :], emb.sin()[:, None, :, :]
        # The causal mask over the cache and the new positions, with the padding mask: shared too.
        rows = torch.arange(seq)[:, None] + past_len
        cols = torch.arange(past_len + seq)[None, :]
        allowed = (cols <= rows)[None, None, :, :] & attention_mask[:, None, None, :].bool()
        mask = torch.where(allowed, torch.zeros(()), torch.full((), -1e9))
        presents = []
        for i, layer in enumerate(self.layers):
            x, k, v = layer(x, cos, sin, mask, past[2 * i], past[2 * i + 1])
            presents += [k, v]
        return self.norm(x), presents


class ForCausalLM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.model = Inner()
        self.lm_head = torch.nn.Linear(HIDDEN, VOCAB, bias=False)

    def forward(self, input_ids, attention_mask, position_ids, *past):
        h, presents = self.model(input_ids, attention_mask, position_ids, past)
        return (self.lm_head(h), *presents)


def main(out):
    torch.manual_seed(7)
    model = ForCausalLM().eval()
    past_names = [f"past_key_values.{i}.{kv}" for i in range(LAYERS) for kv in ("key", "value")]
    present_names = [f"present.{i}.{kv}" for i in range(LAYERS) for kv in ("key", "value")]
    past = [torch.zeros(1, KV_HEADS, 2, HEAD_DIM) for _ in past_names]
    args = (torch.tensor([[5, 9, 11]]), torch.ones(1, 5, dtype=torch.int64), torch.tensor([[2, 3, 4]]), *past)
    axes = {"input_ids": {0: "batch_size", 1: "sequence_length"}, "attention_mask": {0: "batch_size", 1: "total_sequence_length"}, "position_ids": {0: "batch_size", 1: "sequence_length"}, "logits": {0: "batch_size", 1: "sequence_length"}}
    for n in past_names:
        axes[n] = {0: "batch_size", 2: "past_sequence_length"}
    for n in present_names:
        axes[n] = {0: "batch_size", 2: "total_sequence_length"}
    torch.onnx.export(model, args, f"{out}/model.onnx", input_names=["input_ids", "attention_mask", "position_ids", *past_names], output_names=["logits", *present_names], dynamic_axes=axes, opset_version=14, do_constant_folding=True)
    config = {"_name_or_path": "llama-export-fixture", "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": VOCAB, "hidden_size": HIDDEN, "intermediate_size": FFN, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS, "num_hidden_layers": LAYERS, "max_position_embeddings": POSITIONS, "rms_norm_eps": 1e-6, "eos_token_id": []}
    with open(f"{out}/config.json", "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
