#!/usr/bin/env python3
"""Independent plain-PyTorch referee for LoRA Studio's training engine.

Why it exists: the engine (TypeScript + WGSL) must give the numbers Hugging Face transformers + PEFT +
the HF Trainer would give. This file re-implements that pipeline from those libraries' definitions
(transformers modeling_llama.py / modeling_qwen2.py / modeling_qwen3.py / modeling_smollm3.py / modeling_phi3.py /
modeling_gemma3.py / modeling_rope_utils.py, peft/tuners/lora/layer.py,
torch.optim.AdamW, torch.nn.utils.clip_grad_norm_, transformers.optimization.get_scheduler), without
reading any engine code, and writes golden values the engine's tests compare against.

Precision: everything is computed in float64 (weights stored as F16/BF16/F32 widen exactly), except the
RoPE inv_freq / cos / sin tables, which transformers builds in float32 whatever the model dtype; we build
them the same way and widen them. float64 goldens carry no rounding of their own, so any mismatch seen by
an f32 engine is the engine's, and `run` also re-runs the case in float32 to show the size of the honest
f32 error (stored in the golden as `float32_rerun`).

Usage:
  llama_lora.py run CASE_DIR [--golden-dir DIR] [--no-f32-check]
  llama_lora.py eval --model DIR --adapter DIR --batches FILE [--dtype float64|float32]
"""

import argparse
import json
import math
import os
import re
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3", "smollm3", "phi3", "gemma3_text")
LINEAR_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# Phi3Attention.qkv_proj (rows q, k, v) and Phi3MLP.gate_up_proj (rows gate, up) are single nn.Linear
# layers, so PEFT targets (and names) them whole.
PHI3_LINEAR_MODULES = ("qkv_proj", "o_proj", "gate_up_proj", "down_proj")
IGNORE_INDEX = -100
SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine")
DTYPES = {"float64": torch.float64, "float32": torch.float32}


class ReferenceError(ValueError):
    """Bad input: the message says which file / field / tensor."""


