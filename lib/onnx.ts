// SPDX-License-Identifier: MIT
// A trained ResNet-34 as an ONNX model (opset 17, IR version 8), built node by node from its state dict: the
// input's normalisation, the network as its preset lays it out, the logits. Batch norm stays a
// BatchNormalization node in inference form (running statistics, epsilon 1e-5) rather than being folded into the
// convolutions, so every initializer is a state-dict tensor under its own name and can be checked against it.
import { ATTRIBUTE_TYPE, ONNX_FLOAT, ONNX_INT64, modelProto } from './onnx-proto';
import type { NativeModel, NativeModelTensor } from './native';

/** ONNX's opset and IR version that exported models declare. */
export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;

/**
 * Where a preset keeps each part of the network in its state dict, and the parts that differ between presets.
 * A convolution has a bias exactly when the state dict holds `<conv>.bias`.
 */
export interface OnnxLayout {
  readonly stem: { readonly conv: string; readonly bn: string; readonly kernel: number; readonly stride: number };
  readonly maxPool: boolean;
  /** The four stages' key prefixes. */
  readonly stages: readonly [string, string, string, string];
  /** Within a block, under `<stage>.<i>.`. */
  readonly block: {
    readonly conv1: string;
    readonly bn1: string;
    readonly conv2: string;
    readonly bn2: string;
    readonly downConv: string;
    readonly downBn: string;
  };
  /** 'avg7': AvgPool2d(7) as the article's network has it; 'global': adaptive average pooling to 1x1. */
  readonly pool: 'avg7' | 'global';
  readonly fc: string;
}

const ARTICLE_BLOCK = {
  conv1: 'conv1.0',
  bn1: 'conv1.1',
  conv2: 'conv2.0',
  bn2: 'conv2.1',
  downConv: 'downsample.0',
  downBn: 'downsample.1',
};

const ARTICLE_LAYOUT: OnnxLayout = {
  stem: { conv: 'conv1.0', bn: 'conv1.1', kernel: 7, stride: 2 },
  maxPool: true,
  stages: ['layer0', 'layer1', 'layer2', 'layer3'],
  block: ARTICLE_BLOCK,
  pool: 'avg7',
  fc: 'fc',
};

/** Each preset's layout: native/core/resnet34.cpp's two, and torchvision.models.resnet34's key names. */
export const ONNX_LAYOUTS: Readonly<Record<string, OnnxLayout>> = Object.freeze({
  article: ARTICLE_LAYOUT,
  // The article's network with a CIFAR stem: 3x3/1, no max pool, global pooling.
  cifar: {
    ...ARTICLE_LAYOUT,
    stem: { ...ARTICLE_LAYOUT.stem, kernel: 3, stride: 1 },
    maxPool: false,
    pool: 'global',
  },
  torchvision: {
    stem: { conv: 'conv1', bn: 'bn1', kernel: 7, stride: 2 },
    maxPool: true,
    stages: ['layer1', 'layer2', 'layer3', 'layer4'],
    block: { conv1: 'conv1', bn1: 'bn1', conv2: 'conv2', bn2: 'bn2', downConv: 'downsample.0', downBn: 'downsample.1' },
    pool: 'global',
    fc: 'fc',
  },
});

const BLOCKS = [3, 4, 6, 3];
const BN_EPSILON = 1e-5;

type Attribute = { name: string; type: number; i?: number; f?: number; ints?: number[] };
const ints = (name: string, values: number[]): Attribute => ({ name, type: ATTRIBUTE_TYPE.INTS, ints: values });
const int = (name: string, value: number): Attribute => ({ name, type: ATTRIBUTE_TYPE.INT, i: value });

function tensorProto(name: string, tensor: Pick<NativeModelTensor, 'shape' | 'dtype' | 'data'>) {
  const { data } = tensor;
  // Little-endian raw bytes, as ONNX's raw_data is; every platform Node's prebuilt LibTorch runs on is little-endian.
  const rawData = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return { name, dims: tensor.shape, dataType: tensor.dtype === 'int64' ? ONNX_INT64 : ONNX_FLOAT, rawData };
}

/** Nodes and initializers, appended in order; each node's output is named after the node. */
class GraphBuilder {
  readonly nodes: object[] = [];
  readonly initializers: object[] = [];
  private readonly used = new Set<string>();

  constructor(private readonly tensors: ReadonlyMap<string, NativeModelTensor>) {}

  has(key: string): boolean {
    return this.tensors.has(key);
  }

  /** The state-dict tensor `key` as an initializer of the same name. */
  weight(key: string): string {
    const tensor = this.tensors.get(key);
    if (!tensor) throw new Error(`the state dict has no '${key}'; the model does not match its preset's layout`);
    if (!this.used.has(key)) this.initializers.push(tensorProto(key, tensor));
    this.used.add(key);
    return key;
  }

  constant(name: string, values: readonly number[], shape: number[]): string {
    this.initializers.push(tensorProto(name, { shape, dtype: 'float32', data: Float32Array.from(values) }));
    return name;
  }

  node(opType: string, name: string, inputs: string[], attribute: Attribute[] = []): string {
    this.nodes.push({ opType, name, input: inputs, output: [name], attribute });
    return name;
  }

