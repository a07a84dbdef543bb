// The studio store's type: one zustand store made of slices (zustand's slices pattern), each
// slice's state and the actions that change it side by side.

import type { StateCreator } from 'zustand';
import type { GpuSlice } from './gpu';
import type { ModelSlice } from './model';
import type { DatasetSlice } from './dataset';
import type { HparamsSlice } from './hparams';
import type { TrainingSlice } from './training';
import type { SamplesSlice } from './samples';
import type { UiSlice } from './ui';
import type { BenchSlice } from './bench';

export type Studio = GpuSlice &
  ModelSlice &
  DatasetSlice &
  HparamsSlice &
  TrainingSlice &
  SamplesSlice &
  UiSlice &
  BenchSlice;

export type SliceCreator<T> = StateCreator<Studio, [['zustand/persist', unknown]], [], T>;
