import { describe, expect, it } from 'vitest';
import { GpuQueue } from './gpu-queue';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('GpuQueue', () => {
  it('runs jobs one at a time in arrival order, even when later ones are faster', async () => {
    const q = new GpuQueue();
    const log: string[] = [];
    const job = (name: string, ms: number) =>
      q.run(async () => {
        log.push(`${name} start`);
        await tick(ms);
        log.push(`${name} end`);
        return name;
      });
    const results = await Promise.all([job('step1', 20), job('sample', 1), job('step2', 5)]);
    expect(results).toEqual(['step1', 'sample', 'step2']);
    expect(log).toEqual(['step1 start', 'step1 end', 'sample start', 'sample end', 'step2 start', 'step2 end']);
    expect(q.size).toBe(0);
  });

  it('a failing job rejects only its own caller and the queue keeps going', async () => {
    const q = new GpuQueue();
    const bad = q.run(async () => {
      throw new Error('validation error in matmul');
    });
    const good = q.run(() => 7);
    await expect(bad).rejects.toThrow('validation error in matmul');
    await expect(good).resolves.toBe(7);
    expect(q.size).toBe(0);
  });
});
