// SPDX-License-Identifier: MIT
// The per-step event: the bar moves on it, the ETA is estimated from it, a slow run says so at its start.
import {
  ProgressRenderer,
  RunEstimate,
  formatEta,
  formatEtas,
  formatEventLine,
  formatSlowRun,
} from '../../lib/progress';
import type { StepEvent, TrainBeginEvent, TrainEvent } from '../../lib/progress';
import { MemoryStream } from '../fixtures/memory-stream';

// Wide enough for the bar and both ETAs; no cursor marks, so the text is what a terminal shows.
const memoryStream = (isTTY: boolean) => new MemoryStream(isTTY, 160, false);

function begin(over: Partial<TrainBeginEvent> = {}): TrainBeginEvent {
  return {
    type: 'trainBegin',
    epochs: 2,
    stepsPerEpoch: 10,
    trainSize: 100,
    validSize: 10,
    testSize: 20,
    parameters: 21298314,
    threads: 2,
    device: 'cpu',
    worldSize: 1,
    rank: 0,
    startEpoch: 0,
    startStep: 0,
    ...over,
  };
}

const step = (epoch: number, n: number, seconds: number, epochs = 2, stepsPerEpoch = 10): StepEvent => ({
  type: 'step',
  epoch,
  epochs,
  step: n,
  stepsPerEpoch,
  seconds,
});

const epochBegin = (epoch: number, epochs = 2, stepsPerEpoch = 10): TrainEvent => ({
  type: 'epochBegin',
  epoch,
  epochs,
  stepsPerEpoch,
});

function observeAll(events: TrainEvent[]): RunEstimate {
  const estimate = new RunEstimate();
  for (const event of events) estimate.observe(event);
  return estimate;
}

describe('formatEta and formatEtas', () => {
  test.each([
    [undefined, '–'],
    [NaN, '–'],
    [-1, '–'],
    [0, '0s'],
    [13.2, '14s'],
    [59.4, '1m 00s'],
    [80, '1m 20s'],
    [34800, '9h 40m'],
  ])('formatEta(%p) = %p', (input, output) => expect(formatEta(input)).toBe(output));

  test('both parts, or one dash while nothing is known', () => {
    expect(formatEtas(14, 36.7)).toBe('14s (epoch) · 37s (run)');
    expect(formatEtas(undefined, undefined)).toBe('–');
  });
});

describe('RunEstimate', () => {
  test('knows nothing before a step is timed', () => {
    const estimate = observeAll([begin(), epochBegin(1)]);
    expect(estimate.secondsPerStep()).toBeUndefined();
    expect(estimate.epochSeconds()).toBeUndefined();
    expect(estimate.runSeconds()).toBeUndefined();
  });

  test('after 3 steps of 2 s in a 10-step epoch of a 2-epoch run: 14 s for the epoch, 34 s + evaluation for the run', () => {
    const estimate = observeAll([begin(), epochBegin(1), step(1, 1, 2), step(1, 2, 4), step(1, 3, 6)]);
    expect(estimate.secondsPerStep()).toBeCloseTo(2);
    expect(estimate.epochSeconds()).toBeCloseTo(14);
    // Before any validation is timed: a third of the training time per image (0.2 s) for 2 x 10 valid + 20 test.
    expect(estimate.runSeconds()).toBeCloseTo(14 + 10 * 2 + (40 * 0.2) / 3);
  });

  test('measures the time taken, not a constant: 4 s steps take twice as long', () => {
    const estimate = observeAll([begin(), epochBegin(1), step(1, 1, 4), step(1, 2, 8), step(1, 3, 12)]);
    expect(estimate.epochSeconds()).toBeCloseTo(28);
    expect(estimate.runSeconds()).toBeCloseTo(28 + 40 + (40 * 0.4) / 3);
  });

  test('a slow first step (warm-up) counts once there is a second one to measure from', () => {
    const estimate = observeAll([begin(), epochBegin(1), step(1, 1, 5)]);
    expect(estimate.epochSeconds()).toBeCloseTo(9 * 5);
    estimate.observe(step(1, 2, 6));
    estimate.observe(step(1, 3, 7));
    expect(estimate.secondsPerStep()).toBeCloseTo(1);
    expect(estimate.epochSeconds()).toBeCloseTo(7);
  });

  test('carries the finished epochs into the next, with their measured validation', () => {
    const estimate = observeAll([
      begin(),
      epochBegin(1),
      ...Array.from({ length: 10 }, (_, i) => step(1, i + 1, 2 * (i + 1))),
      { type: 'epochEnd', epoch: 1, epochs: 2, trainLoss: 2, validAccuracy: 0.1, seconds: 20, validSeconds: 1, imagesPerSecond: 50 },
      epochBegin(2),
    ]);
    // No step of epoch 2 yet: at epoch 1's 2 s a step; validation 0.1 s an image (10 valid + 20 test left).
    expect(estimate.epochSeconds()).toBeCloseTo(20);
    expect(estimate.runSeconds()).toBeCloseTo(20 + 1 + 2);
    // Epoch 2 runs at 1 s a step after its first.
    for (const [n, seconds] of [[1, 3], [2, 4], [3, 5]] as const) estimate.observe(step(2, n, seconds));
    expect(estimate.epochSeconds()).toBeCloseTo(7);
    expect(estimate.runSeconds()).toBeCloseTo(7 + 1 + 2);
  });

  test('a resumed epoch: its seconds include the time before the stop', () => {
    const estimate = observeAll([begin({ startEpoch: 0, startStep: 4 }), epochBegin(1)]);
    expect(estimate.epochSeconds()).toBeUndefined();
    estimate.observe(step(1, 5, 10));
    expect(estimate.epochSeconds()).toBeCloseTo(5 * 2);
  });
});

