// SPDX-License-Identifier: MIT
// report.html: one self-contained page per run (inline SVG and CSS, no script, nothing fetched), so it opens from
// a file, an artifact store or an e-mail the same way.

/** What the report shows; the run folder fills it in as the run goes. */
export interface ReportInput {
  readonly title: string;
  readonly status: 'running' | 'completed' | 'interrupted' | 'failed';
  /** The resolved options, as config.json holds them. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly machine: Readonly<Record<string, string | number>>;
  readonly epochs: readonly {
    readonly epoch: number;
    readonly trainLoss: number;
    readonly validAccuracy: number;
    /** Training time of the epoch. */
    readonly seconds: number;
    /** Time of its validation pass; absent in epochs from checkpoints written before it was recorded. */
    readonly validSeconds?: number;
    readonly imagesPerSecond: number;
  }[];
  /** Training loss and accuracy as reported every logEvery steps; x is the fractional epoch. */
  readonly steps: readonly { readonly x: number; readonly loss: number; readonly accuracy: number }[];
  readonly test?: {
    readonly testAccuracy: number;
    readonly testSize: number;
    readonly perClassAccuracy: readonly number[];
    readonly confusionMatrix: readonly (readonly number[])[];
    /** Time of the test evaluation. */
    readonly seconds?: number;
  };
  readonly classes: readonly string[];
  readonly generatedAt: Date;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const percent = (f: number) => `${(100 * f).toFixed(2)}%`;

interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: readonly (readonly [number, number])[];
  /** Draw a marker at every point (per-epoch series). */
  readonly markers?: boolean;
  readonly dashed?: boolean;
  readonly width?: number;
}

function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * magnitude) return step * magnitude;
  return 10 * magnitude;
}

/** An SVG line chart with axes, ticks and a legend; `id` names it for tests and links. */
function lineChart(
  id: string,
  title: string,
  series: readonly Series[],
  axis: { readonly xMax: number; readonly yMax: number; readonly yFormat: (y: number) => string },
): string {
  const width = 560;
  const height = 300;
  const left = 56;
  const right = 16;
  const top = 34;
  const bottom = 40;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const xMax = Math.max(1, axis.xMax);
  const sx = (x: number) => left + (x / xMax) * plotW;
  const sy = (y: number) => top + plotH - (Math.min(Math.max(y, 0), axis.yMax) / axis.yMax) * plotH;
  const parts: string[] = [];
  parts.push(`<text x="${left}" y="20" class="chart-title">${escapeHtml(title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const y = (axis.yMax * i) / 4;
    parts.push(`<line x1="${left}" x2="${width - right}" y1="${sy(y)}" y2="${sy(y)}" class="grid"/>`);
    parts.push(`<text x="${left - 6}" y="${sy(y) + 4}" class="tick" text-anchor="end">${axis.yFormat(y)}</text>`);
  }
  const xStep = Math.max(1, Math.ceil(xMax / 10));
  for (let x = 0; x <= xMax; x += xStep) {
    parts.push(`<text x="${sx(x)}" y="${top + plotH + 16}" class="tick" text-anchor="middle">${x}</text>`);
  }
  parts.push(`<text x="${left + plotW / 2}" y="${height - 6}" class="tick" text-anchor="middle">epoch</text>`);
  parts.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" class="frame"/>`);
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const points = s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    parts.push(
      `<polyline data-series="${escapeHtml(s.name)}" points="${points}" fill="none" stroke="${s.color}" ` +
        `stroke-width="${s.width ?? 2}"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    if (s.markers) {
      for (const [x, y] of s.points) {
        parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3.5" fill="${s.color}"/>`);
      }
    }
    const lx = left + 8 + i * 150;
    parts.push(`<rect x="${lx}" y="${top + 6}" width="12" height="4" fill="${s.color}"/>`);
    parts.push(`<text x="${lx + 16}" y="${top + 12}" class="legend">${escapeHtml(s.name)}</text>`);
  });
  return (
    `<svg id="${id}" class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" ` +
    `role="img" aria-label="${escapeHtml(title)}">${parts.join('')}</svg>`
  );
}

