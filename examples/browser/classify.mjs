// SPDX-License-Identifier: MIT
// The page: loads an exported ONNX model (the file picked, or ?model=URL), then classifies each picture dropped or
// picked, with onnxruntime-web on WebAssembly. onnxruntime-web's dist/ is served at ./ort/ (see README.md).
import * as ort from './ort/ort.min.mjs';

import { rank, toInput, toRecord } from './preprocess.mjs';

// Threads need a cross-origin-isolated page; one thread works wherever the page is served.
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;

const TOP = 5;
const $ = (id) => document.getElementById(id);
let model;

function status(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

async function loadModel(source, name) {
  status(`Loading ${name}...`);
  const bytes = source instanceof Uint8Array ? source : new Uint8Array(await (await fetch(source)).arrayBuffer());
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  // onnxruntime-web does not hand metadata_props over, so they are read from the file.
  const props = readMetadata(bytes);
  model = {
    session,
    classes: JSON.parse(props.classes),
    imageSize: Number(props.imageSize),
    recordSize: Number(props.recordSize ?? 32),
    preset: props.preset,
  };
  status(`${name}: ${model.preset} preset, ${model.imageSize} px, ${model.classes.length} classes. Drop a picture.`);
  document.body.dataset.model = 'ready';
}

// metadata_props (ModelProto field 14: key 1, value 2) from the file's bytes, with a minimal protobuf walk.
function readMetadata(bytes) {
  const props = {};
  let at = 0;
  const varint = () => {
    let value = 0;
    let shift = 1;
    for (;;) {
      const b = bytes[at++];
      value += (b & 0x7f) * shift;
      shift *= 128;
      if (b < 0x80) return value;
    }
  };
  const fields = (end, onField) => {
    while (at < end) {
      const key = varint();
      const wire = key % 8;
      if (wire === 0) varint();
      else if (wire === 1) at += 8;
      else if (wire === 5) at += 4;
      else if (wire === 2) {
        const length = varint();
        const stop = at + length;
        onField(Math.floor(key / 8), stop);
        at = stop;
      } else throw new Error(`unexpected protobuf wire type ${wire}`);
    }
  };
  const text = (end) => new TextDecoder().decode(bytes.subarray(at, end));
  fields(bytes.length, (field, end) => {
    if (field !== 14) return;
    const entry = {};
    fields(end, (f, e) => (entry[f] = text(e)));
    props[entry[1]] = entry[2];
  });
  return props;
}

async function pixelsOf(file) {
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  return context.getImageData(0, 0, bitmap.width, bitmap.height);
}

function showPreview(record, side) {
  const canvas = $('preview');
  canvas.width = canvas.height = side;
  const image = new ImageData(side, side);
  for (let p = 0; p < side * side; p++) {
    for (let c = 0; c < 3; c++) image.data[p * 4 + c] = record[c * side * side + p];
    image.data[p * 4 + 3] = 255;
  }
  canvas.getContext('2d').putImageData(image, 0, 0);
}

function showResults(results) {
  $('results').innerHTML = '';
  for (const { name, top } of results) {
    const table = document.createElement('table');
    table.className = 'result';
    table.dataset.image = name;
    table.createCaption().textContent = name;
    for (const t of top) {
      const row = table.insertRow();
      row.dataset.label = t.label;
      row.insertCell().textContent = t.label;
      row.insertCell().textContent = `${(t.probability * 100).toFixed(2)}%`;
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.style.width = `${Math.round(t.probability * 200)}px`;
      row.insertCell().append(bar);
    }
    $('results').append(table);
  }
}

/** Classifies the files in order; the results (each with its record) are left on window.lastResults for scripts too. */
async function classify(files) {
  if (!model) return status('Load a model first.', true);
  const results = [];
  for (const file of files) {
    const { data, width, height } = await pixelsOf(file);
    const record = toRecord(data, width, height, model.recordSize);
    showPreview(record, model.recordSize);
    const size = model.imageSize;
    const input = new ort.Tensor('float32', toInput(record, model.recordSize, size), [1, 3, size, size]);
    const { logits } = await model.session.run({ images: input });
    results.push({ name: file.name, record, ...rank(logits.data, model.classes, TOP) });
  }
  window.lastResults = results;
  showResults(results);
  status(`Classified ${results.length} picture${results.length === 1 ? '' : 's'}.`);
}

const report = (error) => status(String(error?.message ?? error), true);
$('model').addEventListener('change', (e) => {
  const file = e.target.files[0];
  if (file) file.arrayBuffer().then((b) => loadModel(new Uint8Array(b), file.name)).catch(report);
});
$('image').addEventListener('change', (e) => classify([...e.target.files]).catch(report));
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  classify([...e.dataTransfer.files].filter((f) => f.type.startsWith('image/'))).catch(report);
});
const fromQuery = new URLSearchParams(location.search).get('model');
if (fromQuery) loadModel(fromQuery, fromQuery).catch(report);
