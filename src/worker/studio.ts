// Everything the studio worker holds and does: the GPU context, the base model and its weights,
// the dataset and its encoded examples, an imported adapter, the training session and the
// checkpoint store. studio.worker.ts exposes one instance through Comlink. Every method either
// returns plain data or rejects with a message naming what and where; a failure leaves what was
// loaded before in place (a new model or dataset replaces the old only once it has been read).

import { GpuContext } from '../engine/gpu/context';
import { Arena } from '../engine/gpu/arena';
import { gpuSelfTest } from '../engine/selftest';
import { Generator } from '../engine/sample/generator';
import type { GpuWeights } from '../engine/model/gpu-weights';
import { LoraLayout, type LoraSpec } from '../engine/model/lora';
import type { Example } from '../data/types';
import { parseDatasetStream, DatasetError, type DatasetRecord, type ParsedDataset } from '../data/parse';
import type { DatasetFormat, NormalizedRecord, RecordError } from '../data/formats';
import { firstUserContent } from '../data/formats';
import { encodeDataset, type ExampleEncoder } from '../data/encode';
import { splitTrainVal } from '../data/split';
import { datasetStats } from '../data/stats';
import { warmupSteps } from '../engine/train/schedule';
import { type Hparams, resolveTargets, validateHparams } from '../config/hparams';
import { downloadCheckpoint, DEFAULT_ENDPOINT } from '../io/hub';
import { readAdapter, type Adapter } from '../io/peft';
import { type FileSet, fileSetFromFiles } from '../io/source';
import { openModel, uploadModel, type LoadedModel } from '../run/model';
import { encoderFor, type PreparedData } from '../run/data';
import { TrainingRun } from '../run/run';
import { buildRecipe, zipRecipe } from '../recipe/recipe';
import { benchMemoryInput, benchTraining, type TrainBenchOptions } from '../bench/train';
import { describeEstimate, estimateMemory, fitProblem } from '../engine/model/memory';
import type {
  BenchEstimate,
  BenchRequest,
  BenchResult,
  CheckpointInfo,
  DatasetSummary,
  Estimate,
  ExportedRecipe,
  ExportedAdapterFiles,
  GpuInfo,
  ImportedAdapterSummary,
  LoadStatus,
  ModelSource,
  ModelSummary,
  PreparedSummary,
  PrepareOptions,
  PreviewRow,
  SampleOutput,
  SampleRequest,
  SampleResult,
  SampleToken,
  StartOptions,
  TrainEvent,
  ValidationPrompt,
} from './api';
import { CheckpointStore, newRunId } from './checkpoints';
import { GpuQueue } from './gpu-queue';
import { estimateRunMemory } from './memory';
import { DEMO_DATASET, demoFileSet, fetchOwn, fingerprint, stopIds, summarize } from './model-files';
import { opfsRoot } from './storage';
import { TrainingSession } from './training';
import { chatRecord } from '../run/chat';

type OnStatus = (s: LoadStatus) => void;

interface ModelState {
  loaded: LoadedModel;
  weights: GpuWeights;
  summary: ModelSummary;
  stopIds: number[];
}

interface DatasetState {
  blob: Blob;
  name: string;
  parsed: ParsedDataset;
  /** The user's format override (null: detected). */
  format: DatasetFormat | null;
  revision: number;
}

interface EncodedCache {
  key: string;
  examples: Example[];
  /** Examples with at least one trained token, in record order. */
  usable: Example[];
  errors: RecordError[];
}

