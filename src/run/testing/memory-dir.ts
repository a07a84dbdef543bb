// An in-memory Dir for unit tests of the checkpoint store and the training session.

import type { Dir } from '../dir';

export class MemoryDir implements Dir {
  readonly files = new Map<string, Uint8Array>();
  readonly dirs = new Map<string, MemoryDir>();

  constructor(
    readonly name = '',
    /** File names whose next write fails, anywhere below the root (a crash mid-checkpoint). */
    private readonly faults: Set<string> = new Set(),
  ) {}

  failNextWrite(name: string): void {
    this.faults.add(name);
  }

  async subdir(name: string, create: boolean): Promise<Dir | null> {
    let d = this.dirs.get(name);
    if (!d && create) this.dirs.set(name, (d = new MemoryDir(name, this.faults)));
    return d ?? null;
  }
  async write(name: string, data: Uint8Array | string): Promise<void> {
    if (this.faults.delete(name)) throw new Error(`disk full while writing ${name}`);
    this.files.set(name, typeof data === 'string' ? new TextEncoder().encode(data) : data.slice());
  }
  async read(name: string): Promise<Uint8Array | null> {
    return this.files.get(name)?.slice() ?? null;
  }
  async blob(name: string): Promise<Blob | null> {
    const f = this.files.get(name);
    return f ? new Blob([f.slice()]) : null;
  }
  async entries(): Promise<{ name: string; kind: 'file' | 'directory' }[]> {
    return [
      ...[...this.files.keys()].map((name) => ({ name, kind: 'file' as const })),
      ...[...this.dirs.keys()].map((name) => ({ name, kind: 'directory' as const })),
    ].sort((a, b) => (a.name < b.name ? -1 : 1));
  }
  async remove(name: string): Promise<void> {
    this.files.delete(name);
    this.dirs.delete(name);
  }
}
