// What the Model panel shows about a dropped folder: the family the studio recognised, named as
// model/config.ts names it, with the transformers class and the base parameter count — here for
// the tiny Qwen3 and SmolLM3 checkpoints of reference/cases (a small byte-level BPE tokenizer
// added, as the export tests do).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../engine/testing/cases.node';
import { baseParamCount } from '../engine/model/config';
import { FileSet, bytesSource } from '../io/source';
import { tinyBpeTokenizer } from '../io/testing/bpe-tokenizer';
import { openModel } from '../run/model';
import { summarize } from './model-files';

async function tinyFolder(name: string, family: 'qwen2' | 'llama3') {
  const dir = join(REPO_ROOT, 'reference/cases', name, 'model');
  const config = readFileSync(join(dir, 'config.json'));
  const t = tinyBpeTokenizer(family, JSON.parse(config.toString()).vocab_size);
  const enc = new TextEncoder();
  const files: [string, Uint8Array][] = [
    ['config.json', config],
    ['model.safetensors', readFileSync(join(dir, 'model.safetensors'))],
    ['tokenizer.json', enc.encode(JSON.stringify(t.tokenizerJson))],
    ['tokenizer_config.json', enc.encode(JSON.stringify(t.tokenizerConfig))],
  ];
  return new FileSet(
    files.map(([p, b]) => [p, bytesSource(b, p)]),
    name,
  );
}

describe('Model panel summary names the recognised family', () => {
  for (const [name, tok, family, arch] of [
    ['tiny-qwen3', 'qwen2', 'Qwen3 (qwen3)', 'Qwen3ForCausalLM'],
    ['tiny-smollm3', 'llama3', 'SmolLM3 (smollm3)', 'SmolLM3ForCausalLM'],
  ] as const) {
    it(`${name}: ${family}, ${arch}`, async () => {
      const files = await tinyFolder(name, tok);
      const model = await openModel(files);
      const s = summarize(model, { kind: 'files', name }, files, 0);
      expect(s.family).toBe(family);
      expect(s.architecture).toBe(arch);
      expect(s.modelType).toBe(name.slice('tiny-'.length));
      expect(s.params).toBe(baseParamCount(model.checkpoint.config));
      expect(s.tiedEmbeddings).toBe(true);
    });
  }
});