/** A file handed over by the page: its path inside a dropped folder (or its name) and its bytes. */
export interface FileEntry {
  path: string;
  file: Blob;
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * At most one status message per interval; one that arrives too soon is held and sent when the
 * interval is over unless a newer one replaced it (so the page always ends on the latest state).
 * Start, end and ready messages go at once.
 */
function throttled(onStatus: OnStatus | undefined, ms = 80): OnStatus {
  let last = 0;
  let held: LoadStatus | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const send = (s: LoadStatus) => {
    last = performance.now();
    onStatus?.(s);
  };
  return (s) => {
    const final =
      (s.status === 'upload' && s.bytesDone === s.bytesTotal) ||
      (s.status === 'download' && s.loaded === s.total) ||
      (s.status === 'encode' && s.done === s.total) ||
      s.status === 'ready' ||
      s.status === 'initiate';
    if (final || performance.now() - last >= ms) {
      held = null;
      if (timer) clearTimeout(timer);
      timer = null;
      send(s);
      return;
    }
    held = s;
    timer ??= setTimeout(
      () => {
        timer = null;
        if (held) send(held);
        held = null;
      },
      ms - (performance.now() - last),
    );
  };
}

export class Studio {
  private ctxP: Promise<GpuContext> | null = null;
  private readonly queue = new GpuQueue();
  private model: ModelState | null = null;
  private dataset: DatasetState | null = null;
  private encoded: EncodedCache | null = null;
  private imported: { name: string; adapter: Adapter } | null = null;
  private sampleAbort: AbortController | null = null;
  private session: TrainingSession | null = null;
  private hubAbort: AbortController | null = null;
  private storeP: Promise<CheckpointStore | null> | null = null;
  private revision = 0;
  /** The records the current run was prepared from (the dataset may since have been replaced). */
  private runRecords: DatasetRecord[] | null = null;

  /** `base`: the studio's URL, where the demo files are served. */
  constructor(private readonly base: string) {}

  private context(): Promise<GpuContext> {
    if (!this.ctxP) {
      this.ctxP = GpuContext.create(self.navigator.gpu, { timestamps: true });
      this.ctxP.catch(() => (this.ctxP = null));
    }
    return this.ctxP;
  }

  private store(): Promise<CheckpointStore | null> {
    this.storeP ??= opfsRoot()
      .then((d) => new CheckpointStore(d))
      .catch(() => null);
    return this.storeP;
  }

  /** Opens the GPU and checks that it computes correctly. */
  async init(): Promise<GpuInfo> {
    const ctx = await this.context();
    const selftest = await this.queue.run(() => gpuSelfTest(ctx));
    const c = ctx.caps;
    return {
      selftest,
      isCpu: c.isCpu,
      subgroups: c.subgroups,
      limits: {
        maxBufferSize: c.maxBufferSize,
        maxStorageBufferBindingSize: c.maxStorageBufferBindingSize,
        maxStorageBuffersPerShaderStage: c.maxStorageBuffersPerShaderStage,
        maxComputeWorkgroupStorageSize: c.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: c.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupsPerDimension: c.maxComputeWorkgroupsPerDimension,
        minStorageBufferOffsetAlignment: c.minStorageBufferOffsetAlignment,
      },
    };
  }

  // ---- model ----------------------------------------------------------------------------------

  private assertNotTraining(what: string): void {
    if (this.session?.running) throw new Error(`a run is in progress: stop it before you ${what}`);
  }

  async loadDemoModel(onStatus?: OnStatus): Promise<ModelSummary> {
    onStatus?.({ status: 'initiate', task: 'model', name: 'demo model' });
    return this.installModel(await demoFileSet(this.base), { kind: 'demo' }, onStatus);
  }

  async loadModelFiles(entries: FileEntry[], onStatus?: OnStatus): Promise<ModelSummary> {
    if (entries.length === 0)
      throw new Error('no files were given: drop the model folder (config.json, *.safetensors, tokenizer files)');
    const files = fileSetFromFiles(
      entries.map((e) => ({ path: e.path, blob: e.file })),
      'model',
    );
    onStatus?.({ status: 'initiate', task: 'model', name: files.name });
    return this.installModel(files, { kind: 'files', name: files.name }, onStatus);
  }

  async loadHubModel(
    req: { repo: string; revision: string; accessToken: string; endpoint: string },
    onStatus?: OnStatus,
  ): Promise<ModelSummary> {
    this.assertNotTraining('load another model');
    const endpoint = req.endpoint.trim() || DEFAULT_ENDPOINT;
    const revision = req.revision.trim() || 'main';
    onStatus?.({ status: 'initiate', task: 'model', name: req.repo });
    this.hubAbort?.abort();
    const abort = (this.hubAbort = new AbortController());
    const report = throttled(onStatus);
    let files: FileSet;
    try {
      files = await downloadCheckpoint(req.repo, {
        endpoint,
        revision,
        accessToken: req.accessToken.trim() || undefined,
        signal: abort.signal,
        progressIntervalBytes: 64 * 1024,
        onProgress: (p) => report({ status: 'download', ...p }),
      });
    } finally {
      if (this.hubAbort === abort) this.hubAbort = null;
    }
    return this.installModel(files, { kind: 'hub', repo: files.hubRepoId ?? req.repo, revision, endpoint }, onStatus);
  }

