#!/usr/bin/env python3
"""Proof that the referee is right: checks llama_lora.py against independent formulations.

Why it exists: golden values are only worth something if the script that made them is checked by
something other than itself. Each check pits the reference against a differently written computation:
  - a per-token numpy decoder (KV cache, complex-number RoPE, explicit softmax, LoRA merged into W)
  - central finite differences (float64) of the step-0 loss
  - torch.optim.AdamW, torch.nn.utils.clip_grad_norm_, torch LambdaLR driven like the HF Trainer
  - hand-computed schedule values and Meta's scalar llama3 frequency rule
  - a safetensors file assembled by hand from the spec, and malformed files
  - the committed goldens, regenerated
Tolerance form everywhere: |a - r| <= atol + rtol * |r|.  Run: /usr/bin/python3 reference/test_reference.py
"""

import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import llama_lora as ref  # noqa: E402
import safetensors_io as st  # noqa: E402

CASES = os.path.join(HERE, "cases")
GOLDEN = os.path.join(HERE, "golden")
TINY = ("tiny-qwen2", "tiny-llama3", "tiny-qwen3", "tiny-smollm3", "tiny-phi3", "tiny-gemma3")
DORA = ("tiny-llama3-dora",)  # use_dora on tiny-llama3's checkpoint


def read_json(path):
    with open(path) as f:
        return json.load(f)


def assert_close(tc, a, r, atol, rtol, what):
    a, r = np.asarray(a, dtype=np.float64), np.asarray(r, dtype=np.float64)
    err = np.abs(a - r) - (atol + rtol * np.abs(r))
    worst = float(err.max()) if err.size else -1.0
    tc.assertLessEqual(worst, 0.0, f"{what}: max excess {worst:.3e} over atol={atol} rtol={rtol}")


_RUNS = {}


def fresh_run(name):
    """(summary, tensors) of train_case on a committed case, computed now (cached across tests)."""
    if name not in _RUNS:
        _RUNS[name] = ref.train_case(os.path.join(CASES, name), torch.float64)
    return _RUNS[name]


def load_case(name, dtype=torch.float64):
    case_dir = os.path.join(CASES, name)
    case = read_json(os.path.join(case_dir, "case.json"))
    model_dir = ref.resolve_path(case["model_dir"])
    cfg = ref.load_config(model_dir)
    spec, init = ref.load_adapter(os.path.join(case_dir, "adapter_init"), cfg)
    model = ref.Model(model_dir, spec, init, dtype)
    batches = ref.load_batches(os.path.join(case_dir, case["micro_batches"]), cfg.vocab_size)
    return case, model, batches


# ----------------------------------------------------------------------------------------------------
# an independent decoder: one token at a time, numpy float64, nothing shared with llama_lora.forward


