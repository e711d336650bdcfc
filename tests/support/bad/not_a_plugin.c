/*
 * not_a_plugin.c - a shared object that exports a function but no
 * gwf_plugin_entry. The loader must refuse it, naming the file and the
 * missing symbol.
 */
int gwf_test_not_a_plugin(void);

__attribute__((visibility("default"))) int
gwf_test_not_a_plugin(void)
{
    return 42;
}
