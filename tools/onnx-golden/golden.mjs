// Writes onnxruntime reference outputs of each ONNX model the project ships
// (and of ../shared/models/foamliu-mobilefacenet.onnx when present) for the
// Go runtime's golden tests (nn/onnx_golden_test.go), and times each model
// on one thread beside the Go runtime's `portrait bench models`.
//
// Usage: npm ci && node golden.mjs [--time]   (models from
// $PORTRAIT_MODELS_DIR or ~/.cache/portrait/models, as fetched by
// `portrait models fetch`)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import jpeg from 'jpeg-js';
import { centerCrop } from '../tfjs-golden/photo.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, '..', '..', 'nn', 'testdata', 'onnx');
const cache = process.env.PORTRAIT_MODELS_DIR || path.join(os.homedir(), '.cache', 'portrait', 'models');
const shared = path.join(here, '..', '..', '..', 'shared', 'models');
const timeIt = process.argv.includes('--time');

// name, model file, photo, channel order fed, and the affine map from 0..255
// to the input per channel (input = u8*scale[c] + offset[c]), as each
// model's own pre-processing (faceplugin's lib/*.js, the foamliu README).
const fp = (f) => path.join(cache, 'faceplugin@0.0.1', 'model', f);
const pic = (n) => path.join(cache, 'face-api@1.7.15', 'demo', `sample${n}.jpg`);
const half = [[1 / 128], [-127 / 128]];
const unit = [[1 / 255], [0]];
const imagenet = [[0.229, 0.224, 0.225].map((s) => 1 / (255 * s)), [0.485, 0.456, 0.406].map((m, i) => -m / [0.229, 0.224, 0.225][i])];
const specs = [
  ['fr_feature', fp('fr_feature.onnx'), pic(1), 'bgr', ...half],
  ['fr_liveness', fp('fr_liveness.onnx'), pic(2), 'bgr', ...half],
  ['fr_detect', fp('fr_detect.onnx'), pic(3), 'rgb', ...half],
  ['fr_landmark', fp('fr_landmark.onnx'), pic(4), 'gray', ...unit],
  ['fr_pose', fp('fr_pose.onnx'), pic(5), 'rgb', ...imagenet],
  ['fr_eye', fp('fr_eye.onnx'), pic(6), 'gray', ...unit],
  ['foamliu-mobilefacenet', path.join(shared, 'foamliu-mobilefacenet.onnx'), pic(2), 'rgb', ...imagenet],
];

// pixels returns h×w pixels of the photo, HWC uint8 in the channel order.
function pixels(file, h, w, order) {
  const rgb = centerCrop(jpeg.decode(fs.readFileSync(file), { useTArray: true }), h, w);
  if (order === 'rgb') return rgb;
  const n = h * w;
  const px = new Uint8Array(order === 'gray' ? n : 3 * n);
  for (let i = 0; i < n; i++) {
    const [r, g, b] = [rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]];
    if (order === 'gray') px[i] = Math.round(0.299 * r + 0.587 * g + 0.114 * b); // OpenCV's BGR2GRAY weights
    else px.set([b, g, r], 3 * i);
  }
  return px;
}

fs.mkdirSync(out, { recursive: true });
const opts = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
for (const [name, file, photo, order, scale, offset] of specs) {
  if (!fs.existsSync(file)) {
    console.log(name, 'skipped:', file, 'absent');
    continue;
  }
  const s = await ort.InferenceSession.create(file, opts);
  const meta = s.inputMetadata[0];
  const shape = meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
  const [, c, h, w] = shape;
  const px = pixels(photo, h, w, order);
  // NCHW float32 for onnxruntime; the Go test builds its NHWC input from
  // the same bytes with the same float32 operations.
  const x = new Float32Array(c * h * w);
  for (let i = 0; i < h * w; i++) {
    for (let k = 0; k < c; k++) {
      const sc = Math.fround(scale[k % scale.length]), of = Math.fround(offset[k % offset.length]);
      x[k * h * w + i] = Math.fround(Math.fround(px[i * c + k] * sc) + of);
    }
  }
  const feeds = { [meta.name]: new ort.Tensor('float32', x, shape) };
  const res = await s.run(feeds);
  const outputs = s.outputNames.map((o) => ({ name: o, shape: res[o].dims }));
  fs.writeFileSync(path.join(out, `${name}.in.u8`), px);
  fs.writeFileSync(path.join(out, `${name}.out.f32`), Buffer.concat(s.outputNames.map((o) => Buffer.from(res[o].data.buffer, res[o].data.byteOffset, res[o].data.byteLength))));
  fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify({
    model: path.basename(file), photo: path.basename(photo), onnxruntime: ort.env.versions?.node ?? 'onnxruntime-node',
    input: { name: meta.name, shape, order, scale, offset },
    outputs,
  }, null, 1) + '\n');
  let timing = '';
  if (timeIt) {
    for (let i = 0; i < 10; i++) await s.run(feeds);
    const t = [];
    // CPU time as well as wall time: on a busy machine only the former
    // compares with `portrait bench models`' CPU ms.
    const c0 = process.cpuUsage();
    for (let i = 0; i < 100; i++) {
      const t0 = process.hrtime.bigint();
      await s.run(feeds);
      t.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const c = process.cpuUsage(c0);
    t.sort((a, b) => a - b);
    timing = ` onnxruntime 1 thread: p50 ${t[50].toFixed(2)} ms, min ${t[0].toFixed(2)} ms, CPU ${((c.user + c.system) / 100e3).toFixed(2)} ms`;
  }
  console.log(name, outputs.map((o) => `${o.name}${JSON.stringify(o.shape)}`).join(' ') + timing);
}