  conv(x: string, key: string, kernel: number, stride: number): string {
    const inputs = [x, this.weight(`${key}.weight`)];
    if (this.has(`${key}.bias`)) inputs.push(this.weight(`${key}.bias`));
    const pad = Math.floor(kernel / 2);
    return this.node('Conv', key, inputs, [
      ints('kernel_shape', [kernel, kernel]),
      ints('strides', [stride, stride]),
      ints('pads', [pad, pad, pad, pad]),
    ]);
  }

  batchNorm(x: string, key: string): string {
    const inputs = [x, ...['weight', 'bias', 'running_mean', 'running_var'].map((p) => this.weight(`${key}.${p}`))];
    const epsilon = { name: 'epsilon', type: ATTRIBUTE_TYPE.FLOAT, f: BN_EPSILON };
    return this.node('BatchNormalization', key, inputs, [epsilon]);
  }

  relu(x: string): string {
    return this.node('Relu', `${x}.relu`, [x]);
  }
}

// conv-BN-ReLU, conv-BN, plus the input (or its projection), then ReLU: one residual block.
function residualBlock(g: GraphBuilder, x: string, prefix: string, layout: OnnxLayout, stride: number): string {
  const b = layout.block;
  let out = g.relu(g.batchNorm(g.conv(x, `${prefix}.${b.conv1}`, 3, stride), `${prefix}.${b.bn1}`));
  out = g.batchNorm(g.conv(out, `${prefix}.${b.conv2}`, 3, 1), `${prefix}.${b.bn2}`);
  const shortcut = g.has(`${prefix}.${b.downConv}.weight`)
    ? g.batchNorm(g.conv(x, `${prefix}.${b.downConv}`, 1, stride), `${prefix}.${b.downBn}`)
    : x;
  return g.relu(g.node('Add', `${prefix}.add`, [out, shortcut]));
}

// images [N,3,S,S] in [0,1] -> logits [N,classes].
function buildNodes(g: GraphBuilder, model: NativeModel, layout: OnnxLayout): void {
  let x = g.node('Sub', 'normalize.sub', ['images', g.constant('normalize.mean', model.mean, [1, 3, 1, 1])]);
  x = g.node('Div', 'normalize.div', [x, g.constant('normalize.std', model.std, [1, 3, 1, 1])]);
  const { stem } = layout;
  x = g.relu(g.batchNorm(g.conv(x, stem.conv, stem.kernel, stem.stride), stem.bn));
  if (layout.maxPool) {
    const window = [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 1, 1, 1])];
    x = g.node('MaxPool', 'maxpool', [x], window);
  }
  layout.stages.forEach((stage, s) => {
    for (let i = 0; i < BLOCKS[s]!; i++) x = residualBlock(g, x, `${stage}.${i}`, layout, i === 0 && s > 0 ? 2 : 1);
  });
  x =
    layout.pool === 'avg7'
      ? g.node('AveragePool', 'avgpool', [x], [ints('kernel_shape', [7, 7]), ints('strides', [1, 1])])
      : g.node('GlobalAveragePool', 'avgpool', [x]);
  x = g.node('Flatten', 'flatten', [x], [int('axis', 1)]);
  g.nodes.push({
    opType: 'Gemm',
    name: layout.fc,
    input: [x, g.weight(`${layout.fc}.weight`), g.weight(`${layout.fc}.bias`)],
    output: ['logits'],
    attribute: [int('transB', 1)],
  });
}

// A float32 from the core printed as people write it: 0.4914, not 0.49140000343322754.
const shortFloat = (v: number): number => Number(Math.fround(v).toPrecision(7));

/** The metadata_props an exported model carries, every value a string. */
export function onnxMetadata(model: NativeModel): Record<string, string> {
  return {
    classes: JSON.stringify(model.classes),
    imageSize: String(model.imageSize),
    recordSize: String(model.recordSide),
    preset: model.preset,
    mean: JSON.stringify(model.mean.map(shortFloat)),
    std: JSON.stringify(model.std.map(shortFloat)),
  };
}

function valueInfo(name: string, dims: (number | string)[]) {
  const dim = dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  return { name, type: { tensorType: { elemType: ONNX_FLOAT, shape: { dim } } } };
}

/**
 * The ONNX file's bytes for `model`, laid out as `layout` (its preset's by default).
 *
 * @example
 * // model: what the addon's readModel('weights.pt') gives
 * fs.writeFileSync('model.onnx', onnxModel(model, '0.1.0'));
 */
export function onnxModel(
  model: NativeModel,
  version: string,
  layout: OnnxLayout | undefined = ONNX_LAYOUTS[model.preset],
): Uint8Array {
  if (!layout) {
    throw new Error(`no ONNX layout for preset '${model.preset}'; known: ${Object.keys(ONNX_LAYOUTS).join(', ')}`);
  }
  const g = new GraphBuilder(new Map(model.tensors.map((t) => [t.name, t])));
  buildNodes(g, model, layout);
  const side = model.imageSize;
  const graph = {
    name: `resnet34-${model.preset}`,
    docString:
      `images: float32 [N, 3, ${side}, ${side}], RGB in [0, 1] (normalised inside); ` +
      `logits: [N, ${model.classes.length}]`,
    node: g.nodes,
    initializer: g.initializers,
    input: [valueInfo('images', ['N', 3, side, side])],
    output: [valueInfo('logits', ['N', model.classes.length])],
  };
  const type = modelProto();
  const message = type.fromObject({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'libtorch-resnet',
    producerVersion: version,
    graph,
    metadataProps: Object.entries(onnxMetadata(model)).map(([key, value]) => ({ key, value })),
  });
  return type.encode(message).finish();
}
