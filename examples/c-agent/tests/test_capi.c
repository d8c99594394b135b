/* test_capi.c: tests of the Vigil C API (capi/include/vigil.h) from C, run by `make check`
 * against the static and the shared library, with and without the JIT, under valgrind and the
 * sanitizers.
 *
 *   test_capi --pubkey content.pub --v1 v1.vglb --v2 v2.vglb --other-key other.vglb
 *             --needs-integrity integrity.vglb --unsigned unsigned.vglb
 *             --endpoint-toml stdlib/schema/endpoint.toml
 *             --mapping-toml stdlib/mappings/sysmon.toml
 *             --engine jit|interpreter [--threads N] [--per-thread K]
 *
 * The bundles are made by the Makefile from tests/rules/ with `vigil build`: v1 = base.vgl
 * (content version 1), v2 = base.vgl + v2_extra.vgl (2), other-key = base.vgl signed with
 * another key (5), integrity = base.vgl + needs_integrity.vgl (4), unsigned = base.vgl
 * unsigned (1). --engine names the engine
 * the library's default must be (what the library was built with).
 *
 * Each check prints where it failed, with the library's last error, and aborts.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigil.h"

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n  last error: [%s] %s\n", __FILE__,    \
                    __LINE__, #cond, vigil_last_error_code(), vigil_last_error_message());   \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* A call's status must be `want`. */
#define EXPECT(call, want)                                                                   \
    do {                                                                                     \
        vigil_status got_ = (call);                                                          \
        if (got_ != (want)) {                                                                \
            fprintf(stderr, "%s:%d: %s\n  returned %d, expected %s (%d)\n  last error: [%s] %s\n", \
                    __FILE__, __LINE__, #call, (int)got_, #want, (int)(want),                \
                    vigil_last_error_code(), vigil_last_error_message());                    \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

#define OK(call) EXPECT(call, VIGIL_OK)

/* The last error code must be `code` (a string). */
#define EXPECT_CODE(code) CHECK(strcmp(vigil_last_error_code(), (code)) == 0)

#define S(lit) (lit), (sizeof(lit) - 1)

static unsigned checks_run;
#define TEST(name)                                                                           \
    do {                                                                                     \
        fprintf(stderr, "test %s\n", name);                                                  \
        checks_run++;                                                                        \
    } while (0)

/* ---- files and arguments ---- */

typedef struct bytes {
    uint8_t *data;
    size_t len;
} bytes;

static bytes read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    bytes b = {NULL, 0};
    size_t cap = 0;
    for (;;) {
        if (cap - b.len < 65536) {
            cap = cap ? cap * 2 : 65536;
            b.data = realloc(b.data, cap);
            CHECK(b.data != NULL);
        }
        size_t n = fread(b.data + b.len, 1, cap - b.len, f);
        b.len += n;
        if (n == 0) {
            CHECK(!ferror(f));
            break;
        }
    }
    fclose(f);
    return b;
}

typedef struct args {
    const char *pubkey, *v1, *v2, *other_key, *needs_integrity, *unsigned_, *endpoint_toml;
    const char *mapping_toml;
    const char *engine;
    int threads, per_thread;
} args;

static args parse_args(int argc, char **argv) {
    args a = {0};
    a.threads = 4;
    a.per_thread = 1000;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--pubkey") == 0) a.pubkey = v;
        else if (strcmp(k, "--v1") == 0) a.v1 = v;
        else if (strcmp(k, "--v2") == 0) a.v2 = v;
        else if (strcmp(k, "--other-key") == 0) a.other_key = v;
        else if (strcmp(k, "--needs-integrity") == 0) a.needs_integrity = v;
        else if (strcmp(k, "--unsigned") == 0) a.unsigned_ = v;
        else if (strcmp(k, "--endpoint-toml") == 0) a.endpoint_toml = v;
        else if (strcmp(k, "--mapping-toml") == 0) a.mapping_toml = v;
        else if (strcmp(k, "--engine") == 0) a.engine = v;
        else if (strcmp(k, "--threads") == 0) a.threads = atoi(v);
        else if (strcmp(k, "--per-thread") == 0) a.per_thread = atoi(v);
        else {
            fprintf(stderr, "unknown argument %s\n", k);
            exit(2);
        }
    }
    if (!a.pubkey || !a.v1 || !a.v2 || !a.other_key || !a.needs_integrity || !a.unsigned_ ||
        !a.endpoint_toml || !a.mapping_toml || !a.engine || a.threads < 1 || a.per_thread < 1 || argc % 2 == 0) {
        fputs("usage: test_capi --pubkey K.pub --v1 B --v2 B --other-key B --needs-integrity B"
              " --unsigned B --endpoint-toml FILE --mapping-toml FILE --engine jit|interpreter [--threads N] [--per-thread K]\n",
              stderr);
        exit(2);
    }
    return a;
}

/* ---- the status JSON, read by key (the tests need no JSON parser: keys are unique enough
 * when searched from the right place) ---- */

