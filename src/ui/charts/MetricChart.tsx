// One live line chart (recharts). Everything that costs time per update is decided here rather
// than inside recharts: animations are off, the data arrives decimated, the axis domains and
// ticks are computed from the data by ticks.ts (niceTicks "none": recharts would search for them
// on every render), and there is no recharts Tooltip: it alone made mounting and updating a chart a
// 100+ ms task on a busy CPU. A light overlay of our own reads values under the pointer instead.

import {
  memo,
  startTransition,
  useEffect,
  useMemo,
  useRef,
  useState,
  type MouseEvent,
  type ReactNode,
  type RefObject,
} from 'react';
import { CartesianGrid, Line, LineChart, ReferenceLine, XAxis, YAxis } from 'recharts';
import { extent } from '../lib/series';
import { xTicks, yAxis, type Axis } from './ticks';
import { useStaggeredMount } from './useStaggered';

export interface LineSpec {
  key: string;
  name: string;
  color: string;
  width?: number;
  dots?: boolean;
}

interface TickProps {
  x?: number | string;
  y?: number | string;
  payload?: { value: unknown };
}

/**
 * Tick labels as plain SVG text: recharts' own Text component measures every label in a hidden
 * span (a forced layout per new label).
 */
const xTick = (p: TickProps) => (
  <text x={p.x} y={Number(p.y ?? 0) + 12} textAnchor="middle" className="tick">
    {String(p.payload?.value ?? '')}
  </text>
);
/** The y tick renderer for one axis: each tick shows its label from ticks.ts (unique, exact). */
function yTickOf(axis: Axis) {
  const label = new Map(axis.ticks.map((t, i) => [t, axis.labels[i]]));
  return function yTick(p: TickProps) {
    const v = Number(p.payload?.value ?? 0);
    return (
      <text x={Number(p.x ?? 0) - 4} y={Number(p.y ?? 0) + 4} textAnchor="end" className="tick">
        {label.get(v) ?? String(v)}
      </text>
    );
  };
}

function markerLabel(text: string | undefined) {
  return (p: { viewBox?: { x?: number; y?: number } }) => (
    <text x={(p.viewBox?.x ?? 0) - 4} y={(p.viewBox?.y ?? 0) + 12} textAnchor="end" className="marker-label">
      {text}
    </text>
  );
}
/** Two axes with the same domain, ticks and labels. */
function sameAxis(a: Axis, b: Axis): boolean {
  const eq = (x: readonly unknown[], y: readonly unknown[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  return eq(a.domain, b.domain) && eq(a.ticks, b.ticks) && eq(a.labels, b.labels);
}

interface LinePathProps {
  points?: readonly { x?: number | null; y?: number | null }[];
  stroke?: string;
  strokeWidth?: number | string;
  className?: string;
  clipPath?: string;
}

/**
 * A line's path as one plain SVG path (straight segments, points without a value skipped and
 * the line carried on, as connectNulls draws it). recharts' own curve goes through d3-shape and
 * asks the browser for the path's length on every update, a forced layout, even with
 * animation off.
 */
function linePath(p: LinePathProps): ReactNode {
  let d = '';
  for (const pt of p.points ?? []) {
    if (pt.x == null || pt.y == null || !Number.isFinite(pt.x) || !Number.isFinite(pt.y)) continue;
    d += `${d ? 'L' : 'M'}${Math.round(pt.x * 10) / 10},${Math.round(pt.y * 10) / 10}`;
  }
  if (!d) return null;
  return (
    <path
      d={d}
      fill="none"
      stroke={p.stroke}
      strokeWidth={p.strokeWidth}
      className={`recharts-curve recharts-line-curve ${p.className ?? ''}`}
      clipPath={p.clipPath}
    />
  );
}

const GRID = <CartesianGrid stroke="#efede9" vertical={false} />;
const MARGIN = { top: 8, right: 14, bottom: 0, left: 0 };
const Y_AXIS_WIDTH = 48;

/**
 * The element's width, measured once on mount and then on resize (debounced, as a transition).
 * Instead of recharts' ResponsiveContainer, whose measuring re-render is a synchronous one.
 */
function useWidth(): [RefObject<HTMLDivElement | null>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const w = Math.floor(el.getBoundingClientRect().width);
    startTransition(() => setWidth(w));
    let t: ReturnType<typeof setTimeout> | null = null;
    const ro = new ResizeObserver(() => {
      if (t) clearTimeout(t);
      t = setTimeout(() => startTransition(() => setWidth(Math.floor(el.getBoundingClientRect().width))), 150);
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      if (t) clearTimeout(t);
    };
  }, []);
  return [ref, width];
}

/** The row whose step is nearest to x (rows sorted by x). */
function nearest(rows: readonly Record<string, number>[], x: number): Record<string, number> | null {
  if (!rows.length) return null;
  let lo = 0;
  let hi = rows.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (rows[mid].x < x) lo = mid;
    else hi = mid;
  }
  return Math.abs(rows[lo].x - x) <= Math.abs(rows[hi].x - x) ? rows[lo] : rows[hi];
}

