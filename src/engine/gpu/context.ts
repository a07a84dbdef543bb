// GpuContext wraps one GPUDevice: the only thing the engine depends on. It requests the
// adapter's real limits (WebGPU's defaults are minimums far below what a model needs), caches
// compute pipelines by (source, entry point, override constants), tracks the bytes the engine
// has allocated (the benchmark's "peak GPU bytes"), and reads tensors back for logging and tests.

import { type DType, type Tensor, storageBytes, numel } from './tensor';
import { probeSubgroups, reduceWorkgroup } from './subgroups';

export interface GpuCaps {
  vendor: string;
  architecture: string;
  description: string;
  /** A CPU implementation (SwiftShader, a fallback adapter): kernels pick barrier-free variants. */
  isCpu: boolean;
  subgroups: boolean;
  /**
   * The subgroup size the reductions use (subgroups of that many consecutive invocations,
   * checked on this device by gpu/subgroups.ts), or null: no subgroup operations.
   */
  subgroupSize: number | null;
  timestamps: boolean;
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  maxStorageBuffersPerShaderStage: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupsPerDimension: number;
  minStorageBufferOffsetAlignment: number;
}

export interface Kernel {
  readonly pipeline: GPUComputePipeline;
  readonly label: string;
}

export interface ContextOptions {
  /** Ask for timestamp-query when the adapter has it (for benchmarks: the studio has a benchmark page). */
  timestamps?: boolean;
  /** Pretend the adapter is (not) a CPU driver, to test both kernel variants anywhere. */
  forceCpuVariants?: boolean;
  /** false: never use subgroup operations (tests the fallback on adapters that have them). */
  subgroups?: boolean;
}

const LIMIT_NAMES = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
] as const;

export class GpuContext {
  readonly device: GPUDevice;
  readonly caps: GpuCaps;
  private readonly kernels = new Map<string, Kernel>();
  private live = 0;
  private peak = 0;
  private lostReason: string | null = null;

  private constructor(device: GPUDevice, caps: GpuCaps) {
    this.device = device;
    this.caps = caps;
    device.lost.then((info) => {
      this.lostReason = `${info.reason}: ${info.message}`;
    });
  }

