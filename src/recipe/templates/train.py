#!/usr/bin/env python3
"""LoRA Studio's fine-tuning run, exported for Hugging Face transformers + PEFT under Accelerate.

Why this file builds prompts itself instead of using a library's collator: the studio decides how a
record becomes tokens (template, which tokens carry the loss, BOS, truncation), and this script must
decide it the same way. The functions below follow the studio's src/data/template.ts and
src/data/encode.ts line for line. studio_run.json holds the run's hyperparameters; the data/ files
hold the studio's train/validation split; studio_examples.json holds the first training examples
as the studio encoded them, and on the studio's tokenizer this script refuses to train unless it
reproduces them exactly.

  accelerate launch --config_file accelerate_config.yaml train.py --model ID_OR_DIR [--out DIR] [--bf16]
  accelerate launch --config_file accelerate_deepspeed_zero2.yaml --num_processes 4 train.py ...
  python train.py --dump-examples N FILE      # prompts, input_ids, labels of N examples; no weights
  python train.py --dry-run                   # encode everything, run the studio check; no weights

--tokenizer-module FILE (for tests): a Python file whose load_tokenizer(name_or_path) returns an
object with the Hugging Face tokenizer API used here (encode, apply_chat_template, bos_token(_id),
eos_token(_id), pad_token_id, chat_template, added_tokens_decoder, init_kwargs, __len__), used
instead of transformers.AutoTokenizer.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

IGNORE_INDEX = -100
# How far (in UTF-16 code units, as the studio counts) a span boundary may move to a clean token boundary.
MAX_SHIFT = 64
# Batches are padded to a multiple of this (never past max_seq_length), as the studio pads them.
PAD_MULTIPLE = 16
# What "all-linear" means in the studio: every linear layer of a Llama-style block (not lm_head).
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

ALPACA_PREAMBLE_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request."
)
ALPACA_PREAMBLE = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
)

# String.prototype.trim's whitespace (ECMAScript WhiteSpace and LineTerminator), so that span ends
# and blank fields are decided as the studio decides them (str.strip differs on U+FEFF,
# U+001C-U+001F and U+0085).
_JS_WHITESPACE = (
    "\t\n\x0b\x0c\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)


INSTALL = "pip install -r requirements.txt"


class RecipeError(Exception):
    """A problem with the recipe's files or arguments; the message says what and where."""


class EncodeError(Exception):
    """A record that cannot be encoded (the studio skips such records and names them)."""


# ---------------------------------------------------------------------------------------------
# Configuration and data


