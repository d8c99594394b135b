/* agent.c: an example endpoint agent in plain C11 around the Vigil C library (vigil-capi).
 *
 *   agent --pubkey FILE.pub --bundle FILE.vglb [--engine jit|interp|default]
 *         [--mapping sysmon|windows|FILE.toml] [--demo-builder] [--status] EVENTS.jsonl...
 *
 * It trusts one public key, makes a deployer for the embedded endpoint schema, loads the signed
 * bundle, runs every JSON line of the event files through it and prints each alert as one JSON
 * line on stdout. With --demo-builder it then builds a few events by hand through the event
 * builder (what a sensor written in C does) and runs them too. With --status it prints the
 * deployer's status JSON on stderr at the end.
 *
 * Exit status: 0 done; 1 usage, I/O or library error; 2 the bundle was refused (its Vigil code
 * and message are printed on stderr). A JSON line the decoder refuses is reported on stderr and
 * skipped, as `vigil run` does.
 *
 * Every status code is checked, and everything is freed before exit (`make check` runs this
 * under valgrind).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigil.h"

enum { EXIT_USAGE = 1, EXIT_REFUSED = 2 };

/* A growable byte buffer. */
typedef struct buffer {
    char *data;
    size_t len;
    size_t cap;
} buffer;

static bool buffer_reserve(buffer *b, size_t extra) {
    if (b->cap - b->len >= extra) {
        return true;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2) {
            return false;
        }
        cap *= 2;
    }
    char *data = realloc(b->data, cap);
    if (!data) {
        return false;
    }
    b->data = data;
    b->cap = cap;
    return true;
}

/* Reads a whole file (binary). */
static bool read_file(const char *path, buffer *out) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "agent: cannot open %s\n", path);
        return false;
    }
    bool ok = true;
    for (;;) {
        if (!buffer_reserve(out, 65536)) {
            fprintf(stderr, "agent: out of memory reading %s\n", path);
            ok = false;
            break;
        }
        size_t n = fread(out->data + out->len, 1, out->cap - out->len, f);
        out->len += n;
        if (n == 0) {
            if (ferror(f)) {
                fprintf(stderr, "agent: cannot read %s\n", path);
                ok = false;
            }
            break;
        }
    }
    fclose(f);
    return ok;
}

/* Reads one line (without its "\n" or "\r\n") into line. Returns 1 for a line, 0 at the end of
 * the file, -1 on a read or memory error. */
static int read_line(FILE *f, buffer *line) {
    line->len = 0;
    int c = EOF;
    while ((c = fgetc(f)) != EOF && c != '\n') {
        if (!buffer_reserve(line, 1)) {
            return -1;
        }
        line->data[line->len++] = (char)c;
    }
    if (ferror(f)) {
        return -1;
    }
    if (c == EOF && line->len == 0) {
        return 0;
    }
    if (line->len > 0 && line->data[line->len - 1] == '\r') {
        line->len--;
    }
    return 1;
}

/* Prints the last Vigil error of this thread, with what failed. */
static void report(const char *what, vigil_status status) {
    const char *code = vigil_last_error_code();
    fprintf(stderr, "agent: %s failed (status %d)%s%s: %s\n", what, (int)status,
            code[0] ? ", " : "", code, vigil_last_error_message());
}

/* Where alerts go: stdout, one JSON line each. */
typedef struct sink {
    unsigned long long alerts;
    bool write_failed;
} sink;

static void on_alert(void *user, const vigil_alert *alert) {
    sink *s = user;
    s->alerts++;
    if (fwrite(alert->json, 1, alert->json_len, stdout) != alert->json_len ||
        fputc('\n', stdout) == EOF) {
        s->write_failed = true;
    }
}

/* Runs every line of one JSON-lines file. Returns false on an I/O or library error; a line the
 * decoder refuses is reported and skipped. */
