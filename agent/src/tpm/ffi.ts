import koffi from 'koffi';
import { TpmError, ERR_TPM_UNAVAILABLE } from './errors.js';

/**
 * koffi bindings to the system tpm2-tss libraries (versioned sonames). Only functions whose
 * arguments are scalars, opaque pointers or byte buffers are declared: every structure crosses
 * the boundary as TPM wire bytes through Tss2_MU_*_Marshal / _Unmarshal (see esys.ts).
 *
 * Loaded lazily on first use; a missing library is ERR_TPM_UNAVAILABLE with the loader's reason.
 */

/** ESAPI functions are called asynchronously on koffi's worker threads (never concurrently). */
export type AsyncFn = (...args: unknown[]) => Promise<number>;
export type SyncFn = (...args: unknown[]) => unknown;

export interface Tss2 {
  /** Tss2_TctiLdr_Initialize, async: some TCTIs talk to the TPM while initialising. */
  tctiInit: AsyncFn;
  tctiFinalize: SyncFn;
  esysInit: SyncFn;
  esysFinalize: SyncFn;
  esysFree: SyncFn;
  rcDecode: (rc: number) => string;
  /** ESAPI command functions by name (Esys_ prefix dropped), all returning TSS2_RC. */
  esys: Record<EsysName, AsyncFn>;
  /** Esys_TR_* helpers that do not talk to the TPM (called synchronously). */
  trClose: SyncFn;
  trSetAuth: SyncFn;
  /** Tss2_MU_<T>_Marshal / _Unmarshal by type name. */
  marshal: Record<MuType, SyncFn>;
  unmarshal: Record<MuType, SyncFn>;
}

const ESYS_PROTOS = {
  GetCapability:
    'uint32_t Esys_GetCapability(void *ctx, uint32_t s1, uint32_t s2, uint32_t s3, uint32_t cap, uint32_t prop, uint32_t count, _Out_ uint8_t *more, _Out_ void **data)',
  PCR_Read:
    'uint32_t Esys_PCR_Read(void *ctx, uint32_t s1, uint32_t s2, uint32_t s3, const void *sel, _Out_ uint32_t *counter, _Out_ void **selOut, _Out_ void **values)',
  CreatePrimary:
    'uint32_t Esys_CreatePrimary(void *ctx, uint32_t primary, uint32_t s1, uint32_t s2, uint32_t s3, const void *sens, const void *pub, const void *outside, const void *creationPcr, _Out_ uint32_t *handle, _Out_ void **outPublic, _Out_ void **creationData, _Out_ void **creationHash, _Out_ void **ticket)',
  Create:
    'uint32_t Esys_Create(void *ctx, uint32_t parent, uint32_t s1, uint32_t s2, uint32_t s3, const void *sens, const void *pub, const void *outside, const void *creationPcr, _Out_ void **outPrivate, _Out_ void **outPublic, _Out_ void **creationData, _Out_ void **creationHash, _Out_ void **ticket)',
  Load: 'uint32_t Esys_Load(void *ctx, uint32_t parent, uint32_t s1, uint32_t s2, uint32_t s3, const void *priv, const void *pub, _Out_ uint32_t *handle)',
  EvictControl:
    'uint32_t Esys_EvictControl(void *ctx, uint32_t auth, uint32_t object, uint32_t s1, uint32_t s2, uint32_t s3, uint32_t persistent, _Out_ uint32_t *newHandle)',
  FlushContext: 'uint32_t Esys_FlushContext(void *ctx, uint32_t handle)',
  TR_FromTPMPublic:
    'uint32_t Esys_TR_FromTPMPublic(void *ctx, uint32_t tpmHandle, uint32_t s1, uint32_t s2, uint32_t s3, _Out_ uint32_t *object)',
  ReadPublic:
    'uint32_t Esys_ReadPublic(void *ctx, uint32_t object, uint32_t s1, uint32_t s2, uint32_t s3, _Out_ void **outPublic, _Out_ void **name, _Out_ void **qualifiedName)',
  Quote:
    'uint32_t Esys_Quote(void *ctx, uint32_t sign, uint32_t s1, uint32_t s2, uint32_t s3, const void *qualifying, const void *scheme, const void *sel, _Out_ void **quoted, _Out_ void **signature)',
  NV_ReadPublic:
    'uint32_t Esys_NV_ReadPublic(void *ctx, uint32_t nv, uint32_t s1, uint32_t s2, uint32_t s3, _Out_ void **nvPublic, _Out_ void **nvName)',
  NV_Read:
    'uint32_t Esys_NV_Read(void *ctx, uint32_t auth, uint32_t nv, uint32_t s1, uint32_t s2, uint32_t s3, uint16_t size, uint16_t offset, _Out_ void **data)',
  StartAuthSession:
    'uint32_t Esys_StartAuthSession(void *ctx, uint32_t tpmKey, uint32_t bind, uint32_t s1, uint32_t s2, uint32_t s3, const void *nonceCaller, uint8_t type, const void *symmetric, uint16_t authHash, _Out_ uint32_t *session)',
  PolicySecret:
    'uint32_t Esys_PolicySecret(void *ctx, uint32_t auth, uint32_t session, uint32_t s1, uint32_t s2, uint32_t s3, const void *nonceTpm, const void *cpHash, const void *policyRef, int32_t expiration, _Out_ void **timeout, _Out_ void **ticket)',
  ActivateCredential:
    'uint32_t Esys_ActivateCredential(void *ctx, uint32_t activate, uint32_t key, uint32_t s1, uint32_t s2, uint32_t s3, const void *credentialBlob, const void *secret, _Out_ void **certInfo)',
} as const;
export type EsysName = keyof typeof ESYS_PROTOS;