  cancelDownload(): void {
    this.hubAbort?.abort();
  }

  private async installModel(files: FileSet, source: ModelSource, onStatus?: OnStatus): Promise<ModelSummary> {
    this.assertNotTraining('load another model');
    // Read and check everything before the current model is let go.
    const loaded = await openModel(files);
    const fp = await fingerprint(files);
    const stops = await stopIds(loaded);
    const ctx = await this.context();
    const report = throttled(onStatus);
    const summary = await this.queue.run(async () => {
      this.assertNotTraining('load another model');
      this.dropSession();
      if (this.model) this.model.weights.arena.destroy();
      this.model = null;
      const weights = await ctx.checked(`uploading ${files.name}`, () =>
        uploadModel(ctx, loaded, (p) => report({ status: 'upload', ...p })),
      );
      const summary = summarize(loaded, source, fp, files, weights.arena.allocatedBytes);
      this.model = { loaded, weights, summary, stopIds: stops };
      return summary;
    });
    this.encoded = null;
    if (this.imported && !this.adapterFits(this.imported.adapter)) this.imported = null;
    onStatus?.({ status: 'ready' });
    return summary;
  }

  private adapterFits(a: Adapter): boolean {
    const c = this.model?.loaded.checkpoint.config;
    return !!c && a.layout.config.hiddenSize === c.hiddenSize && a.layout.config.numLayers === c.numLayers;
  }

  private requireModel(why: string): ModelState {
    if (!this.model) throw new Error(`load a base model first: ${why}`);
    return this.model;
  }

  // ---- dataset --------------------------------------------------------------------------------

  async loadDemoDataset(onStatus?: OnStatus): Promise<DatasetSummary> {
    return this.loadDataset(await fetchOwn(`demo/${DEMO_DATASET}`, this.base), DEMO_DATASET, null, onStatus);
  }

  async loadDataset(
    file: Blob,
    name: string,
    format: DatasetFormat | null,
    onStatus?: OnStatus,
  ): Promise<DatasetSummary> {
    onStatus?.({ status: 'initiate', task: 'dataset', name });
    const parsed = await this.parse(file, name, format, onStatus);
    this.dataset = { blob: file, name, parsed, format, revision: ++this.revision };
    this.encoded = null;
    onStatus?.({ status: 'ready' });
    return this.datasetSummary();
  }

  /** Reads the current file again as `format` (null: detect from the records). */
  async setDatasetFormat(format: DatasetFormat | null, onStatus?: OnStatus): Promise<DatasetSummary> {
    const d = this.dataset;
    if (!d) throw new Error('no dataset is loaded');
    return this.loadDataset(d.blob, d.name, format, onStatus);
  }

  private async parse(file: Blob, name: string, format: DatasetFormat | null, onStatus?: OnStatus) {
    const report = throttled(onStatus);
    try {
      return await parseDatasetStream(file.stream(), {
        name,
        format: format ?? undefined,
        totalBytes: file.size,
        onProgress: (bytesRead, totalBytes) => report({ status: 'parse', bytesRead, totalBytes: totalBytes ?? null }),
      });
    } catch (e) {
      if (e instanceof DatasetError && e.errors.length > 1) {
        const more = e.errors
          .slice(1, 4)
          .map((x) => x.message)
          .join('; ');
        throw new Error(`${e.message}; then: ${more}${e.errors.length > 4 ? '; …' : ''}`, { cause: e });
      }
      throw new Error(errorText(e), { cause: e });
    }
  }

  private datasetSummary(): DatasetSummary {
    const d = this.dataset!;
    const p = d.parsed;
    return {
      name: d.name,
      bytes: d.blob.size,
      container: p.container,
      format: p.format,
      formatDetected: p.formatDetected,
      records: p.records.length,
      totalRecords: p.totalRecords,
      errorCount: p.errorCount,
      errors: p.errors.slice(0, 200),
      revision: d.revision,
    };
  }

  private requireDataset(): DatasetState {
    if (!this.dataset) throw new Error('load a dataset first (drop a JSON or JSONL file on the page)');
    return this.dataset;
  }

