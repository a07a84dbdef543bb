// An Ollama Modelfile (docs/modelfile.md in ollama/ollama) for an exported GGUF: FROM the model
// file, ADAPTER when the LoRA is a separate GGUF, the chat template as an Ollama TEMPLATE (Go
// text/template with .System, .Prompt, .Response) for the families recognised from the Jinja
// template, and the stop strings as PARAMETER stop. A family that is not recognised gets no
// TEMPLATE (Ollama then uses the GGUF's own tokenizer.chat_template when it can) and says so.

export type TemplateFamily = 'chatml' | 'llama3' | 'mistral' | 'gemma' | 'phi';

const TEMPLATES: Record<TemplateFamily, { template: string; stops: string[] }> = {
  chatml: {
    template: `{{ if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ .Response }}<|im_end|>
`,
    stops: ['<|im_start|>', '<|im_end|>'],
  },
  llama3: {
    template: `{{ if .System }}<|start_header_id|>system<|end_header_id|>

{{ .System }}<|eot_id|>{{ end }}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>

{{ .Prompt }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>

{{ .Response }}<|eot_id|>`,
    stops: ['<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'],
  },
  mistral: {
    template: `[INST] {{ if .System }}{{ .System }} {{ end }}{{ .Prompt }} [/INST]{{ .Response }}`,
    stops: ['[INST]', '[/INST]'],
  },
  // Gemma 3: the system prompt opens the user turn (as its chat template folds it), "model" answers.
  gemma: {
    template: `<start_of_turn>user
{{ if .System }}{{ .System }}

{{ end }}{{ .Prompt }}<end_of_turn>
<start_of_turn>model
{{ .Response }}<end_of_turn>
`,
    stops: ['<end_of_turn>', '<start_of_turn>'],
  },
  // Phi-3 / Phi-4-mini: <|role|>content<|end|>, no newlines in Phi-4-mini's template.
  phi: {
    template: `{{ if .System }}<|system|>{{ .System }}<|end|>{{ end }}{{ if .Prompt }}<|user|>{{ .Prompt }}<|end|>{{ end }}<|assistant|>{{ .Response }}<|end|>`,
    stops: ['<|end|>', '<|user|>', '<|assistant|>', '<|system|>'],
  },
};

/** The family of a Hugging Face chat template, from the markers it writes. */
export function templateFamily(jinja: string | null): TemplateFamily | null {
  if (!jinja) return null;
  if (jinja.includes('<|im_start|>')) return 'chatml';
  if (jinja.includes('<|start_header_id|>')) return 'llama3';
  if (jinja.includes('[INST]')) return 'mistral';
  if (jinja.includes('<start_of_turn>')) return 'gemma';
  if (jinja.includes('<|end|>')) return 'phi';
  return null;
}

export interface ModelfileOptions {
  /** FROM: a path relative to the Modelfile ("./model-f16.gguf") or an Ollama model name. */
  from: string;
  /** ADAPTER: the LoRA GGUF, when separate. */
  adapter?: string | null;
  chatTemplate: string | null;
  /** The model's end-of-sequence token strings (added to the family's stops). */
  eosTokens?: string[];
  /** A comment line saying what this is. */
  comment?: string;
}

const quote = (s: string) => JSON.stringify(s);

export function writeModelfile(o: ModelfileOptions): string {
  const family = templateFamily(o.chatTemplate);
  const lines: string[] = [];
  if (o.comment) lines.push(`# ${o.comment}`);
  lines.push('# Use with: ollama create my-model -f Modelfile && ollama run my-model');
  lines.push(`FROM ${o.from}`);
  if (o.adapter) lines.push(`ADAPTER ${o.adapter}`);
  if (family) {
    if (TEMPLATES[family].template.includes('"""')) throw new Error('Modelfile: the template contains """');
    lines.push(`TEMPLATE """${TEMPLATES[family].template}"""`);
  } else {
    lines.push(
      o.chatTemplate
        ? "# The chat template is not one of ChatML, Llama 3, Mistral, Gemma or Phi: no TEMPLATE line; Ollama reads the GGUF's tokenizer.chat_template"
        : '# The model has no chat template: prompts are passed as they are',
    );
  }
  const stops = [...new Set([...(family ? TEMPLATES[family].stops : []), ...(o.eosTokens ?? [])])];
  for (const s of stops) lines.push(`PARAMETER stop ${quote(s)}`);
  return lines.join('\n') + '\n';
}
