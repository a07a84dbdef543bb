"""Unit tests of the recipe's train.py without transformers, peft or torch: the hyperparameter
mapping (with stand-in TrainingArguments/LoraConfig classes put in sys.modules), padding, the
training features, JSONL normalization, and the identity check.

  RECIPE_DIR=<an exported recipe> python3 -B -m unittest src/recipe/testing/test_train_py.py

RECIPE_DIR's studio_run.json is the run configuration under test (recipe.test.ts writes one whose
every value differs from the defaults, so a field that is dropped or swapped cannot pass).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
import os
import sys
import tempfile
import types
import unittest

RECIPE_DIR = os.environ.get("RECIPE_DIR")
if not RECIPE_DIR:
    raise SystemExit("set RECIPE_DIR to an exported recipe folder")


def load_train_module():
    spec = importlib.util.spec_from_file_location("recipe_train", os.path.join(RECIPE_DIR, "train.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


train = load_train_module()
with open(os.path.join(RECIPE_DIR, "studio_run.json"), encoding="utf-8") as f:
    CFG = json.load(f)

# Every TrainingArguments name train.py may pass, as a transformers 4.5x dataclass has them.
ARG_NAMES = [
    "output_dir", "learning_rate", "lr_scheduler_type", "warmup_ratio", "warmup_steps",
    "per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps",
    "num_train_epochs", "max_steps", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon",
    "max_grad_norm", "optim", "logging_strategy", "logging_steps", "eval_strategy", "eval_steps",
    "save_strategy", "save_steps", "seed", "data_seed", "bf16", "load_best_model_at_end",
    "metric_for_best_model", "greater_is_better", "prediction_loss_only", "label_names",
    "remove_unused_columns", "dataloader_drop_last", "ddp_find_unused_parameters",
    "gradient_checkpointing", "gradient_checkpointing_kwargs", "report_to",
    "average_tokens_across_devices", "group_by_length",
]  # fmt: skip


def args_class(without=()):
    """A stand-in TrainingArguments: a dataclass with the given fields, all defaulting to None."""
    names = [n for n in ARG_NAMES if n not in without]
    return dataclasses.make_dataclass("TrainingArguments", [(n, object, None) for n in names])


class Captured:
    """A stand-in LoraConfig that keeps its keyword arguments."""

    def __init__(self, **kw):
        self.kw = kw


def with_stubs(training_args_cls):
    sys.modules["transformers"] = types.SimpleNamespace(TrainingArguments=training_args_cls)
    sys.modules["peft"] = types.SimpleNamespace(LoraConfig=Captured)


# Training fields passed to TrainingArguments under their own name.
SAME_NAME = {
    "learning_rate", "lr_scheduler_type", "per_device_train_batch_size", "gradient_accumulation_steps",
    "num_train_epochs", "max_steps", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon",
    "max_grad_norm", "seed", "logging_steps", "eval_steps", "save_steps", "group_by_length",
}  # fmt: skip
# Training fields with their own test below (label masking: identity.test.ts); together with
# SAME_NAME they must be all of them.
ELSEWHERE = {
    "warmup_ratio", "warmup_steps", "max_seq_length", "train_on_inputs", "mask_history", "val_split_fraction",
    "early_stopping_patience", "early_stopping_threshold", "gradient_checkpointing", "packing",
}  # fmt: skip


class HyperparameterMapping(unittest.TestCase):
    def setUp(self):
        self.t = CFG["hparams"]["training"]
        self.lora = CFG["hparams"]["lora"]

    def test_every_training_field_is_mapped(self):
        self.assertEqual(set(self.t), SAME_NAME | ELSEWHERE)

    def test_packing_is_not_passed(self):
        # train.py pads (same loss and gradients as packing); TRL's SFTConfig(packing=True) is the
        # documented equivalent, so TrainingArguments gets no packing argument.
        with_stubs(args_class())
        a = train.build_training_args(CFG, "out")
        self.assertFalse(hasattr(a, "packing"))

    def test_training_arguments_carry_the_studio_values(self):
        with_stubs(args_class())
        a = train.build_training_args(CFG, "out")
        for name in sorted(SAME_NAME):
            self.assertEqual(getattr(a, name), self.t[name], name)
        self.assertEqual(a.per_device_eval_batch_size, self.t["per_device_train_batch_size"])
        self.assertEqual(a.data_seed, self.t["seed"])
        self.assertEqual(a.output_dir, "out")
        self.assertEqual(a.optim, "adamw_torch")
        self.assertEqual(a.eval_strategy, "steps")
        self.assertEqual(a.save_strategy, "steps")
        self.assertEqual(a.label_names, ["labels"])
        self.assertIs(a.prediction_loss_only, True)
        self.assertIs(a.remove_unused_columns, False)
        self.assertIs(a.bf16, False)
        self.assertIs(a.average_tokens_across_devices, True)
        self.assertEqual(a.report_to, "none")

    def test_warmup(self):
        self.assertEqual(self.t["warmup_steps"], 0, "the recipe under test uses warmup_ratio")
        with_stubs(args_class())
        a = train.build_training_args(CFG, "out")
        self.assertEqual(a.warmup_ratio, self.t["warmup_ratio"])
        self.assertIsNone(a.warmup_steps)
        # transformers >= 5.2 has no warmup_ratio: a warmup_steps below 1 is the ratio.
        with_stubs(args_class(without={"warmup_ratio"}))
        a = train.build_training_args(CFG, "out")
        self.assertEqual(a.warmup_steps, self.t["warmup_ratio"])
        self.assertIsInstance(a.warmup_steps, float)
        cfg = copy.deepcopy(CFG)
        cfg["hparams"]["training"]["warmup_steps"] = 13
        for cls in (args_class(), args_class(without={"warmup_ratio"})):
            with_stubs(cls)
            a = train.build_training_args(cfg, "out")
            self.assertEqual(a.warmup_steps, 13)
            self.assertIsNone(getattr(a, "warmup_ratio", None))

    def test_early_stopping(self):
        self.assertGreater(self.t["early_stopping_patience"], 0)
        with_stubs(args_class())
        a = train.build_training_args(CFG, "out")
        self.assertIs(a.load_best_model_at_end, True)
        self.assertEqual(a.metric_for_best_model, "eval_loss")
        self.assertIs(a.greater_is_better, False)
        self.assertEqual(a.save_steps % a.eval_steps, 0)
        self.assertEqual(
            train.early_stopping_kwargs(CFG),
            {
                "early_stopping_patience": self.t["early_stopping_patience"],
                "early_stopping_threshold": self.t["early_stopping_threshold"],
            },
        )
        # Checkpoints at every evaluation when the studio's save_steps would not give them.
        cfg = copy.deepcopy(CFG)
        for save_steps in (0, self.t["eval_steps"] + 1):
            cfg["hparams"]["training"]["save_steps"] = save_steps
            a = train.build_training_args(cfg, "out")
            self.assertEqual((a.save_strategy, a.save_steps), ("steps", self.t["eval_steps"]))
        cfg["hparams"]["training"]["save_steps"] = 0
        cfg["hparams"]["training"]["early_stopping_patience"] = 0
        a = train.build_training_args(cfg, "out")
        self.assertEqual((a.save_strategy, a.load_best_model_at_end), ("no", False))
        self.assertIsNone(train.early_stopping_kwargs(cfg))

    def test_evaluation_off(self):
        with_stubs(args_class())
        a = train.build_training_args(CFG, "out", has_eval=False)
        self.assertEqual(a.eval_strategy, "no")
        self.assertIs(a.load_best_model_at_end, False)
        cfg = copy.deepcopy(CFG)
        cfg["hparams"]["training"]["eval_steps"] = 0
        cfg["hparams"]["training"]["early_stopping_patience"] = 0
        self.assertEqual(train.build_training_args(cfg, "out").eval_strategy, "no")

    def test_options(self):
        with_stubs(args_class())
        a = train.build_training_args(CFG, "out", bf16=True, gradient_checkpointing=True)
        self.assertIs(a.bf16, True)
        self.assertEqual(a.gradient_checkpointing_kwargs, {"use_reentrant": False})
        gas = self.t["gradient_accumulation_steps"]
        self.assertEqual(gas % 2, 0, "the recipe under test has an even accumulation")
        a = train.build_training_args(CFG, "out", world_size=2, same_global_batch=True)
        self.assertEqual(a.gradient_accumulation_steps, gas // 2)
        a = train.build_training_args(CFG, "out", world_size=2)
        self.assertEqual(a.gradient_accumulation_steps, gas)
        with self.assertRaisesRegex(train.RecipeError, "not divisible by 3"):
            train.build_training_args(CFG, "out", world_size=3, same_global_batch=True)

    def test_quantization(self):
        # The recipe under test loads its base in 4-bit: BitsAndBytesConfig as the studio's NF4.
        self.assertEqual(CFG["hparams"]["quantization"], {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"})
        self.assertEqual(
            train.quantization_kwargs(CFG, "float32"),
            {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_compute_dtype": "float32",
             "bnb_4bit_use_double_quant": False},
        )  # fmt: skip
        cfg = copy.deepcopy(CFG)
        cfg["hparams"]["quantization"]["load_in_4bit"] = False
        self.assertIsNone(train.quantization_kwargs(cfg, "float32"))
        del cfg["hparams"]["quantization"]  # a studio_run.json from before the option
        self.assertIsNone(train.quantization_kwargs(cfg, "float32"))
        cfg["hparams"]["quantization"] = {"load_in_4bit": True, "bnb_4bit_quant_type": "fp4"}
        with self.assertRaisesRegex(train.RecipeError, 'bnb_4bit_quant_type "fp4"'):
            train.quantization_kwargs(cfg, "float32")

    def test_old_transformers(self):
        # 4.46-4.49: no average_tokens_across_devices; the mapping leaves it out.
        with_stubs(args_class(without={"average_tokens_across_devices"}))
        a = train.build_training_args(CFG, "out")
        self.assertFalse(hasattr(a, "average_tokens_across_devices"))
        # Older than the minimum: a clear message, not a TypeError.
        with_stubs(args_class(without={"eval_strategy"}))
        with self.assertRaisesRegex(train.RecipeError, "no TrainingArguments eval_strategy"):
            train.build_training_args(CFG, "out")

    def test_lora_config(self):
        with_stubs(args_class())
        kw = train.build_lora_config(CFG).kw
        self.assertEqual(
            set(self.lora),
            {"r", "lora_alpha", "lora_dropout", "target_modules", "use_rslora", "use_dora", "layers_to_transform",
             "rank_pattern", "alpha_pattern", "init_lora_weights", "loraplus_lr_ratio"},
        )  # fmt: skip
        for name in ("r", "lora_alpha", "lora_dropout", "use_rslora", "use_dora", "layers_to_transform", "rank_pattern",
                     "alpha_pattern", "init_lora_weights"):  # fmt: skip
            self.assertEqual(kw[name], self.lora[name], name)
        self.assertNotIn("loraplus_lr_ratio", kw)  # an optimizer argument, not a LoraConfig field
        self.assertEqual(train.resolve_targets("model\\.layers\\.0\\..*"), "model\\.layers\\.0\\..*")
        self.assertEqual(kw["target_modules"], CFG["peft"]["target_modules"])
        self.assertEqual((kw["bias"], kw["task_type"]), ("none", "CAUSAL_LM"))
        self.assertEqual(train.resolve_targets("all-linear"), list(train.ALL_LINEAR))
        self.assertEqual(train.resolve_targets(["v_proj", "q_proj"]), ["q_proj", "v_proj"])


class Batches(unittest.TestCase):
    def test_pad_batch(self):
        f = [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [9] * 17, "labels": [9] * 17}]
        b = train.pad_batch(f, 0, 64)
        self.assertEqual([len(r) for r in b["input_ids"]], [32, 32])  # 17 rounded up to 32
        self.assertEqual(b["input_ids"][0][:5], [5, 6, 7, 0, 0])
        self.assertEqual(b["labels"][0][:5], [-100, 6, 7, -100, -100])
        self.assertEqual(sum(b["attention_mask"][0]), 3)
        self.assertEqual(sum(b["attention_mask"][1]), 17)
        self.assertEqual(len(train.pad_batch(f, 0, 20)["input_ids"][0]), 20)  # capped
        self.assertEqual(len(train.pad_batch(f[:1], 0, 64)["input_ids"][0]), 16)

    def test_training_feature_masks_position_zero_only(self):
        e = {"input_ids": [1, 2, 3], "labels": [1, 2, 3], "text": "x", "truncated": False}
        self.assertEqual(train.training_feature(e), {"input_ids": [1, 2, 3], "labels": [-100, 2, 3]})
        self.assertEqual(e["labels"], [1, 2, 3])


class Records(unittest.TestCase):
    def test_normalize(self):
        n = train.normalize_record
        a = n({"instruction": "I", "input": " \ufeff", "output": "O", "system": ""}, "w")
        self.assertEqual(a, {"system": None, "turns": [("user", "I"), ("assistant", "O")], "input": None})
        c = n({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
                            {"role": "assistant", "content": "A"}]}, "w")  # fmt: skip
        self.assertEqual(c, {"system": "S", "turns": [("user", "U"), ("assistant", "A")], "input": None})
        with self.assertRaisesRegex(train.RecipeError, 'x.jsonl line 3: field "output" is missing'):
            n({"instruction": "I"}, "x.jsonl line 3")
        with self.assertRaisesRegex(train.RecipeError, "must end with an assistant turn"):
            n({"messages": [{"role": "user", "content": "U"}]}, "w")
        with self.assertRaisesRegex(train.RecipeError, r'messages\[1\]: role is "user"'):
            n({"messages": [{"role": "user", "content": "U"}, {"role": "user", "content": "U"}]}, "w")

    def test_read_jsonl_splits_on_newline_only(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "t.jsonl")
            with open(p, "w", encoding="utf-8", newline="") as f:
                f.write(json.dumps({"instruction": "a\u2028b", "output": "c"}, ensure_ascii=False) + "\n\n")
                f.write('{"instruction": 1}\n')
            with self.assertRaisesRegex(train.RecipeError, 't.jsonl line 3: field "instruction" must be a string'):
                train.read_jsonl(p)

    def test_js_trim_end(self):
        self.assertEqual(train.js_trim_end("a\n \ufeff\u2028"), "a")
        self.assertEqual(train.js_trim_end("a\x1c\x85"), "a\x1c\x85")  # not whitespace to JavaScript


class StudioCheck(unittest.TestCase):
    def test_check(self):
        want = [{"text": "t", "input_ids": [1, 2, 3], "labels": [-100, 2, 3], "truncated": False}]
        self.assertIsNone(train.check_studio_examples(copy.deepcopy(want), want))
        got = copy.deepcopy(want)
        got[0]["labels"][1] = -100
        self.assertEqual(
            train.check_studio_examples(got, want),
            "training example 0: labels differs at position 1 (studio [2, 3], here [-100, 3])",
        )
        self.assertIn("at least 1", train.check_studio_examples([], want))


HERE = os.path.dirname(os.path.abspath(__file__))
DEMO_MODEL = os.path.join(HERE, "..", "..", "..", "public", "demo", "model")


class FakeTrainerLibraries:
    """transformers and peft stand-ins that record what train() hands them; torch is the real one.
    The Trainer collates the first batch with train()'s collator and replays a short run through
    train()'s callbacks, so the whole training path of train.py runs, short of the model itself."""

    def __init__(self, out_dir):
        self.calls = {}
        calls = self.calls

        class Model:
            def __init__(self):
                self.config = types.SimpleNamespace(use_cache=True)

            def enable_input_require_grads(self):
                calls["input_require_grads"] = True

        class PeftModel:
            def __init__(self, base, config):
                calls["lora_config"] = config.kw

            def print_trainable_parameters(self):
                calls["printed"] = True

            def save_pretrained(self, path, safe_serialization=True):
                for name in ("adapter_model.safetensors", "adapter_config.json"):
                    with open(os.path.join(path, name), "w") as f:
                        f.write("x")
                calls["saved"] = (path, safe_serialization)

        class TrainerCallback:
            pass

        class EarlyStoppingCallback:
            def __init__(self, **kw):
                calls["early_stopping"] = kw

        class Trainer:
            def __init__(self, model, args, train_dataset, eval_dataset, data_collator, callbacks, optimizers):
                calls["training_args"] = args
                calls["optimizers"] = optimizers
                self.model, self.args, self.callbacks = model, args, callbacks
                self.train_dataset, self.eval_dataset, self.collate = train_dataset, eval_dataset, data_collator
                self.state = types.SimpleNamespace(
                    global_step=0, max_steps=3, epoch=0.0, is_world_process_zero=True,
                    best_model_checkpoint=None, best_metric=None,
                )  # fmt: skip

            def is_world_process_zero(self):
                return True

            def train(self):
                calls["batch"] = self.collate(self.train_dataset[: self.args.per_device_train_batch_size])
                for step in range(1, self.state.max_steps + 1):
                    self.state.global_step, self.state.epoch = step, step / 10
                    control = types.SimpleNamespace(should_evaluate=False)
                    for cb in self.callbacks:
                        if hasattr(cb, "on_step_end"):
                            cb.on_step_end(self.args, self.state, control)
                    logs = {"loss": 3.0 - step, "learning_rate": 1e-4, "grad_norm": 0.5}
                    if control.should_evaluate:
                        logs["eval_loss"] = 2.5
                    for cb in self.callbacks:
                        if hasattr(cb, "on_log"):
                            cb.on_log(self.args, self.state, control, logs=logs)

        class BitsAndBytesConfig(Captured):
            pass

        def prepare_model_for_kbit_training(model, **kw):
            calls["kbit"] = kw
            return model

        self.transformers = types.SimpleNamespace(
            __version__="4.46.0",
            BitsAndBytesConfig=BitsAndBytesConfig,
            set_seed=lambda seed: calls.setdefault("seed", seed),
            AutoModelForCausalLM=types.SimpleNamespace(
                from_pretrained=lambda path, **kw: calls.setdefault("from_pretrained", (path, kw)) and Model()
            ),
            TrainingArguments=args_class(),
            Trainer=Trainer,
            TrainerCallback=TrainerCallback,
            EarlyStoppingCallback=EarlyStoppingCallback,
        )
        def create_loraplus_optimizer(**kw):
            calls["loraplus"] = kw
            return "loraplus optimizer"

        self.peft = types.SimpleNamespace(
            LoraConfig=Captured,
            get_peft_model=PeftModel,
            prepare_model_for_kbit_training=prepare_model_for_kbit_training,
            optimizers=types.SimpleNamespace(create_loraplus_optimizer=create_loraplus_optimizer),
        )

    def install(self):
        sys.modules["transformers"] = self.transformers
        sys.modules["peft"] = self.peft
        sys.modules["peft.optimizers"] = self.peft.optimizers


