// SPDX-License-Identifier: MIT
// Native tests train real networks on 2 CPU cores: minutes, not jest's default 5 seconds.
jest.setTimeout(600_000);