def load_config(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except FileNotFoundError:
        raise RecipeError(f"{path}: not found (train.py reads the run configuration from it)")
    except json.JSONDecodeError as e:
        raise RecipeError(f"{path}: not valid JSON ({e})")
    for key in ("base_model_name_or_path", "hparams", "tokenizer"):
        if key not in cfg:
            raise RecipeError(f'{path}: field "{key}" is missing')
    for key in ("lora", "training"):
        if key not in cfg["hparams"]:
            raise RecipeError(f'{path}: field "hparams.{key}" is missing')
    return cfg


def read_jsonl(path: str) -> list[dict]:
    """Normalized records of a JSONL file: {"system": str|None, "turns": [(role, content)], "input": str|None}."""
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    records = []
    # Split on "\n" only: JSON text may hold U+2028, which str.splitlines would split on.
    for n, line in enumerate(text.split("\n"), start=1):
        if line.strip() == "":
            continue
        where = f"{os.path.basename(path)} line {n}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as e:
            raise RecipeError(f"{where}: not valid JSON ({e})")
        records.append(normalize_record(raw, where))
    return records


def _string(raw: dict, key: str, where: str, required: bool = True):
    v = raw.get(key)
    if v is None:
        if required:
            raise RecipeError(f'{where}: field "{key}" is missing')
        return None
    if not isinstance(v, str):
        raise RecipeError(f'{where}: field "{key}" must be a string')
    if required and js_trim(v) == "":
        raise RecipeError(f'{where}: field "{key}" is empty')
    return v


def normalize_record(raw, where: str) -> dict:
    """The studio's normalized record (src/data/formats.ts) from the recipe's two JSONL shapes."""
    if not isinstance(raw, dict):
        raise RecipeError(f"{where}: must be a JSON object")
    if "messages" in raw:
        msgs = raw["messages"]
        if not isinstance(msgs, list) or not msgs:
            raise RecipeError(f'{where}: field "messages" must be a non-empty list')
        system = None
        turns = []
        for i, m in enumerate(msgs):
            at = f"{where}, messages[{i}]"
            if not isinstance(m, dict):
                raise RecipeError(f"{at}: must be an object with role and content")
            role = _string(m, "role", at)
            content = _string(m, "content", at)
            if role == "system" and i == 0:
                system = content
                continue
            expected = "user" if len(turns) % 2 == 0 else "assistant"
            if role != expected:
                raise RecipeError(f'{at}: role is "{role}" but a {expected} turn was expected')
            turns.append((role, content))
        if not turns or turns[-1][0] != "assistant":
            raise RecipeError(f"{where}: the conversation must end with an assistant turn")
        return {"system": system, "turns": turns, "input": None}
    instruction = _string(raw, "instruction", where)
    output = _string(raw, "output", where)
    inp = _string(raw, "input", where, required=False)
    system = _string(raw, "system", where, required=False)
    return {
        "system": system if system is not None and js_trim(system) != "" else None,
        "turns": [("user", instruction), ("assistant", output)],
        "input": inp if inp is not None and js_trim(inp) != "" else None,
    }


def first_user_content(r: dict) -> str:
    """Alpaca's input follows the instruction after a blank line when a chat template renders it."""
    c = r["turns"][0][1]
    return f"{c}\n\n{r['input']}" if r["input"] else c


def record_messages(r: dict) -> list[dict]:
    m = []
    if r["system"] is not None:
        m.append({"role": "system", "content": r["system"]})
    for i, (role, content) in enumerate(r["turns"]):
        m.append({"role": role, "content": first_user_content(r) if i == 0 else content})
    return m


def js_trim_end(s: str) -> str:
    return s.rstrip(_JS_WHITESPACE)


def js_trim(s: str) -> str:
    return s.strip(_JS_WHITESPACE)


def utf16_len(s: str) -> int:
    return len(s) + sum(1 for c in s if ord(c) > 0xFFFF)


# ---------------------------------------------------------------------------------------------
# Prompt formats: the text a record becomes and the [start, end) character spans trained


class ChatFormat:
    """The model's chat template. Assistant spans are found by rendering prefixes: the conversation
    up to turn k with add_generation_prompt ends where the turn starts, the conversation through k
    (trailing whitespace removed) ends where it ends. When prefixes are not prefixes, the turn's
    content is searched for instead. If the last span does not end in a special token, EOS is
    inserted after it, so that the model learns to stop."""

    kind = "chat"

    def __init__(self, tokenizer):
        self.tok = tokenizer
        specials = [t.content for _, t in sorted(tokenizer.added_tokens_decoder.items()) if t.special]
        self.specials = sorted(specials, key=len, reverse=True)  # stable: longest first

    def _render(self, messages, add_generation_prompt):
        try:
            return self.tok.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add_generation_prompt
            )
        except ImportError as e:
            raise RecipeError(f"rendering the chat template needs {e.name or 'jinja2'}: {INSTALL}")
        except Exception as e:  # a template's raise_exception, or a broken template
            raise EncodeError(f"the chat template failed: {e}")

    def render(self, r: dict):
        messages = record_messages(r)
        text = self._render(messages, False)
        spans = []
        search_from = 0
        for k, m in enumerate(messages):
            if m["role"] != "assistant":
                continue
            prompt = self._render(messages[:k], True)
            through = js_trim_end(self._render(messages[: k + 1], False))
            if (
                text.startswith(prompt)
                and text.startswith(through)
                and len(through) > len(prompt)
                and len(prompt) >= search_from
            ):
                start, end = len(prompt), len(through)
            else:
                content = m["content"]
                start = text.find(content, search_from)
                if start < 0:
                    raise EncodeError(
                        f"the rendered text does not contain assistant message {k} as written, "
                        "so its tokens cannot be found"
                    )
                end = start + len(content)
                tail = next((s for s in self.specials if text.startswith(s, end)), None)
                if tail:
                    end += len(tail)
            spans.append([start, end])
            search_from = end
        if spans and not any(text[spans[-1][0] : spans[-1][1]].endswith(s) for s in self.specials):
            eos = self.tok.eos_token
            if eos is None:
                raise EncodeError(
                    "the chat template ends the assistant turn without a special token and the tokenizer "
                    "has no eos_token; the model could not learn to stop"
                )
            last = spans[-1]
            text = text[: last[1]] + eos + text[last[1] :]
            last[1] += len(eos)
        return text, spans


