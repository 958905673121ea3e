// Shared by the golden scripts (tfjs-golden, onnx-golden): the test photo
// each model's reference output is computed on.

// centerCrop takes a decoded RGBA image ({width, height, data}), crops its
// centre square and resizes it bilinearly to h×w: RGB uint8, row-major.
export function centerCrop(img, h, w) {
  const side = Math.min(img.width, img.height);
  const x0 = (img.width - side) / 2;
  const y0 = (img.height - side) / 2;
  const px = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(Math.max(y0 + (y + 0.5) * side / h - 0.5, 0), img.height - 1);
    const iy = Math.floor(sy), fy = sy - iy, iy1 = Math.min(iy + 1, img.height - 1);
    for (let x = 0; x < w; x++) {
      const sx = Math.min(Math.max(x0 + (x + 0.5) * side / w - 0.5, 0), img.width - 1);
      const ix = Math.floor(sx), fx = sx - ix, ix1 = Math.min(ix + 1, img.width - 1);
      for (let c = 0; c < 3; c++) {
        const at = (yy, xx) => img.data[(yy * img.width + xx) * 4 + c];
        const v = (1 - fy) * ((1 - fx) * at(iy, ix) + fx * at(iy, ix1)) + fy * ((1 - fx) * at(iy1, ix) + fx * at(iy1, ix1));
        px[(y * w + x) * 3 + c] = Math.round(v);
      }
    }
  }
  return px;
}
