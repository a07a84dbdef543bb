// Turning what the browser gives (a drop, a file input) into files with their paths. A dropped
// folder is walked with the File and Directory Entries API; its entries must be taken during the
// drop event itself, so collectDrop reads them synchronously and walks them afterwards.

import type { FileEntry } from '../../worker/studio';

type Entry = FileSystemEntry;

function readAll(dir: FileSystemDirectoryEntry): Promise<Entry[]> {
  const reader = dir.createReader();
  const out: Entry[] = [];
  return new Promise((resolve, reject) => {
    const next = () =>
      reader.readEntries((batch) => {
        if (batch.length === 0) resolve(out);
        else {
          out.push(...batch);
          next();
        }
      }, reject);
    next();
  });
}

async function walk(entry: Entry, prefix: string, out: FileEntry[]): Promise<void> {
  const path = prefix ? `${prefix}/${entry.name}` : entry.name;
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ path, file });
  } else if (entry.isDirectory) {
    for (const child of await readAll(entry as FileSystemDirectoryEntry)) await walk(child, path, out);
  }
}

export interface Dropped {
  files: FileEntry[];
  /** A folder was among the dropped items. */
  folder: boolean;
}

/** Call during the drop event; resolves with every file, folders walked. */
export function collectDrop(dt: DataTransfer): Promise<Dropped> {
  const entries: Entry[] = [];
  const loose: File[] = [];
  for (const item of Array.from(dt.items ?? [])) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry?.();
    if (entry) entries.push(entry);
    else {
      const f = item.getAsFile();
      if (f) loose.push(f);
    }
  }
  if (entries.length === 0 && loose.length === 0) loose.push(...Array.from(dt.files ?? []));
  return (async () => {
    const files: FileEntry[] = loose.map((file) => ({ path: file.name, file }));
    for (const e of entries) await walk(e, '', files);
    return { files, folder: entries.some((e) => e.isDirectory) };
  })();
}

/** Files from an <input type="file"> (webkitdirectory gives each its path inside the folder). */
export function fromInput(list: FileList | null): FileEntry[] {
  return Array.from(list ?? []).map((file) => ({ path: file.webkitRelativePath || file.name, file }));
}

export type DropKind = 'dataset' | 'model' | 'adapter' | 'unknown';

/** What a drop most likely is: a PEFT adapter folder, a model checkpoint, or a dataset file. */
export function classifyDrop(files: FileEntry[]): DropKind {
  const names = files.map((f) => f.path.split('/').at(-1)!.toLowerCase());
  if (names.includes('adapter_config.json') || names.includes('adapter_model.safetensors')) return 'adapter';
  if (names.includes('config.json') || names.some((n) => n.endsWith('.safetensors'))) return 'model';
  if (files.length === 1 && /\.(jsonl?|ndjson)$/.test(names[0])) return 'dataset';
  return 'unknown';
}
