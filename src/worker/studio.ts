// The studio worker's facade over src/run: it holds what the page has loaded (the GPU context, the
// base model and its weights, the dataset and its encoding, an imported adapter, the training
// session, the checkpoint store), runs every GPU job through one queue, throttles progress
// events, and keeps checkpoints in the browser's storage. What each action does is src/run's
// (the CLI calls the same functions). studio.worker.ts exposes one instance through Comlink.
// Every method either returns plain data or rejects with a message naming what and where; a
// failure leaves what was loaded before in place.

import { GpuContext } from '../engine/gpu/context';
import { gpuSelfTest } from '../engine/selftest';
import type { GpuWeights } from '../engine/model/gpu-weights';
import type { DatasetRecord, ParsedDataset } from '../data/parse';
import type { DatasetFormat } from '../data/formats';
import { firstUserContent } from '../data/formats';
import { type Hparams, resolveTargets, validateHparams, withDefaults } from '../config/hparams';
import { downloadCheckpoint, DEFAULT_ENDPOINT } from '../io/hub';
import { readAdapter, type Adapter } from '../io/peft';
import { type FileSet, fileSetFromFiles } from '../io/source';
import { openModel, uploadModel, type LoadedModel, type ModelOrigin } from '../run/model';
import {
  dataNotes,
  encodeData,
  previewRecords,
  readDataset,
  splitData,
  type EncodedData,
  type PreparedData,
} from '../run/data';
import { estimateRun } from '../run/plan';
import { continueFrom, recipeFor } from '../run/export';
import {
  chatConversation,
  conversationOf,
  encodePrompt,
  lastAnswer,
  recordByNumber,
  sample,
  validationPrompts,
  type Conversation,
  type SampleAdapter,
  type Sampled,
  type Side,
} from '../run/sample';
import { TrainingRun } from '../run/run';
import { quantOptions, useWeights } from '../run/quant';
import { zipRecipe } from '../recipe/recipe';
import { type ExportProgress, type ExportRequest, runExport, trainedAdapter } from '../run/export-model';
import { BlobFolder, directoryHandleSink } from '../io/sink';
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
  ExportedModel,
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
import { CheckpointStore, newRunId, type LoadedCheckpoint } from '../run/checkpoints';
import { GpuQueue } from './gpu-queue';
import { throttled } from './throttle';
import { DEMO_DATASET, demoFileSet, fetchOwn, summarize } from './model-files';
import { opfsRoot } from './storage';
import { TrainingSession, type CheckpointSink } from '../run/session';

type OnStatus = (s: LoadStatus) => void;

interface ModelState {
  files: FileSet;
  loaded: LoadedModel;
  weights: GpuWeights;
  summary: ModelSummary;
}

interface DatasetState {
  blob: Blob;
  name: string;
  parsed: ParsedDataset;
  /** The user's format override (null: detected). */
  format: DatasetFormat | null;
  revision: number;
}

