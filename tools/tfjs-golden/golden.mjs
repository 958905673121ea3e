// Writes TensorFlow.js reference outputs of each face graph model for the Go
// runtime's golden tests (nn/golden_test.go). Pure @tensorflow/tfjs on its
// cpu backend: the runtime must match what the browser library computes.
//
// Usage: npm ci && node golden.mjs   (models from $PORTRAIT_MODELS_DIR or
// ~/.cache/portrait/models, as fetched by `portrait models fetch`)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import jpeg from 'jpeg-js';
import { centerCrop } from './photo.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, '..', '..', 'nn', 'testdata', 'golden');
const cache = process.env.PORTRAIT_MODELS_DIR || path.join(os.homedir(), '.cache', 'portrait', 'models');

// name, model json, photo, and the affine map the model's TS preprocessing
// applies to 0..255 RGB (input = u8*scale + offset).
const specs = [
  ['blazeface', 'human@3.3.6/models/blazeface.json', 'face-api@1.7.15/demo/sample1.jpg', 1 / 127.5, -1],
  ['facemesh', 'human@3.3.6/models/facemesh.json', 'face-api@1.7.15/demo/sample2.jpg', 1 / 255, 0],
  ['faceres', 'human@3.3.6/models/faceres.json', 'face-api@1.7.15/demo/sample3.jpg', 1, 0],
  ['antispoof', 'human@3.3.6/models/antispoof.json', 'face-api@1.7.15/demo/sample4.jpg', 1 / 255, 0],
  ['liveness', 'human@3.3.6/models/liveness.json', 'face-api@1.7.15/demo/sample5.jpg', 1 / 255, 0],
  ['mobilefacenet', 'human-models@3.0.4/models/mobilefacenet.json', 'face-api@1.7.15/demo/sample6.jpg', 1 / 255, 0],
  ['faceres-deep', 'human-models@3.0.4/models/faceres-deep.json', 'face-api@1.7.15/demo/sample1.jpg', 1, 0],
  ['mobileface', 'human-models@3.0.4/models/mobileface.json', 'face-api@1.7.15/demo/sample2.jpg', 1, 0],
  ['blazeface-front', 'human-models@3.0.4/models/blazeface-front.json', 'face-api@1.7.15/demo/sample3.jpg', 1 / 127.5, -1],
  ['iris', 'human@3.3.6/models/iris.json', 'face-api@1.7.15/demo/sample4.jpg', 1 / 255, 0],
  ['blazeface-back', 'human-models@3.0.4/models/blazeface-back.json', 'face-api@1.7.15/demo/sample5.jpg', 1 / 127.5, -1],
];

function loadArtifacts(jsonPath) {
  const j = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  const specs = [];
  const bufs = [];
  for (const g of j.weightsManifest) {
    for (const p of g.paths) bufs.push(fs.readFileSync(path.join(path.dirname(jsonPath), p)));
    specs.push(...g.weights);
  }
  const all = Buffer.concat(bufs);
  return {
    modelTopology: j.modelTopology,
    format: j.format,
    generatedBy: j.generatedBy,
    convertedBy: j.convertedBy,
    signature: j.signature,
    userDefinedMetadata: j.userDefinedMetadata,
    weightSpecs: specs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
  };
}

// Center square crop, then bilinear resize to h×w: RGB uint8.
const photo = (file, h, w) => centerCrop(jpeg.decode(fs.readFileSync(file), { useTArray: true }), h, w);

const strip = (n) => n.replace(/:0$/, '');

// Graph node behind a signature key (the Go runtime names tensors by node).
const nodeName = (sig, key) => strip((sig && sig[key] && sig[key].name) || key);

await tf.setBackend('cpu');
fs.mkdirSync(out, { recursive: true });
for (const [name, rel, pic, scale, offset] of specs) {
  const model = await tf.loadGraphModel(tf.io.fromMemory(loadArtifacts(path.join(cache, rel))));
  const inShape = model.inputs[0].shape.map((d) => (d < 0 ? 1 : d));
  const [, h, w] = inShape;
  const px = photo(path.join(cache, pic), h, w);
  const input = tf.tidy(() => tf.tensor(px, inShape, 'float32').mul(scale).add(offset));
  const names = model.outputNodes;
  let res = model.execute(input, names);
  if (!Array.isArray(res)) res = [res];
  const outputs = [];
  const data = [];
  for (let i = 0; i < names.length; i++) {
    outputs.push({ name: nodeName(model.artifacts.signature?.outputs, names[i]), shape: res[i].shape });
    data.push(Buffer.from((await res[i].data()).buffer));
  }
  fs.writeFileSync(path.join(out, `${name}.in.u8`), px);
  fs.writeFileSync(path.join(out, `${name}.out.f32`), Buffer.concat(data));
  fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify({
    model: rel, photo: pic, tfjs: tf.version.tfjs, backend: tf.getBackend(),
    input: { name: nodeName(model.artifacts.signature?.inputs, model.inputs[0].name), shape: inShape, scale, offset },
    outputs,
  }, null, 1) + '\n');
  console.log(name, outputs.map((o) => `${o.name}${JSON.stringify(o.shape)}`).join(' '));
  tf.dispose([input, ...res]);
  model.dispose();
}