def naive_logits(cfg, W, lora, ids, cos, sin, raw, local=None):
    """ids (T,) -> logits (T, V). W: numpy f64 weights; LoRA is merged (W + scaling * B @ A) instead of run
    as a side branch, and DoRA as PEFT's merge_safe: each row of W + s B A times m / its norm;
    RoPE rotates (x_j, x_{j+R/2}) as the complex number x_j + i x_{j+R/2} for j < R/2, R the table width (the
    rotary dim: all of D except with Phi-3's partial rotary, whose other dims pass through).
    raw: the config.json dict, read here for the family rules: Qwen3 normalizes each head of q and k (after
    the projection, before RoPE); SmolLM3 layers whose no_rope_layers entry is 0 do not rotate; Phi-3's fused
    qkv_proj / gate_up_proj are sliced row blocks of the merged weight.
    Gemma 3 (cfg.gemma; local = the sliding layers' (cos, sin)): embedding times float32(sqrt(C)), norms
    times (1 + w), q/k normalised per head before RoPE, sliding layers attend to the last `window` cached
    positions, output norms before both residual adds, gelu with the tanh formula written out."""
    H, KV, D, eps = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.rms_norm_eps
    R = cos.shape[1]
    half = R // 2
    qk_norm = raw["model_type"] == "qwen3"
    rotates = [raw.get("no_rope_layers", [1] * cfg.num_layers)[i] == 1 for i in range(cfg.num_layers)]
    phi3 = raw["model_type"] == "phi3"
    I = cfg.intermediate_size
    gm = cfg.gemma

    def eff(i, m):
        p = f"model.layers.{i}.{ref.linear_prefix(m)}.{m}"
        w = W[p + ".weight"].copy()
        key_a = ref.peft_key(i, m, "A")
        if key_a in lora:
            w += lora["scaling"] * lora[ref.peft_key(i, m, "B")] @ lora[key_a]
        mag = lora.get(ref.peft_magnitude_key(i, m))
        if mag is not None:
            w = (mag / np.sqrt(np.sum(w * w, axis=1)))[:, None] * w
        return w, W.get(p + ".bias")

    def mv(i, m, x):
        w, b = eff(i, m)
        return w @ x + (b if b is not None else 0.0)

    def norm(x, g):
        return x / math.sqrt(float(np.mean(x * x)) + eps) * ((1.0 + g) if gm else g)

    def rot(v, t, tables=(cos, sin)):  # v (D,) at position t
        c, s_ = tables
        z = (v[:half] + 1j * v[half:R]) * (c[t, :half] + 1j * s_[t, :half])
        return np.concatenate([z.real, z.imag, v[R:]])

    def gelu_tanh(x):
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))

    k_cache = [[] for _ in range(cfg.num_layers)]
    v_cache = [[] for _ in range(cfg.num_layers)]
    out = []
    for t, tok in enumerate(ids):
        x = W["model.embed_tokens.weight"][tok].copy()
        if gm:
            x = naive_gemma_layers(cfg, W, x, t, k_cache, v_cache, mv, norm, rot, gelu_tanh, local)
            out.append(W["lm_head.weight"] @ norm(x, W["model.norm.weight"]))
            continue
        for i in range(cfg.num_layers):
            h = norm(x, W[f"model.layers.{i}.input_layernorm.weight"])
            if phi3:
                qkv = mv(i, "qkv_proj", h)
                q, k, v = (qkv[:H * D].reshape(H, D), qkv[H * D:(H + KV) * D].reshape(KV, D),
                           qkv[(H + KV) * D:].reshape(KV, D))
            else:
                q = mv(i, "q_proj", h).reshape(H, D)
                k = mv(i, "k_proj", h).reshape(KV, D)
                v = mv(i, "v_proj", h).reshape(KV, D)
            if qk_norm:
                q = np.stack([norm(q[j], W[f"model.layers.{i}.self_attn.q_norm.weight"]) for j in range(H)])
                k = np.stack([norm(k[g], W[f"model.layers.{i}.self_attn.k_norm.weight"]) for g in range(KV)])
            pos = (lambda vec, t: rot(vec, t)) if rotates[i] else (lambda vec, t: vec)
            k_cache[i].append(np.stack([pos(k[g], t) for g in range(KV)]))
            v_cache[i].append(v)
            heads = []
            for hd in range(H):
                g = hd // (H // KV)
                qh = pos(q[hd], t)
                s = np.array([qh @ k_cache[i][j][g] for j in range(t + 1)]) / math.sqrt(D)
                e = np.exp(s - s.max())
                p = e / e.sum()
                heads.append(sum(p[j] * v_cache[i][j][g] for j in range(t + 1)))
            x = x + mv(i, "o_proj", np.concatenate(heads))
            h = norm(x, W[f"model.layers.{i}.post_attention_layernorm.weight"])
            if phi3:
                gu = mv(i, "gate_up_proj", h)
                gate, up = gu[:I], gu[I:]
            else:
                gate, up = mv(i, "gate_proj", h), mv(i, "up_proj", h)
            x = x + mv(i, "down_proj", gate / (1.0 + np.exp(-gate)) * up)
        x = norm(x, W["model.norm.weight"])
        out.append(W["lm_head.weight"] @ x)
    return np.stack(out)


def naive_gemma_layers(cfg, W, x, t, k_cache, v_cache, mv, norm, rot, gelu_tanh, local):
    """Token t through Gemma 3's layers (naive_logits' helpers); returns the last residual (C,)."""
    H, KV, D, g = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.gemma
    x = x * float(np.float32(math.sqrt(cfg.hidden_size)))
    for i in range(cfg.num_layers):
        p = f"model.layers.{i}"
        sliding = g["layer_types"][i] == "sliding_attention"
        tables = local if sliding else None
        h = norm(x, W[f"{p}.input_layernorm.weight"])
        q = mv(i, "q_proj", h).reshape(H, D)
        k = mv(i, "k_proj", h).reshape(KV, D)
        v = mv(i, "v_proj", h).reshape(KV, D)
        qn = [norm(q[a], W[f"{p}.self_attn.q_norm.weight"]) for a in range(H)]
        kn = [norm(k[a], W[f"{p}.self_attn.k_norm.weight"]) for a in range(KV)]
        k_cache[i].append(np.stack([rot(kn[a], t, *([tables] if tables else [])) for a in range(KV)]))
        v_cache[i].append(v)
        first = max(0, t - g["sliding_window"] + 1) if sliding else 0  # the last `window` positions
        heads = []
        for a in range(H):
            grp = a // (H // KV)
            qh = rot(qn[a], t, *([tables] if tables else []))
            s = np.array([qh @ k_cache[i][j][grp] for j in range(first, t + 1)]) / math.sqrt(g["query_pre_attn_scalar"])
            e = np.exp(s - s.max())
            pr = e / e.sum()
            heads.append(sum(pr[j - first] * v_cache[i][j][grp] for j in range(first, t + 1)))
        x = x + norm(mv(i, "o_proj", np.concatenate(heads)), W[f"{p}.post_attention_layernorm.weight"])
        h = norm(x, W[f"{p}.pre_feedforward_layernorm.weight"])
        m = mv(i, "down_proj", gelu_tanh(mv(i, "gate_proj", h)) * mv(i, "up_proj", h))
        x = x + norm(m, W[f"{p}.post_feedforward_layernorm.weight"])
    return x