describe('the bar moves on every step', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  // The last drawing of the bar (cli-progress redraws on its timer).
  const lastBar = (stream: MemoryStream) => stream.chunks.filter((c) => c.startsWith('epoch ')).at(-1) ?? '';

  test('each step event moves the bar and the ETA, "–" until a step is timed', () => {
    const stream = memoryStream(true);
    const renderer = new ProgressRenderer(stream);
    renderer.onProgress(begin());
    renderer.onProgress(epochBegin(1));
    jest.advanceTimersByTime(150);
    expect(lastBar(stream)).toMatch(/^epoch 1\/2 \[.*\] 0\/10 \| loss - \| acc - \| - img\/s \| ETA –$/);
    expect(stream.text).not.toContain('ETA 0s');
    const seen: string[] = [];
    for (const [n, seconds] of [[1, 2], [2, 4], [3, 6]] as const) {
      renderer.onProgress(step(1, n, seconds));
      jest.advanceTimersByTime(150);
      seen.push(lastBar(stream));
    }
    expect(seen.map((line) => /\] (\d+)\/10/.exec(line)?.[1])).toEqual(['1', '2', '3']);
    expect(seen[2]).toContain('| ETA 14s (epoch) · 37s (run)');
    // No batchEnd yet: the metrics still wait for one.
    expect(seen[2]).toContain('loss - | acc - | - img/s');
    renderer.onProgress({
      type: 'batchEnd',
      phase: 'train',
      epoch: 1,
      epochs: 2,
      step: 3,
      stepsPerEpoch: 10,
      loss: 2.3,
      accuracy: 0.1,
      imagesPerSecond: 5,
      lr: 0.01,
    });
    jest.advanceTimersByTime(150);
    expect(lastBar(stream)).toContain('3/10 | loss 2.3000 | acc 10.00% | 5 img/s | ETA 14s (epoch) · 37s (run)');
    renderer.stop();
  });

  test("a resumed epoch's bar starts at the steps already taken", () => {
    const stream = memoryStream(true);
    const renderer = new ProgressRenderer(stream);
    renderer.onProgress(begin({ startStep: 4 }));
    renderer.onProgress(epochBegin(1));
    jest.advanceTimersByTime(150);
    expect(lastBar(stream)).toContain('] 4/10 |');
    renderer.stop();
  });
});

describe('a slow run says so at its start', () => {
  // 20 epochs of 500 steps at 4.1 s a step: about 11.4 hours.
  const slowEvents = (steps: number): TrainEvent[] => [
    begin({ epochs: 20, stepsPerEpoch: 500, trainSize: 16000, validSize: 2000, testSize: 10000 }),
    epochBegin(1, 20, 500),
    ...Array.from({ length: steps }, (_, i) => step(1, i + 1, 4.1 * (i + 1), 20, 500)),
  ];
  const warning =
    /^this run will take about 1[12]h \d\dm at 4\.1 s a step on cpu \(2 threads\); for minutes instead: a GPU \(--device cuda\), the cifar preset \(--preset cifar\), or fewer images \(--limit-train N\)$/;

  test('once, after its third step, in the line-per-event mode', () => {
    const stream = memoryStream(false);
    const renderer = new ProgressRenderer(stream);
    const events = slowEvents(12);
    for (const event of events.slice(0, 4)) renderer.onProgress(event);
    expect(stream.text).not.toContain('this run will take');
    renderer.onProgress(events[4]!);
    expect(stream.text.split('\n').at(-2)).toMatch(warning);
    for (const event of events.slice(5)) renderer.onProgress(event);
    const lines = stream.text.split('\n').filter((line) => line.startsWith('this run will take'));
    expect(lines).toHaveLength(1);
    // Nothing else for the step events.
    expect(stream.text.split('\n')).toHaveLength(4);
  });

  test('once on a terminal too, over the bar', () => {
    jest.useFakeTimers();
    try {
      const stream = memoryStream(true);
      const renderer = new ProgressRenderer(stream);
      for (const event of slowEvents(12)) renderer.onProgress(event);
      renderer.stop();
      const found = stream.chunks.filter((c) => c.includes('this run will take'));
      expect(found).toHaveLength(1);
      expect(found[0]!.startsWith('\r\u001b[2K')).toBe(true);
      expect(found[0]!.slice('\r\u001b[2K'.length, -1)).toMatch(warning);
    } finally {
      jest.useRealTimers();
    }
  });

  test('not for a short run', () => {
    for (const tty of [false, true]) {
      const stream = memoryStream(tty);
      const renderer = new ProgressRenderer(stream);
      for (const event of [begin(), epochBegin(1), ...Array.from({ length: 10 }, (_, i) => step(1, i + 1, 2 * (i + 1)))]) {
        renderer.onProgress(event);
      }
      renderer.stop();
      expect(stream.text).not.toContain('this run will take');
    }
  });

  test('the wording on a GPU', () => {
    expect(formatSlowRun(11400, 0.25, 'cuda:0', 16)).toBe(
      'this run will take about 3h 10m at 250 ms a step on cuda:0; for less: the cifar preset (--preset cifar), ' +
        'fewer epochs (--epochs N), or fewer images (--limit-train N)',
    );
  });
});

describe('step events in the line-per-event mode', () => {
  test('formatEventLine prints nothing for them', () => {
    expect(formatEventLine(step(1, 3, 6))).toBeUndefined();
  });
});