  private encoder(o: Pick<PrepareOptions, 'max_seq_length' | 'train_on_inputs'>): ExampleEncoder {
    const m = this.requireModel('records are rendered with its template and tokenizer');
    return encoderFor(m.loaded, o);
  }

  /** Records [start, start + count) rendered as the model will read them. */
  async preview(
    start: number,
    count: number,
    o: Pick<PrepareOptions, 'max_seq_length' | 'train_on_inputs'>,
  ): Promise<PreviewRow[]> {
    const d = this.requireDataset();
    const enc = this.encoder(o);
    const rows: PreviewRow[] = [];
    const end = Math.min(d.parsed.records.length, start + Math.min(count, 200));
    for (let i = Math.max(0, start); i < end; i++) {
      const r = d.parsed.records[i];
      try {
        const p = enc.renderForPreview(r);
        rows.push({ position: i, record: r.index, line: r.line, ...p });
      } catch (e) {
        rows.push({
          position: i,
          record: r.index,
          line: r.line,
          segments: [],
          numTokens: 0,
          numTrained: 0,
          truncated: false,
          error: errorText(e),
        });
      }
    }
    return rows;
  }

  private encode(o: PrepareOptions, onStatus?: OnStatus): EncodedCache {
    const d = this.requireDataset();
    const m = this.requireModel('records are tokenized with its tokenizer');
    const key = `${m.summary.fingerprint}|${d.revision}|${o.max_seq_length}|${o.train_on_inputs}`;
    if (this.encoded?.key === key) return this.encoded;
    const report = throttled(onStatus);
    const { examples, errors } = encodeDataset(d.parsed.records, this.encoder(o), (done, total) =>
      report({ status: 'encode', done, total }),
    );
    const usable = examples.filter((e) => {
      for (let t = 1; t < e.labels.length; t++) if (e.labels[t] !== -100) return true;
      return false;
    });
    this.encoded = { key, examples, usable, errors };
    return this.encoded;
  }

  private split(o: PrepareOptions, onStatus?: OnStatus): { enc: EncodedCache; data: PreparedData } {
    const enc = this.encode(o, onStatus);
    if (enc.examples.length === 0) throw new Error('no record of the dataset could be encoded for this model');
    if (enc.usable.length === 0) throw new Error('every record is masked out entirely: there is nothing to train on');
    const s = splitTrainVal(enc.usable.length, o.val_split_fraction, o.seed);
    return {
      enc,
      data: {
        train: s.train.map((i) => enc.usable[i]),
        val: s.val.map((i) => enc.usable[i]),
        stats: datasetStats(enc.examples),
        encodeErrors: enc.errors,
        records: this.dataset!.parsed.records.length,
      },
    };
  }

  /** Tokenizes every record for the model: statistics and the train/validation split. */
  async prepare(o: PrepareOptions, onStatus?: OnStatus): Promise<PreparedSummary> {
    const { enc, data } = this.split(o, onStatus);
    onStatus?.({ status: 'ready' });
    return {
      stats: data.stats,
      train: data.train.length,
      val: data.val.length,
      encodeErrors: enc.errors.slice(0, 200),
      withoutTargets: enc.examples.length - enc.usable.length,
      datasetRevision: this.dataset!.revision,
    };
  }

  // ---- estimate -------------------------------------------------------------------------------