def naive_loss_sum(logits, labels):
    """Token by token: -log softmax(logits[t])[labels[t+1]] over unmasked targets."""
    total, n = 0.0, 0
    for b in range(labels.shape[0]):
        for t in range(labels.shape[1] - 1):
            y = int(labels[b, t + 1])
            if y == ref.IGNORE_INDEX:
                continue
            z = logits[b, t]
            m = z.max()
            total += m + math.log(np.exp(z - m).sum()) - z[y]
            n += 1
    return total, n


def meta_llama3_inv_freq(theta, dim, rs):
    """Meta's apply_scaling (llama-models reference), scalar float64 loop."""
    out = []
    low_wl = rs["original_max_position_embeddings"] / rs["low_freq_factor"]
    high_wl = rs["original_max_position_embeddings"] / rs["high_freq_factor"]
    for j in range(0, dim, 2):
        f = 1.0 / theta ** (j / dim)
        wl = 2 * math.pi / f
        if wl < high_wl:
            out.append(f)
        elif wl > low_wl:
            out.append(f / rs["factor"])
        else:
            smooth = (rs["original_max_position_embeddings"] / wl - rs["low_freq_factor"]) / (
                rs["high_freq_factor"] - rs["low_freq_factor"])
            out.append((1 - smooth) * f / rs["factor"] + smooth * f)
    return np.array(out)


