// Peak memory of a Qwen2.5-0.5B-shaped export in Node (the CLI's case), into a sink that only
// counts bytes. Prints the peak V8 heap, ArrayBuffers and RSS seen at every read and write.
//   node --expose-gc --import tsx scripts/export-memory/node.ts [merged gguf-f16 gguf-q8_0 gguf-lora]

import { KINDS, measuredExport } from './fixture';

const peak = { heap: 0, arrayBuffers: 0, rss: 0 };
const sample = () => {
  const m = process.memoryUsage();
  peak.heap = Math.max(peak.heap, m.heapUsed);
  peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
  peak.rss = Math.max(peak.rss, m.rss);
};
const nowhere = { file: async () => ({ write: async () => {}, close: async () => {} }) };
const mb = (x: number) => `${(x / 2 ** 20).toFixed(0)} MiB`;
const kinds = process.argv.slice(2);
for (const kind of kinds.length ? kinds : Object.keys(KINDS)) {
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.memoryUsage();
  Object.assign(peak, { heap: 0, arrayBuffers: 0, rss: 0 });
  const r = await measuredExport(kind, nowhere, sample);
  console.log(
    `node ${kind}: wrote ${mb(r.bytes)} in ${r.seconds.toFixed(0)} s; peak V8 heap ${mb(peak.heap)}, ` +
      `ArrayBuffers ${mb(peak.arrayBuffers)}, RSS ${mb(peak.rss)} (before: heap ${mb(before.heapUsed)}, RSS ${mb(before.rss)})`,
  );
}
