// Launcher for shaders/columns.wgsl: a block of `width` columns copied from one row-major f32
// matrix into another. Phi-3's fused projections run as one linear layer each; this splits the
// fused output into its parts (forward) and gathers the parts' gradients (backward).

import columnsWgsl from '../../../shaders/columns.wgsl?raw';
import { Params, type Program } from '../gpu/program';
import type { Tensor } from '../gpu/tensor';
import { FLAT_WG, dims, disjoint, dispatchFlat, need } from './launch';

/** dst[n, dstOff + j] = src[n, srcOff + j] for n < N, j < width; dst [N, dstCols], src [N, srcCols]. */
export function copyColumns(
  p: Program,
  dst: Tensor,
  dstCols: number,
  dstOff: number,
  src: Tensor,
  srcCols: number,
  srcOff: number,
  N: number,
  width: number,
): void {
  const what = 'copyColumns';
  dims(what, { N, width, dstCols, dstOff, srcCols, srcOff }, 0);
  if (width < 1 || dstOff + width > dstCols || srcOff + width > srcCols) {
    throw new Error(
      `${what}: columns [${srcOff}, ${srcOff + width}) of ${srcCols} into [${dstOff}, ${dstOff + width}) of ${dstCols} do not fit`,
    );
  }
  const shape = `N=${N} width=${width}`;
  need(what, dst, 'f32', N * dstCols, shape);
  need(what, src, 'f32', N * srcCols, shape);
  disjoint(what, dst, src);
  const count = N * width;
  if (count === 0) return;
  const kernel = p.ctx.kernel([columnsWgsl], 'copy_columns', { WG: FLAT_WG });
  const params = new Params().u32(count, width, dstCols, dstOff, srcCols, srcOff);
  dispatchFlat(p, kernel, [dst, src], params, count, what);
}