class TestForward(unittest.TestCase):
    def test_decoder_matches_per_token_numpy_decoder(self):
        # every op of the forward (embedding, RMSNorm, biases, GQA head mapping, RoPE convention, causal
        # softmax, SwiGLU, tied/untied head, LoRA scaling incl. rsLoRA, DoRA as merged weights) against the
        # independent decoder
        for name in TINY + DORA:
            case, model, batches = load_case(name)
            cfg = model.cfg
            raw = read_json(os.path.join(ref.resolve_path(case["model_dir"]), "config.json"))
            W = {k: v.numpy() for k, v in model.W.items()}
            lora = {k: v.detach().numpy() for k, v in model.lora.params.items()}
            lora["scaling"] = model.lora.scaling
            for ids, labels in batches[:2]:
                got = model.logits(ids).detach().numpy()
                cos, sin = (t.numpy() for t in ref.rope_cos_sin(cfg, ids.shape[1], torch.float64))
                local = None
                if cfg.gemma:
                    local = tuple(t.numpy() for t in ref.rope_cos_sin(cfg, ids.shape[1], torch.float64, local=True))
                    self.assertGreater(ids.shape[1], cfg.gemma["sliding_window"])  # the window matters
                want = np.stack([naive_logits(cfg, W, lora, row.tolist(), cos, sin, raw, local) for row in ids])
                assert_close(self, got, want, 1e-11, 1e-11, f"{name} logits vs per-token decoder")
                s, n = ref.loss_sum(torch.from_numpy(got), labels)
                ws, wn = naive_loss_sum(want, labels.numpy())
                self.assertEqual(n, wn)
                assert_close(self, float(s), ws, 1e-11, 1e-12, f"{name} loss sum")

    def test_lora_scaling(self):
        self.assertEqual(ref.lora_scaling(4, 8, False), 2.0)
        self.assertAlmostEqual(ref.lora_scaling(8, 16, True), 16 / math.sqrt(8), places=15)

    def test_attention_against_full_softmax(self):
        # batched causal GQA attention vs explicit softmax over j <= i, odd sizes
        g = torch.Generator().manual_seed(0)
        B, H, KV, T, D = 2, 6, 2, 7, 5
        q = torch.randn(B, H, T, D, generator=g, dtype=torch.float64) * 2
        k = torch.randn(B, KV, T, D, generator=g, dtype=torch.float64) * 2
        v = torch.randn(B, KV, T, D, generator=g, dtype=torch.float64)
        got = ref.causal_attention(q, k, v).numpy()
        qn, kn, vn = q.numpy(), k.numpy(), v.numpy()
        want = np.zeros_like(got)
        for b in range(B):
            for h in range(H):
                kv = h // (H // KV)
                for i in range(T):
                    s = np.array([qn[b, h, i] @ kn[b, kv, j] / math.sqrt(D) for j in range(i + 1)])
                    p = np.exp(s) / np.exp(s).sum()
                    want[b, h, i] = sum(p[j] * vn[b, kv, j] for j in range(i + 1))
        assert_close(self, got, want, 1e-14, 1e-12, "attention")

    def test_llama3_inv_freq_against_meta_rule(self):
        cfg = ref.load_config(os.path.join(CASES, "tiny-llama3", "model"))
        got = ref.rope_inv_freq(cfg)
        self.assertEqual(got.dtype, torch.float32)  # transformers builds it in float32
        want = meta_llama3_inv_freq(cfg.rope_theta, cfg.head_dim, cfg.rope_scaling)
        assert_close(self, got.numpy(), want, 0, 2e-6, "llama3 inv_freq")
        # the case exercises all three branches: kept, smoothed, divided by factor
        plain = 1.0 / cfg.rope_theta ** (np.arange(0, cfg.head_dim, 2) / cfg.head_dim)
        ratio = want / plain
        self.assertAlmostEqual(ratio[0], 1.0)
        self.assertTrue(1 / cfg.rope_scaling["factor"] < ratio[1] < 1.0, ratio)
        assert_close(self, ratio[2:], 1 / cfg.rope_scaling["factor"], 0, 1e-12, "low-frequency branch")
        # default RoPE (tiny-qwen2): theta^(-2j/D)
        qcfg = ref.load_config(os.path.join(CASES, "tiny-qwen2", "model"))
        assert_close(self, ref.rope_inv_freq(qcfg).numpy(),
                     1.0 / qcfg.rope_theta ** (np.arange(0, qcfg.head_dim, 2) / qcfg.head_dim), 0, 2e-7, "default inv_freq")

    def test_longrope_inv_freq_and_attention_factor(self):
        # Phi-3 longrope (tiny-phi3): inv_freq = 1/(ext_j * theta^(j/dim)) over the rotary dim (12 of 16), with
        # the short factors up to original_max_position_embeddings and the long ones past it; cos/sin carry
        # sqrt(1 + ln(max/original) / ln(original))
        cfg = ref.load_config(os.path.join(CASES, "tiny-phi3", "model"))
        rs, dim = cfg.rope_scaling, cfg.rotary_dim
        self.assertEqual((dim, cfg.head_dim), (12, 16))
        base = cfg.rope_theta ** (np.arange(0, dim, 2) / dim)
        assert_close(self, ref.rope_inv_freq(cfg, 256).numpy(), 1 / (np.array(rs["short_factor"]) * base), 0, 2e-7, "short")
        assert_close(self, ref.rope_inv_freq(cfg, 257).numpy(), 1 / (np.array(rs["long_factor"]) * base), 0, 2e-7, "long")
        att = math.sqrt(1 + math.log(1024 / 256) / math.log(256))
        self.assertAlmostEqual(ref.longrope_attention_factor(cfg), att, places=15)
        cos, sin = (t.numpy() for t in ref.rope_cos_sin(cfg, 20, torch.float64))
        self.assertEqual(cos.shape, (20, 12))
        assert_close(self, cos ** 2 + sin ** 2, np.full((20, 12), att * att), 0, 1e-6, "scaled unit circle")

    def test_rope_table(self):
        cfg = ref.load_config(os.path.join(CASES, "tiny-llama3", "model"))
        T = 40
        cos, sin = ref.rope_cos_sin(cfg, T, torch.float64)
        inv = ref.rope_inv_freq(cfg).numpy().astype(np.float64)
        ang = np.arange(T)[:, None] * inv[None, :]
        assert_close(self, cos.numpy(), np.cos(np.concatenate([ang, ang], 1)), 2e-7, 0, "cos table")
        assert_close(self, sin.numpy(), np.sin(np.concatenate([ang, ang], 1)), 2e-7, 0, "sin table")


class TestGradients(unittest.TestCase):
    def test_golden_gradients_against_central_differences(self):
        # the step-0 gradients train_case writes to the golden, against central differences of the step-0
        # loss = (sum of token losses over the step's G micro-batches) / (targets of the whole step)
        rng = np.random.default_rng(7)
        for name in TINY:
            _, golden_out = fresh_run(name)
            case, model, batches = load_case(name)
            G = case["training"]["gradient_accumulation_steps"]
            mbs = batches[:G]
            n_items = sum(ref.count_targets(lab) for _, lab in mbs)
            params = model.lora.params

            def step_loss():
                return sum(ref.loss_sum(model.logits(ids), lab)[0] for ids, lab in mbs) / n_items

            for p in params.values():
                p.requires_grad_(True)
            step_loss().backward()
            keys = list(params)
            h = 1e-5
            checked = 0
            for key in rng.choice(keys, size=min(16, len(keys)), replace=False):
                p = params[key]
                for _ in range(2):
                    idx = tuple(int(rng.integers(s)) for s in p.shape)
                    with torch.no_grad():
                        old = float(p[idx])
                        p[idx] = old + h
                        fp = float(step_loss())
                        p[idx] = old - h
                        fm = float(step_loss())
                        p[idx] = old
                    fd = (fp - fm) / (2 * h)
                    assert_close(self, float(p.grad[idx]), fd, 1e-9, 1e-6, f"{name} autograd d/d {key}{list(idx)}")
                    assert_close(self, golden_out["step0.grad." + key][idx], fd, 1e-9, 1e-6, f"{name} golden d/d {key}{list(idx)}")
                    checked += 1
            self.assertGreaterEqual(checked, 16)
            # every A and B gets a nonzero gradient at step 0 (B init is nonzero); all of them match autograd
            for key, p in params.items():
                self.assertGreater(float(p.grad.abs().max()), 0.0, key)
                assert_close(self, golden_out["step0.grad." + key], p.grad.numpy(), 1e-15, 1e-12, f"{name} grad {key}")