/** Structures converted by the bindings. */
export const MU_TYPES = [
  'TPM2B_PUBLIC',
  'TPM2B_PRIVATE',
  'TPM2B_SENSITIVE_CREATE',
  'TPM2B_DATA',
  'TPM2B_DIGEST',
  'TPM2B_NONCE',
  'TPM2B_NAME',
  'TPM2B_ATTEST',
  'TPM2B_ID_OBJECT',
  'TPM2B_ENCRYPTED_SECRET',
  'TPM2B_NV_PUBLIC',
  'TPM2B_MAX_NV_BUFFER',
  'TPM2B_TIMEOUT',
  'TPML_PCR_SELECTION',
  'TPML_DIGEST',
  'TPMT_SIG_SCHEME',
  'TPMT_SIGNATURE',
  'TPMT_SYM_DEF',
  'TPMT_TK_AUTH',
  'TPMS_CAPABILITY_DATA',
] as const;
export type MuType = (typeof MU_TYPES)[number];

let loaded: Tss2 | undefined;
let loadError: TpmError | undefined;

function promisify(fn: { async: (...a: unknown[]) => void }): AsyncFn {
  return (...args) =>
    new Promise<number>((resolve, reject) => {
      fn.async(...args, (err: unknown, rc: number) => (err ? reject(err) : resolve(rc >>> 0)));
    });
}

/** Loads the libraries once. Throws ERR_TPM_UNAVAILABLE when tpm2-tss is not installed. */
export function loadTss2(): Tss2 {
  if (loaded) return loaded;
  if (loadError) throw loadError;
  // tpm2-tss logs failed connections to stderr; our errors carry the same information.
  process.env.TSS2_LOG ??= 'all+none';
  try {
    const esysLib = koffi.load('libtss2-esys.so.0');
    const tctildr = koffi.load('libtss2-tctildr.so.0');
    const mu = koffi.load('libtss2-mu.so.0');
    const rcLib = koffi.load('libtss2-rc.so.0');
    const esys = {} as Record<EsysName, AsyncFn>;
    for (const [name, proto] of Object.entries(ESYS_PROTOS)) {
      esys[name as EsysName] = promisify(esysLib.func(proto) as unknown as { async: (...a: unknown[]) => void });
    }
    const marshal = {} as Record<MuType, SyncFn>;
    const unmarshal = {} as Record<MuType, SyncFn>;
    for (const t of MU_TYPES) {
      marshal[t] = mu.func(`uint32_t Tss2_MU_${t}_Marshal(const void *src, _Out_ uint8_t *buf, size_t size, _Inout_ size_t *offset)`);
      unmarshal[t] = mu.func(`uint32_t Tss2_MU_${t}_Unmarshal(const uint8_t *buf, size_t size, _Inout_ size_t *offset, void *dest)`);
    }
    const decode = rcLib.func('const char *Tss2_RC_Decode(uint32_t rc)');
    loaded = {
      tctiInit: promisify(
        tctildr.func('uint32_t Tss2_TctiLdr_Initialize(const char *conf, _Out_ void **tcti)') as unknown as {
          async: (...a: unknown[]) => void;
        },
      ),
      tctiFinalize: tctildr.func('void Tss2_TctiLdr_Finalize(_Inout_ void **tcti)'),
      esysInit: esysLib.func('uint32_t Esys_Initialize(_Out_ void **ctx, void *tcti, void *abi)'),
      esysFinalize: esysLib.func('void Esys_Finalize(_Inout_ void **ctx)'),
      esysFree: esysLib.func('void Esys_Free(void *ptr)'),
      trClose: esysLib.func('uint32_t Esys_TR_Close(void *ctx, _Inout_ uint32_t *handle)'),
      trSetAuth: esysLib.func('uint32_t Esys_TR_SetAuth(void *ctx, uint32_t handle, const void *auth)'),
      rcDecode: (rc: number) => String(decode(rc >>> 0)),
      esys,
      marshal,
      unmarshal,
    };
    return loaded;
  } catch (e) {
    loadError = new TpmError(ERR_TPM_UNAVAILABLE, `tpm2-tss libraries cannot be loaded: ${(e as Error).message}`, { cause: e });
    throw loadError;
  }
}
