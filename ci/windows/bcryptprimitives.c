/* bcryptprimitives.dll for Wine 8.0, which lacks it: Rust's standard library (1.78 and later)
 * takes its random bytes from ProcessPrng here. This shim forwards to RtlGenRandom, exported by
 * advapi32 as SystemFunction036, which Wine has. Built by ci/windows.sh with mingw-w64 and
 * placed in the test Wine prefix's system32; see docs/embedding.md, "Windows". */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* RtlGenRandom takes a ULONG: fill larger requests in pieces. */
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
