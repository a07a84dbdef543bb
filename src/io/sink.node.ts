// A FolderSink over a folder on disk, for the CLI and the Node tests. Each file is written to
// "<name>.partial" and renamed when closed, so an interrupted export never leaves a file that
// looks complete.

import { mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { FolderSink } from './sink';

export async function nodeFolderSink(dir: string): Promise<FolderSink> {
  await mkdir(dir, { recursive: true });
  return {
    async file(name) {
      const path = join(dir, name);
      const partial = `${path}.partial`;
      const fh = await open(partial, 'w');
      return {
        async write(bytes) {
          let o = 0;
          while (o < bytes.byteLength) o += (await fh.write(bytes, o, bytes.byteLength - o)).bytesWritten;
        },
        async close() {
          await fh.close();
          await rename(partial, path);
        },
      };
    },
  };
}
