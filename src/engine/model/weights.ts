// How the engine receives frozen base weights: by Hugging Face tensor name, as the raw bytes the
// checkpoint stores (F32, F16 or BF16, little-endian, row-major). The engine uploads 16-bit
// weights unchanged (two per u32) and widens them in the shaders. src/io implements this over
// safetensors files (lazily, from File/Blob slices or Node files); tests implement it in memory.

export type WeightDType = 'F32' | 'F16' | 'BF16';

export interface WeightInfo {
  name: string;
  dtype: WeightDType;
  shape: number[];
}

export interface WeightSource {
  /** Every tensor the source holds. */
  list(): WeightInfo[];
  /** The tensor's bytes exactly as stored. Rejects with a message naming the tensor and file. */
  read(name: string): Promise<Uint8Array>;
  /**
   * `length` bytes of the tensor's stored bytes from `offset` (relative to the tensor's start),
   * so a tensor larger than a binding (a 272 MB embedding) is uploaded a bounded slice at a time.
   * Optional: without it the engine reads whole tensors.
   */
  readRange?(name: string, offset: number, length: number): Promise<Uint8Array>;
}
