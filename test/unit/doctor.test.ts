// SPDX-License-Identifier: MIT
// doctor(): each check on made-up machines, and every problem with its fix.
import { doctor } from '../../lib/doctor';
import type { DoctorCheck, DoctorProbes, DoctorReport, FoundLibtorch } from '../../lib/doctor';
import { run } from '../../lib/cli';
import { FakeBinding } from './fake-binding';
import type { NativeInfo } from '../../lib/native';

const LIBTORCH: FoundLibtorch = {
  source: 'system',
  cmakeDir: '/usr/lib/x86_64-linux-gnu/cmake/Torch',
  libDir: '/usr/lib/x86_64-linux-gnu',
  version: '1.13.1',
  cuda: false,
  cxx11Abi: 1,
  gloo: true,
};

function probes(extra: Partial<DoctorProbes> = {}): DoctorProbes {
  return {
    nodeVersion: '20.20.2',
    env: { LIBTORCH_RESNET_DATA: '/data/cifar' },
    findLibtorch: () => LIBTORCH,
    loadBinding: () => new FakeBinding(),
    loadedAddon: () => undefined,
    gpuNames: async () => [],
    dataReady: async () => true,
    ...extra,
  };
}

const check = (report: DoctorReport, name: string): DoctorCheck => report.checks.find((c) => c.name === name)!;

test('a healthy CPU machine: every check passes, each says what it found', async () => {
  const report = await doctor(probes());
  expect(report.ok).toBe(true);
  expect(report.checks.map((c) => c.name)).toEqual(['node', 'libtorch', 'addon', 'cuda', 'threads', 'distributed', 'data']);
  expect(check(report, 'libtorch').detail).toContain('LibTorch 1.13.1 (CPU) from system');
  expect(check(report, 'libtorch').detail).toContain('_GLIBCXX_USE_CXX11_ABI=1');
  expect(check(report, 'distributed').detail).toBe('c10d backends: gloo');
  expect(check(report, 'data').detail).toBe('/data/cifar: CIFAR-10 ready');
  expect(report.checks.every((c) => c.fix === undefined)).toBe(true);
});

test.each([
  ['node', { nodeVersion: '18.19.0' }, /Node 20\.17 or newer/],
  ['addon', { loadBinding: () => new Error('the native addon could not be loaded (libc10.so: cannot open)') }, /npm run setup/],
  ['addon', { findLibtorch: () => ({ ...LIBTORCH, version: '2.6.0' }) }, /would use now is 2\.6\.0: rebuild with npm run build/],
  ['cuda', { gpuNames: async () => ['NVIDIA H100 80GB HBM3'] }, /CUDA LibTorch/],
  ['cuda', { gpuNames: async () => ['NVIDIA H100 80GB HBM3'], loadBinding: () => cudaBinding({ cudaAvailable: false }) }, /driver may be too old for CUDA 12\.4/],
] as const)('a problem with %s comes with its fix', async (name, extra, fix) => {
  const report = await doctor(probes(extra as Partial<DoctorProbes>));
  expect(report.ok).toBe(false);
  const c = check(report, name);
  expect(c.ok).toBe(false);
  expect(c.fix).toMatch(fix);
  // Only that check fails.
  expect(report.checks.filter((x) => !x.ok).map((x) => x.name)).toEqual([name]);
});

/** The fake addon as a CUDA 12.4 / cuDNN 9.1.0 build; `change` overrides its info. */
function cudaBinding(change: Partial<NativeInfo> = {}): FakeBinding {
  const binding = new FakeBinding();
  const info = binding.info.bind(binding);
  binding.info = () => ({ ...info(), cudaAvailable: true, cudaDevices: 1, cudaRuntimeVersion: 12040, cudnnVersion: 90100, ...change });
  return binding;
}

