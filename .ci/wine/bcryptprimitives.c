/* CI scaffolding, not shipped: a stand-in bcryptprimitives.dll for Wine.
 *
 * Rust's std (1.78 and later) takes its random numbers from ProcessPrng in
 * bcryptprimitives.dll, which Windows 10 and later have and Debian 12's Wine 8 lacks; without
 * it no Rust program starts under that Wine. This exports ProcessPrng with Windows'
 * signature and fills the buffer from RtlGenRandom (SystemFunction036 in advapi32), which
 * Wine has. .ci/windows builds it with mingw-w64 into the CI's own Wine prefix.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
