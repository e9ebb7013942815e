/** Codes for inventory sources (see docs/errors.md). Port-level codes live in ports/errors.ts. */
export const ERR_NVIDIA_SMI_EMPTY = 'ERR_NVIDIA_SMI_EMPTY';
export const ERR_NVIDIA_SMI_XML = 'ERR_NVIDIA_SMI_XML';
export const ERR_NVIDIA_SMI_TEXT_FORMAT = 'ERR_NVIDIA_SMI_TEXT_FORMAT';
export const ERR_NVIDIA_SMI_SCHEMA = 'ERR_NVIDIA_SMI_SCHEMA';
export const ERR_SOURCE_ABSENT = 'ERR_SOURCE_ABSENT';
export const ERR_SOURCE_TIMEOUT = 'ERR_SOURCE_TIMEOUT';
export const ERR_SOURCE_FAILED = 'ERR_SOURCE_FAILED';
export const ERR_PLATFORM_NO_DMI = 'ERR_PLATFORM_NO_DMI';
