// Perplexity of a language model under ONNX Runtime (one thread), computed
// as `qopt eval` computes it on a compiled artifact: each story of the
// range [first, end) is one [1, seq] run of its first seq tokens padded
// with 0, and every token t + 1 < len is predicted from tokens 0..t.
//
//   node perplexity.js model.onnx ids.npy offsets.npy first end [--seq N]
//        [--optimization disabled|basic|extended|all]   (ORT's graph
//        optimizations; default all, what ORT users get)
//
// Prints {"perplexity": P, "mean_nll": L, "predicted_tokens": T} on stdout.
'use strict';
const path = require('path');
const ort = require(path.join(__dirname, '../../build/npm/node_modules/onnxruntime-node'));
const { readNpy } = require('./reference.js');

async function main() {
  const args = process.argv.slice(2);
  let seq = 512;
  const k = args.indexOf('--seq');
  if (k >= 0) { seq = Number(args[k + 1]); args.splice(k, 2); }
  const o = args.indexOf('--optimization');
  let level = 'all';
  if (o >= 0) { level = args[o + 1]; args.splice(o, 2); }
  if (args.length !== 5) throw new Error('usage: perplexity.js model.onnx ids.npy offsets.npy first end [--seq N]');
  const [model, idsFile, offsetsFile] = args;
  const first = Number(args[3]), end = Number(args[4]);
  const ids = readNpy(idsFile).data, offsets = readNpy(offsetsFile).data;
  if (!(first >= 0 && first < end && end < offsets.length))
    throw new Error(`story range ${first}:${end} is outside the ${offsets.length - 1} stories`);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: level,
    extra: process.env.ORT_ACC ? { session: { qdq_matmulnbits_accuracy_level: process.env.ORT_ACC } } : {} });
  const input = session.inputNames[0], output = session.outputNames[0];
  let nll = 0, predicted = 0;
  const tokens = new BigInt64Array(seq);
  for (let s = first; s < end; ++s) {
    const b = Number(offsets[s]), e = Number(offsets[s + 1]);
    const len = Math.min(e - b, seq);
    for (let t = 0; t < seq; ++t) tokens[t] = BigInt(t < len ? ids[b + t] : 0);
    const feeds = { [input]: new ort.Tensor('int64', tokens, [1, seq]) };
    const logits = (await session.run(feeds))[output];
    const vocab = logits.dims[2], data = logits.data;
    for (let t = 0; t + 1 < len; ++t) {
      const row = t * vocab;
      let max = -Infinity;
      for (let v = 0; v < vocab; ++v) max = Math.max(max, data[row + v]);
      let sum = 0;
      for (let v = 0; v < vocab; ++v) sum += Math.exp(data[row + v] - max);
      nll += Math.log(sum) + max - data[row + Number(tokens[t + 1])];
      ++predicted;
    }
  }
  const mean = nll / Math.max(predicted, 1);
  console.log(JSON.stringify({ perplexity: Math.exp(mean), mean_nll: mean, predicted_tokens: predicted }));
}

main().catch(e => { console.error('perplexity.js: ' + (e.stack || e)); process.exit(1); });
