// "Run it elsewhere" exports (issue 17): the merged checkpoint, a GGUF with its Ollama Modelfile,
// or the adapter as a GGUF LoRA. The worker streams each file tensor by tensor into a folder the
// user picks (File System Access API); where the browser has no folder picker, the worker hands
// back Blobs that are offered as downloads.

import { callback, errorMessage, studioWorker } from '../../worker/client';
import type { ExportProgress, ExportRequest } from '../../run/export-model';
import { downloadBlob } from '../lib/download';
import type { ExportResult } from './export.actions';

type Picker = (o: object) => Promise<FileSystemDirectoryHandle>;

export function canPickFolder(): boolean {
  return typeof (window as unknown as { showDirectoryPicker?: Picker }).showDirectoryPicker === 'function';
}

export async function exportModelFiles(
  which: 'last' | 'best',
  req: ExportRequest,
  onProgress: (p: ExportProgress) => void,
): Promise<ExportResult> {
  try {
    let dir: FileSystemDirectoryHandle | null = null;
    if (canPickFolder()) {
      const pick = (window as unknown as { showDirectoryPicker: Picker }).showDirectoryPicker;
      dir = await pick({ mode: 'readwrite', id: 'lora-studio-exports' });
    }
    const res = await studioWorker().exportModel(which, req, dir, callback(onProgress));
    for (const d of res.downloads ?? []) downloadBlob(d.blob, d.name);
    const where = dir ? `into ${dir.name}` : 'as downloads';
    return { ok: true, message: `Saved ${res.files.join(', ')} ${where}.` };
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') return { ok: false, message: 'No folder was chosen.' };
    return { ok: false, message: errorMessage(e) };
  }
}
