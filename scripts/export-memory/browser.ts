// The browser half of tab.mjs: runs a Qwen2.5-0.5B-shaped export with the tab's own sink, a
// FileSystemDirectoryHandle (here a folder of the origin-private file system, as a picked folder
// would be), sampling performance.memory.usedJSHeapSize (precise with
// --enable-precise-memory-info) at every read and write.

import { directoryHandleSink } from '../../src/io/sink';
import { measuredExport } from './fixture';

declare global {
  interface Window {
    measureExport(kind: string): Promise<{ bytes: number; seconds: number; peakHeap: number; beforeHeap: number }>;
  }
}

const heap = () => (performance as unknown as { memory: { usedJSHeapSize: number } }).memory.usedJSHeapSize;

window.measureExport = async (kind) => {
  const root = await navigator.storage.getDirectory();
  const dir = await root.getDirectoryHandle(`export-${kind}`, { create: true });
  const beforeHeap = heap();
  let peakHeap = beforeHeap;
  const r = await measuredExport(kind, directoryHandleSink(dir), () => {
    peakHeap = Math.max(peakHeap, heap());
  });
  await root.removeEntry(`export-${kind}`, { recursive: true });
  return { ...r, peakHeap, beforeHeap };
};