  /** Trainable parameters, steps and GPU memory for these hyperparameters (no GPU work). */
  async estimate(h: Hparams): Promise<Estimate> {
    const m = this.requireModel('the estimate depends on its architecture');
    const c = m.loaded.checkpoint.config;
    const spec = loraSpec(h);
    const layout = new LoraLayout(c, spec);
    const trainable = layout.paramCount;
    const all = m.summary.params + trainable;
    const t = h.training;
    let totalSteps: number | null = null;
    let stepsPerEpoch: number | null = null;
    let train: number | null = null;
    let val: number | null = null;
    let maxSeq = t.max_seq_length;
    const key = this.dataset
      ? `${m.summary.fingerprint}|${this.dataset.revision}|${t.max_seq_length}|${t.train_on_inputs}`
      : null;
    if (key && this.encoded?.key === key && this.encoded.usable.length > 0 && t.val_split_fraction < 1) {
      const n = this.encoded.usable.length;
      const s = splitTrainVal(n, t.val_split_fraction, t.seed);
      train = s.train.length;
      val = s.val.length;
      if (train > 0) {
        const micro = Math.ceil(train / t.per_device_train_batch_size);
        stepsPerEpoch = Math.ceil(micro / t.gradient_accumulation_steps);
        totalSteps = t.max_steps > 0 ? t.max_steps : Math.ceil(t.num_train_epochs * stepsPerEpoch);
      }
      const longest = this.encoded.usable.reduce((a, e) => Math.max(a, e.inputIds.length), 1);
      maxSeq = Math.min(t.max_seq_length, Math.ceil(longest / 16) * 16);
    }
    return {
      trainableParams: trainable,
      trainableLine: `trainable params: ${trainable.toLocaleString('en-US')} || all params: ${all.toLocaleString('en-US')} || trainable%: ${((100 * trainable) / all).toFixed(4)}`,
      targetModules: spec.target_modules,
      totalSteps,
      stepsPerEpoch,
      warmupSteps: totalSteps === null ? null : warmupSteps(totalSteps, t.warmup_steps, t.warmup_ratio),
      train,
      val,
      memory: estimateRunMemory({
        config: c,
        weightBytes: m.summary.gpuBytes,
        lora: spec,
        maxBatch: t.per_device_train_batch_size,
        maxSeq,
      }),
    };
  }

  // ---- training -------------------------------------------------------------------------------

  private dropSession(): void {
    if (this.session?.running) throw new Error('a run is in progress');
    this.session?.destroy();
    this.session = null;
    this.runRecords = null;
  }

  /** Starts a new run; progress arrives through `emit`, once per optimizer step. */
  async start(opts: StartOptions, emit: (e: TrainEvent) => void): Promise<{ runId: string }> {
    assertValid(opts.hparams);
    const m = this.requireModel('there is nothing to fine-tune');
    const d = this.requireDataset();
    this.assertNotTraining('start another');
    let initialParams: Float32Array | undefined;
    let h = opts.hparams;
    if (opts.fromImportedAdapter) {
      if (!this.imported) throw new Error('no adapter is imported');
      const a = this.imported.adapter;
      h = {
        ...h,
        lora: {
          ...h.lora,
          r: a.spec.r,
          lora_alpha: a.spec.lora_alpha,
          target_modules: a.spec.target_modules,
          use_rslora: a.spec.use_rslora,
        },
      };
      initialParams = a.flat;
    }
    const { data } = this.split(h.training);
    const ctx = await this.context();
    const runId = newRunId();
    const run = await this.queue.run(async () => {
      this.dropSession();
      return ctx.checked(
        'setting up the run',
        () => new TrainingRun(ctx, m.loaded, m.weights, data, h, { initialParams }),
      );
    });
    const store = h.training.save_steps > 0 ? await this.store() : null;
    if (h.training.save_steps > 0 && !store) {
      emit({
        status: 'error',
        message: 'this browser gives no origin-private file system: checkpoints are off for this run',
        step: 0,
        fatal: false,
      });
    }
    if (store) {
      try {
        await store.createRun(
          {
            runId,
            createdAt: Date.now(),
            hparams: h,
            model: m.summary.source,
            modelName: m.summary.name,
            modelFingerprint: m.summary.fingerprint,
            dataset: { name: d.name, bytes: d.blob.size, format: d.format },
            totalSteps: run.totalSteps,
            fromImportedAdapter: opts.fromImportedAdapter,
          },
          d.blob,
        );
      } catch (e) {
        emit({ status: 'error', message: `checkpoints are off for this run: ${errorText(e)}`, step: 0, fatal: false });
      }
    }
    this.session = new TrainingSession(runId, run, ctx, this.queue, store, emit);
    this.runRecords = d.parsed.records;
    emit({
      status: 'started',
      runId,
      hparams: h,
      fromAdapter: opts.fromImportedAdapter ? this.imported!.name : null,
      totalSteps: run.totalSteps,
      stepsPerEpoch: run.sampler.stepsPerEpoch,
      trainableLine: run.trainableLine(),
      train: data.train.length,
      val: data.val.length,
      history: [],
      resumedFrom: null,
      activeMs: 0,
      gpuBytes: ctx.allocatedBytes,
    });
    this.session.start();
    return { runId };
  }