class AlpacaFormat:
    """{preamble}\\n\\n### Instruction:\\n{instruction}\\n\\n[### Input:\\n{input}\\n\\n]### Response:\\n{output}{eos}
    for models without a chat template; a system prompt replaces the preamble."""

    kind = "alpaca"

    def __init__(self, eos_token):
        if eos_token is None:
            raise RecipeError(
                "the model has no chat template and its tokenizer has no eos_token, "
                "which the Alpaca prompt ends responses with"
            )
        self.eos = eos_token

    def render(self, r: dict):
        text = r["system"] if r["system"] is not None else (ALPACA_PREAMBLE_INPUT if r["input"] else ALPACA_PREAMBLE)
        spans = []
        for i, (role, content) in enumerate(r["turns"]):
            if role == "user":
                text += f"\n\n### Instruction:\n{content}\n\n"
                if i == 0 and r["input"]:
                    text += f"### Input:\n{r['input']}\n\n"
                text += "### Response:\n"
            else:
                start = len(text)
                text += content + self.eos
                spans.append([start, len(text)])
        return text, spans


def chat_template_of(tokenizer):
    t = getattr(tokenizer, "chat_template", None)
    if t is None or (isinstance(t, str) and js_trim(t) == ""):
        return None
    return t


def prompt_format_for(tokenizer):
    return ChatFormat(tokenizer) if chat_template_of(tokenizer) is not None else AlpacaFormat(tokenizer.eos_token)


# ---------------------------------------------------------------------------------------------
# Examples: token ids and labels with exactly the studio's masking, BOS and truncation


def adds_bos(tokenizer) -> bool:
    """Whether encoding with special tokens starts with BOS: tokenizer_config.json's add_bos_token
    when it is a boolean (the studio honours it for every tokenizer class), else what the
    tokenizer does to a probe text."""
    if tokenizer.bos_token is None or tokenizer.bos_token_id is None:
        return False
    flag = (getattr(tokenizer, "init_kwargs", None) or {}).get("add_bos_token")
    if isinstance(flag, bool):
        return flag
    plain = tokenizer.encode("a", add_special_tokens=False)
    full = tokenizer.encode("a", add_special_tokens=True)
    for i in range(len(full) - len(plain) + 1):
        if full[i : i + len(plain)] == plain:
            return tokenizer.bos_token_id in full[:i]
    return False


def pad_token_id(tokenizer) -> int:
    """pad_token, else eos_token (what the studio pads with)."""
    for tid in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if tid is not None:
            return tid
    raise RecipeError("the tokenizer has neither a pad_token nor an eos_token to pad batches with")


def _is_prefix(p, f) -> bool:
    return len(p) <= len(f) and f[: len(p)] == p


class ExampleEncoder:
    """Renders a record, tokenizes the whole text once (no special tokens added by the tokenizer),
    and maps the trained spans' character boundaries to token boundaries. A boundary falls after
    the tokens of the text before it when that is a prefix of the full tokenization (clean);
    otherwise it moves outward (left for a start, right for an end) to the nearest clean one."""

    def __init__(self, tokenizer, max_seq_length: int, train_on_inputs: bool, mask_history: bool = False):
        if not isinstance(max_seq_length, int) or max_seq_length < 2:
            raise RecipeError(f"max_seq_length must be a whole number of at least 2, not {max_seq_length}")
        self.tok = tokenizer
        self.format = prompt_format_for(tokenizer)
        self.max_seq_length = max_seq_length
        self.train_on_inputs = train_on_inputs
        self.mask_history = mask_history
        self.add_bos = adds_bos(tokenizer)

    def _ids(self, text: str) -> list[int]:
        return list(self.tok.encode(text, add_special_tokens=False)) if text else []

    def encode(self, r: dict) -> dict:
        text, spans = self.format.render(r)
        if self.mask_history:
            # mask_history: only the last assistant turn is trained (LLaMA-Factory's option).
            spans = spans[-1:]
        full = self._ids(text)
        bos = self.tok.bos_token
        bos_added = self.add_bos and not text.startswith(bos)
        off = 1 if bos_added else 0
        ids = [self.tok.bos_token_id] + full if bos_added else full
        n = len(ids)
        if self.train_on_inputs:
            labels = list(ids)
        else:
            labels = [IGNORE_INDEX] * n
            for s, e in self._token_spans(text, spans, full):
                for t in range(s + off, e + off):
                    labels[t] = ids[t]
        m = self.max_seq_length
        return {"text": text, "input_ids": ids[:m], "labels": labels[:m], "truncated": n > m}

    def _token_spans(self, text, spans, full):
        # Fast path: tokenize the pieces between boundaries; if they concatenate to the full
        # tokenization every boundary is clean at once.
        points = sorted({p for span in spans for p in span})
        token_at = {}
        concat = []
        prev = 0
        for p in points + [len(text)]:
            if p > prev:
                concat += self._ids(text[prev:p])
            token_at[p] = len(concat)
            prev = p
        clean = concat == full
        out = []
        floor = 0
        for k, (s, e) in enumerate(spans):
            if clean:
                ts, te = token_at[s], token_at[e]
                ce = e
            else:
                _, ts = self._clean_boundary(text, full, s, -1, floor)
                limit = spans[k + 1][0] if k + 1 < len(spans) else len(text)
                ce, te = self._clean_boundary(text, full, e, +1, limit)
            out.append((ts, te))
            floor = ce
        return out

    def _clean_boundary(self, text, full, c, direction, limit):
        p = c
        shift = 0
        while shift <= MAX_SHIFT:
            if (p < limit) if direction < 0 else (p > limit):
                break
            if p == len(text):
                return p, len(full)
            pre = self._ids(text[:p])
            if _is_prefix(pre, full):
                return p, len(pre)
            # Step one character; the studio steps one UTF-16 unit, and a position inside a
            # surrogate pair is never a clean boundary, so the positions tried are the same.
            if direction < 0:
                if p == 0:
                    break
                shift += utf16_len(text[p - 1])
                p -= 1
            else:
                if p == len(text):
                    break
                shift += utf16_len(text[p])
                p += 1
        raise EncodeError(
            f"no token boundary within {MAX_SHIFT} characters of character {c}; "
            "the tokenizer merges across the turn boundary"
        )


