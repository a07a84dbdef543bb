// Shared by the chat-template tests (Node only): Python's jinja2 as the referee for rendering
// (render_chat_template.py, the way transformers' apply_chat_template renders), and the trained
// part of an encoded example read back as text.

import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChatMessage } from '../template';
import type { ModelTokenizer } from '../tokenizer';
import { IGNORE_INDEX } from '../types';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'render_chat_template.py');

export interface RenderCase {
  messages: ChatMessage[];
  tools: Record<string, unknown>[] | null;
  add_generation_prompt: boolean;
}

/** True where /usr/bin/python3 has jinja2 (scripts/setup.mjs --for test installs it). */
export const hasJinja2 = spawnSync('/usr/bin/python3', ['-c', 'import jinja2'], { stdio: 'ignore' }).status === 0;

/** Each case rendered by Python's jinja2: {text} or, where the template raises, {error}. */
export function pythonRender(
  source: string,
  vars: Record<string, unknown>,
  cases: RenderCase[],
): { text?: string; error?: string }[] {
  const r = spawnSync('/usr/bin/python3', [SCRIPT], {
    input: JSON.stringify({ template: source, vars, cases }),
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`render_chat_template.py failed: ${r.stderr || r.error?.message}`);
  return JSON.parse(r.stdout) as { text?: string; error?: string }[];
}

/** The special-token variables transformers passes to a template, from the tokenizer. */
export function templateVars(tok: ModelTokenizer): Record<string, unknown> {
  return {
    bos_token: tok.bos?.content ?? null,
    eos_token: tok.eos?.content ?? null,
    pad_token: tok.pad?.content ?? null,
    unk_token: tok.unk?.content ?? null,
    additional_special_tokens: [],
  };
}

/** Contiguous runs of trained labels, decoded with special tokens kept. */
export function trainedRuns(tok: ModelTokenizer, ids: Int32Array, labels: Int32Array): string[] {
  const runs: string[] = [];
  let cur: number[] = [];
  for (let t = 0; t <= labels.length; t++) {
    if (t < labels.length && labels[t] !== IGNORE_INDEX) cur.push(ids[t]);
    else if (cur.length) {
      runs.push(tok.decode(cur));
      cur = [];
    }
  }
  return runs;
}