class TestDora(unittest.TestCase):
    def test_dora_gradients_against_central_differences_with_the_norm_held(self):
        # PEFT detaches ||W + s B A||: the golden gradients are those of the loss with each site's norm a
        # constant. Central differences of exactly that function: the norms are computed once at the
        # evaluation point and dora_weight_norm returns them unchanged while A, B or m move.
        name = DORA[0]
        _, golden_out = fresh_run(name)
        case, model, batches = load_case(name)
        G = case["training"]["gradient_accumulation_steps"]
        mbs = batches[:G]
        n_items = sum(ref.count_targets(lab) for _, lab in mbs)
        params = model.lora.params
        frozen = {}
        real_norm = ref.dora_weight_norm

        def held_norm(w, lora_weight, scaling):
            key = id(w)
            if key not in frozen:
                frozen[key] = real_norm(w, lora_weight, scaling).detach().clone()
            return frozen[key]

        def step_loss():
            return sum(ref.loss_sum(model.logits(ids), lab)[0] for ids, lab in mbs) / n_items

        ref.dora_weight_norm = held_norm
        try:
            step_loss()  # fixes the norms at the evaluation point
            rng = np.random.default_rng(11)
            h = 1e-5
            mags = [k for k in params if k.endswith("lora_magnitude_vector")]
            self.assertEqual(len(mags), len(params) // 3)
            keys = list(rng.choice([k for k in params if k not in mags], size=8, replace=False)) + mags[:6]
            for key in keys:
                p = params[key]
                for _ in range(2):
                    idx = tuple(int(rng.integers(s)) for s in p.shape)
                    with torch.no_grad():
                        old = float(p[idx])
                        p[idx] = old + h
                        fp = float(step_loss())
                        p[idx] = old - h
                        fm = float(step_loss())
                        p[idx] = old
                    fd = (fp - fm) / (2 * h)
                    assert_close(self, golden_out["step0.grad." + key][idx], fd, 1e-9, 1e-6, f"{name} d/d {key}{list(idx)}")
        finally:
            ref.dora_weight_norm = real_norm
        # and the magnitudes start at PEFT's init ||W + s B A||_row
        for i in range(model.cfg.num_layers):
            for m in case["lora"]["target_modules"]:
                w = model.W[f"model.layers.{i}.{ref.linear_prefix(m)}.{m}.weight"]
                A, B = model.lora.pair(i, m)
                want = torch.linalg.norm(w + model.lora.scaling * B @ A, dim=1)
                assert_close(self, model.lora.magnitude(i, m).detach().numpy(), want.detach().numpy(), 0, 1e-7, f"m init {i} {m}")


class TestOptimizer(unittest.TestCase):
    def test_adamw_matches_torch(self):
        g = torch.Generator().manual_seed(1)
        shapes = [(4, 7), (9, 4), (3,)]
        mine = [torch.randn(s, generator=g, dtype=torch.float64) for s in shapes]
        theirs = [p.clone().requires_grad_(True) for p in mine]
        betas, eps, wd = (0.9, 0.95), 1e-6, 0.01
        opt = torch.optim.AdamW(theirs, lr=1.0, betas=betas, eps=eps, weight_decay=wd)
        my = ref.AdamW(mine, betas, eps, wd)
        for step, lr in enumerate([0.0, 3e-4, 1e-3, 1e-3, 5e-4, 1e-4, 2e-3]):
            grads = [torch.randn(s, generator=g, dtype=torch.float64) * (10 ** (step % 3 - 1)) for s in shapes]
            for p, gr in zip(theirs, grads):
                p.grad = gr.clone()
            for group in opt.param_groups:
                group["lr"] = lr
            opt.step()
            my.step([gr.clone() for gr in grads], lr)
            for a, b in zip(mine, theirs):
                assert_close(self, a.numpy(), b.detach().numpy(), 1e-15, 1e-13, f"AdamW step {step}")

    def test_clip_matches_torch(self):
        g = torch.Generator().manual_seed(2)
        for max_norm in (0.5, 1.0, 1e3):
            grads = [torch.randn(s, generator=g, dtype=torch.float64) for s in [(5, 3), (2, 8), (7,)]]
            ps = [torch.zeros_like(x, requires_grad=True) for x in grads]
            for p, x in zip(ps, grads):
                p.grad = x.clone()
            want = float(torch.nn.utils.clip_grad_norm_(ps, max_norm))
            mine = [x.clone() for x in grads]
            got = ref.clip_grad_norm_(mine, max_norm)
            assert_close(self, got, want, 0, 1e-14, "grad norm")
            for a, p in zip(mine, ps):
                assert_close(self, a.numpy(), p.grad.numpy(), 1e-16, 1e-14, f"clipped grads max_norm={max_norm}")
        # max_grad_norm 0: the HF Trainer does not clip; the norm is still reported
        x = [torch.ones(3, dtype=torch.float64) * 10]
        self.assertAlmostEqual(ref.clip_grad_norm_(x, 0.0), math.sqrt(300), places=12)
        self.assertEqual(float(x[0][0]), 10.0)

    def test_schedules_by_hand(self):
        lam = ref.lr_lambda
        # cosine, warmup 3, 20 steps (tiny-qwen2)
        self.assertEqual([lam("cosine", s, 3, 20) for s in range(4)], [0.0, 1 / 3, 2 / 3, 1.0])
        self.assertAlmostEqual(lam("cosine", 11, 3, 20), 0.5 * (1 + math.cos(math.pi * 8 / 17)), places=15)
        self.assertAlmostEqual(lam("cosine", 19, 3, 20), 0.5 * (1 + math.cos(math.pi * 16 / 17)), places=15)
        self.assertEqual(lam("cosine", 20, 3, 20), 0.0)
        # linear, warmup 2, 20 steps (tiny-llama3)
        self.assertEqual([lam("linear", s, 2, 20) for s in (0, 1, 2, 11, 19)], [0.0, 0.5, 1.0, 0.5, 1 / 18])
        self.assertEqual([lam("constant_with_warmup", s, 4, 20) for s in (0, 2, 4, 19)], [0.0, 0.5, 1.0, 1.0])
        self.assertEqual([lam("constant", s, 4, 20) for s in (0, 19)], [1.0, 1.0])  # constant ignores warmup
        self.assertEqual(lam("linear", 0, 0, 20), 1.0)
        # TrainingArguments.get_warmup_steps: steps win when > 0, else ceil(ratio * total) in float arithmetic
        self.assertEqual(ref.resolve_warmup_steps({"warmup_steps": 3, "warmup_ratio": 0.5}, 20), 3)
        self.assertEqual(ref.resolve_warmup_steps({"warmup_steps": 0, "warmup_ratio": 0.1}, 20), 2)
        self.assertEqual(ref.resolve_warmup_steps({"warmup_steps": 0, "warmup_ratio": 0.15}, 20), 3)
        self.assertEqual(ref.resolve_warmup_steps({"warmup_steps": 0, "warmup_ratio": 0.07}, 100), 8)  # 100*0.07 = 7.000000000000001
        self.assertEqual(ref.resolve_warmup_steps({"warmup_steps": 0, "warmup_ratio": 0.03}, 7), 1)

    def test_schedule_as_lambdalr_drives_it(self):
        # the Trainer calls optimizer.step() then scheduler.step(): step s runs at base_lr * lambda(s)
        for kind, warm in (("cosine", 3), ("linear", 2), ("constant_with_warmup", 5), ("constant", 0)):
            p = torch.zeros(1, requires_grad=True)
            opt = torch.optim.SGD([p], lr=1e-3)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s, k=kind, w=warm: ref.lr_lambda(k, s, w, 20))
            used = []
            for _ in range(20):
                used.append(opt.param_groups[0]["lr"])
                p.grad = torch.zeros(1)
                opt.step()
                sched.step()
            assert_close(self, used, [1e-3 * ref.lr_lambda(kind, s, warm, 20) for s in range(20)], 0, 1e-15, kind)