def has_targets(labels) -> bool:
    return any(x != IGNORE_INDEX for x in labels[1:])


def encode_records(records, encoder, name: str):
    """Examples of the records that encode and have a target; the others are named and skipped."""
    examples, skipped = [], []
    for i, r in enumerate(records):
        try:
            e = encoder.encode(r)
        except EncodeError as err:
            skipped.append(f"{name} record {i}: {err}")
            continue
        if not has_targets(e["labels"]):
            skipped.append(f"{name} record {i}: every token is masked out (nothing to train on)")
            continue
        examples.append(e)
    return examples, skipped


def pad_batch(features, pad_id: int, max_seq_length: int) -> dict:
    """Right padding to the longest row rounded up to PAD_MULTIPLE (capped at max_seq_length):
    input ids pad_id, labels -100, attention mask 0. Lists of lists; (B, T)."""
    longest = max(len(f["input_ids"]) for f in features)
    T = max(longest, min(max_seq_length, -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE))
    batch = {"input_ids": [], "labels": [], "attention_mask": []}
    for f in features:
        n = len(f["input_ids"])
        batch["input_ids"].append(list(f["input_ids"]) + [pad_id] * (T - n))
        batch["labels"].append(list(f["labels"]) + [IGNORE_INDEX] * (T - n))
        batch["attention_mask"].append([1] * n + [0] * (T - n))
    return batch


def training_feature(e: dict) -> dict:
    """What the Trainer sees. labels[0] is set to -100: position 0 is never predicted (the loss
    pairs logits[t] with labels[t+1]), so the loss is unchanged, and transformers versions that
    count num_items_in_batch over unshifted labels then count exactly the studio's targets."""
    labels = list(e["labels"])
    labels[0] = IGNORE_INDEX
    return {"input_ids": list(e["input_ids"]), "labels": labels}


# ---------------------------------------------------------------------------------------------
# The studio's identity check


def tokenizer_matches_studio(tokenizer, facts: dict) -> bool:
    """Same vocabulary size and special tokens as the tokenizer the studio encoded with."""
    return (
        len(tokenizer) == facts.get("vocab_size")
        and tokenizer.bos_token == facts.get("bos_token")
        and tokenizer.eos_token == facts.get("eos_token")
        and pad_token_id(tokenizer) == facts.get("pad_token_id")
    )


def check_studio_examples(examples, studio_examples) -> str | None:
    """None when the first examples equal the studio's; otherwise a message naming the first difference."""
    if len(examples) < len(studio_examples):
        return f"{len(examples)} training examples encoded, the studio encoded at least {len(studio_examples)}"
    for i, want in enumerate(studio_examples):
        got = examples[i]
        for key in ("text", "input_ids", "labels", "truncated"):
            if got[key] != want[key]:
                if isinstance(want[key], list):
                    j = next(
                        (j for j, (a, b) in enumerate(zip(got[key], want[key])) if a != b),
                        min(len(got[key]), len(want[key])),
                    )
                    return f"training example {i}: {key} differs at position {j} (studio {want[key][j:j+8]}, here {got[key][j:j+8]})"
                return f"training example {i}: {key} differs (studio {want[key]!r}, here {got[key]!r})"
    return None


