// Where exports go, one file at a time and one tensor at a time, so a 1 GB model is never held
// whole in memory: a Node folder in the CLI (sink.node.ts), a folder the user picked through the
// File System Access API in the tab, or memory (tests, and the tab's download fallback for small
// files). Every writer takes bytes in order and is closed once.

export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export interface FolderSink {
  /** A new file (replacing one of the same name) in the folder. */
  file(name: string): Promise<ByteSink>;
}

/** Collects files in memory: for tests and for small exports offered as downloads. */
export class MemoryFolder implements FolderSink {
  readonly files = new Map<string, Uint8Array<ArrayBuffer>>();

  async file(name: string): Promise<ByteSink> {
    const parts: Uint8Array[] = [];
    return {
      write: async (bytes) => {
        parts.push(bytes.slice());
      },
      close: async () => {
        const n = parts.reduce((s, p) => s + p.byteLength, 0);
        const out = new Uint8Array(n);
        let o = 0;
        for (const p of parts) {
          out.set(p, o);
          o += p.byteLength;
        }
        this.files.set(name, out);
      },
    };
  }
}

/** The FileSystemDirectoryHandle the tab gets from showDirectoryPicker(), as a FolderSink. */
export function directoryHandleSink(dir: FileSystemDirectoryHandle): FolderSink {
  return {
    async file(name) {
      const handle = await dir.getFileHandle(name, { create: true });
      const w = await handle.createWritable();
      return {
        write: (bytes) => w.write(bytes as Uint8Array<ArrayBuffer>),
        close: () => w.close(),
      };
    },
  };
}

/** Writes a whole (small) text or byte file. */
export async function writeWhole(folder: FolderSink, name: string, data: string | Uint8Array): Promise<void> {
  const f = await folder.file(name);
  await f.write(typeof data === 'string' ? new TextEncoder().encode(data) : data);
  await f.close();
}

/**
 * Collects each file as a Blob (the tab's download fallback where there is no folder picker):
 * the browser may keep a large Blob on disk, and the parts are let go once the Blob holds them.
 */
export class BlobFolder implements FolderSink {
  readonly files = new Map<string, Blob>();

  async file(name: string): Promise<ByteSink> {
    let parts: BlobPart[] = [];
    return {
      write: async (bytes) => {
        parts.push(bytes.slice());
      },
      close: async () => {
        this.files.set(name, new Blob(parts, { type: 'application/octet-stream' }));
        parts = [];
      },
    };
  }
}
