// Writes the TensorFlow.js reference descriptor of face-api's face
// recognition network (the dlib ResNet port, weights-only) for the Go
// network's golden test (face/faceapi/resnet_test.go). The forward pass
// below is face-api 1.7.15's src/faceRecognitionNet, op for op, on
// @tensorflow/tfjs's cpu backend.
//
// Usage: npm ci && node faceapi.mjs
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import jpeg from 'jpeg-js';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, '..', '..', 'face', 'faceapi', 'testdata');
const cache = process.env.PORTRAIT_MODELS_DIR || path.join(os.homedir(), '.cache', 'portrait', 'models');
const dir = path.join(cache, 'face-api@1.7.15', 'model');
const pic = 'face-api@1.7.15/demo/sample1.jpg';

const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'face_recognition_model-weights_manifest.json'), 'utf8'));
const w = {};
for (const g of manifest) {
  const buf = Buffer.concat(g.paths.map((p) => fs.readFileSync(path.join(dir, p))));
  Object.assign(w, tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), g.weights));
}

const convLayer = (x, p, strides, relu, padding = 'same') => {
  let o = tf.add(tf.conv2d(x, w[`${p}/conv/filters`], strides, padding), w[`${p}/conv/bias`]);
  o = tf.add(tf.mul(o, w[`${p}/scale/weights`]), w[`${p}/scale/biases`]);
  return relu ? tf.relu(o) : o;
};
const conv = (x, p) => convLayer(x, p, [1, 1], true);
const convNoRelu = (x, p) => convLayer(x, p, [1, 1], false);
const convDown = (x, p) => convLayer(x, p, [2, 2], true, 'valid');
const residual = (x, p) => tf.relu(tf.add(convNoRelu(conv(x, `${p}/conv1`), `${p}/conv2`), x));
function residualDown(x, p) {
  let o = convNoRelu(convDown(x, `${p}/conv1`), `${p}/conv2`);
  let pooled = tf.avgPool(x, 2, 2, 'valid');
  const zeros = tf.zeros(pooled.shape);
  if (pooled.shape[1] !== o.shape[1] || pooled.shape[2] !== o.shape[2]) {
    const sx = [...o.shape]; sx[1] = 1;
    o = tf.concat([o, tf.zeros(sx)], 1);
    const sy = [...o.shape]; sy[2] = 1;
    o = tf.concat([o, tf.zeros(sy)], 2);
  }
  if (pooled.shape[3] !== o.shape[3]) pooled = tf.concat([pooled, zeros], 3);
  return tf.relu(tf.add(pooled, o));
}

// Centre square crop of the sample photo, bilinear to 150×150, RGB uint8.
function photo(file, n) {
  const img = jpeg.decode(fs.readFileSync(file), { useTArray: true });
  const side = Math.min(img.width, img.height);
  const x0 = (img.width - side) / 2, y0 = (img.height - side) / 2;
  const px = new Uint8Array(n * n * 3);
  for (let y = 0; y < n; y++) {
    const sy = Math.min(Math.max(y0 + (y + 0.5) * side / n - 0.5, 0), img.height - 1);
    const iy = Math.floor(sy), fy = sy - iy, iy1 = Math.min(iy + 1, img.height - 1);
    for (let x = 0; x < n; x++) {
      const sx = Math.min(Math.max(x0 + (x + 0.5) * side / n - 0.5, 0), img.width - 1);
      const ix = Math.floor(sx), fx = sx - ix, ix1 = Math.min(ix + 1, img.width - 1);
      for (let c = 0; c < 3; c++) {
        const at = (yy, xx) => img.data[(yy * img.width + xx) * 4 + c];
        px[(y * n + x) * 3 + c] = Math.round((1 - fy) * ((1 - fx) * at(iy, ix) + fx * at(iy, ix1)) + fy * ((1 - fx) * at(iy1, ix) + fx * at(iy1, ix1)));
      }
    }
  }
  return px;
}

await tf.setBackend('cpu');
const px = photo(path.join(cache, pic), 150);
const desc = tf.tidy(() => {
  const x = tf.div(tf.sub(tf.tensor(px, [1, 150, 150, 3], 'float32'), [122.782, 117.001, 104.298]), 255);
  let o = tf.maxPool(convDown(x, 'conv32_down'), 3, 2, 'valid');
  o = residual(o, 'conv32_1'); o = residual(o, 'conv32_2'); o = residual(o, 'conv32_3');
  o = residualDown(o, 'conv64_down'); o = residual(o, 'conv64_1'); o = residual(o, 'conv64_2'); o = residual(o, 'conv64_3');
  o = residualDown(o, 'conv128_down'); o = residual(o, 'conv128_1'); o = residual(o, 'conv128_2');
  o = residualDown(o, 'conv256_down'); o = residual(o, 'conv256_1'); o = residual(o, 'conv256_2');
  o = residualDown(o, 'conv256_down_out');
  return tf.matMul(o.mean([1, 2]), w.fc);
});
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'golden.in.u8'), px);
fs.writeFileSync(path.join(out, 'golden.out.f32'), Buffer.from((await desc.data()).buffer));
fs.writeFileSync(path.join(out, 'golden.json'), JSON.stringify({ photo: pic, tfjs: tf.version.tfjs, backend: tf.getBackend(), input: [1, 150, 150, 3], mean_rgb: [122.782, 117.001, 104.298], scale: 1 / 255 }, null, 1) + '\n');
console.log('face-api descriptor', desc.shape, (await desc.data()).slice(0, 4));
