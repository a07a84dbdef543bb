// One live line chart (recharts). Everything that costs time per update is decided here rather
// than inside recharts: recharts lays out the chart and draws the x axis, registered once per run
// (its store sees no data, no y domain and no marker); the y axis, its grid, the best-step marker
// and the lines are drawn by Lines below with recharts' plot area and x scale, from decimated rows
// that reach it through a context; the axis domains and ticks are computed by ticks.ts (niceTicks
// "none": recharts would search for them on every render) and the y axis holds while the values
// stay inside it; and there is no recharts Tooltip: it alone made mounting and updating a chart a
// 100+ ms task on a busy CPU. A light overlay of our own reads values under the pointer instead.

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
import { LineChart, usePlotArea, useXAxisScale, XAxis, YAxis } from 'recharts';
import { extent } from '../lib/series';
import { nextYAxis, xTicks, yFraction, type Axis } from './ticks';
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
/** Two axes with the same domain, ticks and labels. */
function sameAxis(a: Axis, b: Axis): boolean {
  const eq = (x: readonly unknown[], y: readonly unknown[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  return eq(a.domain, b.domain) && eq(a.ticks, b.ticks) && eq(a.labels, b.labels);
}

/** What one chart draws of its own inside recharts' frame (see Lines). */
interface Drawn {
  rows: readonly Row[];
  lines: readonly LineSpec[];
  /** The y axis: domain, ticks and their labels (ticks.ts). */
  y: Axis;
  log: boolean;
  /** A step to mark with a dashed vertical line, and the line's label. */
  marker: { step: number; label?: string } | null;
}

/**
 * The y axis, its grid, the marker and the lines of one chart, drawn with the plot area and the x
 * scale that recharts lays out. Nothing of this enters recharts' store: recharts keeps one
 * registration per chart for its whole life (an x axis fixed by the run's length, a y axis fixed
 * at 0..1 that only reserves the labels' width), and the values reach this component through a
 * context. Each change of what recharts holds (a new `data` array, a y axis whose domain moved, a
 * reference line at a new best step) is a dispatch that reruns every selector of the chart and
 * re-renders it synchronously: a 50-150 ms task on a 4x-throttled CPU (docs/performance.md). A new
 * context value re-renders this component alone.
 *
 * Lines are straight segments; a point without a value is skipped and the line carried on (as
 * connectNulls draws it); dots where a line asks for them; what leaves the plot area is clipped.
 */
const ChartRows = createContext<Drawn>({
  rows: [],
  lines: [],
  y: { domain: [0, 1], ticks: [], labels: [] },
  log: false,
  marker: null,
});

const AXIS_STROKE = '#d6d3d1';
const Y_AXIS_WIDTH = 48;
const GRID_STROKE = '#efede9';

function Lines() {
  const { rows, lines, y: axis, log, marker } = useContext(ChartRows);
  const x = useXAxisScale();
  const area = usePlotArea();
  const clip = useId();
  if (!x || !area) return null;
  const r = (v: number) => Math.round(v * 10) / 10;
  const frac = yFraction(axis, log);
  const y = (v: number) => area.y + area.height * (1 - frac(v));
  const markerX = marker ? x(marker.step) : undefined;
  return (
    <g className="recharts-layer recharts-line-layer">
      <defs>
        <clipPath id={clip}>
          <rect x={area.x} y={area.y - 4} width={area.width} height={area.height + 8} />
        </clipPath>
      </defs>
      <g className="chart-grid">
        {axis.ticks.map((t) => (
          <line key={t} x1={area.x} x2={area.x + area.width} y1={r(y(t))} y2={r(y(t))} stroke={GRID_STROKE} />
        ))}
      </g>
      <g className="chart-y-ticks">
        {axis.ticks.map((t, i) => (
          <g key={t}>
            <line x1={area.x - 6} x2={area.x} y1={r(y(t))} y2={r(y(t))} stroke={AXIS_STROKE} />
            <text x={area.x - 8} y={r(y(t)) + 4} textAnchor="end" className="tick">
              {axis.labels[i]}
            </text>
          </g>
        ))}
      </g>
      {markerX !== undefined && Number.isFinite(markerX) && (
        <g className="chart-marker">
          <line
            x1={r(markerX)}
            x2={r(markerX)}
            y1={area.y}
            y2={area.y + area.height}
            stroke="#16a34a"
            strokeDasharray="4 3"
          />
          {marker?.label && (
            <text x={r(markerX) - 4} y={area.y + 12} textAnchor="end" className="marker-label">
              {marker.label}
            </text>
          )}
        </g>
      )}
      {lines.map((l) => {
        let d = '';
        const dots: ReactNode[] = [];
        for (const row of rows) {
          const v = row[l.key];
          if (v === undefined || !Number.isFinite(v)) continue;
          const px = x(row.x);
          const py = y(v);
          if (px === undefined || !Number.isFinite(px) || !Number.isFinite(py)) continue;
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

/** recharts' y axis, the same for every chart and every update: it reserves the labels' width. */
const Y_AXIS = (
  <YAxis
    type="number"
    domain={[0, 1]}
    ticks={[0, 1]}
    interval={0}
    allowDataOverflow
    niceTicks="none"
    tick={false}
    tickLine={false}
    width={Y_AXIS_WIDTH}
    stroke={AXIS_STROKE}
  />
);
const MARGIN = { top: 8, right: 14, bottom: 0, left: 0 };

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
  // The x axis is recharts' (its props keep their identity while the run's length stays: a change
  // is a re-registration in recharts' store).
  const xAxis = useMemo(() => {
    const ticks = xTicks(totalSteps);
    return { ticks, domain: [1, ticks.at(-1)!] as [number, number] };
  }, [totalSteps]);
  // The y axis is drawn by Lines and holds while the values stay inside it (nextYAxis), so that
  // its labels and grid do not move with every step.
  const [yKept, setYKept] = useState<{ y: Axis; log: boolean } | null>(null);
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
  const yAx = prev && sameAxis(prev.y, yNext) ? prev : { y: yNext, log };
  if (yAx !== yKept) setYKept(yAx);
  // recharts' part, which keeps its identity while the size and the run's length stay: a new data
  // point, a new y axis or a new best step re-renders Lines (through ChartRows) and the hover
  // overlay, nothing of recharts.
  const chart = useMemo(
    () =>
      width > 0 ? (
        <LineChart width={width} height={height} margin={MARGIN}>
          <XAxis
            dataKey="x"
            type="number"
            domain={xAxis.domain}
            ticks={xAxis.ticks}
            interval={0}
            allowDataOverflow
            allowDecimals={false}
            niceTicks="none"
            tick={xTick}
            stroke={AXIS_STROKE}
          />
          {Y_AXIS}
          {LINES}
        </LineChart>
      ) : null,
    [width, height, xAxis],
  );
  const drawn = useMemo<Drawn>(
    () => ({
      rows,
      lines,
      y: yAx.y,
      log,
      marker: markerStep != null ? { step: markerStep, label: markerText } : null,
    }),
    [rows, lines, yAx.y, log, markerStep, markerText],
  );
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
            <Hover rows={rows} lines={lines} xMax={xAxis.ticks.at(-1)!} />
          </>
        )}
      </div>
    </figure>
  );
});