class TestTraining(unittest.TestCase):
    def test_training_loop_matches_torch_optimizer_stack(self):
        # train_case (own AdamW, clipping, schedule, normalization) against an independent loop built from
        # torch.optim.AdamW + clip_grad_norm_ + LambdaLR + F.cross_entropy, wired as the HF Trainer wires them
        for name in TINY:
            summary, out = fresh_run(name)
            case, model, batches = load_case(name)
            tr = case["training"]
            S, G = tr["max_steps"], tr["gradient_accumulation_steps"]
            params = list(model.lora.params.values())
            for p in params:
                p.requires_grad_(True)
            opt = torch.optim.AdamW(params, lr=tr["learning_rate"], betas=(tr["adam_beta1"], tr["adam_beta2"]),
                                    eps=tr["adam_epsilon"], weight_decay=tr["weight_decay"])
            warm = tr["warmup_steps"]
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: ref.lr_lambda(tr["lr_scheduler_type"], s, warm, S))
            losses, norms, lrs, clipped = [], [], [], 0
            for s in range(S):
                mbs = batches[s * G:(s + 1) * G]
                n = sum(int((lab[:, 1:] != -100).sum()) for _, lab in mbs)  # num_items_in_batch of the step
                opt.zero_grad(set_to_none=True)
                total = 0.0
                for ids, lab in mbs:
                    logits = model.logits(ids)
                    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                                             lab[:, 1:].reshape(-1), ignore_index=-100, reduction="sum") / n
                    loss.backward()
                    total += float(loss)
                norms.append(float(torch.nn.utils.clip_grad_norm_(params, tr["max_grad_norm"])))
                clipped += norms[-1] > tr["max_grad_norm"]
                lrs.append(opt.param_groups[0]["lr"])
                opt.step()
                sched.step()
                losses.append(total)
            assert_close(self, losses, summary["losses"], 0, 1e-12, f"{name} losses vs torch optimizer stack")
            assert_close(self, norms, summary["grad_norms"], 0, 1e-12, f"{name} grad norms vs torch optimizer stack")
            assert_close(self, lrs, summary["lrs"], 0, 1e-15, f"{name} lrs vs LambdaLR")
            for k, p in model.lora.params.items():
                assert_close(self, out["final." + k], p.detach().numpy(), 1e-15, 1e-11, f"{name} final {k}")
            self.assertGreater(clipped, 0, f"{name}: clipping never engaged")
            if name == "tiny-llama3":
                self.assertLess(clipped, S, f"{name}: clipping engaged on every step")

    def test_goldens_regenerate(self):
        # the committed goldens are what the current script computes, and hold every tensor the format promises
        for name in TINY + DORA:
            golden = read_json(os.path.join(GOLDEN, f"{name}.json"))
            tensors, dtypes, _ = st.load(os.path.join(GOLDEN, f"{name}.safetensors"))
            summary, out = fresh_run(name)
            for k in ("losses", "lrs", "grad_norms", "num_items"):
                assert_close(self, summary[k], golden[k], 0, 1e-12, f"{name} {k}")
            for k in ("step0_loss", "eval_loss_init", "eval_loss_final"):
                assert_close(self, summary[k], golden[k], 0, 1e-12, f"{name} {k}")
            self.assertEqual(set(out), set(tensors))
            for k, v in out.items():
                self.assertEqual(dtypes[k], "F32")
                self.assertEqual(list(v.shape), list(tensors[k].shape), k)
                assert_close(self, tensors[k], v, 1e-30, 2 ** -23, f"{name} {k}")
            case = read_json(os.path.join(CASES, name, "case.json"))
            S = case["training"]["max_steps"]
            self.assertEqual(len(golden["losses"]), S)
            keys = [ref.peft_key(i, m, ab) for i in range(ref.load_config(ref.resolve_path(case["model_dir"])).num_layers)
                    for m in case["lora"]["target_modules"] for ab in "AB"]
            if case["lora"].get("use_dora"):
                keys += [ref.peft_magnitude_key(i, m) for i in range(ref.load_config(ref.resolve_path(case["model_dir"])).num_layers)
                         for m in case["lora"]["target_modules"]]
            self.assertEqual({k for k in out if k.startswith("step0.grad.")}, {"step0.grad." + k for k in keys})
            self.assertEqual({k for k in out if k.startswith("final.")}, {"final." + k for k in keys})
            # the data contract the README states: labels[:, 0] is always -100
            for ids, lab in ref.load_batches(os.path.join(CASES, name, "batches.json"), 10**9):
                self.assertTrue(bool((lab[:, 0] == -100).all()))
            # the loss moved: the optimizer path matters far above the tolerances
            self.assertGreater(abs(golden["eval_loss_final"] - golden["eval_loss_init"]), 0.01)

    def test_eval_cli(self):
        name = "tiny-llama3"
        golden = read_json(os.path.join(GOLDEN, f"{name}.json"))
        case = read_json(os.path.join(CASES, name, "case.json"))
        script = os.path.join(HERE, "llama_lora.py")
        cmd = [sys.executable, script, "eval", "--model", ref.resolve_path(case["model_dir"]),
               "--adapter", os.path.join(CASES, name, "adapter_init"), "--batches", os.path.join(CASES, name, "eval_batches.json")]
        res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip())
        assert_close(self, res["loss"], golden["eval_loss_init"], 0, 1e-13, "eval CLI")
        self.assertEqual(res["num_items"], golden["eval_num_items"])
        # bad input: a clear message naming file, micro-batch, field and position; exit code 2
        with tempfile.TemporaryDirectory() as d:
            bad = os.path.join(d, "bad.json")
            with open(bad, "w") as f:
                json.dump({"micro_batches": [{"input_ids": [[1, 2, 999]], "labels": [[-100, 2, 3]]}]}, f)
            p = subprocess.run(cmd[:-1] + [bad], capture_output=True, text=True)
            self.assertEqual(p.returncode, 2)
            self.assertIn("micro_batches[0].input_ids[0][2]: 999 is outside the vocabulary", p.stderr)


