#!/usr/bin/env python3
"""Renders chat templates the way transformers' apply_chat_template does (tokenize=False), as the
referee for src/data/toolcalls.test.ts: jinja2's ImmutableSandboxedEnvironment with trim_blocks
and lstrip_blocks, the loopcontrols extension, transformers' own `tojson` (json.dumps without
HTML escaping or key sorting), the `raise_exception` and `strftime_now` globals, and the variables
transformers passes: messages, tools (None when absent), documents=None, add_generation_prompt
and the special tokens, and any other variables the request gives (transformers passes extra
keyword arguments such as enable_thinking to the template). transformers' {% generation %} block
is supported as its AssistantTracker extension does.

stdin: {"template": str, "vars": {bos_token, eos_token, ...}, "cases": [{"messages", "tools",
"add_generation_prompt"}]}; stdout: a JSON list with, per case, {"text": ...} or {"error": ...}.
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


class AssistantTracker(Extension):
    """transformers' {% generation %} ... {% endgeneration %} block (it marks the assistant's
    tokens for return_assistant_tokens_mask and renders its body unchanged)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def main():
    req = json.load(sys.stdin)
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    template = env.from_string(req["template"])
    out = []
    for case in req["cases"]:
        try:
            text = template.render(
                messages=case["messages"],
                tools=case.get("tools"),
                documents=None,
                add_generation_prompt=case["add_generation_prompt"],
                **req["vars"],
            )
            out.append({"text": text})
        except jinja2.exceptions.TemplateError as e:
            out.append({"error": str(e)})
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
