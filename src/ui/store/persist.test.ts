import { afterEach, describe, expect, it, vi } from 'vitest';

// A localStorage for Node, then a fresh copy of the store module per "page load".
function memoryStorage(): Storage {
  const m = new Map<string, string>();
  return {
    get length() {
      return m.size;
    },
    clear: () => m.clear(),
    getItem: (k) => m.get(k) ?? null,
    key: (i) => [...m.keys()][i] ?? null,
    removeItem: (k) => void m.delete(k),
    setItem: (k, v) => void m.set(k, String(v)),
  };
}

async function load() {
  vi.resetModules();
  return (await import('./store')).useStudio;
}

afterEach(() => vi.unstubAllGlobals());

describe('persisted settings', () => {
  it('hyperparameters, the Hub endpoint and chart settings survive a reload; the token does not', async () => {
    const storage = memoryStorage();
    vi.stubGlobal('localStorage', storage);
    let useStudio = await load();
    useStudio.getState().setTraining('learning_rate', 5e-4);
    useStudio.getState().setLora('target_modules', 'all-linear');
    useStudio.getState().setHub({ endpoint: 'http://127.0.0.1:9999', token: 'hf_secret', repo: 'org/x' });
    useStudio.getState().setLogScale(true);
    const saved = JSON.parse(storage.getItem('lora-studio')!);
    expect(saved.version).toBe(1);
    expect(JSON.stringify(saved)).not.toContain('hf_secret');

    useStudio = await load();
    const s = useStudio.getState();
    expect(s.hparams.training.learning_rate).toBe(5e-4);
    expect(s.hparams.lora.target_modules).toBe('all-linear');
    expect(s.hub.endpoint).toBe('http://127.0.0.1:9999');
    expect(s.hub.token).toBe('');
    expect(s.ui.logScale).toBe(true);
    expect(s.hparamIssues).toEqual({});
  });

  it('a corrupted saved value falls back to the default for that field', async () => {
    const storage = memoryStorage();
    storage.setItem(
      'lora-studio',
      JSON.stringify({ state: { hparams: { training: { learning_rate: -1, seed: 7 } }, endpoint: 42 }, version: 1 }),
    );
    vi.stubGlobal('localStorage', storage);
    const s = (await load()).getState();
    expect(s.hparams.training.learning_rate).toBe(2e-4);
    expect(s.hparams.training.seed).toBe(7);
    expect(s.hub.endpoint).toBe('https://huggingface.co');
  });

  it('writes only when a persisted field changes, not on every update (a training step is one)', async () => {
    const storage = memoryStorage();
    let writes = 0;
    const setItem = storage.setItem.bind(storage);
    storage.setItem = (k, v) => {
      writes++;
      setItem(k, v);
    };
    vi.stubGlobal('localStorage', storage);
    const useStudio = await load();
    useStudio.getState().setTraining('learning_rate', 3e-4);
    const after = writes;
    expect(after).toBeGreaterThan(0);
    for (let i = 0; i < 50; i++) useStudio.setState((s) => ({ training: { ...s.training, activeMs: i } }));
    expect(writes).toBe(after);
    useStudio.getState().setSmoothing(0.5);
    expect(writes).toBe(after + 1);
    expect(JSON.parse(storage.getItem('lora-studio')!).state.smoothing).toBe(0.5);
    expect(JSON.parse(storage.getItem('lora-studio')!).state.hparams.training.learning_rate).toBe(3e-4);
  });
});