/* The value after the first `"key":` at or after from, or NULL. */
static const char *json_value(const char *from, const char *key) {
    size_t klen = strlen(key);
    for (const char *p = strchr(from, '"'); p; p = strchr(p + 1, '"')) {
        if (strncmp(p + 1, key, klen) == 0 && p[1 + klen] == '"') {
            const char *q = p + 2 + klen;
            while (*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r') q++;
            if (*q != ':') continue;
            q++;
            while (*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r') q++;
            return q;
        }
    }
    return NULL;
}

static long long json_int(const char *from, const char *key) {
    const char *v = json_value(from, key);
    CHECK(v != NULL);
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    CHECK(end != v);
    return n;
}

/* Whether the value of key is the JSON string want. */
static bool json_str_is(const char *from, const char *key, const char *want) {
    const char *v = json_value(from, key);
    size_t n = strlen(want);
    return v && v[0] == '"' && strncmp(v + 1, want, n) == 0 && v[1 + n] == '"';
}

/* The deployer's status JSON (free with vigil_string_free). */
static char *status_of(const vigil_deployer *d) {
    char *json = NULL;
    size_t len = 0;
    OK(vigil_deployer_status_json(d, &json, &len));
    CHECK(json != NULL);
    CHECK(strlen(json) == len);
    return json;
}

/* The active bundle's content version, or -1 when none is active. */
static long long active_version(const vigil_deployer *d) {
    char *json = status_of(d);
    const char *active = json_value(json, "active");
    CHECK(active != NULL);
    long long v = strncmp(active, "null", 4) == 0 ? -1 : json_int(active, "content_version");
    vigil_string_free(json);
    return v;
}

/* ---- alerts ---- */

enum { MAX_KEPT = 8 };

/* What the callback saw. */
typedef struct collected {
    size_t n;
    size_t kept;
    char *json[MAX_KEPT];
    char rule[MAX_KEPT][32];
    vigil_severity severity[MAX_KEPT];
} collected;

static void collect(void *user, const vigil_alert *alert) {
    collected *c = user;
    CHECK(alert != NULL && alert->json != NULL && alert->rule_id != NULL);
    /* The JSON is one object without a trailing newline; the rule id is its "rule". */
    CHECK(alert->json_len > 2 && alert->json[0] == '{' && alert->json[alert->json_len - 1] == '}');
    CHECK(alert->rule_id_len > 0 && alert->rule_id_len < sizeof c->rule[0]);
    c->n++;
    if (c->kept == MAX_KEPT) return;
    char *copy = malloc(alert->json_len + 1);
    CHECK(copy != NULL);
    memcpy(copy, alert->json, alert->json_len);
    copy[alert->json_len] = '\0';
    c->json[c->kept] = copy;
    memcpy(c->rule[c->kept], alert->rule_id, alert->rule_id_len);
    c->rule[c->kept][alert->rule_id_len] = '\0';
    c->severity[c->kept] = alert->severity;
    /* The plain rule id is the JSON's "rule". */
    CHECK(json_str_is(copy, "rule", c->rule[c->kept]));
    c->kept++;
}

static void collected_clear(collected *c) {
    for (size_t i = 0; i < c->kept; i++) free(c->json[i]);
    memset(c, 0, sizeof *c);
}

/* The JSON of the alert of rule `rule`, or NULL. */
static const char *alert_of(const collected *c, const char *rule) {
    for (size_t i = 0; i < c->kept; i++)
        if (strcmp(c->rule[i], rule) == 0) return c->json[i];
    return NULL;
}

/* ---- building process_start events ---- */

/* A process_start builder with the fields the tests set, resolved once. */
typedef struct proc_builder {
    vigil_builder *b;
    vigil_event *ev;
    vigil_field time, host, pid, command_line, args, image;
} proc_builder;

static proc_builder proc_builder_new(const vigil_deployer *d) {
    proc_builder p = {0};
    OK(vigil_builder_new(d, S("process_start"), &p.b));
    OK(vigil_event_new(&p.ev));
    OK(vigil_builder_field(p.b, S("time"), &p.time));
    OK(vigil_builder_field(p.b, S("host"), &p.host));
    OK(vigil_builder_field(p.b, S("pid"), &p.pid));
    OK(vigil_builder_field(p.b, S("command_line"), &p.command_line));
    OK(vigil_builder_field(p.b, S("args"), &p.args));
    OK(vigil_builder_field(p.b, S("image"), &p.image));
    return p;
}

static void proc_builder_free(proc_builder *p) {
    vigil_event_free(p->ev);
    vigil_builder_free(p->b);
    memset(p, 0, sizeof *p);
}

/* Processes what p's builder holds; checks the alert count the call reports against the
 * callback's. Returns the alerts. */
static size_t process_built(const vigil_deployer *d, proc_builder *p, collected *c) {
    OK(vigil_builder_finish(p->b, p->ev));
    size_t before = c->n, alerts = 12345;
    OK(vigil_deployer_process(d, p->ev, collect, c, &alerts));
    CHECK(alerts == c->n - before);
    return alerts;
}

/* Builds and processes a process_start with this command line. */
static size_t run_cmd(const vigil_deployer *d, proc_builder *p, const char *cmd, collected *c) {
    OK(vigil_builder_set_int(p->b, p->time, 1732406400000000000));
    OK(vigil_builder_set_str(p->b, p->host, S("c-test-host")));
    OK(vigil_builder_set_int(p->b, p->pid, 4242));
    OK(vigil_builder_set_str(p->b, p->command_line, cmd, strlen(cmd)));
    return process_built(d, p, c);
}

/* Whether the deployer's running bundle still alerts on the marker (every refusal test ends
 * with this: the old bundle keeps running). */
static void expect_marker_alerts(const vigil_deployer *d) {
    proc_builder p = proc_builder_new(d);
    collected c = {0};
    CHECK(run_cmd(d, &p, "cmd /c vigil-c-marker", &c) == 1);
    CHECK(strcmp(c.rule[0], "c-marker") == 0);
    CHECK(c.severity[0] == VIGIL_SEVERITY_HIGH);
    collected_clear(&c);
    proc_builder_free(&p);
}

/* ---- shared fixtures ---- */

typedef struct fixtures {
    args a;
    bytes pubkey, v1, v2, other_key, needs_integrity, unsigned_, endpoint_toml, mapping_toml;
    char key_id[17];
} fixtures;

static vigil_trust *trust_with_key(const fixtures *fx) {
    vigil_trust *t = NULL;
    OK(vigil_trust_new(&t));
    OK(vigil_trust_add_key(t, (const char *)fx->pubkey.data, fx->pubkey.len));
    return t;
}

/* A deployer over the embedded endpoint schema with the default engine. */
static vigil_deployer *deployer_new(const fixtures *fx, vigil_engine engine) {
    vigil_trust *t = trust_with_key(fx);
    vigil_deployer *d = NULL;
    OK(vigil_deployer_new(NULL, t, engine, &d));
    vigil_trust_free(t); /* the deployer keeps a copy */
    return d;
}

static void load(vigil_deployer *d, const bytes *bundle, vigil_verdict want) {
    vigil_verdict v = VIGIL_VERDICT_REFUSED;
    OK(vigil_deployer_update(d, bundle->data, bundle->len, &v));
    CHECK(v == want);
}

/* The update must be refused with a code starting with code_prefix and a message holding
 * message_part (when not NULL), and leave the running bundle running. */
static void expect_refused(vigil_deployer *d, const uint8_t *bundle, size_t len,
                           const char *code_prefix, const char *message_part) {
    long long running = active_version(d);
    vigil_verdict v = VIGIL_VERDICT_ACTIVATED;
    EXPECT(vigil_deployer_update(d, bundle, len, &v), VIGIL_E_REFUSED);
    CHECK(v == VIGIL_VERDICT_REFUSED);
    const char *code = vigil_last_error_code();
    if (strncmp(code, code_prefix, strlen(code_prefix)) != 0) {
        fprintf(stderr, "refused with [%s] %s, expected %s...\n", code,
                vigil_last_error_message(), code_prefix);
        abort();
    }
    CHECK(vigil_last_error_message()[0] != '\0');
    CHECK(message_part == NULL || strstr(vigil_last_error_message(), message_part) != NULL);
    /* The refusal is counted by code in the status. */
    char code_copy[16];
    snprintf(code_copy, sizeof code_copy, "%s", code);
    char *json = status_of(d);
    const char *updates = json_value(json, "updates");
    CHECK(updates != NULL && json_value(updates, code_copy) != NULL);
    vigil_string_free(json);
    CHECK(active_version(d) == running);
    expect_marker_alerts(d);
}

/* ---- the tests ---- */

static void test_library(void) {
    TEST("library: ABI version, version, error state");
    CHECK(vigil_abi_version() == VIGIL_ABI_VERSION);
    CHECK(vigil_version() != NULL && vigil_version()[0] != '\0');
    CHECK(vigil_last_error_message() != NULL);
    CHECK(vigil_last_error_code() != NULL);
}

/* Every pointer argument of every function, NULL: VIGIL_E_NULL (or the documented meaning of
 * NULL), never a crash. */
static void test_nulls(const fixtures *fx) {
    TEST("NULL for every pointer argument");
    vigil_trust_free(NULL);
    vigil_schema_free(NULL);
    vigil_deployer_free(NULL);
    vigil_event_free(NULL);
    vigil_builder_free(NULL);
    vigil_decoder_free(NULL);
    vigil_string_free(NULL);

    vigil_trust *t = NULL;
    vigil_schema *s = NULL;
    vigil_deployer *d = NULL;
    vigil_builder *b = NULL;
    vigil_decoder *dec = NULL;
    vigil_event *ev = NULL;
    vigil_verdict v;
    vigil_field f = 0;
    char *json = NULL;
    size_t len = 0;

    EXPECT(vigil_trust_new(NULL), VIGIL_E_NULL);
    EXPECT_CODE("");
    CHECK(vigil_last_error_message()[0] != '\0');
    OK(vigil_trust_new(&t));
    EXPECT(vigil_trust_add_key(NULL, (const char *)fx->pubkey.data, fx->pubkey.len),
           VIGIL_E_NULL);
    EXPECT(vigil_trust_add_key(t, NULL, 10), VIGIL_E_NULL);
    EXPECT(vigil_trust_revoke(NULL, fx->key_id, 16), VIGIL_E_NULL);
    EXPECT(vigil_trust_revoke(t, NULL, 16), VIGIL_E_NULL);
    EXPECT(vigil_trust_allow_unsigned(NULL, true), VIGIL_E_NULL);
    OK(vigil_trust_add_key(t, (const char *)fx->pubkey.data, fx->pubkey.len));

    EXPECT(vigil_schema_shipped(NULL, 8, &s), VIGIL_E_NULL);
    EXPECT(vigil_schema_shipped(S("endpoint"), NULL), VIGIL_E_NULL);
    EXPECT(vigil_schema_from_toml(NULL, 10, &s), VIGIL_E_NULL);
    EXPECT(vigil_schema_from_toml((const char *)fx->endpoint_toml.data, fx->endpoint_toml.len,
                                  NULL),
           VIGIL_E_NULL);
    CHECK(s == NULL);

    EXPECT(vigil_deployer_new(NULL, NULL, VIGIL_ENGINE_DEFAULT, &d), VIGIL_E_NULL);
    EXPECT(vigil_deployer_new(NULL, t, VIGIL_ENGINE_DEFAULT, NULL), VIGIL_E_NULL);
    CHECK(d == NULL);
    OK(vigil_deployer_new(NULL, t, VIGIL_ENGINE_DEFAULT, &d));
    EXPECT(vigil_deployer_set_trust(NULL, t), VIGIL_E_NULL);
    EXPECT(vigil_deployer_set_trust(d, NULL), VIGIL_E_NULL);
    EXPECT(vigil_deployer_update(NULL, fx->v1.data, fx->v1.len, &v), VIGIL_E_NULL);
    EXPECT(vigil_deployer_update(d, NULL, 10, &v), VIGIL_E_NULL);
    EXPECT(vigil_deployer_rollback(NULL, &v), VIGIL_E_NULL);
    EXPECT(vigil_deployer_status_json(NULL, &json, &len), VIGIL_E_NULL);
    EXPECT(vigil_deployer_status_json(d, NULL, &len), VIGIL_E_NULL);
    CHECK(json == NULL);
    /* len may be NULL. */
    OK(vigil_deployer_status_json(d, &json, NULL));
    vigil_string_free(json);
    json = NULL;
    /* verdict may be NULL. */
    OK(vigil_deployer_update(d, fx->v1.data, fx->v1.len, NULL));
    EXPECT(vigil_deployer_rollback(d, NULL), VIGIL_E_REFUSED); /* nothing to go back to */
    EXPECT_CODE("E0813");

    EXPECT(vigil_event_new(NULL), VIGIL_E_NULL);
    OK(vigil_event_new(&ev));
    EXPECT(vigil_builder_new(NULL, S("process_start"), &b), VIGIL_E_NULL);
    EXPECT(vigil_builder_new(d, NULL, 13, &b), VIGIL_E_NULL);
    EXPECT(vigil_builder_new(d, S("process_start"), NULL), VIGIL_E_NULL);
    CHECK(b == NULL);
    OK(vigil_builder_new(d, S("process_start"), &b));
    EXPECT(vigil_builder_field(NULL, S("pid"), &f), VIGIL_E_NULL);
    EXPECT(vigil_builder_field(b, NULL, 3, &f), VIGIL_E_NULL);
    EXPECT(vigil_builder_field(b, S("pid"), NULL), VIGIL_E_NULL);
    vigil_field cmd = 0, pid = 0, ip = 0, args = 0, initiated = 0;
    OK(vigil_builder_field(b, S("command_line"), &cmd));
    OK(vigil_builder_field(b, S("pid"), &pid));
    OK(vigil_builder_field(b, S("args"), &args));
    EXPECT(vigil_builder_set_str(NULL, cmd, S("x")), VIGIL_E_NULL);
    EXPECT(vigil_builder_set_str(b, cmd, NULL, 1), VIGIL_E_NULL);
    EXPECT(vigil_builder_set_int(NULL, pid, 1), VIGIL_E_NULL);
    EXPECT(vigil_builder_set_bool(NULL, pid, true), VIGIL_E_NULL);
    EXPECT(vigil_builder_push_str(NULL, args, S("x")), VIGIL_E_NULL);
    EXPECT(vigil_builder_push_str(b, args, NULL, 1), VIGIL_E_NULL);
    EXPECT(vigil_builder_push_int(NULL, args, 1), VIGIL_E_NULL);
    EXPECT(vigil_builder_push_ip(NULL, args, S("10.0.0.1")), VIGIL_E_NULL);
    EXPECT(vigil_builder_push_ip(b, args, NULL, 8), VIGIL_E_NULL);
    EXPECT(vigil_builder_set_record_id(NULL, 1), VIGIL_E_NULL);
    /* NULL with length 0 is the empty string. */
    OK(vigil_builder_set_str(b, cmd, NULL, 0));
    OK(vigil_builder_push_str(b, args, NULL, 0));
    EXPECT(vigil_builder_finish(NULL, ev), VIGIL_E_NULL);
    EXPECT(vigil_builder_finish(b, NULL), VIGIL_E_NULL);
    OK(vigil_builder_finish(b, ev));
    EXPECT(vigil_deployer_process(NULL, ev, collect, NULL, NULL), VIGIL_E_NULL);
    EXPECT(vigil_deployer_process(d, NULL, collect, NULL, NULL), VIGIL_E_NULL);
    /* on_alert, user and alerts may be NULL. */
    OK(vigil_deployer_process(d, ev, NULL, NULL, NULL));

    vigil_builder *nb = NULL;
    OK(vigil_builder_new(d, S("network_connect"), &nb));
    OK(vigil_builder_field(nb, S("dest_ip"), &ip));
    OK(vigil_builder_field(nb, S("initiated"), &initiated));
    EXPECT(vigil_builder_set_ip(NULL, ip, S("10.0.0.1")), VIGIL_E_NULL);
    EXPECT(vigil_builder_set_ip(nb, ip, NULL, 8), VIGIL_E_NULL);
    EXPECT(vigil_builder_set_bool(NULL, initiated, true), VIGIL_E_NULL);
    vigil_builder_free(nb);

    EXPECT(vigil_decoder_new(NULL, S("sysmon"), &dec), VIGIL_E_NULL);
    EXPECT(vigil_decoder_new(d, NULL, 6, &dec), VIGIL_E_NULL);
    EXPECT(vigil_decoder_new(d, S("sysmon"), NULL), VIGIL_E_NULL);
    const char *mapping = (const char *)fx->mapping_toml.data;
    EXPECT(vigil_decoder_new_toml(NULL, mapping, fx->mapping_toml.len, &dec), VIGIL_E_NULL);
    EXPECT(vigil_decoder_new_toml(d, NULL, 5, &dec), VIGIL_E_NULL);
    EXPECT(vigil_decoder_new_toml(d, mapping, fx->mapping_toml.len, NULL), VIGIL_E_NULL);
    CHECK(dec == NULL);
    /* A NULL mapping (length 0) is the native form. */
    OK(vigil_decoder_new(d, NULL, 0, &dec));
    EXPECT(vigil_deployer_process_json(NULL, dec, S("{}"), NULL, NULL, NULL), VIGIL_E_NULL);
    EXPECT(vigil_deployer_process_json(d, NULL, S("{}"), NULL, NULL, NULL), VIGIL_E_NULL);
    EXPECT(vigil_deployer_process_json(d, dec, NULL, 2, NULL, NULL, NULL), VIGIL_E_NULL);
    EXPECT(vigil_decoder_set_file(NULL, S("events.jsonl")), VIGIL_E_NULL);
    EXPECT(vigil_decoder_set_file(dec, NULL, 5), VIGIL_E_NULL);
    OK(vigil_decoder_set_file(dec, NULL, 0)); /* clears it */
    /* A NULL line of length 0 is a blank line: nothing run. */
    size_t alerts = 99;
    OK(vigil_deployer_process_json(d, dec, NULL, 0, NULL, NULL, &alerts));
    CHECK(alerts == 0);

    /* After all this the deployer works. */
    expect_marker_alerts(d);
    vigil_decoder_free(dec);
    vigil_builder_free(b);
    vigil_event_free(ev);
    vigil_deployer_free(d);
    vigil_trust_free(t);
}

/* Malformed arguments other than NULL: codes, never a crash. */
static void test_bad_arguments(const fixtures *fx) {
    TEST("malformed keys, key ids, schemas, mappings, engines");
    vigil_trust *t = NULL;
    OK(vigil_trust_new(&t));
    EXPECT(vigil_trust_add_key(t, S("not a key")), VIGIL_E_INVALID);
    EXPECT_CODE("E0516");
    EXPECT(vigil_trust_add_key(t, S("\xff\xfe")), VIGIL_E_UTF8);
    EXPECT(vigil_trust_revoke(t, S("xyz")), VIGIL_E_INVALID);
    EXPECT(vigil_trust_revoke(t, S("\xff")), VIGIL_E_UTF8);
    /* Whitespace around the key text is ignored. */
    size_t n = fx->pubkey.len;
    char *padded = malloc(n + 4);
    CHECK(padded != NULL);
    memcpy(padded, "\n  ", 3);
    memcpy(padded + 3, fx->pubkey.data, n);
    padded[n + 3] = '\n';
    OK(vigil_trust_add_key(t, padded, n + 4));
    free(padded);

    vigil_schema *s = NULL;
    EXPECT(vigil_schema_shipped(S("no-such-schema"), &s), VIGIL_E_UNKNOWN);
    EXPECT(vigil_schema_from_toml(S("this is = not [ a schema"), &s), VIGIL_E_INVALID);
    CHECK(strncmp(vigil_last_error_code(), "E06", 3) == 0);
    EXPECT(vigil_schema_from_toml(S("\xff"), &s), VIGIL_E_UTF8);
    CHECK(s == NULL);
    OK(vigil_schema_shipped(S("linux-ebpf"), &s));
    vigil_schema_free(s);
    OK(vigil_schema_shipped(S("endpoint"), &s));

    vigil_deployer *d = NULL;
    EXPECT(vigil_deployer_new(s, t, (vigil_engine)7, &d), VIGIL_E_INVALID);
    CHECK(d == NULL);
    OK(vigil_deployer_new(s, t, VIGIL_ENGINE_DEFAULT, &d));
    vigil_schema_free(s); /* the deployer keeps a copy */

    vigil_decoder *dec = NULL;
    EXPECT(vigil_decoder_new(d, S("no-such-mapping"), &dec), VIGIL_E_INVALID);
    EXPECT(vigil_decoder_new_toml(d, S("[[[ not toml"), &dec), VIGIL_E_INVALID);
    EXPECT_CODE("E0708");
    CHECK(dec == NULL);
    OK(vigil_decoder_new(d, S("sysmon"), &dec));
    vigil_decoder_free(dec);
    OK(vigil_decoder_new(d, S("windows"), &dec));
    vigil_decoder_free(dec);
    OK(vigil_decoder_new_toml(d, (const char *)fx->mapping_toml.data, fx->mapping_toml.len,
                              &dec));
    vigil_decoder_free(dec);
    OK(vigil_decoder_new(d, S(""), &dec));

    /* Before any bundle: events are dropped (E0811), a rollback has nothing to go back to. */
    vigil_verdict v = VIGIL_VERDICT_ACTIVATED;
    EXPECT(vigil_deployer_rollback(d, &v), VIGIL_E_REFUSED);
    EXPECT_CODE("E0813");
    CHECK(v == VIGIL_VERDICT_REFUSED);
    CHECK(active_version(d) == -1);
    EXPECT(vigil_deployer_process_json(d, dec,
                                       S("{\"event\": \"process_start\", \"pid\": 1}"),
                                       collect, NULL, NULL),
           VIGIL_E_DROPPED);
    EXPECT_CODE("E0811");
    /* Bytes that are no bundle at all, and no bytes. */
    EXPECT(vigil_deployer_update(d, (const uint8_t *)"garbage", 7, &v), VIGIL_E_REFUSED);
    CHECK(strncmp(vigil_last_error_code(), "E05", 3) == 0);
    EXPECT(vigil_deployer_update(d, NULL, 0, &v), VIGIL_E_REFUSED);
    CHECK(strncmp(vigil_last_error_code(), "E05", 3) == 0);

    /* Unsigned bundles load only when the trust store allows them (development). */
    EXPECT(vigil_deployer_update(d, fx->unsigned_.data, fx->unsigned_.len, &v), VIGIL_E_REFUSED);
    EXPECT_CODE("E0508");
    OK(vigil_trust_allow_unsigned(t, true));
    OK(vigil_deployer_set_trust(d, t));
    load(d, &fx->unsigned_, VIGIL_VERDICT_ACTIVATED);
    expect_marker_alerts(d);
    OK(vigil_trust_allow_unsigned(t, false));
    OK(vigil_deployer_set_trust(d, t));
    /* The same program signed, same content version: accepted (another bundle id). */
    load(d, &fx->v1, VIGIL_VERDICT_ACTIVATED);
    /* JSON lines: blank, not JSON, unknown type, invalid UTF-8, then a good one. */
    collected c = {0};
    size_t alerts = 99;
    OK(vigil_deployer_process_json(d, dec, S("   "), collect, &c, &alerts));
    CHECK(alerts == 0);
    EXPECT(vigil_deployer_process_json(d, dec, S("{not json"), collect, &c, &alerts),
           VIGIL_E_DECODE);
    CHECK(strncmp(vigil_last_error_code(), "E07", 3) == 0);
    EXPECT(vigil_deployer_process_json(d, dec, S("{\"event\": \"no_such_type\"}"), collect, &c,
                                       &alerts),
           VIGIL_E_DECODE);
    EXPECT_CODE("E0702");
    /* Invalid UTF-8 inside a line is repaired (U+FFFD), not refused. */
    OK(vigil_deployer_process_json(
        d, dec, S("{\"event\": \"process_start\", \"command_line\": \"\xff vigil-c-marker\"}"),
        collect, &c, &alerts));
    CHECK(alerts == 1 && strstr(c.json[0], "\xef\xbf\xbd vigil-c-marker") != NULL);
    collected_clear(&c);
    OK(vigil_deployer_process_json(
        d, dec, S("{\"event\": \"process_start\", \"pid\": 7, \"command_line\": \"vigil-c-marker\"}"),
        collect, &c, &alerts));
    CHECK(alerts == 1 && c.n == 1 && strcmp(c.rule[0], "c-marker") == 0);
    CHECK(json_int(c.json[0], "pid") == 7);
    collected_clear(&c);
    /* The decoder names the file and counts its lines from 1 in the alerts' source. */
    OK(vigil_decoder_set_file(dec, S("events.jsonl")));
    OK(vigil_deployer_process_json(d, dec, S(""), collect, &c, &alerts));
    OK(vigil_deployer_process_json(
        d, dec, S("{\"event\": \"process_start\", \"command_line\": \"vigil-c-marker\"}"),
        collect, &c, &alerts));
    CHECK(alerts == 1);
    const char *source = json_value(c.json[0], "source");
    CHECK(source != NULL && json_str_is(source, "file", "events.jsonl"));
    CHECK(json_int(source, "line") == 2);
    collected_clear(&c);

    vigil_decoder_free(dec);
    vigil_deployer_free(d);
    vigil_trust_free(t);
}

/* Refused bundles (tampered, wrong key, revoked key, a field this host lacks), each leaving
 * the running bundle running; then an update and a rollback. */
static void test_refusals_update_rollback(const fixtures *fx) {
    TEST("refused bundles keep the running one; update to v2, roll back to v1");
    /* The host: the endpoint schema without `integrity_level` (an older sensor). */
    const char *toml = (const char *)fx->endpoint_toml.data;
    size_t toml_len = fx->endpoint_toml.len;
    char *host = malloc(toml_len + 1);
    CHECK(host != NULL);
    size_t host_len = 0, dropped = 0;
    for (size_t i = 0; i < toml_len;) {
        const char *nl = memchr(toml + i, '\n', toml_len - i);
        size_t end = nl ? (size_t)(nl - toml) + 1 : toml_len;
        char line[4096];
        size_t ll = end - i < sizeof line - 1 ? end - i : sizeof line - 1;
        memcpy(line, toml + i, ll);
        line[ll] = '\0';
        if (strstr(line, "name = \"integrity_level\"")) {
            dropped++;
        } else {
            memcpy(host + host_len, toml + i, end - i);
            host_len += end - i;
        }
        i = end;
    }
    CHECK(dropped >= 1);
    vigil_schema *s = NULL;
    OK(vigil_schema_from_toml(host, host_len, &s));
    free(host);

    vigil_trust *t = trust_with_key(fx);
    vigil_deployer *d = NULL;
    OK(vigil_deployer_new(s, t, VIGIL_ENGINE_DEFAULT, &d));
    vigil_schema_free(s);

    load(d, &fx->v1, VIGIL_VERDICT_ACTIVATED);
    CHECK(active_version(d) == 1);
    expect_marker_alerts(d);
    /* The same bundle again: unchanged. */
    load(d, &fx->v1, VIGIL_VERDICT_UNCHANGED);

    /* Tampered: one byte of the signed content flipped (the byte before the signature
     * section: kind 1 + length 4 + 64 bytes). */
    uint8_t *bad = malloc(fx->v2.len);
    CHECK(bad != NULL && fx->v2.len > 100);
    memcpy(bad, fx->v2.data, fx->v2.len);
    bad[fx->v2.len - 70] ^= 0x01;
    expect_refused(d, bad, fx->v2.len, "E0511", NULL);
    /* Tampered signature. */
    memcpy(bad, fx->v2.data, fx->v2.len);
    bad[fx->v2.len - 1] ^= 0x80;
    expect_refused(d, bad, fx->v2.len, "E0511", NULL);
    /* Cut short. */
    expect_refused(d, fx->v2.data, fx->v2.len - 10, "E05", NULL);
    /* Header bytes changed: not a bundle. */
    memcpy(bad, fx->v2.data, fx->v2.len);
    bad[0] ^= 0xff;
    expect_refused(d, bad, fx->v2.len, "E0501", NULL);
    free(bad);

    /* Signed with a key this host does not trust. */
    expect_refused(d, fx->other_key.data, fx->other_key.len, "E0509", NULL);

    /* Reads a field this host lacks. */
    expect_refused(d, fx->needs_integrity.data, fx->needs_integrity.len, "E0623",
                   "integrity_level");

    /* The key revoked: v2 refused; trust restored: v2 activates. */
    vigil_trust *revoked = trust_with_key(fx);
    OK(vigil_trust_revoke(revoked, fx->key_id, 16));
    OK(vigil_deployer_set_trust(d, revoked));
    vigil_trust_free(revoked);
    expect_refused(d, fx->v2.data, fx->v2.len, "E0510", NULL);
    OK(vigil_deployer_set_trust(d, t));

    collected c = {0};
    proc_builder p = proc_builder_new(d);
    CHECK(run_cmd(d, &p, "vigil-c-v2", &c) == 0);

    load(d, &fx->v2, VIGIL_VERDICT_ACTIVATED);
    CHECK(active_version(d) == 2);
    CHECK(run_cmd(d, &p, "vigil-c-v2", &c) == 1);
    CHECK(strcmp(c.rule[0], "c-v2-only") == 0 && c.severity[0] == VIGIL_SEVERITY_MEDIUM);
    const char *bundle = json_value(c.json[0], "bundle");
    CHECK(bundle != NULL && json_int(bundle, "content_version") == 2);
    collected_clear(&c);
    expect_marker_alerts(d);

    /* Back to v1: the v2 rule is gone, the status says so. */
    vigil_verdict v = VIGIL_VERDICT_REFUSED;
    OK(vigil_deployer_rollback(d, &v));
    CHECK(v == VIGIL_VERDICT_ACTIVATED);
    CHECK(active_version(d) == 1);
    char *json = status_of(d);
    const char *log = json_value(json, "log");
    CHECK(log != NULL && strstr(log, "\"rolled_back\"") != NULL);
    CHECK(json_str_is(json, "engine", fx->a.engine));
    vigil_string_free(json);
    CHECK(run_cmd(d, &p, "vigil-c-v2", &c) == 0);
    expect_marker_alerts(d);

    proc_builder_free(&p);
    vigil_deployer_free(d);
    vigil_trust_free(t);
}

/* Builder errors: unknown names, wrong types, bounds, UTF-8, and events of another deployer. */
static void test_builder(const fixtures *fx) {
    TEST("builder: unknown fields, wrong types, strings and lists over their bounds, UTF-8");
    vigil_deployer *d = deployer_new(fx, VIGIL_ENGINE_DEFAULT);
    load(d, &fx->v1, VIGIL_VERDICT_ACTIVATED);

    vigil_builder *b = NULL;
    EXPECT(vigil_builder_new(d, S("no_such_event"), &b), VIGIL_E_UNKNOWN);
    EXPECT(vigil_builder_new(d, S("process_start\xff"), &b), VIGIL_E_UTF8);
    CHECK(b == NULL);

    proc_builder p = proc_builder_new(d);
    vigil_field f = 0;
    EXPECT(vigil_builder_field(p.b, S("no_such_field"), &f), VIGIL_E_UNKNOWN);
    EXPECT(vigil_builder_field(p.b, S("\xc3"), &f), VIGIL_E_UTF8);
    EXPECT(vigil_builder_field(p.b, NULL, 0, &f), VIGIL_E_UNKNOWN);
    /* A field of network_connect is not one of process_start. */
    EXPECT(vigil_builder_field(p.b, S("dest_ip"), &f), VIGIL_E_UNKNOWN);

    /* A handle that was never resolved. */
    const vigil_field bogus = 0xFFFFFFFFu;
    EXPECT(vigil_builder_set_str(p.b, bogus, S("x")), VIGIL_E_UNKNOWN);
    EXPECT(vigil_builder_set_int(p.b, bogus, 1), VIGIL_E_UNKNOWN);
    EXPECT(vigil_builder_set_bool(p.b, bogus, true), VIGIL_E_UNKNOWN);
    EXPECT(vigil_builder_set_ip(p.b, bogus, S("10.0.0.1")), VIGIL_E_UNKNOWN);
    EXPECT(vigil_builder_push_str(p.b, bogus, S("x")), VIGIL_E_UNKNOWN);

    /* Wrong types: pid is an int, command_line a string, args a list of strings. */
    EXPECT(vigil_builder_set_str(p.b, p.pid, S("42")), VIGIL_E_TYPE);
    EXPECT(vigil_builder_set_int(p.b, p.command_line, 42), VIGIL_E_TYPE);
    EXPECT(vigil_builder_set_bool(p.b, p.command_line, true), VIGIL_E_TYPE);
    EXPECT(vigil_builder_set_ip(p.b, p.command_line, S("10.0.0.1")), VIGIL_E_TYPE);
    EXPECT(vigil_builder_push_str(p.b, p.command_line, S("x")), VIGIL_E_TYPE);
    EXPECT(vigil_builder_set_str(p.b, p.args, S("x")), VIGIL_E_TYPE);
    EXPECT(vigil_builder_set_int(p.b, p.args, 1), VIGIL_E_TYPE);
    EXPECT(vigil_builder_push_int(p.b, p.args, 1), VIGIL_E_TYPE);
    EXPECT(vigil_builder_push_ip(p.b, p.args, S("10.0.0.1")), VIGIL_E_TYPE);
    EXPECT(vigil_builder_push_int(p.b, bogus, 1), VIGIL_E_UNKNOWN);

    /* Invalid UTF-8: refused, the field keeps what it had. */
    OK(vigil_builder_set_str(p.b, p.command_line, S("vigil-c-marker ok")));
    EXPECT(vigil_builder_set_str(p.b, p.command_line, S("vigil-c-marker \xff\xfe")), VIGIL_E_UTF8);
    EXPECT(vigil_builder_set_str(p.b, p.command_line, S("vigil-c-marker \xed\xa0\x80")),
           VIGIL_E_UTF8); /* a UTF-16 surrogate */
    EXPECT(vigil_builder_push_str(p.b, p.args, S("\xc0\xaf")), VIGIL_E_UTF8); /* overlong */
    collected c = {0};
    CHECK(process_built(d, &p, &c) == 1);
    CHECK(strstr(c.json[0], "vigil-c-marker ok") != NULL);
    collected_clear(&c);

    /* finish starts the builder afresh: an event with nothing set fires nothing. */
    CHECK(process_built(d, &p, &c) == 0);
    /* A record id stamps this event's alerts' source, and only this event's. */
    OK(vigil_builder_set_record_id(p.b, 987654321));
    OK(vigil_builder_set_str(p.b, p.command_line, S("vigil-c-marker")));
    CHECK(process_built(d, &p, &c) == 1);
    const char *source = json_value(c.json[0], "source");
    CHECK(source != NULL && json_int(source, "record_id") == 987654321);
    collected_clear(&c);
    OK(vigil_builder_set_str(p.b, p.command_line, S("vigil-c-marker")));
    CHECK(process_built(d, &p, &c) == 1);
    source = json_value(c.json[0], "source");
    CHECK(source != NULL && strncmp(source, "null", 4) == 0);
    collected_clear(&c);
    /* Setting a field twice keeps the last value. */
    OK(vigil_builder_set_str(p.b, p.command_line, S("vigil-c-marker first")));
    OK(vigil_builder_set_str(p.b, p.command_line, S("second")));
    CHECK(process_built(d, &p, &c) == 0);

    /* A string over its field's bound (host: 255 bytes) is cut, flagged, and says so:
     * VIGIL_TRUNCATED, and the rule testing truncated(host) fires. 253 'h', then "é" on bytes
     * 253-254 and another on 255-256: the cut at 255 is a char boundary. */
    char host[300];
    memset(host, 'h', sizeof host);
    memcpy(host + 253, "\xc3\xa9\xc3\xa9", 4);
    EXPECT(vigil_builder_set_str(p.b, p.host, host, sizeof host), VIGIL_TRUNCATED);
    OK(vigil_builder_set_str(p.b, p.command_line, S("vigil-c-marker")));
    CHECK(process_built(d, &p, &c) == 2);
    const char *cut = alert_of(&c, "c-host-cut");
    CHECK(cut != NULL && alert_of(&c, "c-marker") != NULL);
    const char *h = json_value(cut, "host");
    CHECK(h != NULL && h[0] == '"' && memcmp(h + 1, host, 255) == 0 && h[256] == '"');
    collected_clear(&c);

    /* A char across the bound is dropped whole: 254 'h' + "é" (bytes 254-255) is cut to 254. */
    memset(host, 'h', sizeof host);
    memcpy(host + 254, "\xc3\xa9", 2);
    EXPECT(vigil_builder_set_str(p.b, p.host, host, 256), VIGIL_TRUNCATED);
    CHECK(process_built(d, &p, &c) == 1);
    h = json_value(c.json[0], "host");
    CHECK(h != NULL && h[0] == '"' && memcmp(h + 1, host, 254) == 0 && h[255] == '"');
    collected_clear(&c);

    /* Exactly at the bound: not cut. */
    memset(host, 'h', sizeof host);
    EXPECT(vigil_builder_set_str(p.b, p.host, host, 255), VIGIL_OK);
    CHECK(process_built(d, &p, &c) == 0);

    /* A list over its item bound (args: 64 items): the 65th is dropped, VIGIL_TRUNCATED. */
    for (int i = 0; i < 64; i++) {
        char item[16];
        int n = snprintf(item, sizeof item, "a%d", i);
        OK(vigil_builder_push_str(p.b, p.args, item, (size_t)n));
    }
    EXPECT(vigil_builder_push_str(p.b, p.args, S("one too many")), VIGIL_TRUNCATED);
    OK(vigil_builder_set_str(p.b, p.command_line, S("vigil-c-args")));
    CHECK(process_built(d, &p, &c) == 1);
    /* c-args-full fires on exactly 64 items: the 65th was dropped. */
    CHECK(strcmp(c.rule[0], "c-args-full") == 0 && c.severity[0] == VIGIL_SEVERITY_INFORMATIONAL);
    collected_clear(&c);

    /* ip: text, v4 or v6; anything else is invalid. */
    vigil_builder *nb = NULL;
    vigil_field ip = 0, port = 0, initiated = 0, image = 0;
    OK(vigil_builder_new(d, S("network_connect"), &nb));
    OK(vigil_builder_field(nb, S("dest_ip"), &ip));
    OK(vigil_builder_field(nb, S("dest_port"), &port));
    OK(vigil_builder_field(nb, S("initiated"), &initiated));
    OK(vigil_builder_field(nb, S("image"), &image));
    EXPECT(vigil_builder_set_ip(nb, ip, S("not-an-ip")), VIGIL_E_INVALID);
    EXPECT(vigil_builder_set_ip(nb, ip, S("10.0.0.1/8")), VIGIL_E_INVALID);
    EXPECT(vigil_builder_set_ip(nb, ip, S("")), VIGIL_E_INVALID);
    EXPECT(vigil_builder_set_ip(nb, ip, S("\xff")), VIGIL_E_UTF8);
    EXPECT(vigil_builder_set_ip(nb, image, S("10.0.0.1")), VIGIL_E_TYPE);
    EXPECT(vigil_builder_set_bool(nb, ip, true), VIGIL_E_TYPE);
    EXPECT(vigil_builder_set_int(nb, initiated, 1), VIGIL_E_TYPE);
    OK(vigil_builder_set_ip(nb, ip, S("2001:db8::1")));
    OK(vigil_builder_set_ip(nb, ip, S("10.0.0.1")));
    OK(vigil_builder_set_bool(nb, initiated, true));
    OK(vigil_builder_set_int(nb, port, 4444));
    vigil_event *ev = NULL;
    OK(vigil_event_new(&ev));
    OK(vigil_builder_finish(nb, ev));
    size_t alerts = 9;
    OK(vigil_deployer_process(d, ev, collect, &c, &alerts));
    CHECK(alerts == 0); /* no v1 rule reads network_connect */

    /* An event built for another deployer's schema: refused, not misread. */
    vigil_trust *t = trust_with_key(fx);
    vigil_schema *ebpf = NULL;
    OK(vigil_schema_shipped(S("linux-ebpf"), &ebpf));
    vigil_deployer *other = NULL;
    OK(vigil_deployer_new(ebpf, t, VIGIL_ENGINE_DEFAULT, &other));
    vigil_schema_free(ebpf);
    vigil_trust_free(t);
    vigil_builder *ob = NULL;
    OK(vigil_builder_new(other, S("process_start"), &ob));
    OK(vigil_builder_finish(ob, ev));
    EXPECT(vigil_deployer_process(d, ev, collect, &c, NULL), VIGIL_E_STATE);
    CHECK(c.n == 0);
    vigil_builder_free(ob);
    vigil_deployer_free(other);

    /* A builder outlives its deployer (it keeps the schema); its events run nowhere else. */
    vigil_deployer *gone = deployer_new(fx, VIGIL_ENGINE_DEFAULT);
    proc_builder orphan = proc_builder_new(gone);
    vigil_deployer_free(gone);
    OK(vigil_builder_set_str(orphan.b, orphan.command_line, S("vigil-c-marker")));
    OK(vigil_builder_finish(orphan.b, orphan.ev));
    EXPECT(vigil_deployer_process(d, orphan.ev, collect, &c, NULL), VIGIL_E_STATE);
    proc_builder_free(&orphan);

    /* An event never filled. */
    vigil_event *empty = NULL;
    OK(vigil_event_new(&empty));
    EXPECT(vigil_deployer_process(d, empty, collect, &c, NULL), VIGIL_E_STATE);
    vigil_event_free(empty);

    vigil_event_free(ev);
    vigil_builder_free(nb);
    proc_builder_free(&p);
    vigil_deployer_free(d);
}

/* One deployer shared by N threads, each with its own builder, event and decoder. */
typedef struct worker {
    const vigil_deployer *d;
    int index, events;
    size_t alerts_reported; /* by the process calls */
    collected seen;         /* by the callback */
    bool ok;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    proc_builder p = proc_builder_new(w->d);
    vigil_decoder *dec = NULL;
    OK(vigil_decoder_new(w->d, NULL, 0, &dec));
    for (int i = 0; i < w->events; i++) {
        char text[128];
        size_t alerts = 0;
        if (i % 2 == 0) {
            /* Half built by hand... */
            int n = snprintf(text, sizeof text, "worker %d event %d vigil-c-marker", w->index, i);
            OK(vigil_builder_set_int(p.b, p.pid, 1000 * w->index + i));
            OK(vigil_builder_set_str(p.b, p.command_line, text, (size_t)n));
            OK(vigil_builder_finish(p.b, p.ev));
            OK(vigil_deployer_process(w->d, p.ev, collect, &w->seen, &alerts));
        } else {
            /* ...half decoded from JSON. */
            int n = snprintf(text, sizeof text,
                             "{\"event\":\"process_start\",\"pid\":%d,"
                             "\"command_line\":\"vigil-c-marker %d\"}",
                             1000 * w->index + i, i);
            OK(vigil_deployer_process_json(w->d, dec, text, (size_t)n, collect, &w->seen,
                                           &alerts));
        }
        w->alerts_reported += alerts;
    }
    /* A panic on this thread is caught too, and the thread's error is its own. */
    EXPECT(vigil_debug_panic(), VIGIL_E_PANIC);
    vigil_decoder_free(dec);
    proc_builder_free(&p);
    w->ok = true;
    return NULL;
}

static void test_threads(const fixtures *fx) {
    TEST("alerts from several threads sharing one deployer");
    vigil_deployer *d = deployer_new(fx, VIGIL_ENGINE_DEFAULT);
    load(d, &fx->v1, VIGIL_VERDICT_ACTIVATED);
    int n = fx->a.threads;
    worker *ws = calloc((size_t)n, sizeof *ws);
    pthread_t *ids = calloc((size_t)n, sizeof *ids);
    CHECK(ws != NULL && ids != NULL);
    for (int i = 0; i < n; i++) {
        ws[i].d = d;
        ws[i].index = i;
        ws[i].events = fx->a.per_thread;
        CHECK(pthread_create(&ids[i], NULL, work, &ws[i]) == 0);
    }
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        CHECK(pthread_join(ids[i], NULL) == 0);
        CHECK(ws[i].ok);
        CHECK(ws[i].seen.n == (size_t)fx->a.per_thread);
        CHECK(ws[i].alerts_reported == (size_t)fx->a.per_thread);
        for (size_t k = 0; k < ws[i].seen.kept; k++) {
            CHECK(strcmp(ws[i].seen.rule[k], "c-marker") == 0);
        }
        total += ws[i].seen.n;
        collected_clear(&ws[i].seen);
    }
    CHECK(total == (size_t)n * (size_t)fx->a.per_thread);
    char *json = status_of(d);
    const char *counted = json_value(json, "alerts");
    CHECK(counted != NULL && json_int(counted, "total") == (long long)total);
    const char *events = json_value(json, "events");
    CHECK(events != NULL && json_int(events, "evaluated") == (long long)total);
    CHECK(json_int(events, "received") == (long long)total);
    vigil_string_free(json);
    free(ids);
    free(ws);
    vigil_deployer_free(d);
}

static void test_panic(const fixtures *fx) {
    TEST("a panic inside Vigil is caught and the library keeps working");
    vigil_deployer *d = deployer_new(fx, VIGIL_ENGINE_DEFAULT);
    load(d, &fx->v1, VIGIL_VERDICT_ACTIVATED);
    expect_marker_alerts(d);
    EXPECT(vigil_debug_panic(), VIGIL_E_PANIC);
    CHECK(vigil_last_error_message()[0] != '\0');
    EXPECT(vigil_debug_panic(), VIGIL_E_PANIC);
    expect_marker_alerts(d);
    /* The error state is replaced by the next call's. */
    vigil_trust *t = NULL;
    EXPECT(vigil_trust_new(NULL), VIGIL_E_NULL);
    CHECK(vigil_last_error_message()[0] != '\0');
    OK(vigil_trust_new(&t));
    CHECK(vigil_last_error_message()[0] == '\0' && vigil_last_error_code()[0] == '\0');
    vigil_trust_free(t);
    vigil_deployer_free(d);
}

static void test_engines(const fixtures *fx) {
    TEST("engines: the status names the engine asked for");
    struct {
        vigil_engine engine;
        const char *name;
    } cases[] = {
        {VIGIL_ENGINE_DEFAULT, fx->a.engine},
        {VIGIL_ENGINE_INTERPRETER, "interpreter"},
        {VIGIL_ENGINE_JIT, "jit"},
    };
    bool jit_built = strcmp(fx->a.engine, "jit") == 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vigil_trust *t = trust_with_key(fx);
        vigil_deployer *d = NULL;
        vigil_status st = vigil_deployer_new(NULL, t, cases[i].engine, &d);
        vigil_trust_free(t);
        if (cases[i].engine == VIGIL_ENGINE_JIT && !jit_built) {
            /* A library without the JIT says so instead of running another engine. */
            CHECK(st == VIGIL_E_INVALID && d == NULL);
            continue;
        }
        EXPECT(st, VIGIL_OK);
        load(d, &fx->v1, VIGIL_VERDICT_ACTIVATED);
        char *json = status_of(d);
        if (!json_str_is(json, "engine", cases[i].name)) {
            fprintf(stderr, "engine %d: expected \"%s\" in %s\n", (int)cases[i].engine,
                    cases[i].name, json);
            abort();
        }
        CHECK(json_int(json, "abi_version") == VIGIL_ABI_VERSION);
        CHECK(json_str_is(json, "version", vigil_version()));
        vigil_string_free(json);
        expect_marker_alerts(d);
        vigil_deployer_free(d);
    }
}

