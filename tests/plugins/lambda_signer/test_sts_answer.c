/*
 * test_sts_answer.c - the strict readers of provider.c, one input each:
 * STS's XML answer (what is taken, what is refused) and the expiry times
 * of STS, IMDS and the container endpoint. The stand-in tests
 * (test_lambda_credentials.c) show these through a real fetch; here are
 * the corner cases a stand-in would not bother to send.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lambda_signer.h"

#define CREDS                                                                  \
    "<AccessKeyId>ASIAKEY</AccessKeyId>"                                       \
    "<SecretAccessKey>se/cr+et=</SecretAccessKey>"                             \
    "<SessionToken>tok/en+=</SessionToken>"                                    \
    "<Expiration>2026-01-01T01:00:00Z</Expiration>"

static const char *
answer(const char *action, const char *credentials)
{
    static char xml[4096];
    snprintf(xml, sizeof xml,
             "<?xml version=\"1.0\"?>\n<%sResponse xmlns=\"https://sts."
             "amazonaws.com/doc/2011-06-15/\">\n  <%sResult>\n"
             "    <Credentials>%s</Credentials>\n  </%sResult>\n"
             "  <ResponseMetadata><RequestId>r</RequestId>"
             "</ResponseMetadata>\n</%sResponse>\n",
             action, action, credentials, action, action);
    return xml;
}

static int
parse(const char *xml, const char *action, ls_creds *out, const char **why)
{
    return ls_sts_parse(xml, strlen(xml), action, out, why);
}

static void
assert_refused(const char *xml, const char *action, const char *want_why)
{
    ls_creds c;
    const char *why = NULL;
    assert_int_equal(parse(xml, action, &c, &why), -1);
    assert_string_equal(why, want_why);
    assert_null(c.access_key);
    assert_null(c.secret_key);
    assert_null(c.session_token);
}

static void
test_assume_role_answer_is_read(void **state)
{
    (void)state;
    ls_creds c;
    const char *why;
    assert_int_equal(parse(answer("AssumeRole", CREDS), "AssumeRole", &c, &why),
                     0);
    assert_string_equal(c.access_key, "ASIAKEY");
    assert_string_equal(c.secret_key, "se/cr+et=");
    assert_string_equal(c.session_token, "tok/en+=");
    assert_int_equal(c.expires_s, 1767229200);
    ls_creds_clear(&c);
}

static void
test_values_are_trimmed_of_white_space(void **state)
{
    (void)state;
    ls_creds c;
    const char *why;
    const char *xml =
        answer("AssumeRole", "\n <AccessKeyId>\n  ASIAKEY\n </AccessKeyId>"
                             "<SecretAccessKey> s </SecretAccessKey>"
                             "<SessionToken>t</SessionToken>"
                             "<Expiration>2026-01-01T01:00:00Z</Expiration>");
    assert_int_equal(parse(xml, "AssumeRole", &c, &why), 0);
    assert_string_equal(c.access_key, "ASIAKEY");
    assert_string_equal(c.secret_key, "s");
    ls_creds_clear(&c);
}

static void
test_answer_of_another_action_is_refused(void **state)
{
    (void)state;
    assert_refused(answer("AssumeRoleWithSAML", CREDS), "AssumeRole",
                   "not an STS answer");
}

static void
test_error_document_is_refused(void **state)
{
    (void)state;
    assert_refused("<ErrorResponse><Error><Code>AccessDenied</Code></Error>"
                   "</ErrorResponse>",
                   "AssumeRole", "not an STS answer");
}

static void
test_missing_session_token_is_refused(void **state)
{
    (void)state;
    assert_refused(answer("AssumeRole",
                          "<AccessKeyId>A</AccessKeyId>"
                          "<SecretAccessKey>s</SecretAccessKey>"
                          "<Expiration>2026-01-01T01:00:00Z</Expiration>"),
                   "AssumeRole", "invalid Credentials in the STS answer");
}

static void
test_repeated_element_is_refused(void **state)
{
    (void)state;
    assert_refused(answer("AssumeRole", CREDS "<SecretAccessKey>other"
                                              "</SecretAccessKey>"),
                   "AssumeRole", "invalid Credentials in the STS answer");
}

static void
test_two_credentials_blocks_are_refused(void **state)
{
    (void)state;
    assert_refused(
        answer("AssumeRole", CREDS "</Credentials><Credentials>" CREDS),
        "AssumeRole", "no Credentials in the STS answer");
}

static void
test_doctype_is_refused(void **state)
{
    (void)state;
    char xml[4096 + 16];
    snprintf(xml, sizeof xml, "<!DOCTYPE a>%s", answer("AssumeRole", CREDS));
    assert_refused(xml, "AssumeRole", "markup declarations in the STS answer");
}

static void
test_cdata_is_refused(void **state)
{
    (void)state;
    assert_refused(answer("AssumeRole",
                          "<AccessKeyId><![CDATA[ASIA]]></AccessKeyId>"
                          "<SecretAccessKey>s</SecretAccessKey>"
                          "<SessionToken>t</SessionToken>"
                          "<Expiration>2026-01-01T01:00:00Z</Expiration>"),
                   "AssumeRole", "markup declarations in the STS answer");
}

static void
test_entity_in_a_value_is_refused(void **state)
{
    (void)state;
    assert_refused(answer("AssumeRole",
                          "<AccessKeyId>A&amp;B</AccessKeyId>"
                          "<SecretAccessKey>s</SecretAccessKey>"
                          "<SessionToken>t</SessionToken>"
                          "<Expiration>2026-01-01T01:00:00Z</Expiration>"),
                   "AssumeRole", "invalid Credentials in the STS answer");
}

static void
test_self_closing_element_is_refused(void **state)
{
    (void)state;
    assert_refused(answer("AssumeRole",
                          "<AccessKeyId/><AccessKeyId>A</AccessKeyId>"
                          "<SecretAccessKey>s</SecretAccessKey>"
                          "<SessionToken>t</SessionToken>"
                          "<Expiration>2026-01-01T01:00:00Z</Expiration>"),
                   "AssumeRole", "invalid Credentials in the STS answer");
}

static void
test_value_with_a_space_is_refused(void **state)
{
    (void)state;
    assert_refused(answer("AssumeRole",
                          "<AccessKeyId>A B</AccessKeyId>"
                          "<SecretAccessKey>s</SecretAccessKey>"
                          "<SessionToken>t</SessionToken>"
                          "<Expiration>2026-01-01T01:00:00Z</Expiration>"),
                   "AssumeRole", "invalid Credentials in the STS answer");
}

static void
test_bad_expiration_is_refused(void **state)
{
    (void)state;
    assert_refused(answer("AssumeRole", "<AccessKeyId>A</AccessKeyId>"
                                        "<SecretAccessKey>s</SecretAccessKey>"
                                        "<SessionToken>t</SessionToken>"
                                        "<Expiration>tomorrow</Expiration>"),
                   "AssumeRole", "invalid Expiration in the STS answer");
}

static void
test_answer_with_a_nul_byte_is_refused(void **state)
{
    (void)state;
    const char *xml = answer("AssumeRole", CREDS);
    char copy[4096];
    size_t len = strlen(xml);
    memcpy(copy, xml, len);
    copy[10] = '\0';
    ls_creds c;
    const char *why;
    assert_int_equal(ls_sts_parse(copy, len, "AssumeRole", &c, &why), -1);
    assert_string_equal(why, "not an STS answer");
}

static void
test_web_identity_answer_is_read(void **state)
{
    (void)state;
    ls_creds c;
    const char *why;
    assert_int_equal(parse(answer("AssumeRoleWithWebIdentity", CREDS),
                           "AssumeRoleWithWebIdentity", &c, &why),
                     0);
    assert_string_equal(c.access_key, "ASIAKEY");
    ls_creds_clear(&c);
}

/* -- Times ----------------------------------------------------------------- */

