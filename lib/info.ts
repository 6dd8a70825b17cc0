// SPDX-License-Identifier: MIT
// What this machine and build offer: LibTorch's version, CUDA, threads, distributed backends, parameter counts.
import type { Preset } from './config';
import { fromNativeError } from './errors';
import { getBinding } from './job';
import type { BindingSource } from './job';
import { cudaVersionText, cudnnVersionText } from './native';
import type { NativeBinding } from './native';

/**
 * What {@link info} resolves with.
 *
 * @example
 * const { cudaAvailable, presets } = await info();
 */
export interface InfoResult {
  readonly libtorchVersion: string;
  readonly cudaAvailable: boolean;
  readonly cudaDevices: number;
  /** CPU threads train() uses when threads is 0. */
  readonly threads: number;
  /** The c10d backends this build trains with across processes: 'gloo' (CPU), 'nccl' (CUDA). */
  readonly distributedBackends: readonly string[];
  /** The CUDA runtime LibTorch was built with ('12.4'); '' without CUDA. */
  readonly cudaVersion: string;
  /** cuDNN's version ('9.1.0'); '' without it. */
  readonly cudnnVersion: string;
  readonly presets: { readonly [P in Preset]: { readonly parameters: number } };
}

function describeBinding(binding: NativeBinding, callerStack: string): InfoResult {
  try {
    const native = binding.info();
    return {
      libtorchVersion: native.libtorchVersion,
      cudaAvailable: native.cudaAvailable,
      cudaDevices: native.cudaDevices,
      threads: native.threads,
      distributedBackends: native.distributedBackends,
      cudaVersion: cudaVersionText(native.cudaRuntimeVersion),
      cudnnVersion: cudnnVersionText(native.cudnnVersion),
      presets: {
        article: { parameters: binding.parameterCount('article') },
        cifar: { parameters: binding.parameterCount('cifar') },
        torchvision: { parameters: binding.parameterCount('torchvision') },
      },
    };
  } catch (error) {
    throw fromNativeError(error, callerStack);
  }
}

/** info() on a binding, shared with the CLI. */
export function describeMachine(source: BindingSource, callerStack: string): InfoResult {
  return describeBinding(getBinding(source), callerStack);
}
