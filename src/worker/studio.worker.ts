// The studio's Web Worker: owns the GPU device and everything that runs on it, exposed to the page
// through Comlink (typed by StudioApi). Nothing here touches the DOM. Callbacks from the page
// (progress, training events, streamed sample text) arrive as Comlink proxies; adapter files go
// back as transferables.

import * as Comlink from 'comlink';
import type { Hparams } from '../config/hparams';
import type { DatasetFormat } from '../data/formats';
import type {
  BenchRequest,
  LoadStatus,
  PrepareOptions,
  SampleRequest,
  SampleToken,
  StartOptions,
  TrainEvent,
} from './api';
import { Studio, type FileEntry } from './studio';
import type { ExportProgress, ExportRequest } from '../run/export-model';

const studio = new Studio(new URL(import.meta.env.BASE_URL, self.location.origin).href);

type OnStatus = (s: LoadStatus) => void;

export const api = {
  init: () => studio.init(),
  loadDemoModel: (onStatus?: OnStatus) => studio.loadDemoModel(onStatus),
  loadModelFiles: (files: FileEntry[], onStatus?: OnStatus) => studio.loadModelFiles(files, onStatus),
  loadHubModel: (req: { repo: string; revision: string; accessToken: string; endpoint: string }, onStatus?: OnStatus) =>
    studio.loadHubModel(req, onStatus),
  cancelDownload: () => studio.cancelDownload(),
  loadDemoDataset: (onStatus?: OnStatus) => studio.loadDemoDataset(onStatus),
  loadDataset: (file: Blob, name: string, format: DatasetFormat | null, onStatus?: OnStatus) =>
    studio.loadDataset(file, name, format, onStatus),
  setDatasetFormat: (format: DatasetFormat | null, onStatus?: OnStatus) => studio.setDatasetFormat(format, onStatus),
  preview: (
    start: number,
    count: number,
    o: Pick<PrepareOptions, 'max_seq_length' | 'train_on_inputs' | 'mask_history'>,
  ) => studio.preview(start, count, o),
  prepare: (o: PrepareOptions, onStatus?: OnStatus) => studio.prepare(o, onStatus),
  estimate: (h: Hparams) => studio.estimate(h),
  start: (opts: StartOptions, emit: (e: TrainEvent) => void) => studio.start(opts, emit),
  pause: () => studio.pause(),
  resume: () => studio.resume(),
  stop: () => studio.stop(),
  evaluate: () => studio.evaluate(),
  validationPrompts: (o: PrepareOptions, limit?: number) => studio.validationPrompts(o, limit),
  sample: (req: SampleRequest, onToken?: SampleToken) => studio.sample(req, onToken),
  exportModel: (
    which: 'last' | 'best',
    req: ExportRequest,
    dir: FileSystemDirectoryHandle | null,
    onProgress?: (p: ExportProgress) => void,
  ) => studio.exportModel(which, req, dir, onProgress),
  cancelSample: () => studio.cancelSample(),
  async exportAdapter(which: 'last' | 'best') {
    const a = await studio.exportAdapter(which);
    return Comlink.transfer(a, [a.safetensors.buffer as ArrayBuffer]);
  },
  async exportRecipe(h: Hparams) {
    const r = await studio.exportRecipe(h);
    return Comlink.transfer(r, [r.zip.buffer as ArrayBuffer]);
  },
  benchEstimate: (r: BenchRequest) => studio.benchEstimate(r),
  bench: (r: BenchRequest, onLine?: (line: string) => void) => studio.bench(r, onLine),
  importAdapter: (files: FileEntry[]) => studio.importAdapter(files),
  clearImportedAdapter: () => studio.clearImportedAdapter(),
  listCheckpoints: () => studio.listCheckpoints(),
  deleteCheckpoint: (runId: string) => studio.deleteCheckpoint(runId),
  resumeRun: (runId: string, emit: (e: TrainEvent) => void) => studio.resumeRun(runId, emit),
};

export type StudioApi = typeof api;

Comlink.expose(api);
