// One live line chart (recharts). Everything that costs time per update is decided here rather
// than inside recharts: the data arrives decimated and never enters recharts' store (recharts lays
// out the chart, the grid and the axes; the lines are drawn by Lines below with its scales), the
// axis domains and ticks are computed by ticks.ts (niceTicks "none": recharts would search for them
// on every render) and the y axis holds while the values stay inside it, and there is no recharts
// Tooltip: it alone made mounting and updating a chart a 100+ ms task on a busy CPU. A light
// overlay of our own reads values under the pointer instead.

import {
  createContext,
  memo,
  startTransition,
  useContext,
  useEffect,
  useId,
  useMemo,
  useRef,
  useState,
  type MouseEvent,
  type ReactNode,
  type RefObject,
} from 'react';
import {
  CartesianGrid,
  LineChart,
  ReferenceLine,
  usePlotArea,
  useXAxisScale,
  useYAxisScale,
  XAxis,
  YAxis,
} from 'recharts';
import { extent } from '../lib/series';
import { nextYAxis, xTicks, type Axis } from './ticks';
import { useStaggeredMount } from './useStaggered';
import type { Row } from './charts';

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

/**
 * The lines of one chart, drawn from its rows with the chart's own scales (recharts' axis scale
 * hooks): straight segments, points without a value skipped and the line carried on (as
 * connectNulls draws it), dots where a line asks for them. The rows reach this component through
 * a context, not through the chart's `data`: a new data array makes recharts' store dispatch
 * `setChartData` twice (its effect's cleanup and setup) and rerun every selector of the chart, a
 * 50-150 ms task on a 4x-throttled CPU; a new context value re-renders this component alone.
 */
const ChartRows = createContext<{ rows: readonly Row[]; lines: readonly LineSpec[] }>({ rows: [], lines: [] });

function Lines() {
  const { rows, lines } = useContext(ChartRows);
  const x = useXAxisScale();
  const y = useYAxisScale();
  const area = usePlotArea();
  const clip = useId();
  if (!x || !y || !area) return null;
  const r = (v: number) => Math.round(v * 10) / 10;
  return (
    <g className="recharts-layer recharts-line-layer">
      <defs>
        <clipPath id={clip}>
          <rect x={area.x} y={area.y - 4} width={area.width} height={area.height + 8} />
        </clipPath>
      </defs>
      {lines.map((l) => {
        let d = '';
        const dots: ReactNode[] = [];
        for (const row of rows) {
          const v = row[l.key];
          if (v === undefined || !Number.isFinite(v)) continue;
          const px = x(row.x);
          const py = y(v);
          if (px === undefined || py === undefined || !Number.isFinite(px) || !Number.isFinite(py)) continue;
          d += `${d ? 'L' : 'M'}${r(px)},${r(py)}`;
          if (l.dots) dots.push(<circle key={row.x} cx={r(px)} cy={r(py)} r={3} fill={l.color} />);
        }
        return (
          <g key={l.key} className="recharts-layer recharts-line" clipPath={`url(#${clip})`}>
            {d && (
              <path
                d={d}
                fill="none"
                stroke={l.color}
                strokeWidth={l.width ?? 1.5}
                className="recharts-curve recharts-line-curve"
              />
            )}
            {dots.length > 0 && <g className="recharts-line-dots">{dots}</g>}
          </g>
        );
      })}
    </g>
  );
}
const LINES = <Lines />;

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
  /** The y axis starts at 0 (a linear axis only). */
  yFromZero?: boolean;
}) {
  const ready = useStaggeredMount(props.slot);
  const [frame, width] = useWidth();
  const height = props.height ?? 200;
  const { rows, lines, log, totalSteps, markerStep, markerLabel: markerText, yFromZero = false } = props;
  // Axis props keep their identity while their values stay the same: recharts re-registers an
  // axis (a store dispatch and a recompute of every selector) whenever its props change.
  const xAxis = useMemo(() => {
    const ticks = xTicks(totalSteps);
    return { ticks, domain: [1, ticks.at(-1)!] as [number, number] };
  }, [totalSteps]);
  // The y axis holds while the values stay inside it (nextYAxis): each change is a re-registration.
  const [yKept, setYKept] = useState<{ y: Axis; yTick: ReturnType<typeof yTickOf>; log: boolean } | null>(null);
  const prev = yKept && yKept.log === log ? yKept : null;
  const yNext = useMemo(
    () =>
      nextYAxis(
        prev?.y ?? null,
        extent(
          rows,
          lines.map((l) => l.key),
        ),
        log,
        yFromZero,
      ),
    [prev, rows, lines, log, yFromZero],
  );
  const yAx = prev && sameAxis(prev.y, yNext) ? prev : { y: yNext, yTick: yTickOf(yNext), log };
  if (yAx !== yKept) setYKept(yAx);
  const axes = { x: xAxis.ticks, xDomain: xAxis.domain, y: yAx.y, yTick: yAx.yTick };
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
        allowDataOverflow
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
  // The chart itself keeps its identity while its axes and size stay: a new data point re-renders
  // the lines (through ChartRows) and the hover overlay, nothing of recharts.
  const chart = useMemo(
    () =>
      width > 0 ? (
        <LineChart width={width} height={height} margin={MARGIN}>
          {GRID}
          {xAxisEl}
          {yAxisEl}
          {markerEl}
          {LINES}
        </LineChart>
      ) : null,
    [width, height, xAxisEl, yAxisEl, markerEl],
  );
  const drawn = useMemo(() => ({ rows, lines }), [rows, lines]);
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
            <ChartRows value={drawn}>{chart}</ChartRows>
            <Hover rows={rows} lines={lines} xMax={axes.x.at(-1)!} />
          </>
        )}
      </div>
    </figure>
  );
});
