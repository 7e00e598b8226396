// bench_smithy.mjs: signatures per second of @smithy/signature-v4 (Node crypto through
// @smithy/hash-node, as the AWS SDK for JavaScript uses it) for the benchmark's request file,
// measured like bench_sigv4.c: best of 5 runs of 0.4 s, key cached (same day) and uncached (every
// signature on a new day). Prints tab-separated lines: signature, then one per variant.
import { readFileSync } from "node:fs";

import { loadSmithy, smithyCase } from "./smithy.mjs";

const RUNS = 5;
const RUN_SECONDS = 0.4;

async function run(signer, request, options, newDay) {
  let count = 0;
  let date = options.signingDate.getTime();
  const start = process.hrtime.bigint();
  let elapsed = 0;
  do {
    for (let i = 0; i < 1000; i++, count++) {
      if (newDay) date += 86400 * 1000;
      await signer.sign(request, { ...options, signingDate: new Date(date) });
    }
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  } while (elapsed < RUN_SECONDS);
  return count / elapsed;
}

async function best(signer, request, options, newDay) {
  let top = 0;
  for (let i = 0; i < RUNS; i++) top = Math.max(top, await run(signer, request, options, newDay));
  return top;
}

const path = process.argv[2] ?? "tests/bench/sigv4-request.json";
const input = JSON.parse(readFileSync(path, "utf8"));
const lib = await loadSmithy();
const c = { input, decodedQuery: [], body: Buffer.from(input.body ?? "", "utf8") };
const { signer, request, options } = smithyCase(c, lib, lib.SignatureV4);
const signed = await signer.sign(request, options);
console.log(`signature\t${signed.headers.authorization.replace(/.*Signature=/, "")}`);
console.log(`smithy\tcached\t${(await best(signer, request, options, false)).toFixed(0)}`);
console.log(`smithy\tuncached\t${(await best(signer, request, options, true)).toFixed(0)}`);
