/*
 * fuzz_manifest.c - libFuzzer harness for the manifest loader.
 *
 * Each input goes through the whole pipeline an operator's file does:
 * the buffer loader (once named .yaml, so the format is sniffed, and once
 * named .json, so it is forced to JSON), validation, and a plan for
 * every document that can head one, plus a plan that asks for all of
 * them at once. The YAML parser is also run directly with the format
 * forced, so inputs starting with '{' or '[' reach libyaml too. Every
 * tree is rendered back to JSON and walked with a few paths. Everything
 * is freed: LeakSanitizer finds what is not.
 *
 * Built with clang -fsanitize=fuzzer for libFuzzer. With any other
 * compiler, link standalone_main.c for a main() that runs the
 * inputs named on the command line once each (regression replay).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gwf/diag.h>
#include <gwf/manifest.h>
#include <gwf/node.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
exercise_tree(const char *data, size_t size, gwf_format format)
{
    static const char *const paths[] = {"spec",
                                        "metadata.name",
                                        "spec.rateLimit.local.tokenBucket",
                                        "items[0].spec",
                                        "[\"spec\"][\"a.b\"]",
                                        "spec[0]",
                                        "a..b",
                                        "["};
    gwf_diag d;
    gwf_diag_init(&d);
    gwf_tree *tree = NULL;
    if (gwf_tree_parse("fuzz", data, size, format, &tree, &d) == 0) {
        for (size_t i = 0; i < gwf_tree_doc_count(tree); i++) {
            const gwf_node *root = gwf_tree_doc(tree, i);
            free(gwf_node_to_json(root));
            for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
                unsigned line;
                gwf_node_find(root, paths[p], &line);
            }
        }
        gwf_tree_free(tree);
    }
    gwf_diag_free(&d);
}

static void
plan_once(const gwf_manifests *m, const gwf_plan_request *req)
{
    gwf_diag d;
    gwf_plan plan;
    gwf_diag_init(&d);
    if (gwf_manifests_plan(m, req, &plan, &d) == 0)
        gwf_plan_free(&plan);
    gwf_diag_free(&d);
}

/* Plans each document on its own, then all of them in one request. */
static void
plan_everything(const gwf_manifests *m)
{
    enum { MAX_REFS = 16 };
    char refs[MAX_REFS][600];
    const char *extensions[MAX_REFS];
    gwf_plan_request all = {.extensions = extensions};
    size_t used = 0;

    for (size_t i = 0; i < gwf_manifests_count(m) && used < MAX_REFS; i++) {
        const gwf_doc *doc = gwf_manifests_at(m, i);
        if (!doc->kind || !doc->name)
            continue;
        char *ref = refs[used++];
        snprintf(ref, sizeof(refs[0]), "%.280s/%.280s", doc->namespace_,
                 doc->name);
        gwf_plan_request one = {0};
        if (strcmp(doc->kind, "TrafficPolicy") == 0) {
            one.policy = all.policy = ref;
        } else if (strcmp(doc->kind, "GatewayExtension") == 0) {
            one.extensions =
                (const char *const *)&extensions[all.extension_count];
            extensions[all.extension_count++] = ref;
            one.extension_count = 1;
        } else if (strcmp(doc->kind, "DirectResponse") == 0) {
            one.direct_response = all.direct_response = ref;
        } else if (strcmp(doc->kind, "Backend") == 0) {
            one.backend = all.backend = ref;
        } else {
            continue;
        }
        plan_once(m, &one);
    }
    plan_once(m, &all);
}

static void
load_and_check(const char *name, const char *data, size_t size)
{
    gwf_diag d;
    gwf_diag_init(&d);
    gwf_manifests *m = gwf_manifests_new();
    if (!m)
        return;
    gwf_manifests_load_buffer(m, name, data, size, &d);
    plan_everything(m); /* before validate: the linear lookup path */
    gwf_manifests_validate(m, &d);
    plan_everything(m); /* after: the index */
    for (size_t i = 0; i < d.count; i++)
        if (!gwf_diag_line(&d, i))
            abort();
    gwf_manifests_free(m);
    gwf_diag_free(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    load_and_check("/fuzz/input.yaml", text, size);
    load_and_check("/fuzz/input.json", text, size);
    exercise_tree(text, size, GWF_FORMAT_YAML);
    return 0;
}