int main(int argc, char **argv) {
    fixtures fx;
    memset(&fx, 0, sizeof fx);
    fx.a = parse_args(argc, argv);
    fx.pubkey = read_all(fx.a.pubkey);
    fx.v1 = read_all(fx.a.v1);
    fx.v2 = read_all(fx.a.v2);
    fx.other_key = read_all(fx.a.other_key);
    fx.needs_integrity = read_all(fx.a.needs_integrity);
    fx.unsigned_ = read_all(fx.a.unsigned_);
    fx.endpoint_toml = read_all(fx.a.endpoint_toml);
    fx.mapping_toml = read_all(fx.a.mapping_toml);
    /* The key id is the public key file's second line: "keyid: 0123456789abcdef". */
    char keytext[512];
    size_t kl = fx.pubkey.len < sizeof keytext - 1 ? fx.pubkey.len : sizeof keytext - 1;
    memcpy(keytext, fx.pubkey.data, kl);
    keytext[kl] = '\0';
    const char *kid = strstr(keytext, "keyid: ");
    CHECK(kid != NULL);
    memcpy(fx.key_id, kid + 7, 16);
    fx.key_id[16] = '\0';

    test_library();
    test_nulls(&fx);
    test_bad_arguments(&fx);
    test_refusals_update_rollback(&fx);
    test_builder(&fx);
    test_threads(&fx);
    test_panic(&fx);
    test_engines(&fx);

    free(fx.pubkey.data);
    free(fx.v1.data);
    free(fx.v2.data);
    free(fx.other_key.data);
    free(fx.needs_integrity.data);
    free(fx.unsigned_.data);
    free(fx.endpoint_toml.data);
    free(fx.mapping_toml.data);
    printf("test_capi: %u tests passed (engine %s, %d threads x %d events)\n", checks_run,
           fx.a.engine, fx.a.threads, fx.a.per_thread);
    return 0;
}