  /** Opens the adapter with the limits the engine needs. Throws a user-facing message if none. */
  static async create(gpu: GPU | undefined, opts: ContextOptions = {}): Promise<GpuContext> {
    if (!gpu) throw new Error(NO_WEBGPU);
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error(NO_ADAPTER);
    const requiredLimits: Record<string, number> = {};
    for (const name of LIMIT_NAMES) requiredLimits[name] = adapter.limits[name];
    const requiredFeatures: GPUFeatureName[] = [];
    const subgroups = opts.subgroups !== false && adapter.features.has('subgroups');
    if (subgroups) requiredFeatures.push('subgroups');
    const timestamps = !!opts.timestamps && adapter.features.has('timestamp-query');
    if (timestamps) requiredFeatures.push('timestamp-query');
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
    const info = adapter.info;
    const detectedCpu =
      info.architecture === 'swiftshader' ||
      /swiftshader|llvmpipe|lavapipe|warp/i.test(info.description) ||
      (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
    const l = device.limits;
    const isCpu = opts.forceCpuVariants ?? detectedCpu;
    const subgroupSize = subgroups ? await probeSubgroups(device, info, reduceWorkgroup(isCpu)) : null;
    return new GpuContext(device, {
      vendor: info.vendor,
      architecture: info.architecture,
      description: info.description,
      isCpu,
      subgroups,
      subgroupSize,
      timestamps,
      maxBufferSize: l.maxBufferSize,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
    });
  }

  /**
   * A compute pipeline for the concatenation of `sources` (shared helpers first), cached.
   * Override constants specialise one WGSL file into variants (dtype, tile sizes, flags).
   */
  kernel(sources: readonly string[], entry = 'main', overrides: Record<string, number> = {}): Kernel {
    const code = sources.join('\n');
    const key = `${entry}|${JSON.stringify(overrides)}|${code}`;
    let k = this.kernels.get(key);
    if (!k) {
      const label = `${entry}${Object.keys(overrides).length ? JSON.stringify(overrides) : ''}`;
      const module = this.device.createShaderModule({ code, label });
      const pipeline = this.device.createComputePipeline({
        label,
        layout: 'auto',
        compute: { module, entryPoint: entry, constants: overrides },
      });
      k = { pipeline, label };
      this.kernels.set(key, k);
    }
    return k;
  }

  /** A tensor in a buffer of its own. Prefer an Arena for many tensors of one lifetime. */
  tensor(shape: readonly number[], dtype: DType, label: string, data?: ArrayBufferView): Tensor {
    const size = storageBytes(numel(shape), dtype);
    const buffer = this.buffer(Math.max(16, size), label);
    const t: Tensor = { buffer, offset: 0, size, shape: [...shape], dtype, label };
    if (data) this.upload(t, data);
    return t;
  }

  /** A raw storage buffer, counted in the allocation statistics. */
  buffer(size: number, label: string, extraUsage = 0): GPUBuffer {
    const rounded = Math.ceil(size / 16) * 16;
    if (rounded > this.caps.maxBufferSize) {
      throw new Error(
        `${label}: a ${fmtBytes(rounded)} buffer exceeds this GPU's maxBufferSize (${fmtBytes(this.caps.maxBufferSize)})`,
      );
    }
    const buffer = this.device.createBuffer({
      label,
      size: rounded,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | extraUsage,
    });
    this.live += rounded;
    this.peak = Math.max(this.peak, this.live);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    this.live -= buffer.size;
    buffer.destroy();
  }

  /** Bytes of storage the engine holds now, and the most it ever held. */
  get allocatedBytes(): number {
    return this.live;
  }
  get peakBytes(): number {
    return this.peak;
  }
  resetPeak(): void {
    this.peak = this.live;
  }

  /** Writes `data` into the tensor from `at` bytes (a multiple of 4) on: whole, or one slice of it. */
  upload(t: Tensor, data: ArrayBufferView, at = 0): void {
    if (at % 4 !== 0 || at + data.byteLength > t.size) {
      throw new Error(`upload to ${t.label}: ${data.byteLength} bytes at ${at} do not fit its ${t.size}`);
    }
    // writeBuffer wants a multiple of 4 bytes.
    if (data.byteLength % 4 !== 0) {
      const padded = new Uint8Array(Math.ceil(data.byteLength / 4) * 4);
      padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      this.device.queue.writeBuffer(t.buffer, t.offset + at, padded);
    } else {
      this.device.queue.writeBuffer(t.buffer, t.offset + at, data.buffer, data.byteOffset, data.byteLength);
    }
  }

  /** Copies a tensor's bytes back to the CPU (waits for all submitted work). */
  async read(t: Tensor): Promise<ArrayBuffer> {
    const size = Math.ceil(t.size / 4) * 4;
    const staging = this.device.createBuffer({
      label: `read ${t.label}`,
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(t.buffer, t.offset, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = staging.getMappedRange().slice(0);
    staging.destroy();
    this.assertAlive();
    return out;
  }

  async readF32(t: Tensor): Promise<Float32Array> {
    if (t.dtype !== 'f32') throw new Error(`readF32 of ${t.label}: dtype is ${t.dtype}`);
    return new Float32Array(await this.read(t), 0, numel(t.shape));
  }

  /** Runs `fn` inside validation and out-of-memory error scopes and throws what they caught. */
  async checked<T>(what: string, fn: () => T | Promise<T>): Promise<T> {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    let result: T | undefined;
    let thrown: unknown = null;
    try {
      result = await fn();
    } catch (e) {
      thrown = e;
    }
    const validation = await this.device.popErrorScope();
    const oom = await this.device.popErrorScope();
    const err = validation ?? oom;
    if (err) throw new Error(`${what}: GPU ${validation ? 'validation' : 'out-of-memory'} error: ${err.message}`);
    if (thrown) throw thrown;
    return result as T;
  }

  assertAlive(): void {
    if (this.lostReason) throw new Error(`The GPU device was lost (${this.lostReason}).`);
  }

  destroy(): void {
    this.device.destroy();
  }
}

export const NO_WEBGPU =
  'WebGPU is not available in this browser. Use a recent Chrome or Edge (version 113 or later) on a desktop, ' +
  'with hardware acceleration turned on (Settings → System → "Use graphics acceleration when available").';

export const NO_ADAPTER =
  'WebGPU is present but no GPU adapter was found. Turn on hardware acceleration in the browser settings, ' +
  'update the graphics driver, or check chrome://gpu for "WebGPU: Hardware accelerated".';

export function fmtBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}
