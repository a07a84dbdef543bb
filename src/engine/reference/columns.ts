// CPU reference for shaders/columns.wgsl: dst[n, dstOff + j] = src[n, srcOff + j].

export function copyColumnsRef(
  dst: Float64Array,
  dstCols: number,
  dstOff: number,
  src: ArrayLike<number>,
  srcCols: number,
  srcOff: number,
  N: number,
  width: number,
): void {
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < width; j++) dst[n * dstCols + dstOff + j] = src[n * srcCols + srcOff + j];
  }
}