static bool run_file(const vigil_deployer *deployer, vigil_decoder *decoder, const char *path,
                     sink *s, unsigned long long *refused_lines) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "agent: cannot open %s\n", path);
        return false;
    }
    /* Alerts name the file and line they came from ("source"), as `vigil run`'s do. */
    vigil_status st = vigil_decoder_set_file(decoder, path, strlen(path));
    if (st != VIGIL_OK) {
        report("vigil_decoder_set_file", st);
        fclose(f);
        return false;
    }
    buffer line = {0};
    bool ok = true;
    unsigned long long number = 0;
    int got = 0;
    while ((got = read_line(f, &line)) == 1) {
        number++;
        st = vigil_deployer_process_json(deployer, decoder, line.data, line.len, on_alert, s,
                                         NULL);
        if (st == VIGIL_E_DECODE || st == VIGIL_E_DROPPED) {
            fprintf(stderr, "agent: %s:%llu: skipped [%s]: %s\n", path, number,
                    vigil_last_error_code(), vigil_last_error_message());
            (*refused_lines)++;
        } else if (st != VIGIL_OK) {
            report("processing a line", st);
            ok = false;
            break;
        }
    }
    if (got < 0) {
        fprintf(stderr, "agent: cannot read %s\n", path);
        ok = false;
    }
    free(line.data);
    fclose(f);
    return ok;
}

/* Resolves the fields a demo event sets, by name, once per builder. */
static bool resolve(const vigil_builder *builder, const char *const *names, vigil_field *fields,
                    size_t n) {
    for (size_t i = 0; i < n; i++) {
        vigil_status st = vigil_builder_field(builder, names[i], strlen(names[i]), &fields[i]);
        if (st != VIGIL_OK) {
            report(names[i], st);
            return false;
        }
    }
    return true;
}

/* A setter's status: OK, or TRUNCATED (the value was cut to the field's bound and flagged,
 * which rules see through `truncated(field)`), else an error. */
static bool set_ok(vigil_status st, const char *what) {
    if (st == VIGIL_OK || st == VIGIL_TRUNCATED) {
        return true;
    }
    report(what, st);
    return false;
}

static bool set_str(vigil_builder *b, vigil_field f, const char *value) {
    return set_ok(vigil_builder_set_str(b, f, value, strlen(value)), "vigil_builder_set_str");
}

/* Finishes the builder's event and runs it. */
static bool finish_and_process(const vigil_deployer *deployer, vigil_builder *builder,
                               vigil_event *event, sink *s) {
    vigil_status st = vigil_builder_finish(builder, event);
    if (st != VIGIL_OK) {
        report("vigil_builder_finish", st);
        return false;
    }
    st = vigil_deployer_process(deployer, event, on_alert, s, NULL);
    if (st != VIGIL_OK) {
        report("vigil_deployer_process", st);
        return false;
    }
    return true;
}

/* What a sensor written in C does: builds events field by field, without JSON. Two process
 * starts (an encoded PowerShell command and a benign editor) and an outbound connection to a
 * port the example rules watch. */