# ---------------------------------------------------------------------------------------------
# Hyperparameters: studio_run.json to PEFT's LoraConfig and transformers' TrainingArguments


def resolve_targets(target_modules) -> list[str] | str:
    """The module list ("all-linear" expanded); any other string is PEFT's regex (full match on the name)."""
    if target_modules == "all-linear":
        return list(ALL_LINEAR)
    if isinstance(target_modules, str):
        return target_modules
    return [m for m in ALL_LINEAR if m in target_modules]


def lora_kwargs(cfg: dict) -> dict:
    lora = cfg["hparams"]["lora"]
    kw = {
        "r": lora["r"],
        "lora_alpha": lora["lora_alpha"],
        "lora_dropout": lora["lora_dropout"],
        # studio_run.json's peft.target_modules: "all-linear" as the studio expanded it for this
        # model's family (Phi-3: qkv_proj, o_proj, gate_up_proj, down_proj)
        "target_modules": cfg.get("peft", {}).get("target_modules") or resolve_targets(lora["target_modules"]),
        "use_rslora": lora["use_rslora"],
        # DoRA (PEFT >= 0.9); a studio_run.json from before the option has none
        "use_dora": lora.get("use_dora", False),
        "bias": "none",
        "task_type": "CAUSAL_LM",
        "init_lora_weights": lora.get("init_lora_weights", True),
    }
    # PEFT's targeting fields, passed only when used (older studio_run.json files lack them)
    if lora.get("layers_to_transform") is not None:
        kw["layers_to_transform"] = lora["layers_to_transform"]
    for k in ("rank_pattern", "alpha_pattern"):
        if lora.get(k):
            kw[k] = lora[k]
    return kw


def is_pissa(cfg: dict) -> bool:
    """PiSSA or OLoRA: the base weights change, so the adapter is saved converted for the unchanged base."""
    return str(cfg["hparams"]["lora"].get("init_lora_weights", True)).startswith(("pissa", "olora"))


def loraplus_optimizer(cfg: dict, model):
    """LoRA+ (loraplus_lr_ratio > 1): PEFT's create_loraplus_optimizer, AdamW with lora_B at lr * ratio; None otherwise."""
    lora, t = cfg["hparams"]["lora"], cfg["hparams"]["training"]
    ratio = lora.get("loraplus_lr_ratio", 1)
    if ratio == 1:
        return None
    import torch
    from peft.optimizers import create_loraplus_optimizer

    return create_loraplus_optimizer(
        model=model,
        optimizer_cls=torch.optim.AdamW,
        lr=t["learning_rate"],
        loraplus_lr_ratio=ratio,
        betas=(t["adam_beta1"], t["adam_beta2"]),
        eps=t["adam_epsilon"],
        weight_decay=t["weight_decay"],
    )


def build_lora_config(cfg: dict):
    from peft import LoraConfig

    return LoraConfig(**lora_kwargs(cfg))


def quantization_kwargs(cfg: dict, compute_dtype) -> dict | None:
    """BitsAndBytesConfig for the studio's load_in_4bit (QLoRA), or None: NF4 in blocks of 64
    with one absmax each and no double quantization, as the studio stores its NF4 weights; the
    matmuls run in compute_dtype (float32, or bfloat16 with --bf16)."""
    q = cfg["hparams"].get("quantization") or {}
    if not q.get("load_in_4bit"):
        return None
    if q.get("bnb_4bit_quant_type", "nf4") != "nf4":
        raise RecipeError(f'bnb_4bit_quant_type "{q["bnb_4bit_quant_type"]}": the studio trains nf4 only')
    return {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_compute_dtype": compute_dtype,
        "bnb_4bit_use_double_quant": False,
    }


def _field_names(cls) -> set:
    import dataclasses
    import inspect

    if dataclasses.is_dataclass(cls):
        return {f.name for f in dataclasses.fields(cls)}
    return set(inspect.signature(cls).parameters)