  pause(): void {
    this.session?.pause();
  }

  resume(): void {
    this.session?.resume();
  }

  async stop(): Promise<void> {
    await this.session?.stop();
  }

  /** Validation loss of the current adapter, now. */
  async evaluate(): Promise<number> {
    const s = this.session;
    if (!s) throw new Error('there is no run to evaluate');
    if (s.run.evalBatches.length === 0) throw new Error('this run has no validation split (val_split_fraction is 0)');
    return this.queue.run(() => s.run.trainer.evaluate());
  }

  // ---- checkpoints ----------------------------------------------------------------------------

  async listCheckpoints(): Promise<CheckpointInfo[]> {
    const store = await this.store();
    return store ? store.list() : [];
  }

  async deleteCheckpoint(runId: string): Promise<void> {
    if (this.session?.runId === runId && this.session.running) throw new Error('this run is in progress');
    await (await this.store())?.delete(runId);
  }

  /**
   * Continues a saved run from its newest checkpoint. The base model must be loaded (the page
   * loads the demo or asks for the folder); the dataset comes from the run's own copy.
   */
  async resumeRun(
    runId: string,
    emit: (e: TrainEvent) => void,
  ): Promise<{ dataset: DatasetSummary; hparams: Hparams }> {
    this.assertNotTraining('resume another');
    const store = await this.store();
    if (!store) throw new Error('this browser gives no origin-private file system, where checkpoints live');
    const saved = await store.load(runId);
    const rec = saved.run;
    const m = this.requireModel(`the run was trained on ${rec.modelName}`);
    if (m.summary.fingerprint !== rec.modelFingerprint) {
      throw new Error(
        `the loaded model (${m.summary.name}) is not the one this run was trained on (${rec.modelName}); load that model and resume again`,
      );
    }
    const blob = await store.dataset(runId);
    await this.loadDataset(blob, rec.dataset.name, rec.dataset.format);
    const h = rec.hparams;
    const { data } = this.split(h.training);
    const ctx = await this.context();
    const run = await this.queue.run(async () => {
      this.dropSession();
      const r = await ctx.checked('setting up the run', () => new TrainingRun(ctx, m.loaded, m.weights, data, h));
      if (r.totalSteps !== rec.totalSteps) {
        r.destroy();
        throw new Error(
          `the saved run has ${rec.totalSteps} steps but would now have ${r.totalSteps}; it cannot continue`,
        );
      }
      r.restore(saved.state);
      return r;
    });
    const session = new TrainingSession(runId, run, ctx, this.queue, store, emit);
    session.history.push(...saved.history);
    session.activeMs = saved.activeMs;
    this.session = session;
    this.runRecords = this.dataset!.parsed.records;
    emit({
      status: 'started',
      runId,
      hparams: h,
      fromAdapter: rec.fromImportedAdapter ? 'an imported adapter' : null,
      totalSteps: run.totalSteps,
      stepsPerEpoch: run.sampler.stepsPerEpoch,
      trainableLine: run.trainableLine(),
      train: data.train.length,
      val: data.val.length,
      history: saved.history,
      resumedFrom: saved.state.step,
      activeMs: saved.activeMs,
      gpuBytes: ctx.allocatedBytes,
    });
    session.start();
    return { dataset: this.datasetSummary(), hparams: h };
  }

  // ---- samples --------------------------------------------------------------------------------

  /** The validation split's prompts: the run's, or those the current settings would hold out. */
  async validationPrompts(o: PrepareOptions, limit = 50): Promise<ValidationPrompt[]> {
    const val = this.session ? this.session.run.data.val : this.split(o).data.val;
    return val.slice(0, limit).flatMap((e, index) => {
      const r = this.recordAt(e.record);
      return r ? [{ index, record: e.record, text: firstUserContent(r), reference: lastAnswer(r) }] : [];
    });
  }