static bool demo_builder(const vigil_deployer *deployer, sink *s) {
    enum { TIME, HOST, PID, PPID, IMAGE, PARENT, CMDLINE, ARGS, USER, N_PROC };
    static const char *const proc_names[N_PROC] = {
        "time", "host", "pid", "ppid", "image", "parent_image", "command_line", "args", "user",
    };
    enum { N_TIME, N_HOST, N_PID, N_IMAGE, N_USER, N_INIT, N_DIP, N_DPORT, N_SIP, N_NET };
    static const char *const net_names[N_NET] = {
        "time", "host", "pid", "image", "user", "initiated", "dest_ip", "dest_port", "source_ip",
    };
    static const char *const ps_args[] = {"powershell.exe", "-NoP", "-enc",
                                          "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA="};
    static const char *const ps = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe";
    static const char *const rundll = "C:\\Windows\\System32\\rundll32.exe";

    vigil_builder *proc = NULL;
    vigil_builder *net = NULL;
    vigil_event *event = NULL;
    vigil_field pf[N_PROC];
    vigil_field nf[N_NET];
    bool ok = false;
    vigil_status st = vigil_builder_new(deployer, "process_start", 13, &proc);
    if (st != VIGIL_OK) {
        report("vigil_builder_new(process_start)", st);
        goto done;
    }
    st = vigil_builder_new(deployer, "network_connect", 15, &net);
    if (st != VIGIL_OK) {
        report("vigil_builder_new(network_connect)", st);
        goto done;
    }
    st = vigil_event_new(&event);
    if (st != VIGIL_OK) {
        report("vigil_event_new", st);
        goto done;
    }
    if (!resolve(proc, proc_names, pf, N_PROC) || !resolve(net, net_names, nf, N_NET)) {
        goto done;
    }

    /* 1. Encoded PowerShell started by Word: fires encoded_powershell and the Office rule. */
    if (!set_ok(vigil_builder_set_int(proc, pf[TIME], 1732406500000000000), "time") ||
        !set_str(proc, pf[HOST], "demo-host.corp.example") ||
        !set_ok(vigil_builder_set_int(proc, pf[PID], 7100), "pid") ||
        !set_ok(vigil_builder_set_int(proc, pf[PPID], 5120), "ppid") ||
        !set_str(proc, pf[IMAGE], ps) ||
        !set_str(proc, pf[PARENT],
                 "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE") ||
        !set_str(proc, pf[CMDLINE],
                 "powershell.exe -NoP -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=") ||
        !set_str(proc, pf[USER], "CORP\\alice")) {
        goto done;
    }
    for (size_t i = 0; i < sizeof ps_args / sizeof ps_args[0]; i++) {
        if (!set_ok(vigil_builder_push_str(proc, pf[ARGS], ps_args[i], strlen(ps_args[i])),
                    "vigil_builder_push_str")) {
            goto done;
        }
    }
    if (!finish_and_process(deployer, proc, event, s)) {
        goto done;
    }

    /* 2. Notepad from Explorer: no rule fires. The builder starts afresh after finish. */
    if (!set_ok(vigil_builder_set_int(proc, pf[TIME], 1732406501000000000), "time") ||
        !set_str(proc, pf[HOST], "demo-host.corp.example") ||
        !set_ok(vigil_builder_set_int(proc, pf[PID], 7200), "pid") ||
        !set_str(proc, pf[IMAGE], "C:\\Windows\\System32\\notepad.exe") ||
        !set_str(proc, pf[PARENT], "C:\\Windows\\explorer.exe") ||
        !set_str(proc, pf[CMDLINE], "notepad.exe C:\\Users\\alice\\notes.txt") ||
        !set_str(proc, pf[USER], "CORP\\alice") ||
        !finish_and_process(deployer, proc, event, s)) {
        goto done;
    }

    /* 3. Rundll32 connecting out to port 4444: fires outbound_to_suspicious_port. The same
     * event handle is reused for another event type. */
    if (!set_ok(vigil_builder_set_int(net, nf[N_TIME], 1732406502000000000), "time") ||
        !set_str(net, nf[N_HOST], "demo-host.corp.example") ||
        !set_ok(vigil_builder_set_int(net, nf[N_PID], 7300), "pid") ||
        !set_str(net, nf[N_IMAGE], rundll) || !set_str(net, nf[N_USER], "CORP\\alice") ||
        !set_ok(vigil_builder_set_bool(net, nf[N_INIT], true), "initiated") ||
        !set_ok(vigil_builder_set_ip(net, nf[N_SIP], "10.20.30.42", 11), "source_ip") ||
        !set_ok(vigil_builder_set_ip(net, nf[N_DIP], "203.0.113.9", 11), "dest_ip") ||
        !set_ok(vigil_builder_set_int(net, nf[N_DPORT], 4444), "dest_port") ||
        !finish_and_process(deployer, net, event, s)) {
        goto done;
    }
    ok = true;
done:
    vigil_event_free(event);
    vigil_builder_free(net);
    vigil_builder_free(proc);
    return ok;
}

static void usage(void) {
    fputs("usage: agent --pubkey FILE.pub --bundle FILE.vglb [--engine jit|interp|default]\n"
          "             [--mapping sysmon|windows|FILE.toml] [--demo-builder] [--status]\n"
          "             EVENTS.jsonl...\n",
          stderr);
}