test('a CUDA build: versions of CUDA and cuDNN and the GPU names; CUDA without any GPU is no problem', async () => {
  const gpu = await doctor(probes({ loadBinding: () => cudaBinding(), gpuNames: async () => ['NVIDIA H100 80GB HBM3'] }));
  expect(gpu.ok).toBe(true);
  expect(check(gpu, 'cuda').detail).toBe('CUDA 12.4, cuDNN 9.1.0; 1 device(s): NVIDIA H100 80GB HBM3');
  const none = await doctor(probes({ loadBinding: () => cudaBinding({ cudaAvailable: false, cudnnVersion: 8902 }) }));
  expect(none.ok).toBe(true);
  expect(check(none, 'cuda').detail).toBe('CUDA 12.4, cuDNN 8.9.2, but no GPU here (training runs on the CPU)');
});

test('a prebuilt binary that loads: no LibTorch to build with is fine, and its version need not match one', async () => {
  const loadedAddon = () => ({ file: '/p/prebuilds/linux-x64/x.node', origin: 'prebuilt' as const });
  const noneToBuild = await doctor(probes({ loadedAddon, findLibtorch: () => new Error('No LibTorch found.') }));
  expect(noneToBuild.ok).toBe(true);
  expect(check(noneToBuild, 'libtorch').detail).toMatch(/not needed while the addon below loads/);
  expect(check(noneToBuild, 'addon').detail).toBe(
    'loads /p/prebuilds/linux-x64/x.node (prebuilt); built against LibTorch 1.13.1, _GLIBCXX_USE_CXX11_ABI=1',
  );
  const other = await doctor(probes({ loadedAddon, findLibtorch: () => ({ ...LIBTORCH, version: '2.6.0' }) }));
  expect(other.ok).toBe(true);
  // The same addon built locally would be stale.
  const local = await doctor(
    probes({ loadedAddon: () => ({ file: '/p/build/Release/torch_resnet.node', origin: 'local' }), findLibtorch: () => ({ ...LIBTORCH, version: '2.6.0' }) }),
  );
  expect(check(local, 'addon').ok).toBe(false);
});

test('no LibTorch and no binary that loads: both are problems, the LibTorch one with the finder\'s fixes', async () => {
  const report = await doctor(
    probes({
      findLibtorch: () => new Error('No LibTorch found. Tried:\n  - system: nothing usable\nFix it with one of: apt'),
      loadBinding: () => new Error('the native addon could not be loaded.'),
    }),
  );
  expect(report.checks.filter((x) => !x.ok).map((x) => x.name)).toEqual(['libtorch', 'addon']);
  expect(check(report, 'libtorch').fix).toMatch(/No LibTorch found[^]*Fix it with one of/);
  expect(check(report, 'addon').fix).toMatch(/npm rebuild libtorch-resnet/);
});

test('data not downloaded yet is no problem (train downloads it), but the report says how to fetch it', async () => {
  const report = await doctor(probes({ dataReady: async () => false }));
  expect(report.ok).toBe(true);
  expect(check(report, 'data').detail).toMatch(/not there yet; .*libtorch-resnet download --data-dir \/data\/cifar/);
});

test('no distributed backend in the build: the fix installs gloo', async () => {
  const binding = new FakeBinding();
  const info = binding.info.bind(binding);
  binding.info = () => ({ ...info(), distributedBackends: [] });
  const c = check(await doctor(probes({ loadBinding: () => binding })), 'distributed');
  expect(c).toMatchObject({ ok: false, fix: expect.stringMatching(/libgloo-dev/) });
});

test('CLI: doctor --json prints the report; exit 0 when all is well', async () => {
  let out = '';
  const stream = { write: (s: string) => ((out += s), true), isTTY: false };
  const code = await run(['doctor', '--json'], { stdout: stream as never, stderr: stream as never, binding: new FakeBinding() });
  const report = JSON.parse(out);
  // The fake addon (LibTorch 1.13.1) stands in for the real one; the rest is this machine's.
  expect(report.checks.find((c: { name: string }) => c.name === 'addon').detail).toBe(
    'loads; built against LibTorch 1.13.1, _GLIBCXX_USE_CXX11_ABI=1',
  );
  expect(report.checks.map((c: { name: string }) => c.name)).toContain('data');
  expect(code).toBe(report.ok ? 0 : 1);
  // The probes are this machine's own: find-libtorch asks Python's torch, which alone can take 5 s on a busy machine.
}, 30_000);
