import { describe, expect, it } from 'vitest';
import { fmtBytes, fmtDuration, fmtLoss, fmtParams, remainingMs } from './format';

describe('format', () => {
  it('sizes, parameter counts, durations and losses', () => {
    expect(fmtBytes(512)).toBe('512 B');
    expect(fmtBytes(504832)).toBe('493.0 KiB');
    expect(fmtBytes(3 * 2 ** 30)).toBe('3.00 GiB');
    expect(fmtParams(250432)).toBe('250K');
    expect(fmtParams(1_240_000_000)).toBe('1.24B');
    expect(fmtParams(494_032_768)).toBe('494M');
    expect(fmtDuration(59_400)).toBe('0:59');
    expect(fmtDuration(3_725_000)).toBe('1:02:05');
    expect(fmtLoss(NaN)).toBe('NaN');
    expect(fmtLoss(1.23456)).toBe('1.2346');
  });

  it('remaining time is the pace so far times the steps to go', () => {
    expect(remainingMs(0, 0, 10)).toBeNull();
    expect(remainingMs(12_000, 4, 10)).toBe(18_000);
    expect(remainingMs(12_000, 10, 10)).toBe(0);
  });
});