int main(int argc, char **argv) {
    const char *pubkey_path = NULL;
    const char *bundle_path = NULL;
    const char *mapping = NULL;
    vigil_engine engine = VIGIL_ENGINE_DEFAULT;
    bool demo = false;
    bool status = false;
    int first_file = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--pubkey") == 0 && has_value) {
            pubkey_path = argv[++i];
        } else if (strcmp(a, "--bundle") == 0 && has_value) {
            bundle_path = argv[++i];
        } else if (strcmp(a, "--mapping") == 0 && has_value) {
            mapping = argv[++i];
        } else if (strcmp(a, "--engine") == 0 && has_value) {
            const char *e = argv[++i];
            if (strcmp(e, "jit") == 0) {
                engine = VIGIL_ENGINE_JIT;
            } else if (strcmp(e, "interp") == 0 || strcmp(e, "interpreter") == 0) {
                engine = VIGIL_ENGINE_INTERPRETER;
            } else if (strcmp(e, "default") == 0) {
                engine = VIGIL_ENGINE_DEFAULT;
            } else {
                usage();
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--demo-builder") == 0) {
            demo = true;
        } else if (strcmp(a, "--status") == 0) {
            status = true;
        } else if (strcmp(a, "--") == 0) {
            first_file = i + 1;
            break;
        } else if (a[0] == '-' && a[1] != '\0') {
            usage();
            return EXIT_USAGE;
        } else {
            first_file = i;
            break;
        }
    }
    if (!pubkey_path || !bundle_path) {
        usage();
        return EXIT_USAGE;
    }

    int rc = EXIT_USAGE;
    buffer key = {0};
    buffer bundle = {0};
    buffer mapping_toml = {0};
    vigil_trust *trust = NULL;
    vigil_deployer *deployer = NULL;
    vigil_decoder *decoder = NULL;
    sink s = {0};
    unsigned long long refused_lines = 0;
    vigil_status st = VIGIL_OK;

    if (!read_file(pubkey_path, &key) || !read_file(bundle_path, &bundle)) {
        goto done;
    }
    if ((st = vigil_trust_new(&trust)) != VIGIL_OK) {
        report("vigil_trust_new", st);
        goto done;
    }
    if ((st = vigil_trust_add_key(trust, key.data, key.len)) != VIGIL_OK) {
        report("vigil_trust_add_key", st);
        goto done;
    }
    /* NULL schema: the embedded endpoint schema. The deployer copies the trust store. */
    if ((st = vigil_deployer_new(NULL, trust, engine, &deployer)) != VIGIL_OK) {
        report("vigil_deployer_new", st);
        goto done;
    }
    vigil_trust_free(trust);
    trust = NULL;

    vigil_verdict verdict = VIGIL_VERDICT_REFUSED;
    st = vigil_deployer_update(deployer, (const uint8_t *)bundle.data, bundle.len, &verdict);
    if (st == VIGIL_E_REFUSED) {
        fprintf(stderr, "agent: bundle %s refused: %s: %s\n", bundle_path,
                vigil_last_error_code(), vigil_last_error_message());
        rc = EXIT_REFUSED;
        goto done;
    }
    if (st != VIGIL_OK || verdict != VIGIL_VERDICT_ACTIVATED) {
        report("vigil_deployer_update", st);
        goto done;
    }

    if (!mapping || strcmp(mapping, "sysmon") == 0 || strcmp(mapping, "windows") == 0) {
        st = vigil_decoder_new(deployer, mapping, mapping ? strlen(mapping) : 0, &decoder);
    } else {
        if (!read_file(mapping, &mapping_toml)) {
            goto done;
        }
        st = vigil_decoder_new_toml(deployer, mapping_toml.data, mapping_toml.len, &decoder);
    }
    if (st != VIGIL_OK) {
        report("making the decoder", st);
        goto done;
    }

    for (int i = first_file; i < argc; i++) {
        if (!run_file(deployer, decoder, argv[i], &s, &refused_lines)) {
            goto done;
        }
    }
    if (demo && !demo_builder(deployer, &s)) {
        goto done;
    }
    if (fflush(stdout) == EOF || s.write_failed) {
        fputs("agent: cannot write alerts to stdout\n", stderr);
        goto done;
    }
    if (status) {
        char *json = NULL;
        size_t len = 0;
        if ((st = vigil_deployer_status_json(deployer, &json, &len)) != VIGIL_OK) {
            report("vigil_deployer_status_json", st);
            goto done;
        }
        fwrite(json, 1, len, stderr);
        fputc('\n', stderr);
        vigil_string_free(json);
    }
    if (refused_lines) {
        fprintf(stderr, "agent: %llu lines skipped\n", refused_lines);
    }
    rc = 0;
done:
    vigil_decoder_free(decoder);
    vigil_deployer_free(deployer);
    vigil_trust_free(trust);
    free(mapping_toml.data);
    free(bundle.data);
    free(key.data);
    return rc;
}
