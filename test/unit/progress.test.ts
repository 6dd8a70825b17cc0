// SPDX-License-Identifier: MIT
// Formatting helpers, the end-of-run summary and the renderer in both of its modes.
import {
  ProgressRenderer,
  formatCount,
  formatDuration,
  formatEventLine,
  formatLoss,
  formatPercent,
  formatRate,
  formatSummary,
} from '../../lib/progress';
import type { NativeEvent } from '../../lib/native';
import { EVENTS } from './fake-binding';
import { MemoryStream } from '../fixtures/memory-stream';

describe('formatting helpers', () => {
  test.each([
    [0.5534, '55.34%'],
    [1, '100.00%'],
    [0, '0.00%'],
    [NaN, '-'],
  ])('formatPercent(%p) = %p', (input, output) => expect(formatPercent(input)).toBe(output));

  test.each([
    [0.25, '250ms'],
    [12.34, '12.3s'],
    [245, '4m 05s'],
    [3725, '1h 02m'],
    [-1, '-'],
  ])('formatDuration(%p) = %p', (input, output) => expect(formatDuration(input)).toBe(output));

  test.each([
    [812.4, '812 img/s'],
    [1249.6, '1.25k img/s'],
    [Infinity, '- img/s'],
  ])('formatRate(%p) = %p', (input, output) => expect(formatRate(input)).toBe(output));

  test('formatLoss and formatCount', () => {
    expect(formatLoss(2.302585)).toBe('2.3026');
    expect(formatLoss(NaN)).toBe('NaN');
    expect(formatCount(21298314)).toBe('21,298,314');
  });
});

describe('formatEventLine', () => {
  test('one line per event, none for the validation start', () => {
    expect(EVENTS.map(formatEventLine)).toEqual([
      'training on cpu (4 threads): 21,298,314 parameters, 100 train / 10 valid / 20 test images, 2 epochs of 2 steps',
      'epoch 1/2',
      'epoch 1/2 step 1/2: loss 2.3000, accuracy 20.00%, 100 img/s',
      'epoch 1/2 step 2/2: loss 2.2000, accuracy 20.00%, 110 img/s',
      undefined,
      'epoch 1/2 done: loss 2.2500, valid accuracy 10.00%, 1.5s, 105 img/s, validation 500ms (25% of the epoch)',
      'epoch 2/2',
      'epoch 2/2 step 1/2: loss 2.0000, accuracy 20.00%, 120 img/s',
      'epoch 2/2 step 2/2: loss 1.9000, accuracy 20.00%, 130 img/s',
      undefined,
      'epoch 2/2 done: loss 1.9500, valid accuracy 30.00%, 1.4s, 125 img/s, validation 100ms (7% of the epoch)',
      'testing on 20 images',
      'test accuracy 25.00% after 3.2s',
    ]);
  });
});

describe('formatSummary', () => {
  test('per-epoch table, test accuracy, per-class accuracy', () => {
    const text = formatSummary({
      epochs: [
        { epoch: 1, trainLoss: 2.25, validAccuracy: 0.1, seconds: 1.5, validSeconds: 0.5, imagesPerSecond: 105 },
        { epoch: 2, trainLoss: 1.95, validAccuracy: 0.3, seconds: 61, validSeconds: 4, imagesPerSecond: 1250 },
      ],
      testAccuracy: 0.25,
      perClassAccuracy: [0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 1],
      classes: ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'],
      device: 'cpu',
      threads: 4,
      testSize: 20,
      seconds: 63,
      testSeconds: 0.8,
      cudaGraph: false,
    });
    expect(text).toBe(
      [
        'epoch  train loss  valid acc    time  valid time  images/s',
        '    1      2.2500     10.00%    1.5s       500ms       105',
        '    2      1.9500     30.00%  1m 01s        4.0s      1250',
        '',
        // 4.5 s of validation in 67 s of epochs.
        'training step: eager; validation 4.5s (7% of the epochs)',
        'test accuracy: 25.00% on 20 images in 800ms (1m 03s in all, cpu, 4 threads)',
        'per-class accuracy:',
        '  airplane     50.00%',
        '  automobile    0.00%',
        '  bird         50.00%',
        '  cat           0.00%',
        '  deer         50.00%',
        '  dog           0.00%',
        '  frog         50.00%',
        '  horse         0.00%',
        '  ship         50.00%',
        '  truck       100.00%',
        '',
      ].join('\n'),
    );
  });
});

describe('ProgressRenderer', () => {
  test('writes plain lines when the stream is not a terminal', () => {
    const stream = new MemoryStream(false);
    const renderer = new ProgressRenderer(stream);
    for (const event of EVENTS) renderer.onProgress(event);
    renderer.stop();
    const lines = stream.text.split('\n');
    expect(lines).toContain('epoch 1/2 step 2/2: loss 2.2000, accuracy 20.00%, 110 img/s');
    expect(lines).toContain('test accuracy 25.00% after 3.2s');
    expect(stream.text).not.toContain('\u001b[');
  });

  test('draws a bar per epoch on a terminal, then the epoch line', () => {
    const stream = new MemoryStream(true);
    const renderer = new ProgressRenderer(stream);
    for (const event of EVENTS.slice(0, 3)) renderer.onProgress(event);
    const duringEpoch = stream.text;
    for (const event of EVENTS.slice(3)) renderer.onProgress(event);
    renderer.stop();
    expect(duringEpoch).toContain('epoch 1/2 [');
    expect(duringEpoch).toMatch(/\| ETA /);
    // No per-batch lines on a terminal: the bar shows them.
    expect(stream.text).not.toContain('step 1/2');
    expect(stream.text).toContain('epoch 1/2 done: loss 2.2500, valid accuracy 10.00%');
    expect(stream.text).toContain('epoch 2/2 done: loss 1.9500');
    expect(stream.text).toContain('test accuracy 25.00% after 3.2s\n');
  });

  test('prints nothing for step events in the line-per-event mode', () => {
    // EVENTS with a step event before each batchEnd, as the native loop sends them.
    const withSteps = EVENTS.flatMap<NativeEvent>((event) =>
      event.type === 'batchEnd'
        ? [{ type: 'step', epoch: event.epoch, epochs: event.epochs, step: event.step, stepsPerEpoch: 2, seconds: event.step }, event]
        : [event],
    );
    expect(withSteps.length).toBe(EVENTS.length + 4);
    const steps = withSteps.filter((e) => e.type === 'step');
    expect(steps.map(formatEventLine)).toEqual([undefined, undefined, undefined, undefined]);
    const plain = new MemoryStream(false);
    const stepped = new MemoryStream(false);
    const a = new ProgressRenderer(plain);
    const b = new ProgressRenderer(stepped);
    for (const event of EVENTS) a.onProgress(event);
    for (const event of withSteps) b.onProgress(event);
    expect(stepped.text).toBe(plain.text);
  });

  test('the tty option overrides the stream', () => {
    const stream = new MemoryStream(true);
    const renderer = new ProgressRenderer(stream, { tty: false });
    renderer.onProgress(EVENTS[2]!);
    expect(stream.text).toBe('epoch 1/2 step 1/2: loss 2.3000, accuracy 20.00%, 100 img/s\n');
  });
});