def _read_json(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ReferenceError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise ReferenceError(f"{path}: not valid JSON ({e})") from None


# ----------------------------------------------------------------------------------------------------
# config


class Config:
    """The architecture fields of a Llama-family config.json, with transformers' defaults."""

    def __init__(self, c, path):
        def need_int(key):
            v = c.get(key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ReferenceError(f"{path}: field '{key}' must be a positive integer, got {v!r}")
            return v

        self.model_type = c.get("model_type")
        if self.model_type not in MODEL_TYPES:
            raise ReferenceError(f"{path}: model_type {self.model_type!r} is not one of {', '.join(MODEL_TYPES)}")
        self.linear_modules = PHI3_LINEAR_MODULES if self.model_type == "phi3" else LINEAR_MODULES
        gemma = self.model_type == "gemma3_text"
        self.hidden_size = need_int("hidden_size")
        self.num_layers = need_int("num_hidden_layers")
        self.num_heads = need_int("num_attention_heads")
        # Gemma3TextConfig's defaults: 4 kv heads, head_dim 256; Qwen3Config's head_dim defaults to 128,
        # not hidden_size / heads.
        self.num_kv_heads = c.get("num_key_value_heads", 4 if gemma else None) or self.num_heads
        default_head_dim = {"gemma3_text": 256, "qwen3": 128}.get(self.model_type)
        self.head_dim = c.get("head_dim", default_head_dim) or default_head_dim or self.hidden_size // self.num_heads
        self.intermediate_size = need_int("intermediate_size")
        self.vocab_size = need_int("vocab_size")
        if self.num_heads % self.num_kv_heads:
            raise ReferenceError(f"{path}: num_attention_heads {self.num_heads} is not a multiple of num_key_value_heads {self.num_kv_heads}")
        if self.head_dim % 2:
            raise ReferenceError(f"{path}: head_dim {self.head_dim} must be even for RoPE")
        # Phi3Config defaults rms_norm_eps to 1e-5, the others to 1e-6
        self.rms_norm_eps = float(c.get("rms_norm_eps", 1e-5 if self.model_type == "phi3" else 1e-6))
        # SmolLM3Config: rope_theta 2e6 and tie_word_embeddings True by default; Gemma3TextConfig: rope_theta 1e6.
        default_theta = {"smollm3": 2000000.0, "gemma3_text": 1000000.0}.get(self.model_type, 10000.0)
        self.rope_theta = float(c.get("rope_theta", default_theta))
        act = c.get("hidden_act", "silu")
        if act != "silu" and not gemma:
            raise ReferenceError(f"{path}: hidden_act {act!r} is not supported (only silu)")
        # LlamaConfig, MistralConfig, Qwen2Config and Qwen3Config default tie_word_embeddings to False;
        # SmolLM3Config and Gemma3TextConfig to True.
        self.tie_word_embeddings = bool(c.get("tie_word_embeddings", self.model_type in ("smollm3", "gemma3_text")))
        self.gemma = self._gemma3(c, path) if gemma else None
        # Qwen2 hard-codes bias=True on q/k/v; attention_bias (Llama, Qwen3, SmolLM3) puts one on q/k/v AND o_proj.
        if self.model_type == "qwen2":
            self.bias_modules = {"q_proj", "k_proj", "v_proj"}
        elif self.model_type in ("llama", "qwen3", "smollm3") and c.get("attention_bias", False):
            self.bias_modules = {"q_proj", "k_proj", "v_proj", "o_proj"}
        else:
            self.bias_modules = set()
        if self.model_type in ("llama", "smollm3") and c.get("mlp_bias", False):
            self.bias_modules |= {"gate_proj", "up_proj", "down_proj"}
        if gemma and c.get("attention_bias", False):
            raise ReferenceError(f"{path}: attention_bias true is not supported for gemma3_text")
        # Qwen3Attention and Gemma3Attention: RMSNorm over each head of q and of k (weights [head_dim])
        # before RoPE (Gemma's as 1 + w, in gemma_forward).
        self.qk_norm = self.model_type in ("qwen3", "gemma3_text")
        # SmolLM3Attention: use_rope = no_rope_layers[layer_idx] (1: RoPE, 0: none); absent, every
        # no_rope_layer_interval-th layer (default 4) has none.
        self.use_rope = [True] * self.num_layers
        if self.model_type == "smollm3":
            nrl = c.get("no_rope_layers")
            if nrl is None:
                interval = c.get("no_rope_layer_interval", 4)
                nrl = [int((i + 1) % interval != 0) for i in range(self.num_layers)]
            if not isinstance(nrl, list) or len(nrl) < self.num_layers or any(v not in (0, 1) for v in nrl):
                raise ReferenceError(f"{path}: no_rope_layers must be a list of 0/1 with at least num_hidden_layers entries")
            self.use_rope = [bool(v) for v in nrl[: self.num_layers]]
        sw = c.get("sliding_window")
        uses_window = self.model_type in ("mistral", "phi3") or (
            self.model_type in ("qwen2", "qwen3", "smollm3") and c.get("use_sliding_window", False))
        self.sliding_window = sw if (uses_window and isinstance(sw, int)) else None
        # partial rotary (Phi-3/4): the rotary dim is int(head_dim * partial_rotary_factor), as
        # _compute_default_rope_parameters / _compute_longrope_parameters compute `dim`
        prf = c.get("partial_rotary_factor", 1.0) if self.model_type == "phi3" else 1.0
        self.rotary_dim = int(self.head_dim * prf)
        if self.rotary_dim % 2 or self.rotary_dim < 2:
            raise ReferenceError(f"{path}: partial_rotary_factor {prf} gives an odd or empty rotary dim {self.rotary_dim}")
        self.max_position_embeddings = c.get("max_position_embeddings", 4096 if self.model_type == "phi3" else 2048)
        self.original_max_position_embeddings = c.get("original_max_position_embeddings", 4096)
        rs = c.get("rope_scaling")
        self.rope_scaling = None
        if rs is not None:
            kind = rs.get("rope_type", rs.get("type"))
            if self.model_type == "phi3" and kind in ("su", "yarn"):  # Phi3Config's legacy names
                kind = "longrope"
            if kind == "longrope" and self.model_type == "phi3":
                for k in ("short_factor", "long_factor"):
                    if not isinstance(rs.get(k), list) or len(rs[k]) != self.rotary_dim // 2:
                        raise ReferenceError(f"{path}: rope_scaling.{k} must be a list of {self.rotary_dim // 2} numbers")
                self.rope_scaling = dict(rs, rope_type="longrope")
            elif kind == "llama3":
                for k in ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"):
                    if not isinstance(rs.get(k), (int, float)):
                        raise ReferenceError(f"{path}: rope_scaling.{k} must be a number for rope_type llama3")
                self.rope_scaling = dict(rs)
            elif kind != "default":
                raise ReferenceError(f"{path}: rope_scaling type {kind!r} is not supported (only llama3; longrope for phi3)")

    @staticmethod
    def _gemma3(c, path):
        """Gemma3TextConfig's fields (defaults as transformers): see gemma_forward."""
        act = c.get("hidden_activation") or "gelu_pytorch_tanh"
        if act != "gelu_pytorch_tanh":
            raise ReferenceError(f"{path}: hidden_activation {act!r} is not supported (only gelu_pytorch_tanh)")
        for k in ("attn_logit_softcapping", "final_logit_softcapping"):
            if c.get(k) is not None:
                raise ReferenceError(f"{path}: {k} {c[k]!r} is not supported (only null)")
        if c.get("use_bidirectional_attention"):
            raise ReferenceError(f"{path}: use_bidirectional_attention is not supported")
        L = c["num_hidden_layers"]
        pattern = c.get("_sliding_window_pattern", c.get("sliding_window_pattern", 6))
        types = c.get("layer_types") or [
            "sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(L)]
        if len(types) != L or any(t not in ("sliding_attention", "full_attention") for t in types):
            raise ReferenceError(f"{path}: layer_types must list sliding_attention/full_attention for each of {L} layers")
        return {
            "query_pre_attn_scalar": float(c.get("query_pre_attn_scalar", 256)),
            "sliding_window": int(c.get("sliding_window") or 4096),
            "layer_types": list(types),
            "rope_local_base_freq": float(c.get("rope_local_base_freq", 10000.0)),
        }

    def linear_shape(self, m):
        """[out_features, in_features] of a decoder linear module."""
        q, kv = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        return {
            "q_proj": (q, self.hidden_size), "k_proj": (kv, self.hidden_size), "v_proj": (kv, self.hidden_size),
            "o_proj": (self.hidden_size, q), "gate_proj": (self.intermediate_size, self.hidden_size),
            "up_proj": (self.intermediate_size, self.hidden_size), "down_proj": (self.hidden_size, self.intermediate_size),
            "qkv_proj": (q + 2 * kv, self.hidden_size), "gate_up_proj": (2 * self.intermediate_size, self.hidden_size),
        }[m]


def linear_prefix(m):
    return "mlp" if m in ("gate_proj", "up_proj", "down_proj", "gate_up_proj") else "self_attn"


def load_config(model_dir):
    path = os.path.join(model_dir, "config.json")
    return Config(_read_json(path), path)


def expected_weights(cfg):
    """[(name, shape)] every checkpoint of this architecture must hold."""
    out = [("model.embed_tokens.weight", (cfg.vocab_size, cfg.hidden_size))]
    for i in range(cfg.num_layers):
        p = f"model.layers.{i}"
        out.append((f"{p}.input_layernorm.weight", (cfg.hidden_size,)))
        out.append((f"{p}.post_attention_layernorm.weight", (cfg.hidden_size,)))
        if cfg.qk_norm:
            out.append((f"{p}.self_attn.q_norm.weight", (cfg.head_dim,)))
            out.append((f"{p}.self_attn.k_norm.weight", (cfg.head_dim,)))
        if cfg.gemma:
            out.append((f"{p}.pre_feedforward_layernorm.weight", (cfg.hidden_size,)))
            out.append((f"{p}.post_feedforward_layernorm.weight", (cfg.hidden_size,)))
        for m in cfg.linear_modules:
            out.append((f"{p}.{linear_prefix(m)}.{m}.weight", cfg.linear_shape(m)))
            if m in cfg.bias_modules:
                out.append((f"{p}.{linear_prefix(m)}.{m}.bias", (cfg.linear_shape(m)[0],)))
    out.append(("model.norm.weight", (cfg.hidden_size,)))
    if not cfg.tie_word_embeddings:
        out.append(("lm_head.weight", (cfg.vocab_size, cfg.hidden_size)))
    return out


def load_weights(model_dir, cfg, dtype):
    """{hf name: tensor(dtype)}; model.safetensors or a sharded model.safetensors.index.json."""
    single = os.path.join(model_dir, "model.safetensors")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(single):
        files = [single]
    elif os.path.exists(index):
        wm = _read_json(index).get("weight_map")
        if not isinstance(wm, dict):
            raise ReferenceError(f"{index}: missing 'weight_map'")
        files = [os.path.join(model_dir, f) for f in sorted(set(wm.values()))]
    else:
        raise ReferenceError(f"{model_dir}: no model.safetensors or model.safetensors.index.json")
    raw, dtypes = {}, {}
    for f in files:
        t, d, _ = st.load(f)
        raw.update(t)
        dtypes.update({k: (f, v) for k, v in d.items()})
    W = {}
    for name, shape in expected_weights(cfg):
        if name not in raw:
            raise ReferenceError(f"{model_dir}: tensor '{name}' is missing from the checkpoint")
        if tuple(raw[name].shape) != tuple(shape):
            raise ReferenceError(f"{dtypes[name][0]}: tensor '{name}' has shape {list(raw[name].shape)}, config implies {list(shape)}")
        if dtypes[name][1] not in ("F32", "F16", "BF16", "F64"):
            raise ReferenceError(f"{dtypes[name][0]}: tensor '{name}' has dtype {dtypes[name][1]}, expected a float type")
        W[name] = torch.from_numpy(raw[name].astype(np.float64)).to(dtype)
    W["lm_head.weight"] = W["model.embed_tokens.weight"] if cfg.tie_word_embeddings else W["lm_head.weight"]
    return W


# ----------------------------------------------------------------------------------------------------
# RoPE, built in float32 exactly as transformers does (modeling_rope_utils + LlamaRotaryEmbedding)


def longrope_attention_factor(cfg):
    """_compute_longrope_parameters' attention_factor: rope_scaling's, else sqrt(1 + ln(factor)/ln(original))
    with factor = rope_scaling.factor or max_position_embeddings / original_max_position_embeddings."""
    rs = cfg.rope_scaling
    if rs.get("attention_factor") is not None:
        return rs["attention_factor"]
    orig = cfg.original_max_position_embeddings
    factor = rs.get("factor") or cfg.max_position_embeddings / orig
    return 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(orig))


def rope_inv_freq(cfg, seq_len=None, local=False):
    """inv_freq (rotary_dim/2,) float32: _compute_default_rope_parameters, then _compute_llama3_parameters;
    or _compute_longrope_parameters, whose factors dynamic_rope_update picks by the sequence length:
    long once max(position_ids) + 1 > original_max_position_embeddings, short otherwise.
    local: Gemma 3's sliding layers, base rope_local_base_freq and no scaling."""
    dim = cfg.rotary_dim
    base = cfg.gemma["rope_local_base_freq"] if local else cfg.rope_theta
    rs = cfg.rope_scaling
    if rs is not None and rs["rope_type"] == "longrope" and not local:
        long = seq_len is not None and seq_len > cfg.original_max_position_embeddings
        ext = torch.tensor(rs["long_factor"] if long else rs["short_factor"], dtype=torch.float32)
        shape = torch.arange(0, dim, 2, dtype=torch.int64).float() / dim
        return 1.0 / (ext * base ** shape)
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    if rs is None or local:
        return inv_freq
    factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old_ctx = rs["original_max_position_embeddings"]
    low_freq_wavelen, high_freq_wavelen = old_ctx / low, old_ctx / high
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_ctx / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * inv_freq_llama / factor + smooth * inv_freq_llama
    is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium, smoothed, inv_freq_llama)


def rope_cos_sin(cfg, T, dtype, local=False):
    """cos, sin (T, rotary_dim) for positions 0..T-1: float32 angle inv_freq*pos, cos/sin in float32 (times
    longrope's attention factor, in float32, as Phi3RotaryEmbedding), widened. local: Gemma 3's sliding layers."""
    inv_freq = rope_inv_freq(cfg, seq_len=T, local=local)
    pos = torch.arange(T, dtype=torch.int64).float()
    freqs = pos[:, None] * inv_freq[None, :]  # (T, D/2); transformers' K=1 matmul rounds the same single product
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    if cfg.rope_scaling is not None and cfg.rope_scaling["rope_type"] == "longrope" and not local:
        att = longrope_attention_factor(cfg)
        cos, sin = cos * att, sin * att
    return cos.to(dtype), sin.to(dtype)


def rotate_half(x):
    d = x.shape[-1] // 2
    return torch.cat((-x[..., d:], x[..., :d]), dim=-1)


def apply_rope(x, cos, sin):
    # x (B, nh, T, D), cos/sin (T, R), R <= D: the first R dims rotate, the rest pass (Phi-3 partial rotary)
    R = cos.shape[-1]
    if R == x.shape[-1]:
        return x * cos + rotate_half(x) * sin
    x_rot, x_pass = x[..., :R], x[..., R:]
    return torch.cat((x_rot * cos + rotate_half(x_rot) * sin, x_pass), dim=-1)


# ----------------------------------------------------------------------------------------------------
# model


def peft_key(layer, m, ab):
    return f"base_model.model.model.layers.{layer}.{linear_prefix(m)}.{m}.lora_{ab}.weight"


def peft_magnitude_key(layer, m):
    """DoRA's magnitude: PEFT saves lora_magnitude_vector.<adapter>.weight without ".weight" or the adapter name."""
    return f"base_model.model.model.layers.{layer}.{linear_prefix(m)}.{m}.lora_magnitude_vector"


def lora_scaling(r, lora_alpha, use_rslora):
    return lora_alpha / math.sqrt(r) if use_rslora else lora_alpha / r


def module_name(layer, m):
    """The module's name in the base model (LlamaForCausalLM.named_modules()), what PEFT's targeting matches."""
    return f"model.layers.{layer}.{linear_prefix(m)}.{m}"


def is_targeted(spec, name):
    """peft.tuners.tuners_utils.check_target_module_exists for a LoraConfig-like dict: a str target_modules
    must re.fullmatch the module name; a list matches the name itself or a '.'-suffix of it, and then
    layers_to_transform (int or non-empty list; list form only) keeps the layers whose index, the first
    number after one dotted component (the first "/.<digits>./" group, layers_pattern None), is listed."""
    tm = spec["target_modules"]
    if isinstance(tm, str):
        return re.fullmatch(tm, name) is not None
    found = name in tm or any(name.endswith(f".{t}") for t in tm)
    lt = spec.get("layers_to_transform")
    if found and lt is not None and (len(lt) != 0 if isinstance(lt, list) else True):
        mt = re.match(r".*?\.[^.]*\.(\d+)\.", name)
        if mt is None:
            return False
        idx = int(mt.group(1))
        return idx == lt if isinstance(lt, int) else idx in lt
    return found


def get_pattern_key(pattern_keys, key_to_match):
    """peft.utils.other.get_pattern_key: the first pattern (dict order) that ends the name after a dot."""
    for key in pattern_keys:
        if re.match(rf"(.*\.)?({key})$", key_to_match):
            return key
    return key_to_match


def module_r_alpha(spec, name):
    """(r, lora_alpha) of one module: LoraModel._create_and_replace with rank_pattern / alpha_pattern."""
    rp, ap = spec.get("rank_pattern") or {}, spec.get("alpha_pattern") or {}
    return rp.get(get_pattern_key(rp.keys(), name), spec["r"]), ap.get(get_pattern_key(ap.keys(), name), spec["lora_alpha"])


class Lora:
    """LoRA parameters {peft key: tensor} plus the scaling of each module; only these are trained.
    `scaling` is the default (a module without a rank_pattern / alpha_pattern entry)."""

    def __init__(self, r, lora_alpha, use_rslora, params, spec=None):
        self.r, self.lora_alpha, self.use_rslora = r, lora_alpha, use_rslora
        self.scaling = lora_scaling(r, lora_alpha, use_rslora)
        self.params = params
        self.spec = spec

    def pair(self, layer, m):
        a = self.params.get(peft_key(layer, m, "A"))
        return None if a is None else (a, self.params[peft_key(layer, m, "B")])

    def scaling_of(self, layer, m):
        if not self.spec:
            return self.scaling
        r, alpha = module_r_alpha(self.spec, module_name(layer, m))
        return lora_scaling(r, alpha, self.use_rslora)

    def magnitude(self, layer, m):
        """DoRA's magnitude vector (out,) of a site, or None (plain LoRA)."""
        return self.params.get(peft_magnitude_key(layer, m))


def rmsnorm(x, w, eps):
    # x (..., C), w (C,)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def lora_linear(x, w, b, ab, scaling):
    """PEFT lora.Linear: x W^T (+ b) + scaling * (x A^T) B^T. x (..., in), w (out, in), A (r, in), B (out, r)."""
    y = x @ w.T
    if b is not None:
        y = y + b
    if ab is not None:
        y = y + ((x @ ab[0].T) @ ab[1].T) * scaling
    return y


def dora_weight_norm(w, lora_weight, scaling):
    """PEFT DoraLinearLayer.get_weight_norm: L2 norm of each row of W + scaling * B A, (out,)."""
    return torch.linalg.norm(w + scaling * lora_weight, dim=1).to(w.dtype)


def dora_linear(x, w, b, ab, scaling, magnitude):
    """PEFT lora.Linear with use_dora and lora_dropout 0 (DoraLinearVariant.forward with base_result = result,
    then DoraLinearLayer.forward): result = x W^T + b, and with g = m / ||W + s B A||_row, the norm DETACHED,
      result + (g - 1) * (result - b) + g * s * (x A^T) B^T."""
    A, B = ab
    result = x @ w.T
    if b is not None:
        result = result + b
    lora_weight = B @ A  # PEFT: lora_B(lora_A(eye(in))).T
    weight_norm = dora_weight_norm(w, lora_weight.detach(), scaling).detach()
    mag_norm_scale = (magnitude / weight_norm).view(1, -1)
    lora_result = (x @ A.T) @ B.T
    base_result = result - b if b is not None else result
    return result + (mag_norm_scale - 1) * base_result + mag_norm_scale * lora_result * scaling


def causal_attention(q, k, v):
    """Eager attention as transformers: q (B, nh, T, D), k/v (B, nkv, T, D) -> (B, nh, T, D).
    Query head h reads kv head h // (nh/nkv) (repeat_kv); scale 1/sqrt(D); causal mask."""
    n_rep = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(n_rep, dim=1)
    v = v.repeat_interleave(n_rep, dim=1)
    T, D = q.shape[2], q.shape[3]
    scores = (q @ k.transpose(-1, -2)) * D**-0.5  # (B, nh, T, T)
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def forward(cfg, W, lora, input_ids, rope):
    """Logits (B, T, V) of a right-padded batch input_ids (B, T); positions 0..T-1 in every row.
    No padding mask is needed: with right padding a real token never attends to a later (pad) one."""
    B, T = input_ids.shape
    if cfg.sliding_window is not None and T > cfg.sliding_window:
        raise ReferenceError(f"sequence length {T} exceeds sliding_window {cfg.sliding_window}: not implemented")
    cos, sin = rope
    H, KV, D, eps = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.rms_norm_eps

    def lin(x, i, m):
        p = f"model.layers.{i}.{linear_prefix(m)}.{m}"
        s = lora.scaling_of(i, m)
        mag = lora.magnitude(i, m)
        if mag is not None:
            return dora_linear(x, W[p + ".weight"], W.get(p + ".bias"), lora.pair(i, m), s, mag)
        return lora_linear(x, W[p + ".weight"], W.get(p + ".bias"), lora.pair(i, m), s)

    x = W["model.embed_tokens.weight"][input_ids]  # (B, T, C)
    for i in range(cfg.num_layers):
        h = rmsnorm(x, W[f"model.layers.{i}.input_layernorm.weight"], eps)
        if cfg.model_type == "phi3":  # Phi3Attention: qkv = qkv_proj(h), sliced q | k | v
            qkv = lin(h, i, "qkv_proj")
            q_, k_, v_ = qkv[..., :H * D], qkv[..., H * D:(H + KV) * D], qkv[..., (H + KV) * D:]
        else:
            q_, k_, v_ = lin(h, i, "q_proj"), lin(h, i, "k_proj"), lin(h, i, "v_proj")
        q = q_.reshape(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
        k = k_.reshape(B, T, KV, D).transpose(1, 2)  # (B, KV, T, D)
        v = v_.reshape(B, T, KV, D).transpose(1, 2)
        if cfg.qk_norm:  # per head, over head_dim
            q = rmsnorm(q, W[f"model.layers.{i}.self_attn.q_norm.weight"], eps)
            k = rmsnorm(k, W[f"model.layers.{i}.self_attn.k_norm.weight"], eps)
        if cfg.use_rope[i]:
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        a = causal_attention(q, k, v).transpose(1, 2).reshape(B, T, H * D)
        x = x + lin(a, i, "o_proj")
        h = rmsnorm(x, W[f"model.layers.{i}.post_attention_layernorm.weight"], eps)
        if cfg.model_type == "phi3":  # Phi3MLP: gate, up = gate_up_proj(h).chunk(2); down(up * silu(gate))
            gate, up = lin(h, i, "gate_up_proj").chunk(2, dim=-1)
            x = x + lin(up * F.silu(gate), i, "down_proj")
        else:
            x = x + lin(F.silu(lin(h, i, "gate_proj")) * lin(h, i, "up_proj"), i, "down_proj")
    x = rmsnorm(x, W["model.norm.weight"], eps)
    return x @ W["lm_head.weight"].T  # (B, T, V)


def gemma_rmsnorm(x, w, eps):
    """Gemma3RMSNorm: x * rsqrt(mean(x^2) + eps) * (1 + w). transformers upcasts x to float32 first, a
    no-op for the float32 model the engine matches; the float64 goldens keep float64."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (1.0 + w)


def gemma_attention(q, k, v, scale, window):
    """Eager attention as Gemma3Attention: scale query_pre_attn_scalar**-0.5; causal mask, and on sliding
    layers (window not None) key j is also hidden from query i when j <= i - window
    (masking_utils.sliding_window_overlay: kv_idx > q_idx - sliding_window)."""
    n_rep = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(n_rep, dim=1)
    v = v.repeat_interleave(n_rep, dim=1)
    T = q.shape[2]
    scores = (q @ k.transpose(-1, -2)) * scale  # (B, nh, T, T)
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    hidden = j > i
    if window is not None:
        hidden = hidden | (j <= i - window)
    scores = scores.masked_fill(hidden, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def gemma_forward(cfg, W, lora, input_ids, rope):
    """Gemma3ForCausalLM's logits (B, T, V): Gemma3TextScaledWordEmbedding (embed * sqrt(C), the factor a
    float32 tensor cast to the model dtype), then per layer (Gemma3DecoderLayer):
      h = input_layernorm(x); q, k, v = projections; q, k = q_norm(q), k_norm(k) per head; RoPE (local
      base on sliding layers); attention; x = x + post_attention_layernorm(o_proj(attn))
      h = pre_feedforward_layernorm(x); x = x + post_feedforward_layernorm(down(gelu_tanh(gate(h)) * up(h)))
    then the final norm and the (tied) LM head; no logit soft-capping (refused in the config)."""
    B, T = input_ids.shape
    (cos, sin), (cos_l, sin_l) = rope
    H, KV, D, eps, g = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.rms_norm_eps, cfg.gemma
    scale = g["query_pre_attn_scalar"] ** -0.5

    def lin(x, i, m):  # as forward's: each site's own scaling (rank/alpha patterns), DoRA when it has a magnitude
        p = f"model.layers.{i}.{linear_prefix(m)}.{m}"
        s = lora.scaling_of(i, m)
        mag = lora.magnitude(i, m)
        if mag is not None:
            return dora_linear(x, W[p + ".weight"], W.get(p + ".bias"), lora.pair(i, m), s, mag)
        return lora_linear(x, W[p + ".weight"], W.get(p + ".bias"), lora.pair(i, m), s)

    def norm(x, name):
        return gemma_rmsnorm(x, W[name], eps)

    emb = W["model.embed_tokens.weight"]
    x = emb[input_ids] * torch.tensor(cfg.hidden_size**0.5, dtype=torch.float32).to(emb.dtype)
    for i in range(cfg.num_layers):
        p = f"model.layers.{i}"
        sliding = g["layer_types"][i] == "sliding_attention"
        c, sn = (cos_l, sin_l) if sliding else (cos, sin)
        h = norm(x, f"{p}.input_layernorm.weight")
        q = lin(h, i, "q_proj").view(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
        k = lin(h, i, "k_proj").view(B, T, KV, D).transpose(1, 2)  # (B, KV, T, D)
        v = lin(h, i, "v_proj").view(B, T, KV, D).transpose(1, 2)
        q, k = norm(q, f"{p}.self_attn.q_norm.weight"), norm(k, f"{p}.self_attn.k_norm.weight")
        q, k = apply_rope(q, c, sn), apply_rope(k, c, sn)
        a = gemma_attention(q, k, v, scale, g["sliding_window"] if sliding else None)
        a = a.transpose(1, 2).reshape(B, T, H * D)
        x = x + norm(lin(a, i, "o_proj"), f"{p}.post_attention_layernorm.weight")
        h = norm(x, f"{p}.pre_feedforward_layernorm.weight")
        m = lin(F.gelu(lin(h, i, "gate_proj"), approximate="tanh") * lin(h, i, "up_proj"), i, "down_proj")
        x = x + norm(m, f"{p}.post_feedforward_layernorm.weight")
    x = norm(x, "model.norm.weight")
    return x @ W["lm_head.weight"].T  # (B, T, V)


def loss_sum(logits, labels):
    """(sum of token cross-entropies, number of targets) over shifted labels: logits[:, :-1] predict labels[:, 1:]."""
    V = logits.shape[-1]
    lab = labels[:, 1:].reshape(-1)
    s = F.cross_entropy(logits[:, :-1].reshape(-1, V), lab, ignore_index=IGNORE_INDEX, reduction="sum")
    return s, int((lab != IGNORE_INDEX).sum())


def count_targets(labels):
    return int((labels[:, 1:] != IGNORE_INDEX).sum())


# ----------------------------------------------------------------------------------------------------
# schedule, clipping, optimizer


def resolve_warmup_steps(training, total_steps):
    """TrainingArguments.get_warmup_steps: warmup_steps if > 0 else ceil(total * warmup_ratio)."""
    ws = int(training.get("warmup_steps", 0) or 0)
    return ws if ws > 0 else math.ceil(total_steps * float(training.get("warmup_ratio", 0.0) or 0.0))


def lr_lambda(kind, step, warmup, total):
    """transformers.get_scheduler's LambdaLR multiplier for optimizer step `step` (0-based)."""
    if kind == "constant":
        return 1.0
    if step < warmup:
        return float(step) / float(max(1, warmup))
    if kind == "constant_with_warmup":
        return 1.0
    if kind == "linear":
        return max(0.0, float(total - step) / float(max(1, total - warmup)))
    if kind == "cosine":
        progress = float(step - warmup) / float(max(1, total - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))
    raise ReferenceError(f"lr_scheduler_type {kind!r} is not one of {', '.join(SCHEDULERS)}")


def clip_grad_norm_(grads, max_norm):
    """Global L2 norm of all grads (returned, before clipping); scales grads by min(1, max_norm/(norm+1e-6))
    when max_norm > 0, as torch.nn.utils.clip_grad_norm_ (and the HF Trainer only clips when > 0)."""
    total = torch.sqrt(sum(g.pow(2).sum() for g in grads))
    if max_norm > 0:
        coef = min(max_norm / (float(total) + 1e-6), 1.0)
        for g in grads:
            g.mul_(coef)
    return float(total)


class AdamW:
    """torch.optim.AdamW (amsgrad off): decoupled decay p *= 1 - lr*wd, then the bias-corrected Adam step.
    lr_mults: each parameter's learning-rate multiplier, i.e. its param group's lr / the scheduled lr
    (LoRA+: peft.optimizers.create_loraplus_optimizer puts every lora_B (and 1-d parameter) in a group at
    lr * loraplus_lr_ratio with the same weight_decay; torch's decoupled decay uses the group's lr)."""

    def __init__(self, params, betas, eps, weight_decay, lr_mults=None):
        self.params, self.b1, self.b2, self.eps, self.wd = params, betas[0], betas[1], eps, weight_decay
        self.lr_mults = lr_mults or [1.0] * len(params)
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    @torch.no_grad()
    def step(self, grads, base_lr):
        self.t += 1
        bc1, bc2 = 1 - self.b1**self.t, 1 - self.b2**self.t
        for p, g, m, v, mult in zip(self.params, grads, self.m, self.v, self.lr_mults):
            lr = base_lr * mult if mult != 1.0 else base_lr
            p.mul_(1 - lr * self.wd)
            m.mul_(self.b1).add_(g, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
            denom = v.sqrt() / math.sqrt(bc2) + self.eps
            p.addcdiv_(m, denom, value=-lr / bc1)


# ----------------------------------------------------------------------------------------------------
# inputs: micro-batches and adapters


def load_batches(path, vocab_size, key="micro_batches"):
    """[(input_ids (B, T) int64, labels (B, T) int64)] from {"micro_batches": [{"input_ids", "labels"}, ...]}."""
    doc = _read_json(path)
    mbs = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(mbs, list) or not mbs:
        raise ReferenceError(f"{path}: expected {{\"{key}\": [ ... ]}} with at least one micro-batch")
    out = []
    for n, mb in enumerate(mbs):
        where = f"{path}: {key}[{n}]"
        if not isinstance(mb, dict):
            raise ReferenceError(f"{where}: must be an object with input_ids and labels")
        arrs = {}
        for field in ("input_ids", "labels"):
            rows = mb.get(field)
            if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
                raise ReferenceError(f"{where}.{field}: must be a non-empty list of rows")
            T = len(rows[0])
            for b, r in enumerate(rows):
                if len(r) != T:
                    raise ReferenceError(f"{where}.{field}[{b}]: length {len(r)}, row 0 has {T} (rows must be padded)")
                for t, v in enumerate(r):
                    if not isinstance(v, int) or isinstance(v, bool):
                        raise ReferenceError(f"{where}.{field}[{b}][{t}]: {v!r} is not an integer")
            arrs[field] = torch.tensor(rows, dtype=torch.int64)
        ids, labels = arrs["input_ids"], arrs["labels"]
        if ids.shape != labels.shape:
            raise ReferenceError(f"{where}: input_ids {list(ids.shape)} and labels {list(labels.shape)} differ in shape")
        if ids.shape[1] < 2:
            raise ReferenceError(f"{where}: sequences need at least 2 tokens")
        bad = ((ids < 0) | (ids >= vocab_size)).nonzero()
        if len(bad):
            b, t = bad[0].tolist()
            raise ReferenceError(f"{where}.input_ids[{b}][{t}]: {int(ids[b, t])} is outside the vocabulary [0, {vocab_size})")
        bad = (((labels < 0) | (labels >= vocab_size)) & (labels != IGNORE_INDEX)).nonzero()
        if len(bad):
            b, t = bad[0].tolist()
            raise ReferenceError(f"{where}.labels[{b}][{t}]: {int(labels[b, t])} is neither -100 nor a token id")
        out.append((ids, labels))
    return out


_PEFT_KEY = re.compile(r"^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_(A|B)\.weight$")
_PEFT_MAGNITUDE_KEY = re.compile(r"^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_magnitude_vector$")


def load_adapter(adapter_dir, cfg):
    """(spec {r, lora_alpha, use_rslora, target_modules}, {peft key: float64 ndarray}) of a PEFT adapter folder."""
    cpath = os.path.join(adapter_dir, "adapter_config.json")
    ac = _read_json(cpath)
    r, alpha = ac.get("r"), ac.get("lora_alpha")
    if not isinstance(r, int) or r < 1:
        raise ReferenceError(f"{cpath}: 'r' must be a positive integer, got {r!r}")
    if not isinstance(alpha, (int, float)) or alpha <= 0:
        raise ReferenceError(f"{cpath}: 'lora_alpha' must be a positive number, got {alpha!r}")
    tm = ac.get("target_modules")
    tspec = {"r": r, "lora_alpha": alpha, "target_modules": tm if tm is not None else list(cfg.linear_modules),
             "layers_to_transform": ac.get("layers_to_transform"),
             "rank_pattern": ac.get("rank_pattern") or {}, "alpha_pattern": ac.get("alpha_pattern") or {}}
    use_dora = bool(ac.get("use_dora", False))
    if ac.get("fan_in_fan_out") or ac.get("bias", "none") != "none":
        raise ReferenceError(f"{cpath}: fan_in_fan_out / bias other than 'none' are not supported")
    spath = os.path.join(adapter_dir, "adapter_model.safetensors")
    tensors, _, _ = st.load(spath)
    found = {}
    for key, a in tensors.items():
        mm = _PEFT_MAGNITUDE_KEY.match(key)
        if mm:
            layer, prefix, m = int(mm.group(1)), mm.group(2), mm.group(3)
            if not use_dora:
                raise ReferenceError(f"{spath}: tensor '{key}' is a DoRA magnitude but use_dora is not true")
            if m not in cfg.linear_modules or prefix != linear_prefix(m) or layer >= cfg.num_layers:
                raise ReferenceError(f"{spath}: tensor '{key}' names no linear module of this {cfg.num_layers}-layer model")
            if tuple(a.shape) != (cfg.linear_shape(m)[0],):
                raise ReferenceError(f"{spath}: tensor '{key}' has shape {list(a.shape)}, expected [{cfg.linear_shape(m)[0]}]")
            found.setdefault((layer, m), set()).add("M")
            continue
        mt = _PEFT_KEY.match(key)
        if not mt:
            raise ReferenceError(f"{spath}: tensor '{key}' is not a PEFT LoRA key of a causal LM")
        layer, prefix, m, ab = int(mt.group(1)), mt.group(2), mt.group(3), mt.group(4)
        if m not in cfg.linear_modules or prefix != linear_prefix(m) or layer >= cfg.num_layers:
            raise ReferenceError(f"{spath}: tensor '{key}' names no linear module of this {cfg.num_layers}-layer model")
        out_f, in_f = cfg.linear_shape(m)
        if not is_targeted(tspec, module_name(layer, m)):
            raise ReferenceError(f"{spath}: tensor '{key}' adapts {module_name(layer, m)}, which target_modules / layers_to_transform do not select")
        rm, _ = module_r_alpha(tspec, module_name(layer, m))
        want = (rm, in_f) if ab == "A" else (out_f, rm)
        if tuple(a.shape) != want:
            raise ReferenceError(f"{spath}: tensor '{key}' has shape {list(a.shape)}, expected {list(want)} (r={rm})")
        found.setdefault((layer, m), set()).add(ab)
    for (layer, m), abs_ in found.items():
        if use_dora and "M" not in abs_:
            raise ReferenceError(f"{spath}: use_dora is true but layer {layer} {m} has no lora_magnitude_vector")
        abs_ = abs_ - {"M"}
        if abs_ != {"A", "B"}:
            raise ReferenceError(f"{spath}: layer {layer} {m} has lora_{'A' if 'A' in abs_ else 'B'} but not its pair")
    mods = {m for _, m in found}
    if isinstance(tm, list):
        if not mods <= set(tm):
            raise ReferenceError(f"{cpath}: weights exist for {sorted(mods - set(tm))}, which target_modules does not list")
        missing = [m for m in tm if m in cfg.linear_modules and m not in mods]
        if missing:
            raise ReferenceError(f"{spath}: target_modules lists {missing} but the file has no weights for them")
    spec = {"r": r, "lora_alpha": alpha, "use_rslora": bool(ac.get("use_rslora", False)),
            "target_modules": [m for m in cfg.linear_modules if m in mods], "use_dora": use_dora}
    if isinstance(tm, str) or tspec["layers_to_transform"] is not None or tspec["rank_pattern"] or tspec["alpha_pattern"]:
        spec["targeting"] = tspec
    return spec, {k: v.astype(np.float64) for k, v in tensors.items()}


def adapter_config(r, lora_alpha, target_modules, use_rslora, lora_dropout=0.0, targeting=None, use_dora=False):
    """The adapter_config.json PEFT writes for a causal-LM LoRA (targeting: the target_modules list or regex,
    layers_to_transform, rank_pattern and alpha_pattern when they are used)."""
    t = targeting or {}
    return {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": None, "revision": None,
        "r": r, "lora_alpha": lora_alpha, "lora_dropout": lora_dropout,
        "target_modules": t.get("target_modules", list(target_modules)),
        "use_rslora": use_rslora, "bias": "none", "fan_in_fan_out": False, "init_lora_weights": True,
        "inference_mode": True, "modules_to_save": None, "layers_to_transform": t.get("layers_to_transform"),
        "layers_pattern": None, "rank_pattern": t.get("rank_pattern") or {}, "alpha_pattern": t.get("alpha_pattern") or {},
        "use_dora": use_dora,
    }


def save_adapter(adapter_dir, spec, tensors):
    os.makedirs(adapter_dir, exist_ok=True)
    with open(os.path.join(adapter_dir, "adapter_config.json"), "w") as f:
        json.dump(adapter_config(spec["r"], spec["lora_alpha"], spec["target_modules"], spec["use_rslora"],
                                 targeting=spec.get("targeting"), use_dora=spec.get("use_dora", False)), f, indent=2)
    st.save(os.path.join(adapter_dir, "adapter_model.safetensors"),
            {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}, metadata={"format": "pt"})


def resolve_path(p, base=REPO_ROOT):
    return p if os.path.isabs(p) else os.path.join(base, p)


# ----------------------------------------------------------------------------------------------------
# evaluation and training


class Model:
    """Frozen base weights + a LoRA adapter, with a cache of RoPE tables per sequence length."""

    def __init__(self, model_dir, lora_spec, lora_tensors, dtype):
        self.dtype = dtype
        self.cfg = load_config(model_dir)
        self.W = load_weights(model_dir, self.cfg, dtype)
        # layers without keys have no adapter (PEFT's layers_to_transform); train_case demands all of them
        keys = [peft_key(i, m, ab) for i in range(self.cfg.num_layers) for m in self.cfg.linear_modules
                if m in lora_spec["target_modules"] for ab in ("A", "B") if peft_key(i, m, "A") in lora_tensors]
        # DoRA: the magnitude vectors are trained too (same optimizer group as A and B, as PEFT's)
        keys += [peft_magnitude_key(i, m) for i in range(self.cfg.num_layers) for m in self.cfg.linear_modules
                 if peft_magnitude_key(i, m) in lora_tensors]
        params = {k: torch.tensor(np.asarray(lora_tensors[k], dtype=np.float64), dtype=dtype) for k in keys}
        self.lora = Lora(lora_spec["r"], lora_spec["lora_alpha"], lora_spec.get("use_rslora", False), params,
                         lora_spec.get("targeting"))
        self._rope = {}

    def logits(self, ids):
        T = ids.shape[1]
        if T not in self._rope:
            self._rope[T] = rope_cos_sin(self.cfg, T, self.dtype)
            if self.cfg.gemma:
                self._rope[T] = (self._rope[T], rope_cos_sin(self.cfg, T, self.dtype, local=True))
        if self.cfg.gemma:
            return gemma_forward(self.cfg, self.W, self.lora, ids, self._rope[T])
        return forward(self.cfg, self.W, self.lora, ids, self._rope[T])

    @torch.no_grad()
    def eval_loss(self, batches):
        """(sum of token losses / number of targets over all micro-batches, number of targets)."""
        total, n = 0.0, 0
        for ids, labels in batches:
            s, c = loss_sum(self.logits(ids), labels)
            total, n = total + float(s), n + c
        if n == 0:
            raise ReferenceError("evaluation batches have no target tokens (every label is -100)")
        return total / n, n


def train_case(case_dir, dtype=torch.float64):
    """Runs a case; returns (summary dict, {tensor name: ndarray}) as written to the goldens."""
    case_path = os.path.join(case_dir, "case.json")
    case = _read_json(case_path)
    for k in ("model_dir", "lora", "training", "micro_batches"):
        if k not in case:
            raise ReferenceError(f"{case_path}: missing field '{k}'")
    tr, lo = case["training"], case["lora"]
    for k in ("learning_rate", "lr_scheduler_type", "max_steps", "gradient_accumulation_steps", "max_grad_norm",
              "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon"):
        if k not in tr:
            raise ReferenceError(f"{case_path}: missing field 'training.{k}'")
    if lo.get("lora_dropout", 0) != 0:
        raise ReferenceError(f"{case_path}: lora.lora_dropout must be 0 for a deterministic golden run")
    if tr["lr_scheduler_type"] not in SCHEDULERS:
        raise ReferenceError(f"{case_path}: training.lr_scheduler_type {tr['lr_scheduler_type']!r} is not one of {SCHEDULERS}")
    spec, init = load_adapter(os.path.join(case_dir, "adapter_init"), load_config(resolve_path(case["model_dir"])))
    for k in ("r", "lora_alpha", "use_rslora", "use_dora"):
        if spec.get(k, False) != lo.get(k, False):
            raise ReferenceError(f"{case_path}: lora.{k} = {lo[k]!r} but adapter_init says {spec[k]!r}")
    targeting = spec.get("targeting", {})
    if isinstance(lo["target_modules"], str):
        if targeting.get("target_modules") != lo["target_modules"]:
            raise ReferenceError(f"{case_path}: lora.target_modules {lo['target_modules']!r} but adapter_init has {targeting.get('target_modules')!r}")
    elif set(spec["target_modules"]) != set(lo["target_modules"]):
        raise ReferenceError(f"{case_path}: lora.target_modules {lo['target_modules']} but adapter_init has {spec['target_modules']}")
    for k in ("layers_to_transform", "rank_pattern", "alpha_pattern"):
        if lo.get(k) != targeting.get(k, {} if k.endswith("pattern") else None) and (lo.get(k) or targeting.get(k)):
            raise ReferenceError(f"{case_path}: lora.{k} = {lo.get(k)!r} but adapter_init says {targeting.get(k)!r}")

    model = Model(resolve_path(case["model_dir"]), spec, init, dtype)
    cfg, lora = model.cfg, model.lora
    init_kind = lo.get("init_lora_weights", True)
    if init_kind == "olora":
        olora_init(model)
    elif init_kind is not True:
        pissa_init(model, init_kind, case_path)
    if targeting:
        n_expected = (3 if spec.get("use_dora") else 2) * sum(is_targeted(targeting, module_name(i, m)) for i in range(cfg.num_layers) for m in cfg.linear_modules)
    else:
        n_expected = (3 if spec.get("use_dora") else 2) * cfg.num_layers * len(spec["target_modules"])
    if len(lora.params) != n_expected:
        raise ReferenceError(f"{case_dir}/adapter_init: {len(lora.params)} LoRA tensors, expected {n_expected} (every layer)")
    batches = load_batches(os.path.join(case_dir, case["micro_batches"]), cfg.vocab_size)
    S, G = int(tr["max_steps"]), int(tr["gradient_accumulation_steps"])
    if S < 1 or G < 1:
        raise ReferenceError(f"{case_path}: max_steps and gradient_accumulation_steps must be >= 1")
    if len(batches) < S * G:
        raise ReferenceError(f"{case_path}: {S} steps x {G} micro-batches need {S * G} micro-batches, the file has {len(batches)}")
    eval_batches = None
    if case.get("eval_batches"):
        eval_batches = load_batches(os.path.join(case_dir, case["eval_batches"]), cfg.vocab_size)

    keys = list(lora.params)
    params = [lora.params[k] for k in keys]
    for p in params:
        p.requires_grad_(True)
    warmup = resolve_warmup_steps(tr, S)
    ratio = lo.get("loraplus_lr_ratio")
    # LoRA+ (create_loraplus_optimizer): "lora_B" in the name (or a 1-d parameter) -> lr * ratio, same weight decay
    mults = [float(ratio) if ratio is not None and (".lora_B." in k or lora.params[k].dim() == 1) else 1.0 for k in keys]
    opt = AdamW(params, (tr["adam_beta1"], tr["adam_beta2"]), tr["adam_epsilon"], tr["weight_decay"], mults)

    out = {}
    if init_kind is not True:
        for k in keys:
            out["init." + k] = lora.params[k].detach().numpy().copy()
    summary = {"losses": [], "lrs": [], "grad_norms": [], "num_items": []}
    if eval_batches is not None:
        summary["eval_loss_init"], summary["eval_num_items"] = model.eval_loss(eval_batches)
    for s in range(S):
        mbs = batches[s * G:(s + 1) * G]
        n_items = sum(count_targets(lab) for _, lab in mbs)  # num_items_in_batch over the whole step
        if n_items == 0:
            raise ReferenceError(f"{case_path}: optimizer step {s} has no target tokens (every label is -100)")
        for p in params:
            p.grad = None
        step_loss = 0.0
        for j, (ids, labels) in enumerate(mbs):
            logits = model.logits(ids)
            if s == 0 and j == 0:
                out["step0.logits"] = logits.detach().numpy().copy()
            ls, _ = loss_sum(logits, labels)
            loss = ls / n_items
            loss.backward()
            step_loss += float(loss)
        grads = [p.grad for p in params]
        if s == 0:
            for k, g in zip(keys, grads):
                out["step0.grad." + k] = g.numpy().copy()
        gnorm = clip_grad_norm_(grads, tr["max_grad_norm"])
        lr = tr["learning_rate"] * lr_lambda(tr["lr_scheduler_type"], s, warmup, S)
        opt.step(grads, lr)
        summary["losses"].append(step_loss)
        summary["lrs"].append(lr)
        summary["grad_norms"].append(gnorm)
        summary["num_items"].append(n_items)
    for k, p in zip(keys, params):
        out["final." + k] = p.detach().numpy().copy()
    if eval_batches is not None:
        summary["eval_loss_final"], _ = model.eval_loss(eval_batches)
    summary["step0_loss"] = summary["losses"][0]
    summary["warmup_steps"] = warmup
    summary["scaling"] = lora.scaling
    return summary, out


@torch.no_grad()
def pissa_init(model, init, where):
    """PEFT LoraLayer.pissa_init with init_lora_weights="pissa" (full SVD) on every adapted module:
    W = V diag(S) Uh; with r the module's rank and s its scaling, A = diag(sqrt(S[:r] / s)) Uh[:r],
    B = V[:, :r] diag(sqrt(S[:r] / s)), and the base weight becomes W_res = W - s * B @ A, so the model
    starts as the base model. PEFT takes the SVD in float32 and casts W_res back to the weight's dtype;
    here both stay in the run's dtype. The sign of each singular pair is not defined (LAPACK builds
    differ); each is fixed so that the largest-magnitude entry of V's column is positive, as the engine
    does, which changes neither B @ A nor W_res. pissa_niter_N (randomized) has no reproducible golden."""
    if init != "pissa":
        raise ReferenceError(f"{where}: lora.init_lora_weights {init!r}: the reference implements true and 'pissa'")
    lora = model.lora
    for i in range(model.cfg.num_layers):
        for m in model.cfg.linear_modules:
            ab = lora.pair(i, m)
            if ab is None:
                continue
            name = f"model.layers.{i}.{linear_prefix(m)}.{m}.weight"
            W, s, r = model.W[name], lora.scaling_of(i, m), ab[0].shape[0]
            V, S, Uh = torch.linalg.svd(W, full_matrices=False)
            Vr, Sr, Uhr = V[:, :r], S[:r] / s, Uh[:r]
            sign = torch.sign(Vr[Vr.abs().argmax(0), torch.arange(r)])
            Vr, Uhr = Vr * sign, Uhr * sign[:, None]
            A = torch.diag(torch.sqrt(Sr)) @ Uhr
            B = Vr @ torch.diag(torch.sqrt(Sr))
            ab[0].copy_(A)
            ab[1].copy_(B)
            model.W[name] = W - s * B @ A


@torch.no_grad()
def olora_init(model):
    """PEFT LoraLayer.olora_init on every adapted module: Q, R = torch.linalg.qr(W) (reduced, LAPACK's
    Householder signs), B = Q[:, :r], A = R[:r], and the base weight becomes W - s * B @ A (s the module's
    scaling, so with s != 1 the model does not start exactly at the base, as in PEFT)."""
    lora = model.lora
    for i in range(model.cfg.num_layers):
        for m in LINEAR_MODULES:
            ab = lora.pair(i, m)
            if ab is None:
                continue
            name = f"model.layers.{i}.{linear_prefix(m)}.{m}.weight"
            W, s, r = model.W[name], lora.scaling_of(i, m), ab[0].shape[0]
            Q, R = torch.linalg.qr(W)
            B, A = Q[:, :r], R[:r]
            ab[0].copy_(A)
            ab[1].copy_(B)
            model.W[name] = W - s * B @ A


def _rel_norm_err(a, r):
    return float(np.linalg.norm(a - r) / max(np.linalg.norm(r), 1e-300))


def compare_runs(s32, t32, s64, t64):
    """How far an honest float32 run lands from the float64 golden (the floor an f32 engine can reach)."""
    grads = [k for k in t64 if k.startswith("step0.grad.")]
    finals = [k for k in t64 if k.startswith("final.")]
    res = {
        "step0_loss_rel_err": abs(s32["step0_loss"] - s64["step0_loss"]) / abs(s64["step0_loss"]),
        "losses_max_rel_err": max(abs(a - b) / abs(b) for a, b in zip(s32["losses"], s64["losses"])),
        "grad_norms_max_rel_err": max(abs(a - b) / abs(b) for a, b in zip(s32["grad_norms"], s64["grad_norms"])),
        "step0_logits_max_abs_err": float(np.max(np.abs(t32["step0.logits"] - t64["step0.logits"]))),
        "step0_grad_max_rel_norm_err": max(_rel_norm_err(t32[k], t64[k]) for k in grads),
        "final_max_rel_norm_err": max(_rel_norm_err(t32[k], t64[k]) for k in finals),
    }
    if "eval_loss_final" in s64:
        res["eval_loss_final_rel_err"] = abs(s32["eval_loss_final"] - s64["eval_loss_final"]) / abs(s64["eval_loss_final"])
    return res


def write_golden(case_dir, golden_dir, f32_check=True):
    name = os.path.basename(os.path.normpath(case_dir))
    t0 = time.time()
    summary, tensors = train_case(case_dir, torch.float64)
    t_run = time.time() - t0
    doc = {
        "case": name,
        "dtype": "float64",
        "tensors_file": f"{name}.safetensors",
        "tensors_dtype": "F32",
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "step0_loss": summary["step0_loss"],
        "losses": summary["losses"],
        "lrs": summary["lrs"],
        "grad_norms": summary["grad_norms"],
        "num_items": summary["num_items"],
        "warmup_steps": summary["warmup_steps"],
        "scaling": summary["scaling"],
    }
    for k in ("eval_loss_init", "eval_loss_final", "eval_num_items"):
        if k in summary:
            doc[k] = summary[k]
    if f32_check:
        s32, t32 = train_case(case_dir, torch.float32)
        doc["float32_rerun"] = compare_runs(s32, {k: v.astype(np.float64) for k, v in t32.items()}, summary, tensors)
    os.makedirs(golden_dir, exist_ok=True)
    with open(os.path.join(golden_dir, f"{name}.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    st.save(os.path.join(golden_dir, f"{name}.safetensors"), {k: v.astype(np.float32) for k, v in tensors.items()},
            metadata={"format": "pt", "case": name, "computed_in": "float64"})
    print(f"{name}: step0_loss {summary['step0_loss']:.6f} -> final loss {summary['losses'][-1]:.6f}"
          f" ({len(summary['losses'])} steps, float64 run {t_run:.1f}s, total {time.time() - t0:.1f}s)")
    return doc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train a case and write reference/golden/<case>.json + .safetensors")
    r.add_argument("case_dir")
    r.add_argument("--golden-dir", default=os.path.join(REPO_ROOT, "reference", "golden"))
    r.add_argument("--no-f32-check", action="store_true", help="skip the float32 re-run")
    e = sub.add_parser("eval", help="print the mean loss of a PEFT adapter on micro-batches as one JSON line")
    e.add_argument("--model", required=True)
    e.add_argument("--adapter", required=True)
    e.add_argument("--batches", required=True)
    e.add_argument("--dtype", default="float64", choices=sorted(DTYPES))
    a = ap.parse_args(argv)
    try:
        if a.cmd == "run":
            write_golden(a.case_dir, a.golden_dir, not a.no_f32_check)
        else:
            cfg = load_config(a.model)
            spec, tensors = load_adapter(a.adapter, cfg)
            model = Model(a.model, spec, tensors, DTYPES[a.dtype])
            batches = load_batches(a.batches, cfg.vocab_size)
            loss, n = model.eval_loss(batches)
            print(json.dumps({"loss": loss, "num_items": n, "num_micro_batches": len(batches), "dtype": a.dtype}))
    except (ReferenceError, st.SafetensorsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
