// Writes human.json: what Human 3.3.6's own face pipeline (blazeface.ts
// getBoxes and facemesh.ts with the default config: 256-pixel detector,
// box enlarged 1.4 and squared, no rotation) finds in a few faces-dev photos,
// on @tensorflow/tfjs's cpu backend. face/human_test.go checks that the Go
// pipeline, set up the same way, finds the same faces.
//
// Usage (tfjs from tools/tfjs-golden, after its npm ci):
//   node parity.mjs /work/shared/faces-dev lfw_A/0001.jpg ... > human.json
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
const require = createRequire('/work/main/tools/tfjs-golden/x.js');
const tf = require('@tensorflow/tfjs');
const jpeg = require('jpeg-js');
await tf.setBackend('cpu');

const cache = path.join(process.env.HOME, '.cache/portrait/models');
function load(rel) {
  const jsonPath = path.join(cache, rel);
  const j = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  const specs = []; const bufs = [];
  for (const g of j.weightsManifest) { for (const p of g.paths) bufs.push(fs.readFileSync(path.join(path.dirname(jsonPath), p))); specs.push(...g.weights); }
  const all = Buffer.concat(bufs);
  return tf.loadGraphModel(tf.io.fromMemory({ modelTopology: j.modelTopology, format: j.format, weightSpecs: specs, weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength), signature: j.signature }));
}
const det = await load('human@3.3.6/models/blazeface.json');
const mesh = await load('human@3.3.6/models/facemesh.json');
const S = 256;
const anchors = [];
for (const [stride, n] of [[S / 16, 2], [S / 8, 6]]) {
  const g = Math.floor((S + stride - 1) / stride);
  for (let y = 0; y < g; y++) for (let x = 0; x < g; x++) for (let k = 0; k < n; k++) anchors.push([stride * (x + 0.5), stride * (y + 0.5)]);
}
const [dir, ...files] = process.argv.slice(2);
const round = (v) => Math.round(v * 10) / 10;
const results = [];
for (const f of files) {
  const img = jpeg.decode(fs.readFileSync(path.join(dir, f)), { useTArray: true, formatAsRGBA: false });
  const H = img.height, W = img.width;
  const input = tf.tensor4d(img.data, [1, H, W, 3], 'float32');
  const resized = tf.image.resizeBilinear(input, [S, S]);
  const norm = tf.sub(tf.div(resized, 127.5), 1);
  const res = det.execute(norm);
  const sorted = res.sort((a, b) => a.size - b.size);
  const c384 = tf.concat([sorted[0], sorted[2]], 2), c512 = tf.concat([sorted[1], sorted[3]], 2);
  const batch = tf.squeeze(tf.concat([c512, c384], 1), [0]);
  const b = await batch.array();
  let best = -1, bs = -1;
  for (let i = 0; i < b.length; i++) { const s = 1 / (1 + Math.exp(-b[i][0])); if (s > bs) { bs = s; best = i; } }
  const r = b[best], a = anchors[best];
  const cx = r[1] + a[0], cy = r[2] + a[1];
  const fx = W / S, fy = H / S;
  const box = [(cx - r[3] / 2) * fx, (cy - r[4] / 2) * fy, (cx + r[3] / 2) * fx, (cy + r[4] / 2) * fy];
  const kps = []; for (let k = 0; k < 6; k++) kps.push([(r[5 + 2 * k] + a[0]) * fx, (r[6 + 2 * k] + a[1]) * fy]);
  // enlarge 1.4, squarify with rounding, as facemeshutil
  const c = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2];
  const sz = [1.4 * (box[2] - box[0]), 1.4 * (box[3] - box[1])];
  const half = Math.max(...sz) / 2;
  const sq = [Math.round(c[0] - half), Math.round(c[1] - half), Math.round(c[0] + half), Math.round(c[1] + half)];
  const crop = tf.div(tf.image.cropAndResize(input, [[sq[1] / H, sq[0] / W, sq[3] / H, sq[2] / W]], [0], [192, 192]), 255);
  const out = mesh.execute(crop);
  const meshT = out.find((t) => t.shape[t.shape.length - 1] === 1404);
  const raw = await tf.reshape(meshT, [-1, 3]).array();
  const side = [sq[2] - sq[0], sq[3] - sq[1]];
  const ctr = [sq[0] + side[0] / 2, sq[1] + side[1] / 2];
  const pts = raw.map((p) => [side[0] / 192 * (p[0] - 96) + ctr[0], side[1] / 192 * (p[1] - 96) + ctr[1]]);
  results.push({ file: f, score: round(bs * 100) / 100, box: box.map(round), keypoints: kps.map((p) => p.map(round)), mesh: pts.map((p) => p.map(round)) });
  tf.dispose([input, resized, norm, batch, c384, c512, crop, ...res, ...out]);
}
console.log(JSON.stringify(results));