  /** A record by its number in the file: from the run's dataset while a run exists. */
  private recordAt(record: number): DatasetRecord | undefined {
    const records = this.runRecords ?? this.dataset?.parsed.records ?? [];
    let lo = 0;
    let hi = records.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const x = records[mid].index;
      if (x === record) return records[mid];
      if (x < record) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** Stops the generation in progress (its result says 'aborted'); nothing when none runs. */
  cancelSample(): void {
    this.sampleAbort?.abort();
  }

  async sample(req: SampleRequest, onToken?: SampleToken): Promise<SampleResult> {
    const m = this.requireModel('there is nothing to sample from');
    let record: NormalizedRecord;
    let reference: string | null = null;
    if (req.turns) {
      record = chatRecord(req.turns, req.system);
    } else if (req.record !== undefined) {
      const r = this.recordAt(req.record);
      if (!r) throw new Error(`record #${req.record} is not in the dataset`);
      record = r;
      reference = lastAnswer(r);
    } else {
      const text = (req.text ?? '').trim();
      if (!text) throw new Error('type a prompt or pick a validation record');
      record = {
        turns: [
          { role: 'user', content: text },
          { role: 'assistant', content: '' },
        ],
      };
    }
    const loaded = m.loaded;
    const rendered = loaded.format.renderPrompt(record);
    let ids = loaded.tokenizer.encode(rendered, { addSpecialTokens: false });
    const bos = loaded.tokenizer.bos;
    if (loaded.tokenizer.addBosToken && bos && ids[0] !== bos.id) ids = [bos.id, ...ids];
    const ctx = await this.context();
    const session = this.session;
    // Created before the queue: a Stop while training holds the GPU still lands.
    const abort = new AbortController();
    this.sampleAbort = abort;
    return this.queue.run(async () => {
      let adapter: { layout: LoraLayout; flat: Float32Array; label: string } | null = null;
      if (session) {
        adapter = {
          layout: session.run.trainer.layout,
          flat: await session.run.trainer.adapterParams(),
          label: `step ${session.step}`,
        };
      } else if (this.imported) {
        adapter = { layout: this.imported.adapter.layout, flat: this.imported.adapter.flat, label: this.imported.name };
      }
      const models = req.models ?? 'both';
      if (models === 'adapter' && !adapter) {
        throw new Error('there is no adapter yet: start training or import one, or switch the adapter off');
      }
      const c = loaded.checkpoint.config;
      const maxLen = Math.min(2048, c.maxPositionEmbeddings, ids.length + req.maxNewTokens + 1);
      if (ids.length >= maxLen)
        throw new Error(`the prompt has ${ids.length} tokens; the model reads at most ${maxLen - 1}`);
      let arena: Arena | null = null;
      let lora: ConstructorParameters<typeof Generator>[3] = null;
      if (adapter) {
        arena = new Arena(ctx, 'sample adapter');
        const params = arena.add([adapter.layout.size], 'f32', 'sample adapter');
        arena.allocate();
        ctx.upload(params, adapter.flat);
        lora = { layout: adapter.layout, params };
      }
      const gen = new Generator(ctx, c, m.weights, lora, maxLen);
      const one = async (withAdapter: boolean): Promise<SampleOutput> => {
        const t0 = performance.now();
        const out: number[] = [];
        let lastSent = 0;
        const r = await gen.generate(ids, {
          signal: abort.signal,
          maxNewTokens: req.maxNewTokens,
          temperature: req.temperature,
          topP: req.topP,
          seed: req.seed,
          stopIds: m.stopIds,
          withAdapter,
          onToken: (id) => {
            out.push(id);
            const now = performance.now();
            if (onToken && now - lastSent > 60) {
              lastSent = now;
              onToken(withAdapter ? 'tuned' : 'base', loaded.tokenizer.decode(out, { skipSpecialTokens: false }));
            }
          },
        });
        return {
          text: loaded.tokenizer.decode(r.ids, { skipSpecialTokens: false }),
          reply: loaded.tokenizer.decode(r.ids, { skipSpecialTokens: true }).trim(),
          tokens: r.ids.length,
          stoppedBy: r.stoppedBy,
          ms: performance.now() - t0,
        };
      };
      try {
        const base =
          models !== 'adapter' ? await ctx.checked('generating with the base model', () => one(false)) : null;
        const tuned =
          adapter && models !== 'base' ? await ctx.checked('generating with the adapter', () => one(true)) : null;
        return {
          prompt: req.turns ? req.turns[req.turns.length - 1].content : firstUserContent(record),
          rendered,
          reference,
          base,
          tuned,
          adapterLabel: adapter?.label ?? null,
        };
      } finally {
        if (this.sampleAbort === abort) this.sampleAbort = null;
        gen.destroy();
        arena?.destroy();
      }
    });
  }

  // ---- recipe ---------------------------------------------------------------------------------

  /**
   * The run as a Hugging Face transformers + PEFT + Accelerate folder, zipped: the current model,
   * dataset and these hyperparameters (the run's own, when it imported an adapter's r and targets).
   */
  async exportRecipe(h: Hparams): Promise<ExportedRecipe> {
    assertValid(h);
    const m = this.requireModel('the recipe names its base model and uses its tokenizer');
    const d = this.requireDataset();
    const { data } = this.split(h.training);
    const files = buildRecipe({
      run: { hparams: h, baseModelNameOrPath: m.summary.baseModelNameOrPath },
      tokenizer: m.loaded.tokenizer,
      format: m.loaded.format,
      dataset: { name: d.name, format: d.parsed.format, records: d.parsed.records },
      data,
    });
    return {
      zip: zipRecipe(files),
      files: [...files.keys()],
      train: data.train.length,
      val: data.val.length,
      baseModel: m.summary.baseModelNameOrPath,
    };
  }

  // ---- benchmark ------------------------------------------------------------------------------

  private benchOptions(r: BenchRequest, log?: (line: string) => void): TrainBenchOptions {
    return { ...r, targets: resolveTargets(r.targets), log };
  }

  /** The benchmark's memory estimate on this adapter, and why it cannot run, if it cannot. */
  async benchEstimate(r: BenchRequest): Promise<BenchEstimate> {
    const ctx = await this.context();
    const input = benchMemoryInput(ctx.caps, this.benchOptions(r));
    const e = estimateMemory(input);
    return { bytes: e.total, text: describeEstimate(e), problem: fitProblem(input) };
  }

  /**
   * One configuration of `npm run bench`, here on the browser's adapter: random weights of the
   * shape, timed LoRA optimizer steps. Not while a run trains (they would share the GPU).
   */
  async bench(r: BenchRequest, onLine?: (line: string) => void): Promise<BenchResult> {
    this.assertNotTraining('benchmark the GPU');
    const ctx = await this.context();
    return this.queue.run(() => {
      this.assertNotTraining('benchmark the GPU');
      return ctx.checked(`benchmarking ${r.shape}`, () => benchTraining(ctx, this.benchOptions(r, onLine)));
    });
  }

  // ---- adapters -------------------------------------------------------------------------------

  /** The PEFT adapter of the run: its current weights, or the best by validation loss. */
  async exportAdapter(which: 'last' | 'best'): Promise<ExportedAdapterFiles> {
    const s = this.session;
    if (!s) throw new Error('there is no trained adapter to export yet');
    const a = await this.queue.run(() => s.run.exportAdapter(which));
    return { safetensors: a.safetensors, config: a.config, step: a.step, evalLoss: a.evalLoss };
  }

  async importAdapter(entries: FileEntry[]): Promise<ImportedAdapterSummary> {
    const m = this.requireModel('an adapter belongs to a base model');
    const files = fileSetFromFiles(
      entries.map((e) => ({ path: e.path, blob: e.file })),
      'adapter',
    );
    const adapter = await readAdapter(files, m.loaded.checkpoint.config);
    this.imported = { name: files.name, adapter };
    const s = adapter.spec;
    return {
      name: files.name,
      lora: { r: s.r, lora_alpha: s.lora_alpha, target_modules: s.target_modules, use_rslora: s.use_rslora },
      params: adapter.layout.paramCount,
    };
  }

  clearImportedAdapter(): void {
    this.imported = null;
  }
}

/** Rejects hyperparameters the form would mark, naming the first field. */
function assertValid(h: Hparams): void {
  const issues = validateHparams(h);
  if (issues.length) throw new Error(`${issues[0].path}: ${issues[0].message}`);
}

function loraSpec(h: Hparams): LoraSpec {
  return {
    r: h.lora.r,
    lora_alpha: h.lora.lora_alpha,
    lora_dropout: h.lora.lora_dropout,
    target_modules: resolveTargets(h.lora.target_modules),
    use_rslora: h.lora.use_rslora,
  };
}

function lastAnswer(r: NormalizedRecord): string {
  for (let i = r.turns.length - 1; i >= 0; i--) if (r.turns[i].role === 'assistant') return r.turns[i].content;
  return '';
}