@unittest.skipUnless(importlib.util.find_spec("torch"), "torch is not installed")
class TrainFlow(unittest.TestCase):
    def test_train_runs_through_the_trainer(self):
        import torch

        with tempfile.TemporaryDirectory() as d:
            # The demo tokenizer without its chat template (Alpaca prompts need no jinja2), so the
            # studio's examples (chat prompts) differ and the check is skipped on request.
            model_dir = os.path.join(d, "model")
            os.makedirs(model_dir)
            with open(os.path.join(DEMO_MODEL, "tokenizer.json"), encoding="utf-8") as f:
                tj = f.read()
            with open(os.path.join(DEMO_MODEL, "tokenizer_config.json"), encoding="utf-8") as f:
                tc = json.load(f)
            tc.pop("chat_template", None)
            with open(os.path.join(model_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
                f.write(tj)
            with open(os.path.join(model_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
                json.dump(tc, f)
            out = os.path.join(d, "out")
            fake = FakeTrainerLibraries(out)
            fake.install()
            # No --gradient-checkpointing: the studio's gradient_checkpointing turns it on.
            argv = ["--model", model_dir, "--out", out, "--skip-studio-check",
                    "--tokenizer-module", os.path.join(HERE, "hf_tokenizer.py")]  # fmt: skip
            self.assertEqual(train.main(argv), 0)
            c = fake.calls
            t = CFG["hparams"]["training"]
            self.assertEqual(c["seed"], t["seed"])
            # load_in_4bit: the base through BitsAndBytesConfig, then prepare_model_for_kbit_training
            # (which also makes the inputs require grads for checkpointing).
            path, kw = c["from_pretrained"]
            self.assertEqual((path, kw["torch_dtype"]), (model_dir, torch.float32))
            self.assertEqual(kw["quantization_config"].kw, train.quantization_kwargs(CFG, torch.float32))
            self.assertEqual(
                c["kbit"],
                {"use_gradient_checkpointing": True, "gradient_checkpointing_kwargs": {"use_reentrant": False}},
            )
            self.assertNotIn("input_require_grads", c)
            self.assertIs(c["training_args"].gradient_checkpointing, True)
            self.assertEqual(c["training_args"].gradient_checkpointing_kwargs, {"use_reentrant": False})
            self.assertEqual(c["lora_config"]["target_modules"], CFG["peft"]["target_modules"])
            # LoRA+: PEFT's create_loraplus_optimizer with the run's AdamW settings, handed to the Trainer
            lo = CFG["hparams"]["lora"]
            self.assertEqual(c["optimizers"], ("loraplus optimizer", None))
            self.assertEqual(c["loraplus"]["loraplus_lr_ratio"], lo["loraplus_lr_ratio"])
            self.assertEqual(
                {k: c["loraplus"][k] for k in ("lr", "betas", "eps", "weight_decay")},
                {"lr": t["learning_rate"], "betas": (t["adam_beta1"], t["adam_beta2"]), "eps": t["adam_epsilon"],
                 "weight_decay": t["weight_decay"]},
            )  # fmt: skip
            self.assertIs(c["loraplus"]["optimizer_cls"], torch.optim.AdamW)
            self.assertEqual(
                c["early_stopping"],
                {"early_stopping_patience": t["early_stopping_patience"],
                 "early_stopping_threshold": t["early_stopping_threshold"]},
            )  # fmt: skip
            b = c["batch"]
            B, T = b["input_ids"].shape
            self.assertEqual(B, t["per_device_train_batch_size"])
            self.assertTrue(T % 16 == 0 or T == t["max_seq_length"])
            self.assertEqual(b["labels"].shape, (B, T))
            self.assertEqual(b["input_ids"].dtype, torch.long)
            self.assertTrue(bool((b["labels"][:, 0] == -100).all()))
            self.assertTrue(bool(((b["attention_mask"] == 0) <= (b["labels"] == -100)).all()))
            self.assertEqual(c["saved"], (out, True))
            self.assertTrue(os.path.exists(os.path.join(out, "adapter_model.safetensors")))
            with open(os.path.join(out, "metrics.jsonl"), encoding="utf-8") as f:
                rows = [json.loads(line) for line in f]
            self.assertEqual([r["step"] for r in rows if "loss" in r], [1, 2, 3])
            # The studio evaluates after the last step; train.py asks the Trainer to as well.
            self.assertEqual(rows[-1], {"step": 3, "epoch": 0.3, "eval_loss": 2.5})
            with open(os.path.join(out, "run_summary.json"), encoding="utf-8") as f:
                summary = json.load(f)
            self.assertEqual(summary["studio_total_steps"], CFG["schedule"]["total_steps"])


if __name__ == "__main__":
    unittest.main()