class TestSafetensors(unittest.TestCase):
    def test_round_trip(self):
        rng = np.random.default_rng(3)
        t = {
            "a.f64": rng.standard_normal((3, 5)),
            "b.f32": rng.standard_normal((7,)).astype(np.float32),
            "c.f16": rng.standard_normal((2, 3, 2)).astype(np.float16),
            "d.bf16": rng.standard_normal((5, 3)).astype(np.float32),
            "e.i64": np.arange(-3, 3, dtype=np.int64).reshape(2, 3),
            "f.scalar": np.array(2.5, dtype=np.float32),
        }
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "x.safetensors")
            st.save(path, t, {"d.bf16": "BF16"}, metadata={"format": "pt"})
            with open(path, "rb") as f:
                raw = f.read()
            n = struct.unpack("<Q", raw[:8])[0]
            self.assertEqual((8 + n) % 8, 0)
            back, dtypes, meta = st.load(path)
            self.assertEqual(meta, {"format": "pt"})
            self.assertEqual(dtypes["d.bf16"], "BF16")
            for k in t:
                self.assertEqual(back[k].shape, np.asarray(t[k]).shape, k)
            for k in ("a.f64", "b.f32", "c.f16", "e.i64", "f.scalar"):
                self.assertTrue(np.array_equal(back[k], t[k]), k)
            want_bf16 = torch.from_numpy(t["d.bf16"]).to(torch.bfloat16).to(torch.float32).numpy()
            self.assertTrue(np.array_equal(back["d.bf16"], want_bf16))

    def test_bf16_rounding_matches_torch(self):
        x = np.concatenate([np.random.default_rng(4).standard_normal(5000).astype(np.float32) * 1e3,
                            np.array([1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, -1.0 - 2 ** -8, 1e-40, -0.0, 3.4e38, np.inf], np.float32)])
        mine = st.f32_to_bf16_bits(x)
        theirs = torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
        self.assertTrue(np.array_equal(mine, theirs))
        self.assertTrue(np.array_equal(st.bf16_bits_to_f32(theirs), torch.from_numpy(theirs.view(np.int16)).view(torch.bfloat16).float().numpy()))

    def test_reads_a_file_built_by_hand_from_the_spec(self):
        header = {"__metadata__": {"k": "v"}, "w": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]},
                  "z": {"dtype": "BF16", "shape": [1], "data_offsets": [8, 10]}}
        hb = json.dumps(header).encode()
        data = np.array([1, -2, 0.5, 65504], np.float16).tobytes() + struct.pack("<H", 0x3FC0)  # bf16 1.5
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "h.safetensors")
            with open(path, "wb") as f:
                f.write(struct.pack("<Q", len(hb)) + hb + data)
            t, dt, meta = st.load(path)
            self.assertEqual(t["w"].tolist(), [[1, -2], [0.5, 65504]])
            self.assertEqual(t["z"].tolist(), [1.5])
            self.assertEqual(meta, {"k": "v"})

    def test_malformed_files_give_clear_errors(self):
        with tempfile.TemporaryDirectory() as d:
            def write(name, raw):
                p = os.path.join(d, name + ".safetensors")
                with open(p, "wb") as f:
                    f.write(raw)
                return p

            def header(name, h, data=b""):
                hb = json.dumps(h).encode()
                return write(name, struct.pack("<Q", len(hb)) + hb + data)

            cases = [
                (write("short", b"abc"), "too short"),
                (write("long", struct.pack("<Q", 1000) + b"{}"), "header length 1000 does not fit"),
                (write("json", struct.pack("<Q", 2) + b"{x"), "not valid JSON"),
                (header("out", {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4),
                 "tensor 'w': data_offsets [0, 8] outside the data buffer of 4 bytes"),
                (header("span", {"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
                 "tensor 'w': data_offsets span 8 bytes but F32 [3] needs 12"),
                (header("dtype", {"w": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}}, b"\0"),
                 "tensor 'w': unsupported dtype 'Q4'"),
                (header("shape", {"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4),
                 "tensor 'w': shape must be a list of non-negative integers"),
            ]
            for path, msg in cases:
                with self.assertRaises(st.SafetensorsError) as cm:
                    st.load(path)
                self.assertIn(msg, str(cm.exception))
                self.assertIn(path, str(cm.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