static int64_t
t(const char *s)
{
    return ls_parse_time(s, strlen(s));
}

static void
test_times_in_the_forms_aws_sends(void **state)
{
    (void)state;
    assert_int_equal(t("2026-01-01T00:00:00Z"), 1767225600);
    assert_int_equal(t("2026-01-01T00:00:00.123Z"), 1767225600);
    assert_int_equal(t("2026-01-01T00:00:00+00:00"), 1767225600);
    assert_int_equal(t("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(t("2028-02-29T12:00:00Z"), 1835438400);
}

static void
test_times_that_are_not_utc_or_not_dates_are_refused(void **state)
{
    (void)state;
    assert_int_equal(t("2026-01-01T00:00:00+01:00"), -1);
    assert_int_equal(t("2026-01-01T00:00:00"), -1);
    assert_int_equal(t("2026-02-30T00:00:00Z"), -1);
    assert_int_equal(t("2026-13-01T00:00:00Z"), -1);
    assert_int_equal(t("2026-01-01T24:00:00Z"), -1);
    assert_int_equal(t("1969-12-31T23:59:59Z"), -1);
    assert_int_equal(t("2026-01-01 00:00:00Z"), -1);
    assert_int_equal(t("2026-01-01T00:00:00.Z"), -1);
    assert_int_equal(t("2026-01-01T00:00:00.1234567890Z"), -1);
    assert_int_equal(t("+026-01-01T00:00:00Z"), -1);
    assert_int_equal(t(""), -1);
}

static void
test_the_last_year_is_still_a_time(void **state)
{
    (void)state;
    assert_int_equal(t("9999-12-31T23:59:59Z"), 253402300799);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assume_role_answer_is_read),
        cmocka_unit_test(test_values_are_trimmed_of_white_space),
        cmocka_unit_test(test_answer_of_another_action_is_refused),
        cmocka_unit_test(test_error_document_is_refused),
        cmocka_unit_test(test_missing_session_token_is_refused),
        cmocka_unit_test(test_repeated_element_is_refused),
        cmocka_unit_test(test_two_credentials_blocks_are_refused),
        cmocka_unit_test(test_doctype_is_refused),
        cmocka_unit_test(test_cdata_is_refused),
        cmocka_unit_test(test_entity_in_a_value_is_refused),
        cmocka_unit_test(test_self_closing_element_is_refused),
        cmocka_unit_test(test_value_with_a_space_is_refused),
        cmocka_unit_test(test_bad_expiration_is_refused),
        cmocka_unit_test(test_answer_with_a_nul_byte_is_refused),
        cmocka_unit_test(test_web_identity_answer_is_read),
        cmocka_unit_test(test_times_in_the_forms_aws_sends),
        cmocka_unit_test(test_times_that_are_not_utc_or_not_dates_are_refused),
        cmocka_unit_test(test_the_last_year_is_still_a_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