def training_kwargs(
    cfg: dict,
    out_dir: str,
    fields: set,
    bf16: bool = False,
    has_eval: bool = True,
    world_size: int = 1,
    same_global_batch: bool = False,
    gradient_checkpointing: bool = False,
) -> dict:
    """TrainingArguments for the studio's run. `fields` are the names the installed
    TrainingArguments accepts (warmup_ratio was removed in transformers 5.2, where a warmup_steps
    below 1 is the ratio; average_tokens_across_devices appeared in 4.50)."""
    t = cfg["hparams"]["training"]
    gas = t["gradient_accumulation_steps"]
    if same_global_batch and world_size > 1:
        if gas % world_size != 0:
            raise RecipeError(
                f"--same-global-batch: gradient_accumulation_steps {gas} is not divisible by {world_size} processes"
            )
        gas //= world_size
    evaluate = has_eval and t["eval_steps"] > 0
    patience = t["early_stopping_patience"]
    best_at_end = patience > 0 and evaluate
    save_steps = t["save_steps"]
    if best_at_end and (save_steps == 0 or save_steps % t["eval_steps"] != 0):
        # load_best_model_at_end needs a checkpoint at every evaluation.
        save_steps = t["eval_steps"]
    kw = {
        "output_dir": out_dir,
        "learning_rate": t["learning_rate"],
        "lr_scheduler_type": t["lr_scheduler_type"],
        "per_device_train_batch_size": t["per_device_train_batch_size"],
        "per_device_eval_batch_size": t["per_device_train_batch_size"],
        "gradient_accumulation_steps": gas,
        "num_train_epochs": t["num_train_epochs"],
        "max_steps": t["max_steps"],
        "weight_decay": t["weight_decay"],
        "adam_beta1": t["adam_beta1"],
        "adam_beta2": t["adam_beta2"],
        "adam_epsilon": t["adam_epsilon"],
        "max_grad_norm": t["max_grad_norm"],
        "optim": "adamw_torch",
        "logging_strategy": "steps",
        "logging_steps": t["logging_steps"],
        "eval_strategy": "steps" if evaluate else "no",
        "save_strategy": "steps" if save_steps > 0 else "no",
        "seed": t["seed"],
        "data_seed": t["seed"],
        "group_by_length": bool(t.get("group_by_length", False)),
        "bf16": bf16,
        "load_best_model_at_end": best_at_end,
        "prediction_loss_only": True,
        "label_names": ["labels"],
        "remove_unused_columns": False,
        "dataloader_drop_last": False,
        "ddp_find_unused_parameters": False,
        "gradient_checkpointing": gradient_checkpointing,
        "report_to": "none",
    }
    if evaluate:
        kw["eval_steps"] = t["eval_steps"]
    if save_steps > 0:
        kw["save_steps"] = save_steps
    if best_at_end:
        kw["metric_for_best_model"] = "eval_loss"
        kw["greater_is_better"] = False
    if gradient_checkpointing:
        kw["gradient_checkpointing_kwargs"] = {"use_reentrant": False}
    if t["warmup_steps"] > 0:
        kw["warmup_steps"] = t["warmup_steps"]
    elif "warmup_ratio" in fields:
        kw["warmup_ratio"] = t["warmup_ratio"]
    elif t["warmup_ratio"] < 1:
        kw["warmup_steps"] = float(t["warmup_ratio"])
    else:
        raise RecipeError("warmup_ratio 1 cannot be given to this transformers version; set warmup_steps")
    if "average_tokens_across_devices" in fields:
        kw["average_tokens_across_devices"] = True
    unknown = sorted(k for k in kw if k not in fields)
    if unknown:
        raise RecipeError(
            f"the installed transformers has no TrainingArguments {', '.join(unknown)}; "
            "install the versions in requirements.txt"
        )
    return kw


def build_training_args(cfg: dict, out_dir: str = "output", **opts):
    from transformers import TrainingArguments

    return TrainingArguments(**training_kwargs(cfg, out_dir, _field_names(TrainingArguments), **opts))


def early_stopping_kwargs(cfg: dict):
    t = cfg["hparams"]["training"]
    if t["early_stopping_patience"] <= 0:
        return None
    return {
        "early_stopping_patience": t["early_stopping_patience"],
        "early_stopping_threshold": t["early_stopping_threshold"],
    }


# ---------------------------------------------------------------------------------------------
# Training


def load_tokenizer(name_or_path: str, module_path: str | None):
    if module_path:
        spec = importlib.util.spec_from_file_location("recipe_tokenizer_module", module_path)
        if spec is None or spec.loader is None:
            raise RecipeError(f"--tokenizer-module {module_path}: not a Python file")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod.load_tokenizer(name_or_path)
    try:
        from transformers import AutoTokenizer
    except ImportError as e:
        raise RecipeError(f"{e.name or 'transformers'} is not installed: {INSTALL}")
    return AutoTokenizer.from_pretrained(name_or_path)


