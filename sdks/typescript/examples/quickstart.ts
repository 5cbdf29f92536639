// The product's own example, unchanged between the marked lines; it needs
// only SOCKT_API_URL (and SOCKT_API_KEY for credits) in the environment.
import { ComputeClient } from '@sockt/client';

const path = 'eval.py';
const content = 'print("accuracy: 0.93")\n';

// --- the documented example ---
const client = new ComputeClient({ apiKey: process.env.SOCKT_API_KEY });
const sandbox = await client.createSandbox({ tier: 'micro', billingMethod: 'credits' });
const result = await sandbox.exec('python eval.py --dataset cifar10');   // { stdout, stderr, exitCode }
await sandbox.writeFile(path, content); await sandbox.readFile(path);
await sandbox.pause(); await sandbox.resume(); await sandbox.status(); await sandbox.terminate();
// --- end of the documented example ---

console.log(JSON.stringify({ sandbox: sandbox.id, exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr }));
