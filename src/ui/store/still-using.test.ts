// A load that fails leaves what was loaded before in use, and its error says so by name.

import { afterEach, describe, expect, it } from 'vitest';
import { setStudioWorker, type StudioRemote } from '../../worker/client';
import type { DatasetSummary, ImportedAdapterSummary, ModelSummary } from '../../worker/api';
import { useStudio } from './store';
import { loadModelFiles } from './model.actions';
import { loadDatasetFile } from './dataset.actions';
import { importAdapter } from './training.actions';

const demo = { name: 'lora-studio-demo-sql', fingerprint: 'fp' } as ModelSummary;
const reject = (message: string) => async () => {
  throw new Error(message);
};

afterEach(() => setStudioWorker(null));

describe('an error names what is still in use', () => {
  it('a model that fails to load: the previous model stays, named in the error', async () => {
    useStudio.setState((s) => ({ model: { ...s.model, status: 'ready', summary: demo, error: null } }));
    setStudioWorker({
      loadModelFiles: reject('model.safetensors: the header says 8,000,000 bytes but the file has 1,024'),
    } as unknown as StudioRemote);
    await loadModelFiles([{ path: 'broken/model.safetensors', file: new File(['x'], 'model.safetensors') }]);
    const m = useStudio.getState().model;
    expect(m.error).toBe(
      'model.safetensors: the header says 8,000,000 bytes but the file has 1,024 — still using lora-studio-demo-sql',
    );
    expect(m.summary).toBe(demo);
    expect(m.status).toBe('ready');
  });

  it('with nothing loaded before, the error is only the error', async () => {
    useStudio.setState((s) => ({ model: { ...s.model, status: 'empty', summary: null, error: null } }));
    setStudioWorker({ loadModelFiles: reject('config.json is missing from x') } as unknown as StudioRemote);
    await loadModelFiles([{ path: 'x/model.safetensors', file: new File(['x'], 'model.safetensors') }]);
    expect(useStudio.getState().model.error).toBe('config.json is missing from x');
  });

  it('a dataset that fails to load: the previous dataset stays, named in the error', async () => {
    const previous = { name: 'sql-demo.json', records: 400 } as DatasetSummary;
    useStudio.setState((s) => ({ dataset: { ...s.dataset, status: 'ready', summary: previous, error: null } }));
    setStudioWorker({
      loadDataset: reject('broken.jsonl line 3: not valid JSON (Unexpected token)'),
    } as unknown as StudioRemote);
    await loadDatasetFile(new File(['{'], 'broken.jsonl'));
    const d = useStudio.getState().dataset;
    expect(d.error).toBe('broken.jsonl line 3: not valid JSON (Unexpected token) — still using sql-demo.json');
    expect(d.summary).toBe(previous);
  });

  it('an adapter that fails to import: the previous adapter stays, named in the error', async () => {
    const previous = { name: 'sql-adapter', lora: { r: 8 } } as unknown as ImportedAdapterSummary;
    useStudio.setState({ adapter: { imported: previous, use: true, busy: false, error: null } });
    setStudioWorker({
      importAdapter: reject('adapter_config.json is missing from other-adapter'),
    } as unknown as StudioRemote);
    await importAdapter([{ path: 'other-adapter/adapter_model.safetensors', file: new File(['x'], 'a') }]);
    const a = useStudio.getState().adapter;
    expect(a.error).toBe('adapter_config.json is missing from other-adapter — still using sql-adapter');
    expect(a.imported).toBe(previous);
  });
});