/** The confusion matrix as a heat map: each cell shaded by its share of the true class's images. */
function heatMap(matrix: readonly (readonly number[])[], classes: readonly string[]): string {
  const cell = 40;
  const labelW = 92;
  const top = 96;
  const n = matrix.length;
  const size = labelW + n * cell + 8;
  const parts: string[] = [];
  classes.forEach((name, j) => {
    const x = labelW + j * cell + cell / 2;
    parts.push(
      `<text x="${x}" y="${top - 8}" class="tick" transform="rotate(-50 ${x} ${top - 8})">${escapeHtml(name)}</text>`,
    );
  });
  matrix.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    parts.push(
      `<text x="${labelW - 6}" y="${top + i * cell + cell / 2 + 4}" class="tick" text-anchor="end">` +
        `${escapeHtml(classes[i] ?? String(i))}</text>`,
    );
    row.forEach((count, j) => {
      const share = total > 0 ? count / total : 0;
      const light = Math.round(97 - share * 62);
      const fill = i === j ? `hsl(140 55% ${light}%)` : `hsl(8 75% ${light}%)`;
      parts.push(
        `<rect class="cell" data-true="${i}" data-predicted="${j}" x="${labelW + j * cell}" y="${top + i * cell}" ` +
          `width="${cell - 1}" height="${cell - 1}" fill="${fill}"><title>true ${escapeHtml(classes[i] ?? '')}, ` +
          `predicted ${escapeHtml(classes[j] ?? '')}: ${count}</title></rect>`,
      );
      parts.push(
        `<text x="${labelW + j * cell + cell / 2}" y="${top + i * cell + cell / 2 + 4}" class="count" ` +
          `text-anchor="middle">${count}</text>`,
      );
    });
  });
  return (
    `<svg id="confusion" class="chart" viewBox="0 0 ${size} ${top + n * cell + 8}" width="${size}" ` +
    `height="${top + n * cell + 8}" role="img" aria-label="confusion matrix">${parts.join('')}</svg>`
  );
}

