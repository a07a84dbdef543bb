#!/usr/bin/env python3
"""Generates the golden cases (seeded, deterministic) and their goldens.

Why it exists: the engine's whole-model tests need small checkpoints that exercise every code path
(Qwen2 q/k/v bias and a separate LM head in F16; Llama with a tied head, GQA with one kv head, llama3
RoPE scaling, rsLoRA, BF16; Qwen3's per-head q/k norms and explicit head_dim; SmolLM3's layers without
RoPE; Phi-3 with fused qkv_proj / gate_up_proj, partial rotary, longrope (short and long factors), tied; Gemma 3 with sliding and full
layers, a window shorter than the sequences, an explicit head_dim and a query_pre_attn_scalar that differ from
hidden/heads), micro-batches shaped like real SFT data (right padding, masked prompts, varying lengths), and a
LoRA init with NONZERO B so every A and B gradient is exercised at step 0.

  make_cases.py                  writes reference/cases/{tiny-qwen2,tiny-llama3,tiny-qwen3,tiny-smollm3,tiny-phi3,tiny-gemma3,...} and goldens
  make_cases.py --demo MODEL_DIR writes reference/cases/demo (against any Llama-family checkpoint folder)
  make_cases.py --only NAME      one of the tiny cases
  make_cases.py --standin DIR    writes a random checkpoint of the demo's shape into DIR (for testing --demo)
"""

import argparse
import json
import math
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_lora as ref  # noqa: E402
import safetensors_io as st  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
GOLDEN = os.path.join(HERE, "golden")


def random_checkpoint(model_dir, config, weight_dtype, seed):
    """A random checkpoint whose activations are O(1) everywhere (attention far from uniform, SiLU in its
    curved region, non-unit norm weights) so that a wrong op cannot hide behind near-linear behaviour."""
    rng = np.random.default_rng(seed)
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    cfg = ref.load_config(model_dir)
    C = cfg.hidden_size
    tensors = {}
    for name, shape in ref.expected_weights(cfg):
        if name.endswith("norm.weight"):
            w = 1.0 + 0.1 * rng.standard_normal(shape)
            if cfg.gemma:
                w = w - 1.0  # Gemma3RMSNorm applies (1 + w): its weights are centred on zero
        elif name.endswith(".bias"):
            w = 0.2 * rng.standard_normal(shape)
        elif name == "model.embed_tokens.weight":
            # tied: the same matrix is the LM head, keep logits O(1); untied: inputs O(1)
            w = (1.0 / math.sqrt(C) if cfg.tie_word_embeddings else 1.0) * rng.standard_normal(shape)
        elif name == "lm_head.weight":
            w = 1.0 / math.sqrt(C) * rng.standard_normal(shape)
        else:
            gain = 1.5 if (".q_proj." in name or ".k_proj." in name or ".qkv_proj." in name) else 1.0
            w = gain / math.sqrt(shape[1]) * rng.standard_normal(shape)
        tensors[name] = w.astype(np.float32)
    st.save(os.path.join(model_dir, "model.safetensors"), tensors, {k: weight_dtype for k in tensors},
            metadata={"format": "pt"})
    return cfg