/** A file handed over by the page: its path inside a dropped folder (or its name) and its bytes. */
export interface FileEntry {
  path: string;
  file: Blob;
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class Studio {
  private ctxP: Promise<GpuContext> | null = null;
  private readonly queue = new GpuQueue();
  private model: ModelState | null = null;
  private dataset: DatasetState | null = null;
  private encoded: { key: string; enc: EncodedData } | null = null;
  private imported: { name: string; adapter: Adapter } | null = null;
  private sampleAbort: AbortController | null = null;
  private session: TrainingSession | null = null;
  private hubAbort: AbortController | null = null;
  private storeP: Promise<CheckpointStore<ModelSource> | null> | null = null;
  private revision = 0;
  /** The records the current run was prepared from (the dataset may since have been replaced). */
  private runRecords: DatasetRecord[] | null = null;

  /**
   * `base`: the studio's URL, where the demo files are served. `gpu`: the WebGPU entry point
   * (the worker's navigator.gpu unless given, e.g. Dawn's in Node).
   */
  constructor(
    private readonly base: string,
    private readonly gpu?: GPU,
  ) {}

  private context(): Promise<GpuContext> {
    if (!this.ctxP) {
      this.ctxP = GpuContext.create(this.gpu ?? self.navigator.gpu, { timestamps: true });
      this.ctxP.catch(() => (this.ctxP = null));
    }
    return this.ctxP;
  }

  private store(): Promise<CheckpointStore<ModelSource> | null> {
    this.storeP ??= opfsRoot()
      .then((d) => new CheckpointStore<ModelSource>(d))
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
    const origin: ModelOrigin = source.kind === 'hub' ? { kind: 'hub', repo: source.repo } : { kind: source.kind };
    const loaded = await openModel(files, origin);
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
      const summary = summarize(loaded, source, files, weights.arena.allocatedBytes);
      this.model = { files, loaded, weights, summary };
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
    return readDataset(file.stream(), {
      name,
      format: format ?? undefined,
      totalBytes: file.size,
      onProgress: (bytesRead, totalBytes) => report({ status: 'parse', bytesRead, totalBytes: totalBytes ?? null }),
    });
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

  /** Records [start, start + count) rendered as the model will read them. */
  async preview(
    start: number,
    count: number,
    o: Pick<PrepareOptions, 'max_seq_length' | 'train_on_inputs' | 'mask_history'>,
  ): Promise<PreviewRow[]> {
    const d = this.requireDataset();
    const m = this.requireModel('records are rendered with its template and tokenizer');
    return previewRecords(d.parsed.records, m.loaded, o, start, count);
  }

  private encodingKey(o: Pick<PrepareOptions, 'max_seq_length' | 'train_on_inputs' | 'mask_history'>): string | null {
    if (!this.model || !this.dataset) return null;
    return `${this.model.summary.fingerprint}|${this.dataset.revision}|${o.max_seq_length}|${o.train_on_inputs}|${o.mask_history ?? false}`;
  }

  /** The dataset encoded for the model (kept while only the split settings change). */
  private encode(o: PrepareOptions, onStatus?: OnStatus): EncodedData {
    const d = this.requireDataset();
    const m = this.requireModel('records are tokenized with its tokenizer');
    const key = this.encodingKey(o)!;
    if (this.encoded?.key === key) return this.encoded.enc;
    const report = throttled(onStatus);
    const enc = encodeData(d.parsed, m.loaded, o, (done, total) => report({ status: 'encode', done, total }));
    this.encoded = { key, enc };
    return enc;
  }

  private split(o: PrepareOptions, onStatus?: OnStatus): { data: PreparedData } {
    return { data: splitData(this.encode(o, onStatus), o) };
  }

  /** Tokenizes every record for the model: statistics and the train/validation split. */
  async prepare(o: PrepareOptions, onStatus?: OnStatus): Promise<PreparedSummary> {
    const { data } = this.split(o, onStatus);
    onStatus?.({ status: 'ready' });
    return {
      stats: data.stats,
      train: data.train.length,
      val: data.val.length,
      encodeErrors: data.encodeErrors.slice(0, 200),
      withoutTargets: data.withoutTargets,
      cutAway: data.cutAway.slice(0, 200),
      fit: data.fit,
      notes: dataNotes(data, o.max_seq_length),
      datasetRevision: this.dataset!.revision,
    };
  }

  // ---- estimate -------------------------------------------------------------------------------

  /** Trainable parameters, steps and GPU memory for these hyperparameters (no GPU work). */
  async estimate(h: Hparams): Promise<Estimate> {
    const m = this.requireModel('the estimate depends on its architecture');
    const ctx = await this.context();
    // The data, once the page has prepared it for this model and these encoding settings.
    const enc = this.encoded?.key === this.encodingKey(h.training) ? this.encoded.enc : null;
    const data = enc && enc.usable.length > 0 ? splitData(enc, h.training) : null;
    return estimateRun(m.loaded, h, ctx.caps, data, m.weights);
  }

  // ---- training -------------------------------------------------------------------------------

  private dropSession(): void {
    if (this.session?.running) throw new Error('a run is in progress');
    this.session?.destroy();
    this.session = null;
    this.runRecords = null;
  }

  /**
   * The base weights in the form `h` asks for, a run on them (restored from `saved` when it
   * continues one), its session and the 'started' event: what a new and a resumed run share.
   */
  private async launch(
    runId: string,
    h: Hparams,
    emit: (e: TrainEvent) => void,
    o: {
      initialParams?: Float32Array;
      saved?: LoadedCheckpoint & { totalSteps: number };
      /** Where the session saves its checkpoints, once the run (its step count) exists. */
      checkpoints: (run: TrainingRun) => Promise<CheckpointSink | null>;
      fromAdapter: string | null;
    },
  ): Promise<void> {
    const m = this.requireModel('there is nothing to fine-tune');
    const { data } = this.split(h.training);
    const ctx = await this.context();
    const saved = o.saved;
    const run = await this.queue.run(async () => {
      this.dropSession();
      await ctx.checked('uploading the base weights', () => useWeights(ctx, m.loaded, m, quantOptions(h).nf4));
      const r = await ctx.checked(
        'setting up the run',
        () => new TrainingRun(ctx, m.loaded, m.weights, data, h, { initialParams: o.initialParams }),
      );
      if (saved && r.totalSteps !== saved.totalSteps) {
        r.destroy();
        throw new Error(
          `the saved run has ${saved.totalSteps} steps but would now have ${r.totalSteps}; it cannot continue`,
        );
      }
      if (saved) r.restore(saved.state);
      return r;
    });
    const checkpoints = await o.checkpoints(run);
    const session = new TrainingSession(runId, run, emit, {
      queue: this.queue,
      checkpoints,
      resumed: saved ? { history: saved.history, activeMs: saved.activeMs } : undefined,
    });
    this.session = session;
    this.runRecords = this.dataset!.parsed.records;
    emit({
      status: 'started',
      runId,
      hparams: h,
      fromAdapter: o.fromAdapter,
      totalSteps: run.totalSteps,
      stepsPerEpoch: run.sampler.stepsPerEpoch,
      trainableLine: run.trainableLine(),
      train: data.train.length,
      val: data.val.length,
      history: saved?.history ?? [],
      resumedFrom: saved?.state.step ?? null,
      activeMs: saved?.activeMs ?? 0,
      gpuBytes: ctx.allocatedBytes,
    });
    void session.start();
  }

  /** Starts a new run; progress arrives through `emit`, once per optimizer step. */
  async start(opts: StartOptions, emit: (e: TrainEvent) => void): Promise<{ runId: string }> {
    assertValid(opts.hparams);
    const m = this.requireModel('there is nothing to fine-tune');
    const d = this.requireDataset();
    this.assertNotTraining('start another');
    if (opts.fromImportedAdapter && !this.imported) throw new Error('no adapter is imported');
    const imported = opts.fromImportedAdapter ? this.imported! : null;
    const { hparams: h, initialParams } = continueFrom(opts.hparams, imported?.adapter ?? null);
    const runId = newRunId();
    // Checkpoints are on for every run (save_steps, or the time rule when it is 0).
    const withStore = async (run: TrainingRun): Promise<CheckpointSink | null> => {
      const store = await this.store();
      if (!store) {
        emit({
          status: 'error',
          message: 'this browser gives no origin-private file system: checkpoints are off for this run',
          step: 0,
          fatal: false,
        });
        return null;
      }
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
        return storeSink(store, runId);
      } catch (e) {
        emit({ status: 'error', message: `checkpoints are off for this run: ${errorText(e)}`, step: 0, fatal: false });
        return null;
      }
    };
    await this.launch(runId, h, emit, {
      initialParams,
      checkpoints: withStore,
      fromAdapter: imported?.name ?? null,
    });
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
    const h = withDefaults(rec.hparams);
    await this.launch(runId, h, emit, {
      saved: { ...saved, totalSteps: rec.totalSteps },
      checkpoints: async () => storeSink(store, runId),
      fromAdapter: rec.fromImportedAdapter ? 'an imported adapter' : null,
    });
    return { dataset: this.datasetSummary(), hparams: h };
  }

  // ---- samples --------------------------------------------------------------------------------

  /** The validation split's prompts: the run's, or those the current settings would hold out. */
  async validationPrompts(o: PrepareOptions, limit = 50): Promise<ValidationPrompt[]> {
    const val = this.session ? this.session.run.data.val : this.split(o).data.val;
    return validationPrompts(val, this.records(), limit);
  }

  /** The records samples refer to: the run's dataset while a run exists. */
  private records(): DatasetRecord[] {
    return this.runRecords ?? this.dataset?.parsed.records ?? [];
  }

  /** Stops the generation in progress (its result says 'aborted'); nothing when none runs. */
  cancelSample(): void {
    this.sampleAbort?.abort();
  }

  async sample(req: SampleRequest, onToken?: SampleToken): Promise<SampleResult> {
    const m = this.requireModel('there is nothing to sample from');
    let conversation: Conversation;
    let reference: string | null = null;
    let shown: string;
    if (req.record !== undefined) {
      const r = recordByNumber(this.records(), req.record);
      if (!r) throw new Error(`record #${req.record} is not in the dataset`);
      conversation = conversationOf(r);
      reference = lastAnswer(r);
      shown = firstUserContent(r);
    } else {
      if (req.turns) {
        conversation = chatConversation(req.turns, req.system);
      } else {
        const text = (req.text ?? '').trim();
        if (!text) throw new Error('type a prompt or pick a validation record');
        conversation = { system: req.system, turns: [{ role: 'user', content: text }] };
      }
      shown = conversation.turns.at(-1)!.content;
    }
    const loaded = m.loaded;
    const prompt = encodePrompt(loaded, conversation);
    const ctx = await this.context();
    const session = this.session;
    // Created before the queue: a Stop while training holds the GPU still lands.
    const abort = new AbortController();
    this.sampleAbort = abort;
    return this.queue.run(async () => {
      let adapter: (SampleAdapter & { label: string }) | null = null;
      if (session) {
        const t = session.run.trainer;
        adapter = { layout: t.layout, flat: await t.adapterParams(), label: `step ${session.step}` };
      } else if (this.imported) {
        adapter = { ...this.imported.adapter, label: this.imported.name };
      }
      const models = req.models ?? 'both';
      if (models === 'adapter' && !adapter) {
        throw new Error('there is no adapter yet: start training or import one, or switch the adapter off');
      }
      const sides: Side[] =
        models === 'both' ? (adapter ? ['base', 'tuned'] : ['base']) : models === 'base' ? ['base'] : ['tuned'];
      const decode = (ids: readonly number[], skipSpecialTokens = false) =>
        loaded.tokenizer.decode(ids, { skipSpecialTokens });
      let lastSent = 0;
      try {
        const out = await sample(
          ctx,
          loaded,
          m.weights,
          adapter,
          prompt.ids,
          {
            maxNewTokens: req.maxNewTokens,
            temperature: req.temperature,
            topP: req.topP,
            seed: req.seed,
            signal: abort.signal,
            onToken: (side, ids) => {
              const now = performance.now();
              // The first token at once, then at most one update per 60 ms.
              if (onToken && (ids.length === 1 || now - lastSent > 60)) {
                lastSent = now;
                onToken(side, decode(ids));
              }
            },
          },
          sides,
        );
        const present = (s: Sampled | undefined): SampleOutput | null =>
          s
            ? {
                text: decode(s.ids),
                reply: decode(s.ids, true).trim(),
                tokens: s.ids.length,
                stoppedBy: s.stoppedBy,
                ms: s.ms,
              }
            : null;
        return {
          prompt: shown,
          rendered: prompt.text,
          reference,
          base: present(out.base),
          tuned: present(out.tuned),
          adapterLabel: adapter?.label ?? null,
        };
      } finally {
        if (this.sampleAbort === abort) this.sampleAbort = null;
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
    const files = recipeFor(m.loaded, { name: d.name, format: d.parsed.format, records: d.parsed.records }, data, h);
    return {
      zip: zipRecipe(files),
      files: [...files.keys()],
      train: data.train.length,
      val: data.val.length,
      baseModel: m.loaded.info.baseModelNameOrPath,
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

  /** Merged / GGUF / GGUF LoRA export (src/run/export.ts) into the folder the page picked, else as Blobs to download. */
  async exportModel(
    which: 'last' | 'best',
    req: ExportRequest,
    dir: FileSystemDirectoryHandle | null,
    onProgress?: (p: ExportProgress) => void,
  ): Promise<ExportedModel> {
    const m = this.requireModel('an export starts from the base model');
    const s = this.session;
    const adapter = s ? await this.queue.run(() => trainedAdapter(s.run, which)) : (this.imported?.adapter ?? null);
    const out = dir ? directoryHandleSink(dir) : new BlobFolder();
    const res = await runExport(m.files, adapter, out, req, onProgress);
    return {
      files: res.files,
      downloads: out instanceof BlobFolder ? [...out.files].map(([name, blob]) => ({ name, blob })) : null,
    };
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
      lora: {
        r: s.r,
        lora_alpha: s.lora_alpha,
        target_modules: s.target_modules,
        use_rslora: s.use_rslora,
        use_dora: !!s.use_dora,
        target_regex: s.target_regex ?? null,
        layers_to_transform: s.layers_to_transform ?? null,
        rank_pattern: s.rank_pattern ?? {},
        alpha_pattern: s.alpha_pattern ?? {},
      },
      params: adapter.layout.paramCount,
    };
  }

  clearImportedAdapter(): void {
    this.imported = null;
  }
}

/** One run of the browser's store, as a training session's checkpoint sink. */
function storeSink(store: CheckpointStore<ModelSource>, runId: string): CheckpointSink {
  return { save: (c) => store.save(runId, c), finished: (end) => store.markFinished(runId, end) };
}

/** Rejects hyperparameters the form would mark, naming the first field. */
function assertValid(h: Hparams): void {
  const issues = validateHparams(h);
  if (issues.length) throw new Error(`${issues[0].path}: ${issues[0].message}`);
}