function table(headers: readonly string[], rows: readonly (readonly string[])[], id?: string): string {
  const head = headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows.map((row) => `<tr>${row.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('');
  return `<table${id ? ` id="${id}"` : ''}><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function formatValue(value: unknown): string {
  if (value === undefined) return '—';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

// The loss and accuracy charts, over the same epochs axis.
function curves(input: ReportInput): string {
  const xMax = Math.max(1, ...input.epochs.map((e) => e.epoch), ...input.steps.map((s) => s.x));
  const lossMax = niceMax(Math.max(0, ...input.epochs.map((e) => e.trainLoss), ...input.steps.map((s) => s.loss)));
  const epochPoints = (f: (e: ReportInput['epochs'][number]) => number) =>
    input.epochs.map((e) => [e.epoch, f(e)] as const);
  const lossChart = lineChart(
    'loss-chart',
    'Training loss',
    [
      { name: 'per logged step', color: '#9db8d9', width: 1, points: input.steps.map((s) => [s.x, s.loss] as const) },
      { name: 'epoch mean', color: '#1f5fa8', markers: true, points: epochPoints((e) => e.trainLoss) },
    ],
    { xMax, yMax: lossMax, yFormat: (y) => y.toFixed(2) },
  );
  const accuracySeries: Series[] = [
    {
      name: 'training (logged steps)',
      color: '#f0b27a',
      width: 1,
      points: input.steps.map((s) => [s.x, s.accuracy] as const),
    },
    { name: 'validation', color: '#c0392b', markers: true, points: epochPoints((e) => e.validAccuracy) },
  ];
  if (input.test) {
    accuracySeries.push({
      name: `test ${percent(input.test.testAccuracy)}`,
      color: '#27864a',
      dashed: true,
      points: [
        [0, input.test.testAccuracy],
        [xMax, input.test.testAccuracy],
      ],
    });
  }
  const accuracyChart = lineChart('accuracy-chart', 'Accuracy', accuracySeries, {
    xMax,
    yMax: 1,
    yFormat: (y) => `${Math.round(100 * y)}%`,
  });
  return `${lossChart}${accuracyChart}`;
}

// Test accuracy, per-class accuracy and the confusion matrix, or a note that the test split comes at the end.
function testSection(input: ReportInput): string {
  return input.test
    ? `<section><h2>Test: ${percent(input.test.testAccuracy)} of ${input.test.testSize} images${
        input.test.seconds === undefined ? '' : ` (${input.test.seconds.toFixed(1)} s)`
      }</h2>
<div class="row"><div>${table(
        ['class', 'accuracy'],
        input.classes.map((name, i) => [name, percent(input.test!.perClassAccuracy[i] ?? 0)]),
        'per-class',
      )}</div><div><h3>Confusion matrix (rows: true class, columns: predicted)</h3>${heatMap(
        input.test.confusionMatrix,
        input.classes,
      )}</div></div></section>`
    : '<section><h2>Test</h2><p>Not run yet: the test split is scored when training completes.</p></section>';
}

/**
 * The whole page. Pure: the same input gives the same bytes.
 *
 * @example
 * fs.writeFileSync('report.html', renderReport({ title: 'run', status: 'completed', ... }));
 */
export function renderReport(input: ReportInput): string {
  const epochRows = input.epochs.map((e) => [
    String(e.epoch),
    e.trainLoss.toFixed(4),
    percent(e.validAccuracy),
    `${e.seconds.toFixed(1)} s`,
    e.validSeconds === undefined ? '—' : `${e.validSeconds.toFixed(1)} s`,
    e.imagesPerSecond.toFixed(1),
  ]);
  const statusText = { running: 'running', completed: 'completed', interrupted: 'interrupted', failed: 'failed' }[
    input.status
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.title)} — libtorch-resnet report</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; margin: 24px auto; max-width: 1200px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 24px 0 8px; } h3 { font-size: 14px; margin: 0 0 6px; }
.meta { color: #5a6475; } .status { display: inline-block; padding: 1px 8px; border-radius: 9px; background: #e8eef7; }
.status.completed { background: #dff3e6; } .status.interrupted, .status.failed { background: #fbe3dc; }
.row { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
table { border-collapse: collapse; } th, td { padding: 3px 10px; border-bottom: 1px solid #e3e7ee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.chart { background: #fff; border: 1px solid #e3e7ee; border-radius: 6px; max-width: 100%; height: auto; }
.chart .grid { stroke: #eef1f5; } .chart .frame { fill: none; stroke: #c9d0db; }
.chart text { font: 11px system-ui, sans-serif; fill: #5a6475; } .chart .chart-title { font-size: 13px; font-weight: 600; fill: #1d2330; }
.chart .count { font-size: 10px; fill: #1d2330; } .chart .legend { fill: #1d2330; }
</style>
</head>
<body>
<h1>${escapeHtml(input.title)}</h1>
<p class="meta"><span class="status ${input.status}">${statusText}</span> · ${input.epochs.length} epoch(s) ·
generated ${escapeHtml(input.generatedAt.toISOString())} by libtorch-resnet</p>
<section><h2>Curves</h2><div class="row">${curves(input)}</div></section>
<section><h2>Epochs</h2>${table(['epoch', 'train loss', 'valid accuracy', 'training time', 'validation time', 'images/s'], epochRows, 'epochs')}</section>
${testSection(input)}
<section class="row"><div><h2>Configuration</h2>${table(
    ['option', 'value'],
    Object.entries(input.config).map(([k, v]) => [k, formatValue(v)]),
    'config',
  )}</div><div><h2>Machine</h2>${table(
    ['', ''],
    Object.entries(input.machine).map(([k, v]) => [k, String(v)]),
    'machine',
  )}</div></section>
</body>
</html>
`;
}
