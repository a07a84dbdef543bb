import { describe, expect, it } from 'vitest';
import { classifyDrop } from './files';

const f = (...paths: string[]) => paths.map((path) => ({ path, file: new Blob([]) }));

describe('classifyDrop', () => {
  it('tells a dataset, a model folder and an adapter folder apart', () => {
    expect(classifyDrop(f('sql-demo.json'))).toBe('dataset');
    expect(classifyDrop(f('train.JSONL'))).toBe('dataset');
    expect(classifyDrop(f('TinyLlama/config.json', 'TinyLlama/model.safetensors', 'TinyLlama/tokenizer.json'))).toBe(
      'model',
    );
    expect(classifyDrop(f('model-00001-of-00002.safetensors'))).toBe('model');
    expect(classifyDrop(f('out/adapter_config.json', 'out/adapter_model.safetensors'))).toBe('adapter');
  });

  it('does not guess at anything else', () => {
    expect(classifyDrop(f('notes.txt'))).toBe('unknown');
    expect(classifyDrop(f('a.json', 'b.json'))).toBe('unknown');
    expect(classifyDrop([])).toBe('unknown');
  });
});
