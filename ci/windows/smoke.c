/* The C library's smoke run for ci/windows.sh: what `vigil run BUNDLE EVENTS --pubkey KEY`
 * does, through the C API, so that its alerts can be compared byte for byte with the CLI's.
 *
 *   smoke BUNDLE PUBKEY|- jit|interp EVENTS.jsonl
 *
 * Loads the bundle (signed with the key; `-`: unsigned bundles allowed), decodes every line of
 * EVENTS (JSON lines in the schema's own names), prints each alert as one JSON line on stdout
 * and the deployer's status JSON on stderr. Exits 1 when the bundle is refused or a call fails,
 * 2 on usage or I/O errors. Built with mingw-w64 against vigil_capi.dll and against
 * libvigil_capi.a, and run under Wine (docs/windows.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#endif

#include "vigil.h"

/* Reads a whole file; NULL on error. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static void print_alert(void *user, const vigil_alert *alert)
{
    size_t *count = user;
    fwrite(alert->json, 1, alert->json_len, stdout);
    fputc('\n', stdout);
    ++*count;
}

static int failed(const char *what)
{
    fprintf(stderr, "smoke: %s: [%s] %s\n", what, vigil_last_error_code(), vigil_last_error_message());
    return 1;
}

int main(int argc, char **argv)
{
#ifdef _WIN32
    /* Alerts are JSON lines ending in "\n", as Vigil writes them: no "\r\n" from text mode. */
    _setmode(_fileno(stdout), _O_BINARY);
#endif
    if (argc != 5) {
        fprintf(stderr, "usage: smoke BUNDLE PUBKEY|- jit|interp EVENTS.jsonl\n");
        return 2;
    }
    if (vigil_abi_version() != VIGIL_ABI_VERSION) {
        fprintf(stderr, "smoke: library ABI %u, header %u\n", vigil_abi_version(), VIGIL_ABI_VERSION);
        return 2;
    }
    size_t bundle_len = 0, key_len = 0, events_len = 0;
    char *bundle = slurp(argv[1], &bundle_len);
    char *key = strcmp(argv[2], "-") ? slurp(argv[2], &key_len) : NULL;
    char *events = slurp(argv[4], &events_len);
    if (!bundle || !events || (strcmp(argv[2], "-") && !key)) {
        fprintf(stderr, "smoke: cannot read the bundle, the key or the events\n");
        return 2;
    }
    uint32_t engine = strcmp(argv[3], "jit") == 0 ? VIGIL_ENGINE_JIT : VIGIL_ENGINE_INTERPRETER;

    vigil_trust *trust = NULL;
    vigil_deployer *deployer = NULL;
    vigil_decoder *decoder = NULL;
    if (vigil_trust_new(&trust) != VIGIL_OK)
        return failed("trust");
    if (key ? vigil_trust_add_key(trust, key, key_len) != VIGIL_OK
            : vigil_trust_allow_unsigned(trust, true) != VIGIL_OK)
        return failed("trust key");
    if (vigil_deployer_new(NULL, trust, engine, &deployer) != VIGIL_OK)
        return failed("deployer");
    vigil_trust_free(trust);
    vigil_verdict verdict;
    if (vigil_deployer_update(deployer, (const uint8_t *)bundle, bundle_len, &verdict) != VIGIL_OK ||
        verdict != VIGIL_VERDICT_ACTIVATED)
        return failed("bundle refused");
    if (vigil_decoder_new(deployer, NULL, 0, &decoder) != VIGIL_OK)
        return failed("decoder");
    if (vigil_decoder_set_file(decoder, argv[4], strlen(argv[4])) != VIGIL_OK)
        return failed("decoder file");

    size_t alerts = 0, lines = 0;
    for (char *line = events; line < events + events_len;) {
        char *end = memchr(line, '\n', (size_t)(events + events_len - line));
        size_t len = end ? (size_t)(end - line) : (size_t)(events + events_len - line);
        vigil_status st =
            vigil_deployer_process_json(deployer, decoder, line, len, print_alert, &alerts, NULL);
        if (st < 0 && st != VIGIL_E_DECODE)
            return failed("process");
        ++lines;
        line += len + 1;
    }
    char *status = NULL;
    if (vigil_deployer_status_json(deployer, &status, NULL) != VIGIL_OK)
        return failed("status");
    fprintf(stderr, "smoke: %zu lines, %zu alerts; status %s\n", lines, alerts, status);
    vigil_string_free(status);
    vigil_decoder_free(decoder);
    vigil_deployer_free(deployer);
    free(bundle);
    free(key);
    free(events);
    return 0;
}