/** Values under the pointer: a hairline and a small readout, without re-rendering the chart. */
function Hover(props: { rows: readonly Record<string, number>[]; lines: readonly LineSpec[]; xMax: number }) {
  const [at, setAt] = useState<{ px: number; row: Record<string, number> } | null>(null);
  const onMove = (e: MouseEvent<HTMLDivElement>) => {
    const box = e.currentTarget.getBoundingClientRect();
    const left = MARGIN.left + Y_AXIS_WIDTH;
    const width = box.width - left - MARGIN.right;
    const frac = (e.clientX - box.left - left) / width;
    if (frac < 0 || frac > 1) return setAt(null);
    const row = nearest(props.rows, 1 + frac * (props.xMax - 1));
    if (!row) return setAt(null);
    setAt({ px: left + ((row.x - 1) / (props.xMax - 1)) * width, row });
  };
  return (
    <div className="chart-hover" onMouseMove={onMove} onMouseLeave={() => setAt(null)}>
      {at && (
        <>
          <div className="chart-hairline" style={{ left: at.px }} />
          <div className="chart-readout" style={at.px > 240 ? { right: MARGIN.right + 4 } : { left: Y_AXIS_WIDTH + 8 }}>
            <strong>step {at.row.x}</strong>
            {props.lines.map((l) =>
              at.row[l.key] !== undefined ? (
                <span key={l.key}>
                  <i style={{ background: l.color }} /> {l.name} {+at.row[l.key].toPrecision(5)}
                </span>
              ) : null,
            )}
          </div>
        </>
      )}
    </div>
  );
}

export const MetricChart = memo(function MetricChart(props: {
  title: ReactNode;
  id: string;
  rows: Record<string, number>[];
  lines: readonly LineSpec[];
  log: boolean;
  totalSteps: number;
  /** Step to mark with a vertical line, and its label. */
  markerStep?: number | null;
  markerLabel?: string;
  height?: number;
  legend?: ReactNode;
  /** Mount order among the charts on screen (each mounts in its own task). */
  slot: number;
}) {
  const ready = useStaggeredMount(props.slot);
  const [frame, width] = useWidth();
  const height = props.height ?? 200;
  const { rows, lines, log, totalSteps, markerStep, markerLabel: markerText } = props;
  // Axis props keep their identity while their values stay the same: recharts re-registers an
  // axis (a store dispatch and a recompute of every selector) whenever its props change.
  const xAxis = useMemo(() => {
    const ticks = xTicks(totalSteps);
    return { ticks, domain: [1, ticks.at(-1)!] as [number, number] };
  }, [totalSteps]);
  const yComputed = useMemo(
    () =>
      yAxis(
        extent(
          rows,
          lines.map((l) => l.key),
        ),
        log,
      ),
    [rows, lines, log],
  );
  const [yKept, setYKept] = useState(() => ({ y: yComputed, yTick: yTickOf(yComputed) }));
  const yAx = sameAxis(yKept.y, yComputed) ? yKept : { y: yComputed, yTick: yTickOf(yComputed) };
  if (yAx !== yKept) setYKept(yAx);
  const axes = { x: xAxis.ticks, xDomain: xAxis.domain, y: yAx.y, yTick: yAx.yTick };
  const lineProps = useMemo(
    () =>
      lines.map((l) => ({
        key: l.key,
        name: l.name,
        stroke: l.color,
        strokeWidth: l.width ?? 1.5,
        dot: l.dots ? { r: 3, fill: l.color, strokeWidth: 0 } : (false as const),
      })),
    [lines],
  );
  // The chart's children as elements that keep their identity while their props are unchanged:
  // a new data point then re-renders the chart root and what reads the data (the lines), and
  // React skips the grid and the axes (their ticks are many small SVG elements).
  const xAxisEl = useMemo(
    () => (
      <XAxis
        dataKey="x"
        type="number"
        domain={axes.xDomain}
        ticks={axes.x}
        interval={0}
        allowDecimals={false}
        niceTicks="none"
        tick={xTick}
        stroke="#d6d3d1"
      />
    ),
    [axes.xDomain, axes.x],
  );
  const yAxisEl = useMemo(
    () => (
      <YAxis
        scale={log ? 'log' : 'linear'}
        domain={axes.y.domain}
        ticks={axes.y.ticks}
        interval={0}
        allowDataOverflow
        niceTicks="none"
        tick={axes.yTick}
        width={Y_AXIS_WIDTH}
        stroke="#d6d3d1"
      />
    ),
    [log, axes.y, axes.yTick],
  );
  const markerEl = useMemo(
    () =>
      markerStep != null && (
        <ReferenceLine x={markerStep} stroke="#16a34a" strokeDasharray="4 3" label={markerLabel(markerText)} />
      ),
    [markerStep, markerText],
  );
  const lineEls = useMemo(
    () =>
      lineProps.map((l) => (
        <Line
          key={l.key}
          dataKey={l.key}
          name={l.name}
          stroke={l.stroke}
          strokeWidth={l.strokeWidth}
          dot={l.dot}
          activeDot={false}
          connectNulls
          isAnimationActive={false}
          type="linear"
          shape={linePath}
        />
      )),
    [lineProps],
  );
  const chart =
    width > 0 ? (
      <LineChart width={width} height={height} data={rows} margin={MARGIN}>
        {GRID}
        {xAxisEl}
        {yAxisEl}
        {markerEl}
        {lineEls}
      </LineChart>
    ) : null;
  return (
    <figure className="chart" data-chart={props.id} data-points={rows.length}>
      <figcaption>
        <span className="chart-title">{props.title}</span>
        {props.legend}
      </figcaption>
      <div ref={frame} className={`chart-frame ${ready ? '' : 'chart-empty'}`} style={{ height }}>
        {ready && (
          <>
            {rows.length === 0 && <div className="chart-waiting">Waiting for the first step…</div>}
            {chart}
            <Hover rows={rows} lines={lines} xMax={axes.x.at(-1)!} />
          </>
        )}
      </div>
    </figure>
  );
});
