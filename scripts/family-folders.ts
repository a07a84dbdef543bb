// Writes the tiny Qwen3, Gemma 3, SmolLM3 and Phi-3 model folders (each family's special tokens and
// published chat template; src/run/testing/family-files.ts) under DIR/<name>/, for the end-to-end
// test that drops them into the studio: `node --import tsx scripts/family-folders.ts DIR`.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FAMILIES, familyFiles } from '../src/run/testing/family-files';

const out = process.argv[2];
if (!out) throw new Error('usage: node --import tsx scripts/family-folders.ts DIR');
for (const f of FAMILIES) {
  const dir = join(out, f.name);
  mkdirSync(dir, { recursive: true });
  for (const [path, bytes] of familyFiles(f).files) writeFileSync(join(dir, path), bytes);
}
console.log(FAMILIES.map((f) => join(out, f.name)).join('\n'));
