// A generated ~100 MB JSONL file streamed through parseDatasetStream in Node: it must finish in
// bounded time, with heap growth bounded by what the kept records need (the file is never held
// as one string), giving the event loop regular turns, and with every line accounted for. The figures are printed for the report.

import v8 from 'node:v8';
import vm from 'node:vm';
import { expect, it } from 'vitest';
import { parseDatasetStream } from './parse';

v8.setFlagsFromString('--expose_gc');
const gc = vm.runInNewContext('gc') as () => void;

const TARGET_BYTES = 100 * 2 ** 20;
const CHUNK = 64 * 1024;

function line(i: number): string {
  const rec = {
    instruction: `Question ${i}: how many orders did customer ${i % 977} place in ${2020 + (i % 5)}?`,
    input:
      i % 3 === 0
        ? 'CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, order_date DATE, total REAL);'
        : '',
    output: `SELECT COUNT(*) FROM orders WHERE customer_id = ${i % 977} AND order_date BETWEEN '${2020 + (i % 5)}-01-01' AND '${2020 + (i % 5)}-12-31';`,
  };
  // Every 10,000th line is broken, to check errors are kept without stopping the stream.
  return i % 10_000 === 9_999 ? '{"instruction": "broken' : JSON.stringify(rec);
}

/** Lines generated on demand into 64 KiB chunks: the test never holds the file either. */
function generated(): { stream: ReadableStream<Uint8Array>; lines: () => number; bytes: () => number } {
  const enc = new TextEncoder();
  let i = 0;
  let bytes = 0;
  let pending = '';
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (bytes >= TARGET_BYTES && pending === '') return c.close();
      while (pending.length < CHUNK && bytes + pending.length < TARGET_BYTES) pending += line(i++) + '\n';
      const chunk = enc.encode(pending.slice(0, CHUNK));
      pending = pending.slice(CHUNK);
      bytes += chunk.length;
      c.enqueue(chunk);
    },
  });
  return { stream, lines: () => i, bytes: () => bytes };
}

it('streams a ~100 MB JSONL file in bounded memory', { timeout: 600_000 }, async () => {
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  let peak = heap0;
  let calls = 0;
  const g = generated();
  // A 5 ms timer measures how long the event loop is ever kept from running (a frozen page).
  let lastTick = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - lastTick);
    lastTick = now;
  }, 5);
  const t0 = performance.now();
  const d = await parseDatasetStream(g.stream, {
    name: 'big.jsonl',
    totalBytes: TARGET_BYTES,
    onProgress: () => {
      calls++;
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(timer);
  gc();
  const retained = process.memoryUsage().heapUsed - heap0;
  const mb = (x: number) => (x / 2 ** 20).toFixed(0);
  console.log(
    `100 MB JSONL: ${g.lines()} lines, ${mb(g.bytes())} MB in ${seconds.toFixed(1)} s ` +
      `(${(g.bytes() / 2 ** 20 / seconds).toFixed(0)} MB/s); heap peak +${mb(peak - heap0)} MB, ` +
      `retained after GC +${mb(retained)} MB for ${d.records.length} records; ${calls} progress calls; longest event-loop stall ${maxGap.toFixed(0)} ms`,
  );

  expect(g.bytes()).toBeGreaterThanOrEqual(TARGET_BYTES);
  expect(d.totalRecords).toBe(g.lines());
  expect(d.errorCount).toBe(Math.floor(g.lines() / 10_000));
  expect(d.records.length + d.errorCount).toBe(g.lines());
  expect(d.errors[0]).toMatchObject({ record: 9_999, line: 10_000 });
  const r = d.records[12_345];
  expect(r.index).toBe(12_346); // one broken line before it
  expect(r.turns[1].content).toBe(JSON.parse(line(r.index)).output);
  expect(calls).toBeGreaterThan(1);
  // Memory that the kept records explain (time and event-loop stalls are printed, not asserted:
  // they depend on the machine's load). 433k kept records cost ~620 bytes each in V8 (three
  // objects, an array and their strings), ~2.7x the file; the bounds leave room for that but not
  // for extra copies of the file held alongside (each would add 1x to 2x: UTF-16 strings of the text).
  expect(peak - heap0).toBeLessThan(4.5 * TARGET_BYTES);
  expect(retained).toBeLessThan(3.5 * TARGET_BYTES);
});
