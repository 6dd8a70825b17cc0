// SPDX-License-Identifier: MIT
// predict()'s preprocessing in plain JS, on RGBA pixels from getImageData, so that the page and the package feed the
// network the same numbers (native/core/cifar10_dataset.cpp, to_cifar_image and BatchTransform): the centre
// square, area-averaged down (or bilinearly interpolated up) to the record size and rounded to bytes, then
// bilinearly resized to the model's input size and scaled to [0, 1]. The averaging is done here rather than by
// canvas smoothing, whose filter is the browser's choice.

// torch.round rounds halves to even; Math.round would not.
function roundHalfEven(v) {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// F.interpolate(mode='bilinear', align_corners=False) sampling positions along one axis: for each output index,
// the two source indices and the weight of the second.
function bilinearTaps(inSize, outSize) {
  const scale = inSize / outSize;
  return Array.from({ length: outSize }, (_, d) => {
    const s = Math.max(0, (d + 0.5) * scale - 0.5);
    const i0 = Math.floor(s);
    return { i0, i1: Math.min(i0 + 1, inSize - 1), w: s - i0 };
  });
}

// planes [3, side, side] (any numbers) -> [3, size, size], bilinear.
function resizePlanes(planes, side, size) {
  const out = new Float32Array(3 * size * size);
  const taps = bilinearTaps(side, size);
  for (let c = 0; c < 3; c++) {
    const at = (y, x) => planes[(c * side + y) * side + x];
    for (let y = 0; y < size; y++) {
      const ty = taps[y];
      for (let x = 0; x < size; x++) {
        const tx = taps[x];
        const top = at(ty.i0, tx.i0) * (1 - tx.w) + at(ty.i0, tx.i1) * tx.w;
        const bottom = at(ty.i1, tx.i0) * (1 - tx.w) + at(ty.i1, tx.i1) * tx.w;
        out[(c * size + y) * size + x] = top * (1 - ty.w) + bottom * ty.w;
      }
    }
  }
  return out;
}

// adaptive_avg_pool2d's windows: output i averages [floor(i * n / m), ceil((i + 1) * n / m)).
function poolPlanes(planes, side, size) {
  const out = new Float32Array(3 * size * size);
  const start = (i) => Math.floor((i * side) / size);
  const end = (i) => Math.ceil(((i + 1) * side) / size);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        let sum = 0;
        for (let yy = start(y); yy < end(y); yy++) {
          for (let xx = start(x); xx < end(x); xx++) sum += planes[(c * side + yy) * side + xx];
        }
        // The sum of bytes is exact in float32 too; the division is float32 in LibTorch.
        out[(c * size + y) * size + x] = Math.fround(sum / ((end(y) - start(y)) * (end(x) - start(x))));
      }
    }
  }
  return out;
}

/**
 * RGBA pixels (ImageData's data, width x height) -> the record predict() makes of them: uint8 [3, record, record].
 * Alpha is ignored, as the package ignores it.
 */
export function toRecord(rgba, width, height, record) {
  const side = Math.min(width, height);
  const top = Math.floor((height - side) / 2);
  const left = Math.floor((width - side) / 2);
  const planes = new Float32Array(3 * side * side);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const p = ((top + y) * width + left + x) * 4;
      for (let c = 0; c < 3; c++) planes[(c * side + y) * side + x] = rgba[p + c];
    }
  }
  if (side === record) return Uint8Array.from(planes);
  const resized = side > record ? poolPlanes(planes, side, record) : resizePlanes(planes, side, record);
  return Uint8Array.from(resized, (v) => Math.min(255, Math.max(0, roundHalfEven(v))));
}

/** A record -> the network's input, float32 [1, 3, size, size] in [0, 1] (the graph normalises it). */
export function toInput(recordPlanes, record, size) {
  const values = size === record ? Float32Array.from(recordPlanes) : resizePlanes(recordPlanes, record, size);
  return values.map((v) => v / 255);
}

/** Probabilities from logits, and the `top` most probable classes. */
export function rank(logits, classes, top) {
  const max = Math.max(...logits);
  const exps = Array.from(logits, (v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  const probabilities = exps.map((e) => e / sum);
  const ranked = probabilities
    .map((probability, classIndex) => ({ label: classes[classIndex], classIndex, probability }))
    .sort((a, b) => b.probability - a.probability);
  return { probabilities, top: ranked.slice(0, top) };
}
