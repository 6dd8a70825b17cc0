// SPDX-License-Identifier: MIT
// report.html as a string: self-contained, escaped, with the charts and tables the data asks for.
import { escapeHtml, renderReport } from '../../lib/report';
import type { ReportInput } from '../../lib/report';
import { CIFAR10_CLASSES } from '../../lib/dataset';

function input(overrides: Partial<ReportInput> = {}): ReportInput {
  return {
    title: 'run <1>',
    status: 'completed',
    config: { epochs: 3, dataDir: '/data/"cifar"', download: false, limitTrain: undefined },
    machine: { device: 'cpu', threads: 2 },
    epochs: [1, 2, 3].map((epoch) => ({
      epoch,
      trainLoss: 2 / epoch,
      validAccuracy: 0.2 * epoch,
      seconds: 10,
      imagesPerSecond: 100,
    })),
    steps: Array.from({ length: 12 }, (_, i) => ({ x: (i + 1) / 4, loss: 2.5 - i * 0.1, accuracy: i / 20 })),
    test: {
      testAccuracy: 0.55,
      testSize: 100,
      perClassAccuracy: Array.from({ length: 10 }, (_, i) => i / 10),
      confusionMatrix: Array.from({ length: 10 }, (_, i) => Array.from({ length: 10 }, (_, j) => (i === j ? 7 : 1))),
    },
    classes: CIFAR10_CLASSES,
    generatedAt: new Date('2026-11-26T12:00:00Z'),
    ...overrides,
  };
}

const count = (html: string, pattern: RegExp) => (html.match(pattern) ?? []).length;

describe('renderReport', () => {
  const html = renderReport(input());

  test('is one self-contained page: no script, no external resource', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|<img|@import|url\(/i);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//i);
  });

  test('draws both curves with a marker per epoch and every logged step', () => {
    expect(html).toContain('id="loss-chart"');
    expect(html).toContain('id="accuracy-chart"');
    const loss = /<svg id="loss-chart"[\s\S]*?<\/svg>/.exec(html)![0];
    expect(count(loss, /<circle /g)).toBe(3);
    const steps = /data-series="per logged step" points="([^"]*)"/.exec(loss)![1]!;
    expect(steps.split(' ')).toHaveLength(12);
    const accuracy = /<svg id="accuracy-chart"[\s\S]*?<\/svg>/.exec(html)![0];
    expect(accuracy).toContain('test 55.00%');
  });

  test('a heat map of 100 cells, shaded by the share of the true class, and the per-class table', () => {
    expect(count(html, /<rect class="cell"/g)).toBe(100);
    // Diagonal 7 of 16: greener and darker than an off-diagonal 1 of 16.
    expect(html).toMatch(/data-true="0" data-predicted="0"[^>]*fill="hsl\(140 55% 70%\)"/);
    expect(html).toMatch(/data-true="0" data-predicted="1"[^>]*fill="hsl\(8 75% 93%\)"/);
    const perClass = /<table id="per-class">[\s\S]*?<\/table>/.exec(html)![0];
    expect(count(perClass, /<tr>/g)).toBe(11);
    expect(perClass).toContain('<td>truck</td><td>90.00%</td>');
  });

  test('escapes what it is given', () => {
    expect(html).toContain('<h1>run &#60;1&#62;</h1>');
    expect(html).toContain('/data/&#34;cifar&#34;');
    expect(escapeHtml(`<a href='x'>&</a>`)).toBe('&#60;a href=&#39;x&#39;&#62;&#38;&#60;/a&#62;');
  });

  test('a run still going: no test section yet, status shown', () => {
    const running = renderReport(input({ status: 'running', test: undefined }));
    expect(running).toContain('<span class="status running">running</span>');
    expect(running).toContain('Not run yet');
    expect(running).not.toContain('id="confusion"');
  });

  test("the epochs table has each epoch's training and validation time; the test heading its time", () => {
    const timed = renderReport(
      input({
        epochs: [
          { epoch: 1, trainLoss: 2, validAccuracy: 0.2, seconds: 12.34, validSeconds: 0.81, imagesPerSecond: 100 },
          // From a checkpoint written before validation was timed.
          { epoch: 2, trainLoss: 1, validAccuracy: 0.4, seconds: 11, imagesPerSecond: 100 },
        ],
        test: { ...input().test!, seconds: 1.26 },
      }),
    );
    const epochs = /<table id="epochs">[\s\S]*?<\/table>/.exec(timed)![0];
    expect(epochs).toContain('<th>training time</th><th>validation time</th>');
    expect(epochs).toContain('<td>12.3 s</td><td>0.8 s</td>');
    expect(epochs).toContain('<td>11.0 s</td><td>—</td>');
    expect(timed).toContain('<h2>Test: 55.00% of 100 images (1.3 s)</h2>');
    expect(html).toContain('<h2>Test: 55.00% of 100 images</h2>');
  });

  test('the same input gives the same page', () => {
    expect(renderReport(input())).toBe(html);
  });
});
