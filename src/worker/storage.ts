// The checkpoint store's Dir (src/run/dir.ts) over the browser's origin-private file system. In a
// dedicated worker a file is written through a sync access handle (one synchronous write, no copy
// into a swap file), else through createWritable.

import type { Dir } from '../run/dir';

type SyncHandle = {
  truncate(n: number): void;
  write(b: Uint8Array, o: { at: number }): number;
  flush(): void;
  close(): void;
};

function isNotFound(e: unknown): boolean {
  return e instanceof DOMException && (e.name === 'NotFoundError' || e.name === 'TypeMismatchError');
}

export function opfsDir(handle: FileSystemDirectoryHandle): Dir {
  return {
    name: handle.name,
    async subdir(name, create) {
      try {
        return opfsDir(await handle.getDirectoryHandle(name, { create }));
      } catch (e) {
        if (!create && isNotFound(e)) return null;
        throw e;
      }
    },
    async write(name, data) {
      const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
      const file = await handle.getFileHandle(name, { create: true });
      const sync = (file as unknown as { createSyncAccessHandle?: () => Promise<SyncHandle> }).createSyncAccessHandle;
      if (typeof sync === 'function') {
        // Only dedicated workers have it; the page falls through to createWritable.
        const h = await sync.call(file);
        try {
          h.truncate(0);
          let at = 0;
          while (at < bytes.byteLength) at += h.write(bytes.subarray(at), { at });
          h.flush();
        } finally {
          h.close();
        }
        return;
      }
      const w = await file.createWritable();
      await w.write(bytes as Uint8Array<ArrayBuffer>);
      await w.close();
    },
    async read(name) {
      const b = await this.blob(name);
      return b ? new Uint8Array(await b.arrayBuffer()) : null;
    },
    async blob(name) {
      try {
        return await (await handle.getFileHandle(name)).getFile();
      } catch (e) {
        if (isNotFound(e)) return null;
        throw e;
      }
    },
    async entries() {
      const out: { name: string; kind: 'file' | 'directory' }[] = [];
      for await (const [name, h] of (
        handle as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }
      ).entries()) {
        out.push({ name, kind: h.kind });
      }
      return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
    async remove(name) {
      try {
        await handle.removeEntry(name, { recursive: true });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    },
  };
}

/** The studio's root in the origin-private file system. */
export async function opfsRoot(): Promise<Dir> {
  const root = await navigator.storage.getDirectory();
  return opfsDir(await root.getDirectoryHandle('lora-studio', { create: true }));
}
