// A Dir on the disk, for the CLI's checkpoints (out/checkpoint-N/). A file is written to a
// temporary name and renamed over the old one, so a crash mid-write leaves the old file or the
// new one, never half of either. Node-only: never imported by browser code.

import { openAsBlob } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Dir } from './dir';

const isNotFound = (e: unknown) => (e as NodeJS.ErrnoException)?.code === 'ENOENT';

/** The folder at `path` (created on the first write when it does not exist yet). */
export function nodeDir(path: string): Dir {
  return {
    name: basename(path),
    async subdir(name, create) {
      const p = join(path, name);
      if (create) await mkdir(p, { recursive: true });
      else {
        try {
          if (!(await stat(p)).isDirectory()) return null;
        } catch (e) {
          if (isNotFound(e)) return null;
          throw e;
        }
      }
      return nodeDir(p);
    },
    async write(name, data) {
      await mkdir(path, { recursive: true });
      const tmp = join(path, `.${name}.${process.pid}.tmp`);
      await writeFile(tmp, data);
      await rename(tmp, join(path, name));
    },
    async read(name) {
      try {
        return new Uint8Array(await readFile(join(path, name)));
      } catch (e) {
        if (isNotFound(e)) return null;
        throw e;
      }
    },
    async blob(name) {
      try {
        return await openAsBlob(join(path, name));
      } catch (e) {
        if (isNotFound(e)) return null;
        throw e;
      }
    },
    async entries() {
      let list;
      try {
        list = await readdir(path, { withFileTypes: true });
      } catch (e) {
        if (isNotFound(e)) return [];
        throw e;
      }
      return list
        .filter((e) => (e.isFile() && !e.name.endsWith('.tmp')) || e.isDirectory())
        .map((e) => ({ name: e.name, kind: e.isDirectory() ? ('directory' as const) : ('file' as const) }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
    async remove(name) {
      await rm(join(path, name), { recursive: true, force: true });
    },
  };
}