def _version(s: str) -> tuple:
    out = []
    for part in s.split(".")[:2]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def train(cfg, args, tokenizer, train_examples, val_examples) -> None:
    try:
        import torch
        import transformers
        from peft import get_peft_model
        from transformers import AutoModelForCausalLM, EarlyStoppingCallback, Trainer, TrainerCallback
    except ImportError as e:
        raise RecipeError(f"{e.name or 'a package'} is not installed: {INSTALL}")
    checkpointing = args.gradient_checkpointing or bool(cfg["hparams"]["training"].get("gradient_checkpointing"))

    t = cfg["hparams"]["training"]
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    is_main = int(os.environ.get("RANK", "0")) == 0
    pad_id = pad_token_id(tokenizer)
    max_len = t["max_seq_length"]

    def collate(features):
        b = pad_batch(features, pad_id, max_len)
        return {k: torch.tensor(v, dtype=torch.long) for k, v in b.items()}  # (B, T) each

    class StudioMetrics(TrainerCallback):
        """metrics.jsonl in the studio CLI's format, for compare_curves.py; evaluates after the
        last step as the studio does (HF evaluates only at multiples of eval_steps)."""

        def __init__(self, path):
            self.path = path
            if is_main and os.path.exists(path):
                os.remove(path)

        def on_step_end(self, a, state, control, **kw):
            if val_examples and state.global_step >= state.max_steps:
                control.should_evaluate = True

        def on_log(self, a, state, control, logs=None, **kw):
            if not state.is_world_process_zero or not logs:
                return
            rows = []
            if "loss" in logs:
                rows.append(
                    {
                        "step": state.global_step,
                        "epoch": state.epoch,
                        "loss": logs["loss"],
                        "learning_rate": logs.get("learning_rate"),
                        "grad_norm": logs.get("grad_norm"),
                    }
                )
            if "eval_loss" in logs:
                rows.append({"step": state.global_step, "epoch": state.epoch, "eval_loss": logs["eval_loss"]})
            with open(self.path, "a", encoding="utf-8") as f:
                for row in rows:
                    f.write(json.dumps(row) + "\n")

    transformers.set_seed(t["seed"])  # seeds the LoRA init and dropout
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    # transformers 5 names it dtype; 4.x reads torch_dtype (4.56+ accepts both).
    dtype_kw = "dtype" if _version(transformers.__version__) >= (5, 0) else "torch_dtype"
    load_kw = {dtype_kw: dtype}
    bnb = quantization_kwargs(cfg, dtype)
    if bnb is not None:
        from transformers import BitsAndBytesConfig

        load_kw["quantization_config"] = BitsAndBytesConfig(**bnb)
    model = AutoModelForCausalLM.from_pretrained(args.model, **load_kw)
    model.config.use_cache = False
    if bnb is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    elif checkpointing:
        model.enable_input_require_grads()
    model = get_peft_model(model, build_lora_config(cfg))
    if is_main:
        model.print_trainable_parameters()

    os.makedirs(args.out, exist_ok=True)
    pissa_init_dir = os.path.join(args.out, "pissa_init") if is_pissa(cfg) else None
    if pissa_init_dir and is_main:
        # PiSSA's A0, B0 (as a plain LoRA), for the conversion of the trained adapter at the end
        init = model.peft_config["default"].init_lora_weights
        model.peft_config["default"].init_lora_weights = True
        model.save_pretrained(pissa_init_dir, safe_serialization=True)
        model.peft_config["default"].init_lora_weights = init
    training_args = build_training_args(
        cfg,
        args.out,
        bf16=args.bf16,
        has_eval=bool(val_examples),
        world_size=world_size,
        same_global_batch=args.same_global_batch,
        gradient_checkpointing=checkpointing,
    )
    callbacks = [StudioMetrics(os.path.join(args.out, "metrics.jsonl"))]
    es = early_stopping_kwargs(cfg)
    if es and training_args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(**es))
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=[training_feature(e) for e in train_examples],
        eval_dataset=[training_feature(e) for e in val_examples] if val_examples else None,
        data_collator=collate,
        callbacks=callbacks,
        optimizers=(loraplus_optimizer(cfg, model), None),
    )
    trainer.train()
    if trainer.is_world_process_zero():
        # adapter_model.safetensors + adapter_config.json: PEFT's layout, which the studio imports.
        # PiSSA: converted to a rank-2r LoRA that loads on the unchanged base model, as the studio exports it.
        convert = {"path_initial_model_for_weight_conversion": pissa_init_dir} if pissa_init_dir else {}
        trainer.model.save_pretrained(args.out, safe_serialization=True, **convert)
        summary = {
            "global_step": trainer.state.global_step,
            "max_steps": trainer.state.max_steps,
            "studio_total_steps": cfg.get("schedule", {}).get("total_steps"),
            "best_model_checkpoint": trainer.state.best_model_checkpoint,
            "best_metric": trainer.state.best_metric,
            "world_size": world_size,
        }
        with open(os.path.join(args.out, "run_summary.json"), "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
        print(f"adapter -> {args.out} (step {trainer.state.global_step} of {trainer.state.max_steps})")


# ---------------------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(description="LoRA Studio's run on transformers + PEFT (see README.md)")
    p.add_argument("--config", default=os.path.join(HERE, "studio_run.json"), help="the run configuration")
    p.add_argument("--data-dir", default=os.path.join(HERE, "data"), help="train.jsonl and validation.jsonl")
    p.add_argument("--model", default=None, help="base model: Hub id or folder (default: the studio's)")
    p.add_argument("--out", default="output", help="where the adapter, checkpoints and metrics go")
    p.add_argument("--bf16", action="store_true", help="bfloat16 weights and autocast (default: float32)")
    p.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="trade compute for activation memory (on anyway when the studio's gradient_checkpointing is)",
    )
    p.add_argument(
        "--same-global-batch",
        action="store_true",
        help="on N processes divide gradient_accumulation_steps by N, keeping the studio's sequences per step",
    )
    p.add_argument(
        "--skip-studio-check",
        action="store_true",
        help="train even if the first examples differ from studio_examples.json",
    )
    p.add_argument("--dump-examples", nargs=2, metavar=("N", "FILE"), help="write N encoded examples and exit")
    p.add_argument("--dry-run", action="store_true", help="encode the data, run the studio check, and exit")
    p.add_argument("--tokenizer-module", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = load_config(args.config)
    args.model = args.model or cfg["base_model_name_or_path"]
    t = cfg["hparams"]["training"]
    tokenizer = load_tokenizer(args.model, args.tokenizer_module)
    encoder = ExampleEncoder(tokenizer, t["max_seq_length"], t["train_on_inputs"], t.get("mask_history", False))
    if encoder.format.kind != cfg["tokenizer"].get("prompt_format"):
        print(
            f"note: the studio built {cfg['tokenizer'].get('prompt_format')} prompts; "
            f"this model's tokenizer gives {encoder.format.kind} prompts",
            file=sys.stderr,
        )
    train_path = os.path.join(args.data_dir, "train.jsonl")
    val_path = os.path.join(args.data_dir, "validation.jsonl")
    train_records = read_jsonl(train_path)
    val_records = read_jsonl(val_path) if os.path.exists(val_path) else []

    if args.dump_examples:
        n = int(args.dump_examples[0])
        out = []
        for i, r in enumerate(train_records[:n]):
            try:
                out.append({"index": i, **encoder.encode(r)})
            except EncodeError as err:
                out.append({"index": i, "error": str(err)})
        with open(args.dump_examples[1], "w", encoding="utf-8") as f:
            json.dump({"add_bos": encoder.add_bos, "prompt_format": encoder.format.kind, "examples": out}, f)
        print(f"{len(out)} examples -> {args.dump_examples[1]}")
        return 0

    train_examples, skipped = encode_records(train_records, encoder, "train")
    val_examples, skipped_val = encode_records(val_records, encoder, "validation")
    for s in (skipped + skipped_val)[:10]:
        print(f"skipped: {s}", file=sys.stderr)
    if not train_examples:
        raise RecipeError("no training record could be encoded for this model")
    truncated = sum(e["truncated"] for e in train_examples + val_examples)
    print(
        f"examples: {len(train_examples)} train, {len(val_examples)} validation; "
        f"{truncated} truncated to {t['max_seq_length']} tokens; prompts: {encoder.format.kind}"
    )

    studio_path = os.path.join(HERE, "studio_examples.json")
    if os.path.exists(studio_path):
        with open(studio_path, encoding="utf-8") as f:
            studio = json.load(f)
        if tokenizer_matches_studio(tokenizer, cfg["tokenizer"]):
            problem = check_studio_examples(train_examples, studio["examples"])
            if problem and not args.skip_studio_check:
                raise RecipeError(
                    f"the examples differ from the studio's ({problem}); the tokenizer or template is not the "
                    "one the studio used. --skip-studio-check trains anyway"
                )
            print(
                f"studio check: the first {len(studio['examples'])} examples are identical to the studio's"
                if not problem
                else f"studio check skipped on request: {problem}"
            )
        else:
            print("studio check: a different tokenizer than the studio's; prompts follow the same rules")

    steps = cfg.get("schedule", {})
    print(
        f"studio: {steps.get('total_steps')} steps on one process; "
        f"{os.environ.get('WORLD_SIZE', '1')} process(es) here"
    )
    if args.dry_run:
        return 0
    train(cfg, args, tokenizer, train_examples, val_examples)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RecipeError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