def init_adapter(adapter_dir, cfg, r, lora_alpha, targets, use_rslora, seed, b_std=0.02, targeting=None,
                 dora_weights=None):
    """PEFT's A init (kaiming_uniform a=sqrt(5) = U(-1/sqrt(in), 1/sqrt(in))) with B ~ N(0, b_std^2) instead of 0.
    targeting: {target_modules (list or regex), layers_to_transform, rank_pattern, alpha_pattern} as PEFT reads them.
    dora_weights (the base checkpoint's {name: tensor}): use_dora, with PEFT's magnitude init
    m = ||W + scaling * B A||_row (DoraLinearLayer.update_layer), computed in float64."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for i in range(cfg.num_layers):
        for m in cfg.linear_modules:
            if targeting is not None:
                name = ref.module_name(i, m)
                if not ref.is_targeted(targeting, name):
                    continue
                r, alpha_m = ref.module_r_alpha(targeting, name)
            elif m not in targets:
                continue
            else:
                alpha_m = lora_alpha
            out_f, in_f = cfg.linear_shape(m)
            bound = 1.0 / math.sqrt(in_f)
            tensors[ref.peft_key(i, m, "A")] = rng.uniform(-bound, bound, (r, in_f)).astype(np.float32)
            tensors[ref.peft_key(i, m, "B")] = (b_std * rng.standard_normal((out_f, r))).astype(np.float32)
            if dora_weights is not None:
                w = dora_weights[f"model.layers.{i}.{ref.linear_prefix(m)}.{m}.weight"]
                A, B = (torch.tensor(tensors[ref.peft_key(i, m, ab)], dtype=torch.float64) for ab in ("A", "B"))
                s = ref.lora_scaling(r, alpha_m, use_rslora)
                tensors[ref.peft_magnitude_key(i, m)] = ref.dora_weight_norm(w, B @ A, s).numpy().astype(np.float32)
    spec = {"r": r, "lora_alpha": lora_alpha, "use_rslora": use_rslora,
            "target_modules": [m for m in cfg.linear_modules if m in targets], "use_dora": dora_weights is not None}
    if targeting is not None:
        spec["r"] = targeting["r"]
        spec["targeting"] = targeting
    ref.save_adapter(adapter_dir, spec, tensors)


def make_micro_batches(rng, count, batch, len_range, vocab, pad_id, subset, fully_masked=(), pad_to=None):
    """Right-padded micro-batches like an SFT collator makes: each row is a prompt (label -100) then a
    completion (labels = ids), padded to the longest row (or to pad_to) with pad_id / -100. Tokens come from a random
    subset of `subset` ids and follow a noisy successor rule, so that LoRA has something to learn and
    the loss visibly moves in 20 steps (an optimizer bug then shows far above the tolerances).
    fully_masked: (micro-batch, row) pairs whose labels are all -100 (a completion truncated away)."""
    sub = rng.choice(vocab, size=min(subset, vocab), replace=False)
    succ = dict(zip(sub.tolist(), rng.permutation(sub).tolist()))
    out = []
    for n in range(count):
        lens = rng.integers(len_range[0], len_range[1] + 1, size=batch)
        T = pad_to or int(lens.max())
        ids = np.full((batch, T), pad_id, dtype=np.int64)
        labels = np.full((batch, T), ref.IGNORE_INDEX, dtype=np.int64)
        for b in range(batch):
            L = int(lens[b])
            seq = [int(rng.choice(sub))]
            for _ in range(L - 1):
                seq.append(succ[seq[-1]] if rng.random() < 0.75 else int(rng.choice(sub)))
            ids[b, :L] = seq
            prompt = int(rng.integers(1, L - 1))  # >= 1: the first label is always masked (see README)
            if (n, b) not in fully_masked:
                labels[b, prompt:L] = ids[b, prompt:L]
        out.append({"input_ids": ids.tolist(), "labels": labels.tolist()})
    return out


def _dump_batches(path, mbs):
    # one micro-batch row per line: small diffs, readable
    with open(path, "w") as f:
        f.write('{"micro_batches": [\n')
        for n, mb in enumerate(mbs):
            f.write(' {"input_ids": ' + json.dumps(mb["input_ids"]) + ',\n  "labels": ' + json.dumps(mb["labels"]) + "}")
            f.write(",\n" if n + 1 < len(mbs) else "\n")
        f.write("]}\n")


def write_case(name, model_dir, cfg, lora, training, seed, batch, len_range, pad_id, subset, n_eval=2,
               fully_masked=(), pad_to=None):
    case_dir = os.path.join(CASES, name)
    os.makedirs(case_dir, exist_ok=True)
    targeting = None
    if isinstance(lora["target_modules"], str) or any(k in lora for k in ("layers_to_transform", "rank_pattern", "alpha_pattern")):
        targeting = {k: lora[k] for k in ("r", "lora_alpha", "target_modules", "layers_to_transform", "rank_pattern",
                                          "alpha_pattern") if k in lora}
    dora_weights = ref.load_weights(model_dir, cfg, torch.float64) if lora.get("use_dora") else None
    init_adapter(os.path.join(case_dir, "adapter_init"), cfg, lora["r"], lora["lora_alpha"], lora["target_modules"],
                 lora["use_rslora"], seed + 1, targeting=targeting, dora_weights=dora_weights)
    rng = np.random.default_rng(seed + 2)
    n = training["max_steps"] * training["gradient_accumulation_steps"]
    mbs = make_micro_batches(rng, n + n_eval, batch, len_range, cfg.vocab_size, pad_id, subset, fully_masked, pad_to)
    _dump_batches(os.path.join(case_dir, "batches.json"), mbs[:n])
    _dump_batches(os.path.join(case_dir, "eval_batches.json"), mbs[n:])
    repo = ref.REPO_ROOT
    absdir = os.path.abspath(model_dir)
    rel = os.path.relpath(absdir, repo)
    case = {
        "model_dir": absdir if rel.startswith("..") else rel,
        "lora": dict(lora, lora_dropout=0),
        "training": training,
        "micro_batches": "batches.json",
        "eval_batches": "eval_batches.json",
    }
    with open(os.path.join(case_dir, "case.json"), "w") as f:
        json.dump(case, f, indent=2)
        f.write("\n")
    ref.write_golden(case_dir, GOLDEN)
    return case_dir


def tiny_qwen2():
    model_dir = os.path.join(CASES, "tiny-qwen2", "model")
    config = {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 48, "num_hidden_layers": 3,
        "num_attention_heads": 6, "num_key_value_heads": 2, "intermediate_size": 100, "vocab_size": 211,
        "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "rope_scaling": None, "tie_word_embeddings": False,
        "max_position_embeddings": 128, "hidden_act": "silu", "use_sliding_window": False, "sliding_window": None,
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float16",
    }
    cfg = random_checkpoint(model_dir, config, "F16", seed=101)
    lora = {"r": 4, "lora_alpha": 8, "target_modules": list(ref.LINEAR_MODULES), "use_rslora": False}
    training = {"learning_rate": 1e-3, "lr_scheduler_type": "cosine", "warmup_steps": 3, "max_steps": 20,
                "gradient_accumulation_steps": 2, "max_grad_norm": 1.0, "weight_decay": 0.01,
                "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8}
    # varying lengths 5..16 (padded per micro-batch); micro-batch 3 row 1 has no targets at all
    return write_case("tiny-qwen2", model_dir, cfg, lora, training, seed=102, batch=2, len_range=(5, 16), pad_id=0,
                      subset=24, fully_masked={(3, 1)})


def tiny_llama3():
    model_dir = os.path.join(CASES, "tiny-llama3", "model")
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 40, "num_hidden_layers": 2,
        "num_attention_heads": 5, "num_key_value_heads": 1, "head_dim": 8, "intermediate_size": 72,
        "vocab_size": 300, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        # head_dim 8 gives wavelengths 6.3, 167, 4443, 118k: one high (kept), one medium (smoothed) and two
        # low frequencies (divided by factor) against original_max_position_embeddings 256.
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 256},
        "max_position_embeddings": 2048, "tie_word_embeddings": True, "hidden_act": "silu",
        "attention_bias": False, "mlp_bias": False, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16",
    }
    cfg = random_checkpoint(model_dir, config, "BF16", seed=201)
    lora = {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "use_rslora": True}
    training = {"learning_rate": 1e-3, "lr_scheduler_type": "linear", "warmup_steps": 2, "max_steps": 20,
                "gradient_accumulation_steps": 2, "max_grad_norm": 3.5, "weight_decay": 0.0,
                "adam_beta1": 0.9, "adam_beta2": 0.95, "adam_epsilon": 1e-6}
    return write_case("tiny-llama3", model_dir, cfg, lora, training, seed=202, batch=3, len_range=(10, 23), pad_id=2,
                      subset=24)


def tiny_qwen3():
    """Qwen3-0.6B's config.json fields at a tiny size: q_norm/k_norm, head_dim 12 != hidden/heads (40/4),
    tied embeddings, no q/k/v bias, BF16."""
    model_dir = os.path.join(CASES, "tiny-qwen3", "model")
    config = {
        "architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 1, "eos_token_id": 2, "head_dim": 12, "hidden_act": "silu", "hidden_size": 40,
        "initializer_range": 0.02, "intermediate_size": 84, "max_position_embeddings": 256, "max_window_layers": 2,
        "model_type": "qwen3", "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
        "rms_norm_eps": 1e-6, "rope_scaling": None, "rope_theta": 1000000, "sliding_window": None,
        "tie_word_embeddings": True, "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": True,
        "use_sliding_window": False, "vocab_size": 173,
    }
    cfg = random_checkpoint(model_dir, config, "BF16", seed=401)
    lora = {"r": 4, "lora_alpha": 8, "target_modules": list(ref.LINEAR_MODULES), "use_rslora": False}
    training = {"learning_rate": 3e-3, "lr_scheduler_type": "cosine", "warmup_steps": 2, "max_steps": 20,
                "gradient_accumulation_steps": 2, "max_grad_norm": 1.0, "weight_decay": 0.01,
                "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8}
    return write_case("tiny-qwen3", model_dir, cfg, lora, training, seed=402, batch=2, len_range=(6, 19), pad_id=0,
                      subset=24)


def tiny_smollm3():
    """SmolLM3-3B's config.json fields at a tiny size: its no_rope_layers pattern (every fourth layer without
    RoPE, the one llama.cpp hard-codes, so the GGUF export is checked too), tied embeddings, rope_theta 5e6,
    GQA 6/2, BF16."""
    model_dir = os.path.join(CASES, "tiny-smollm3", "model")
    config = {
        "architectures": ["SmolLM3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": None, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 48,
        "initializer_range": 0.02, "intermediate_size": 104, "layer_types": ["full_attention"] * 4,
        "max_position_embeddings": 512, "max_window_layers": 4, "mlp_bias": False, "model_type": "smollm3",
        "no_rope_layer_interval": 4, "no_rope_layers": [1, 1, 1, 0], "num_attention_heads": 6, "num_hidden_layers": 4,
        "num_key_value_heads": 2, "pad_token_id": 0, "pretraining_tp": 2, "rms_norm_eps": 1e-6, "rope_scaling": None,
        "rope_theta": 5000000.0, "sliding_window": None, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
        "transformers_version": "4.54.0.dev0", "use_cache": False, "use_sliding_window": False, "vocab_size": 197,
    }
    cfg = random_checkpoint(model_dir, config, "BF16", seed=501)
    lora = {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"], "use_rslora": False}
    training = {"learning_rate": 2e-3, "lr_scheduler_type": "linear", "warmup_steps": 2, "max_steps": 20,
                "gradient_accumulation_steps": 2, "max_grad_norm": 1.0, "weight_decay": 0.0,
                "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8}
    return write_case("tiny-smollm3", model_dir, cfg, lora, training, seed=502, batch=2, len_range=(8, 21), pad_id=0,
                      subset=24)

# Phi-4-mini's config.json fields at a tiny size: head_dim 16 (hidden / heads), partial_rotary_factor 0.75
# (12 of 16 dims rotate: 6 longrope factors), GQA 4/2, tied embeddings.
TINY_PHI3_CONFIG = {
    "architectures": ["Phi3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 1,
    "embd_pdrop": 0.0, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 64, "initializer_range": 0.02,
    "intermediate_size": 88, "max_position_embeddings": 1024, "model_type": "phi3", "num_attention_heads": 4,
    "num_hidden_layers": 2, "num_key_value_heads": 2, "original_max_position_embeddings": 256,
    "pad_token_id": 2, "partial_rotary_factor": 0.75, "resid_pdrop": 0.0, "rms_norm_eps": 1e-5,
    "rope_scaling": {"long_factor": [1.0, 1.25, 2.5, 4.0, 9.0, 16.0],
                     "short_factor": [1.0, 1.05, 1.5, 2.25, 3.0, 7.5], "type": "longrope"},
    "rope_theta": 10000.0, "sliding_window": 262144, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
    "use_cache": True, "vocab_size": 257,
}


def tiny_phi3_case(name, config, seeds, len_range):
    """A tiny Phi-3 case: all four fused/unfused modules (all-linear), r 4, the usual 20-step schedule."""
    model_dir = os.path.join(CASES, name, "model")
    cfg = random_checkpoint(model_dir, config, "BF16", seed=seeds[0])
    lora = {"r": 4, "lora_alpha": 8, "target_modules": list(ref.PHI3_LINEAR_MODULES), "use_rslora": False}
    training = {"learning_rate": 1e-3, "lr_scheduler_type": "cosine", "warmup_steps": 2, "max_steps": 20,
                "gradient_accumulation_steps": 2, "max_grad_norm": 1.0, "weight_decay": 0.01,
                "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8}
    return write_case(name, model_dir, cfg, lora, training, seed=seeds[1], batch=2, len_range=len_range, pad_id=2,
                      subset=24)


def tiny_phi3():
    # max / original positions = 4, so the attention factor is sqrt(1 + ln 4 / ln 256); every sequence here is
    # <= 256: the short factors.
    return tiny_phi3_case("tiny-phi3", TINY_PHI3_CONFIG, (401, 402), (6, 19))


def tiny_phi3_longrope():
    """tiny-phi3's shape with original_max_position_embeddings 8 and max_position_embeddings 32: rows of 4..24
    tokens, so most micro-batches (T > 8) take the long factors and a few (T <= 8) the short ones, as
    dynamic_rope_update picks them per forward by max(position_ids) + 1. attention_factor sqrt(1 + ln 4 / ln 8)."""
    config = dict(TINY_PHI3_CONFIG, max_position_embeddings=32, original_max_position_embeddings=8)
    return tiny_phi3_case("tiny-phi3-longrope", config, (411, 412), (4, 24))


def tiny_gemma3():
    model_dir = os.path.join(CASES, "tiny-gemma3", "model")
    # Gemma3TextConfig's config.json fields (as google/gemma-3-270m writes them), tiny. Sliding window 6
    # against rows of 5..16 tokens; layers sliding, full, sliding (two RoPE bases); head_dim 12 and
    # query_pre_attn_scalar 10, neither of which is hidden/heads = 8.
    config = {
        "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "hidden_size": 32,
        "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 12,
        "intermediate_size": 56, "vocab_size": 190, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "rope_local_base_freq": 10000.0, "rope_scaling": None, "query_pre_attn_scalar": 10,
        "sliding_window": 6, "_sliding_window_pattern": 2,
        "layer_types": ["sliding_attention", "full_attention", "sliding_attention"],
        "hidden_activation": "gelu_pytorch_tanh", "attn_logit_softcapping": None, "final_logit_softcapping": None,
        "attention_bias": False, "attention_dropout": 0.0, "use_bidirectional_attention": False,
        "max_position_embeddings": 128, "tie_word_embeddings": True, "bos_token_id": 2, "eos_token_id": 1,
        "pad_token_id": 0, "torch_dtype": "bfloat16",
    }
    cfg = random_checkpoint(model_dir, config, "BF16", seed=401)
    lora = {"r": 4, "lora_alpha": 8, "target_modules": list(ref.LINEAR_MODULES), "use_rslora": False}
    training = {"learning_rate": 1e-3, "lr_scheduler_type": "cosine", "warmup_steps": 2, "max_steps": 20,
                "gradient_accumulation_steps": 2, "max_grad_norm": 1.0, "weight_decay": 0.01,
                "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8}
    return write_case("tiny-gemma3", model_dir, cfg, lora, training, seed=402, batch=2, len_range=(5, 16), pad_id=0,
                      subset=24)


def tiny_llama3_targeting():
    """PEFT's targeting and LoRA+: a regex target_modules (full match) that picks some modules of layers 0 and 2,
    rank_pattern (a suffix and a full name), alpha_pattern, and B at 16x the learning rate with weight decay."""
    model_dir = os.path.join(CASES, "tiny-llama3-targeting", "model")
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32, "num_hidden_layers": 3,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "intermediate_size": 56,
        "vocab_size": 160, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": None,
        "max_position_embeddings": 256, "tie_word_embeddings": False, "hidden_act": "silu",
        "attention_bias": False, "mlp_bias": False, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16",
    }
    cfg = random_checkpoint(model_dir, config, "BF16", seed=401)
    lora = {"r": 4, "lora_alpha": 8,
            "target_modules": r"model\.layers\.[02]\.(self_attn\.(q|v|o)_proj|mlp\.(gate|down)_proj)",
            "rank_pattern": {"down_proj": 6, "model.layers.2.self_attn.q_proj": 2}, "alpha_pattern": {"o_proj": 3},
            "use_rslora": False, "loraplus_lr_ratio": 16}
    training = {"learning_rate": 1e-3, "lr_scheduler_type": "cosine", "warmup_steps": 2, "max_steps": 20,
                "gradient_accumulation_steps": 2, "max_grad_norm": 1.0, "weight_decay": 0.01,
                "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8}
    return write_case("tiny-llama3-targeting", model_dir, cfg, lora, training, seed=402, batch=2, len_range=(6, 14),
                      pad_id=0, subset=20)


def tiny_qwen2_pissa():
    """PiSSA (init_lora_weights "pissa": A, B from the top-r SVD of W, W replaced by its residual) on an F32
    checkpoint (PEFT casts the residual back to the weight dtype: F32 keeps it exact), with
    layers_to_transform and a rank_pattern."""
    model_dir = os.path.join(CASES, "tiny-qwen2-pissa", "model")
    config = {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 32, "num_hidden_layers": 3,
        "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 60, "vocab_size": 150,
        "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "rope_scaling": None, "tie_word_embeddings": True,
        "max_position_embeddings": 128, "hidden_act": "silu", "use_sliding_window": False, "sliding_window": None,
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
    }
    cfg = random_checkpoint(model_dir, config, "F32", seed=501)
    lora = {"r": 4, "lora_alpha": 4, "target_modules": ["q_proj", "k_proj", "v_proj", "up_proj", "down_proj"],
            "layers_to_transform": [1, 2], "rank_pattern": {"up_proj": 6}, "use_rslora": False,
            "init_lora_weights": "pissa"}
    training = {"learning_rate": 2e-3, "lr_scheduler_type": "linear", "warmup_steps": 2, "max_steps": 20,
                "gradient_accumulation_steps": 2, "max_grad_norm": 1.0, "weight_decay": 0.0,
                "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8}
    return write_case("tiny-qwen2-pissa", model_dir, cfg, lora, training, seed=505, batch=2, len_range=(6, 14),
                      pad_id=0, subset=20)


def tiny_llama3_dora():
    """DoRA (use_dora) on tiny-llama3's checkpoint (BF16, tied head, GQA with one kv head): every linear
    module, so the magnitude path runs through attention and the MLP, the o_proj/down_proj residual
    epilogues and a gate/up pair. lora_dropout 0: PEFT's DoRA with dropout recomputes x W^T on the dropped
    input, which a golden cannot pin (torch's dropout mask is not ours); the CPU reference covers it."""
    model_dir = os.path.join(CASES, "tiny-llama3", "model")
    if not os.path.exists(os.path.join(model_dir, "config.json")):
        raise ref.ReferenceError(f"{model_dir} is missing: run make_cases.py --only tiny-llama3 first")
    cfg = ref.load_config(model_dir)
    lora = {"r": 4, "lora_alpha": 8, "target_modules": list(ref.LINEAR_MODULES), "use_rslora": False,
            "use_dora": True}
    training = {"learning_rate": 1e-3, "lr_scheduler_type": "cosine", "warmup_steps": 2, "max_steps": 20,
                "gradient_accumulation_steps": 2, "max_grad_norm": 1.0, "weight_decay": 0.01,
                "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8}
    return write_case("tiny-llama3-dora", model_dir, cfg, lora, training, seed=402, batch=2, len_range=(6, 17),
                      pad_id=2, subset=24)


def tiny_qwen2_olora():
    """OLoRA (init_lora_weights "olora": B, A from the QR of W, W replaced by W - scaling B A) with scaling 2,
    on an F32 checkpoint of the tiny-qwen2-pissa shape."""
    model_dir = os.path.join(CASES, "tiny-qwen2-olora", "model")
    config = {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 60, "vocab_size": 150,
        "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "rope_scaling": None, "tie_word_embeddings": True,
        "max_position_embeddings": 128, "hidden_act": "silu", "use_sliding_window": False, "sliding_window": None,
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
    }
    cfg = random_checkpoint(model_dir, config, "F32", seed=601)
    lora = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj", "gate_proj", "down_proj"],
            "use_rslora": False, "init_lora_weights": "olora"}
    training = {"learning_rate": 1e-3, "lr_scheduler_type": "linear", "warmup_steps": 2, "max_steps": 20,
                "gradient_accumulation_steps": 2, "max_grad_norm": 1.0, "weight_decay": 0.0,
                "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8}
    return write_case("tiny-qwen2-olora", model_dir, cfg, lora, training, seed=602, batch=2, len_range=(6, 14),
                      pad_id=0, subset=20)


def tiny_phi3_dora():
    """Phi-3's fused modules under PEFT's targeting and DoRA together, on tiny-phi3's checkpoint: a regex
    target_modules (full match) picking qkv_proj of both layers, gate_up_proj of layer 0 and down_proj of layer 1,
    rank_pattern on the fused gate_up_proj, alpha_pattern on one qkv_proj, and use_dora (magnitudes over the fused
    out_features: 128 rows of qkv_proj, 176 of gate_up_proj)."""
    model_dir = os.path.join(CASES, "tiny-phi3", "model")
    if not os.path.exists(os.path.join(model_dir, "config.json")):
        raise ref.ReferenceError(f"{model_dir} is missing: run make_cases.py --only tiny-phi3 first")
    cfg = ref.load_config(model_dir)
    lora = {"r": 4, "lora_alpha": 8,
            "target_modules": r"model\.layers\.\d+\.self_attn\.qkv_proj|model\.layers\.0\.mlp\.gate_up_proj|model\.layers\.1\.mlp\.down_proj",
            "rank_pattern": {"gate_up_proj": 6}, "alpha_pattern": {"model.layers.1.self_attn.qkv_proj": 3},
            "use_rslora": False, "use_dora": True}
    training = {"learning_rate": 1e-3, "lr_scheduler_type": "cosine", "warmup_steps": 2, "max_steps": 20,
                "gradient_accumulation_steps": 2, "max_grad_norm": 1.0, "weight_decay": 0.01,
                "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8}
    return write_case("tiny-phi3-dora", model_dir, cfg, lora, training, seed=602, batch=2, len_range=(6, 17),
                      pad_id=2, subset=24)


TINY_CASES = (("tiny-qwen2", tiny_qwen2), ("tiny-llama3", tiny_llama3), ("tiny-qwen3", tiny_qwen3),
              ("tiny-smollm3", tiny_smollm3), ("tiny-phi3", tiny_phi3), ("tiny-gemma3", tiny_gemma3),
              ("tiny-llama3-targeting", tiny_llama3_targeting), ("tiny-qwen2-pissa", tiny_qwen2_pissa),
              ("tiny-llama3-dora", tiny_llama3_dora), ("tiny-phi3-dora", tiny_phi3_dora),
              ("tiny-qwen2-olora", tiny_qwen2_olora), ("tiny-phi3-longrope", tiny_phi3_longrope))


def demo(model_dir):
    """The demo case against any Llama-family checkpoint folder (the studio's public/demo/model)."""
    cfg = ref.load_config(model_dir)
    cfg_json = ref._read_json(os.path.join(model_dir, "config.json"))
    pad = cfg_json.get("pad_token_id")
    if not isinstance(pad, int):
        eos = cfg_json.get("eos_token_id")
        pad = eos[0] if isinstance(eos, list) and eos else (eos if isinstance(eos, int) else 0)
    lora = {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "use_rslora": False}
    training = {"learning_rate": 1e-3, "lr_scheduler_type": "cosine", "warmup_steps": 2, "max_steps": 20,
                "gradient_accumulation_steps": 2, "max_grad_norm": 1.0, "weight_decay": 0.0,
                "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8}
    # every micro-batch is [2, 64]: rows of 40..64 real tokens, right-padded to 64
    return write_case("demo", model_dir, cfg, lora, training, seed=302, batch=2, len_range=(40, 64), pad_id=pad,
                      subset=64, pad_to=64)


def demo_standin(model_dir):
    """Random checkpoint of the demo model's shape (not committed): tests --demo before the real one exists."""
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 176,
        "vocab_size": 1000, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": None,
        "max_position_embeddings": 512, "tie_word_embeddings": True, "hidden_act": "silu",
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16",
    }
    random_checkpoint(model_dir, config, "BF16", seed=301)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", metavar="MODEL_DIR", help="create the demo case against this checkpoint folder")
    ap.add_argument("--standin", metavar="DIR", help="write a random demo-shaped checkpoint into DIR")
    ap.add_argument("--only", choices=[n for n, _ in TINY_CASES])
    a = ap.parse_args()
    try:
        if a.standin:
            demo_standin(a.standin)
        elif a.demo:
            demo(a.demo)
        else:
            for name, fn in TINY_CASES:
                if a.only in (None, name):
                    shutil.rmtree(os.path.join(CASES, name), ignore_errors=True)
                    fn()
    except (ref.ReferenceError, st.SafetensorsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
