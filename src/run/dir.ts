// The few file operations checkpoints need, so that one checkpoint store serves both front doors:
// the origin-private file system in the studio's worker (src/worker/storage.ts), the disk in the
// CLI (dir.node.ts), memory in unit tests (testing/memory-dir.ts).

export interface Dir {
  readonly name: string;
  /** The sub-directory, created when `create`; null when it does not exist. */
  subdir(name: string, create: boolean): Promise<Dir | null>;
  /** Replaces the file's contents. */
  write(name: string, data: Uint8Array | string): Promise<void>;
  /** The file's bytes, or null when it does not exist. */
  read(name: string): Promise<Uint8Array | null>;
  /** The file as a Blob (not read into memory), or null. */
  blob(name: string): Promise<Blob | null>;
  entries(): Promise<{ name: string; kind: 'file' | 'directory' }[]>;
  /** Removes a file or a directory with everything in it; no error when absent. */
  remove(name: string): Promise<void>;
}
